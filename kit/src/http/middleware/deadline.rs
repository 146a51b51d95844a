//! The request side of the slow-client deadlines ([`crate::http::deadline`]), the
//! outermost middleware of `http::build_app` (on the API listener only the drain's
//! per-request accounting, added by `startup`, sits outside it): marks the connection as serving while a request is handled
//! and idle again once its response body is finished (the header deadline of the
//! next request on the connection starts from there), and bounds the body: a body not
//! complete within the body deadline of its head → 408 with `Connection: close`. It
//! also keeps the body ([`body_watch`]): one whose framing breaks while the request
//! waits on authentication or limits → 400, where actix-http would close unanswered.

use crate::http::deadline::ConnPhase;
use crate::http::error::json_error_body;
use crate::http::middleware::body_watch::{until_body_fails, BodyWatch};
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::{header, StatusCode};
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::Stream;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The middleware function, outermost in `http::build_app`, for `App::wrap_fn` (a plain wrapper: no boxed
/// future per request, which `from_fn` would cost on every request).
pub fn deadlines<S, B>(
    mut req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<Finishing<B>>, Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let phase = req.conn_data::<ConnPhase>().cloned();
    let mut idle = None;
    let mut expired = None;
    let body = has_body(&req);
    if let Some(phase) = &phase {
        phase.serving();
        idle = Some(IdleOnDrop(phase.clone()));
        if body {
            let flag = Rc::new(Cell::new(false));
            let payload = req.take_payload();
            let bounded = BodyDeadline {
                payload,
                timer: Box::pin(tokio::time::sleep(phase.body_deadline())),
                deadline: phase.body_deadline(),
                expired: Rc::clone(&flag),
                done: false,
            };
            req.set_payload(Payload::from(
                Box::pin(bounded) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
            ));
            expired = Some(flag);
        }
    }
    // Outside the deadline: a body pulled ahead is still bounded by it.
    let watch = body.then(|| BodyWatch::install(&mut req));
    let call = service.call(req);
    async move {
        let result = until_body_fails(call, watch).await;
        // Read after the call: a read of the body (the handler's or the watch's) sets it.
        let expired = expired.is_some_and(|e| e.get());
        match result {
            Ok(Ok(res)) if expired => {
                let (req, _) = res.into_parts();
                let res = ServiceResponse::new(req, body_timeout());
                Ok(res.map_body(|_, body| Finishing::replaced(body, idle)))
            }
            Ok(Ok(res)) => Ok(res.map_body(|_, body| Finishing::new(body, idle))),
            Ok(Err(e)) if expired => Err(InternalError::from_response(e, body_timeout()).into()),
            Ok(Err(e)) => Err(e),
            Err(e) if expired => Err(InternalError::from_response(e, body_timeout()).into()),
            // The body broke while the request waited elsewhere: answer now, in this
            // poll (actix-http may drop the connection right after it).
            Err(e) => Err(InternalError::from_response(e, malformed_body()).into()),
        }
    }
}

/// Whether the request announces a body (a `Content-Length` above 0, or chunked).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// 408, JSON, and the connection closed after it (the rest of the body is never read).
fn body_timeout() -> HttpResponse {
    HttpResponse::build(StatusCode::REQUEST_TIMEOUT)
        .force_close()
        .json(json_error_body(StatusCode::REQUEST_TIMEOUT))
}

/// 400, JSON, and the connection closed after it (its framing is lost).
fn malformed_body() -> HttpResponse {
    HttpResponse::build(StatusCode::BAD_REQUEST)
        .force_close()
        .json(json_error_body(StatusCode::BAD_REQUEST))
}

/// Marks the connection idle when the response body is finished or dropped.
struct IdleOnDrop(ConnPhase);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.idle();
    }
}

/// A request payload that fails once the body deadline passes.
struct BodyDeadline {
    payload: Payload,
    timer: Pin<Box<Sleep>>,
    deadline: Duration,
    expired: Rc<Cell<bool>>,
    done: bool,
}

impl Stream for BodyDeadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.payload).poll_next(cx) {
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(item)) => return Poll::Ready(Some(item)),
            Poll::Pending => {}
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.done = true;
        this.expired.set(true);
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the body was not complete within {:?}", this.deadline),
        )))))
    }
}

pin_project_lite::pin_project! {
    /// A response body that marks its connection idle once finished (see the module doc).
    pub struct Finishing<B> {
        #[pin]
        body: Replaceable<B>,
        idle: Option<IdleOnDrop>,
    }
}

pin_project_lite::pin_project! {
    #[project = ReplaceableProj]
    enum Replaceable<B> {
        Inner { #[pin] body: B },
        Boxed { #[pin] body: actix_web::body::BoxBody },
    }
}

impl<B> Finishing<B> {
    fn new(body: B, idle: Option<IdleOnDrop>) -> Self {
        Self {
            body: Replaceable::Inner { body },
            idle,
        }
    }

    fn replaced(body: actix_web::body::BoxBody, idle: Option<IdleOnDrop>) -> Self {
        Self {
            body: Replaceable::Boxed { body },
            idle,
        }
    }
}

impl<B: MessageBody> MessageBody for Finishing<B> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        match &self.body {
            Replaceable::Inner { body } => body.size(),
            Replaceable::Boxed { body } => body.size(),
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let polled = match this.body.project() {
            ReplaceableProj::Inner { body } => body.poll_next(cx).map_err(Into::into),
            ReplaceableProj::Boxed { body } => body.poll_next(cx).map_err(Into::into),
        };
        if let Poll::Ready(None) = polled {
            // Finished: the next head's deadline starts now, not when the body is dropped.
            this.idle.take();
        }
        polled
    }
}
