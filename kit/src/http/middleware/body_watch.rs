//! A request body watched while its handler is busy elsewhere, so a body whose
//! framing breaks is answered 400 however its bytes arrive.
//!
//! actix-http's h1 dispatcher decodes everything a read brought in, the head and the
//! body after it. Chunked framing that breaks (a size line that is not hex, a bare LF)
//! is an `io::Error` from the payload decoder, which the dispatcher treats as a
//! vanished client (`ParseError::Io` → `client_disconnected`: the payload fails with
//! `Incomplete`, the write side is marked gone): it polls the service future once
//! more, flushes whatever that produced, and drops the connection. When the handler
//! is already reading the body (the broken bytes came in a later packet), that one
//! poll yields its 400. When the bytes came with the head, the request is still in
//! authentication or rate limiting, waiting on Redis or the database: the poll is
//! `Pending`, and the client got nothing.
//!
//! So the outermost middleware keeps the body: while the request's future is pending
//! it pulls what has arrived (at most [`PREFETCH_BYTES`] ahead of the handler) into
//! a queue the handler reads first, and a body that fails there is answered at once,
//! in the same poll. Beyond the bound the dispatcher stops decoding too (its own
//! buffer is full), so a failure further on is met by a handler that is reading.

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::Stream;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// How far ahead of the handler the body is read (actix-http buffers as much again).
pub const PREFETCH_BYTES: usize = 64 * 1024;

/// The outer middleware's hold on a request body (see the module doc).
pub struct BodyWatch {
    shared: Rc<RefCell<Shared>>,
}

/// The request's body as its handler reads it: the queue first, then the source.
struct Reader {
    shared: Rc<RefCell<Shared>>,
}

/// Where the body stands.
enum End {
    /// More may come.
    Open,
    /// Complete.
    Finished,
    /// Failed; the error until someone takes it.
    Failed(Option<PayloadError>),
}

struct Shared {
    source: Payload,
    queue: VecDeque<Bytes>,
    queued: usize,
    end: End,
    /// The reader's waker while it waits: the queue may fill without its poll.
    reader: Option<Waker>,
}

impl BodyWatch {
    /// Takes `req`'s payload and gives the request a reader of the watched body.
    pub fn install(req: &mut ServiceRequest) -> Self {
        let shared = Rc::new(RefCell::new(Shared {
            source: req.take_payload(),
            queue: VecDeque::new(),
            queued: 0,
            end: End::Open,
            reader: None,
        }));
        let reader = Reader {
            shared: Rc::clone(&shared),
        };
        req.set_payload(Payload::from(
            Box::pin(reader) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
        ));
        Self { shared }
    }

    /// Pulls what has arrived into the queue; the body's error when it failed now.
    fn pump(&self, cx: &mut Context<'_>) -> Option<PayloadError> {
        let mut guard = self.shared.borrow_mut();
        let shared = &mut *guard;
        let mut progressed = false;
        while matches!(shared.end, End::Open) && shared.queued < PREFETCH_BYTES {
            match Pin::new(&mut shared.source).poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(bytes))) => {
                    shared.queued += bytes.len();
                    shared.queue.push_back(bytes);
                    progressed = true;
                }
                Poll::Ready(None) => {
                    shared.end = End::Finished;
                    progressed = true;
                }
                Poll::Ready(Some(Err(e))) => {
                    shared.end = End::Failed(None);
                    return Some(e);
                }
            }
        }
        let reader = progressed.then(|| shared.reader.take()).flatten();
        drop(guard);
        if let Some(reader) = reader {
            reader.wake();
        }
        None
    }
}

/// Runs `call`; while it is pending, pulls the watched body, and ends with the body's
/// error when that fails first (the caller answers for the request).
pub async fn until_body_fails<F: Future>(
    call: F,
    watch: Option<BodyWatch>,
) -> Result<F::Output, PayloadError> {
    let mut call = pin!(call);
    poll_fn(|cx| {
        if let Poll::Ready(out) = call.as_mut().poll(cx) {
            return Poll::Ready(Ok(out));
        }
        match watch.as_ref().and_then(|w| w.pump(cx)) {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Pending,
        }
    })
    .await
}

impl Stream for Reader {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut guard = self.shared.borrow_mut();
        let shared = &mut *guard;
        if let Some(bytes) = shared.queue.pop_front() {
            shared.queued -= bytes.len();
            return Poll::Ready(Some(Ok(bytes)));
        }
        match &mut shared.end {
            End::Finished => return Poll::Ready(None),
            End::Failed(e) => return Poll::Ready(e.take().map(Err)),
            End::Open => {}
        }
        match Pin::new(&mut shared.source).poll_next(cx) {
            Poll::Pending => {
                shared.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            Poll::Ready(None) => {
                shared.end = End::Finished;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                shared.end = End::Failed(None);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(bytes))) => Poll::Ready(Some(Ok(bytes))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use futures_util::StreamExt;
    use tokio::sync::mpsc;

    type Sender = mpsc::UnboundedSender<Result<Bytes, PayloadError>>;

    /// A request whose body is what `Sender` sends (ending when it is dropped).
    fn watched() -> (Sender, ServiceRequest, BodyWatch) {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        let source = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let mut req = TestRequest::post().to_srv_request();
        req.set_payload(Payload::from(
            Box::pin(source) as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>
        ));
        let watch = BodyWatch::install(&mut req);
        (sender, req, watch)
    }

    #[actix_web::test]
    async fn a_body_failing_while_the_call_is_busy_ends_the_watch_with_its_error() {
        let (sender, _req, watch) = watched();
        sender.send(Ok(Bytes::from_static(b"{\"a\": "))).unwrap();
        sender.send(Err(PayloadError::Incomplete(None))).unwrap();
        let busy = std::future::pending::<()>();
        let outcome = until_body_fails(busy, Some(watch)).await;
        assert!(matches!(outcome, Err(PayloadError::Incomplete(_))));
    }

    #[actix_web::test]
    async fn the_handler_reads_what_was_pulled_ahead_then_the_rest_in_order() {
        let (sender, mut req, watch) = watched();
        sender.send(Ok(Bytes::from_static(b"one "))).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(watch.pump(&mut cx).is_none());
        assert_eq!(watch.shared.borrow().queued, 4, "pulled ahead");
        sender.send(Ok(Bytes::from_static(b"two"))).unwrap();
        drop(sender);
        let mut body = req.take_payload();
        let mut read = Vec::new();
        while let Some(chunk) = body.next().await {
            read.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(read, b"one two");
    }
}
