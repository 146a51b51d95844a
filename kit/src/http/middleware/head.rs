//! `HEAD` wherever `GET` is served (RFC 9110 §9.3.2), for every route at once: the
//! request is routed, authenticated, limited and handled as the `GET` it mirrors (so
//! a `HEAD` costs what a `GET` costs, limits included), and its response keeps the
//! status and every header (`Content-Length`, `ETag`) but is never polled for its
//! body. actix-http's h1 codec, which saw the request's `HEAD` before this
//! rewrite, writes no body bytes for it either way.
//!
//! Wrap it outside compression and inside the request metrics, which record the
//! method as sent: `.wrap_fn(head_as_get)`.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::web::Bytes;
use actix_web::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The middleware function, for `App::wrap_fn`: a `HEAD` goes in as a `GET` and
/// comes out with its body left unread.
pub fn head_as_get<S, B>(
    mut req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<HeadBody<B>>, Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let headers_only = req.method() == Method::HEAD;
    if headers_only {
        req.head_mut().method = Method::GET;
    }
    let call = service.call(req);
    async move {
        let res = call.await?;
        Ok(res.map_body(|_, body| HeadBody { body, headers_only }))
    }
}

pin_project_lite::pin_project! {
    /// A response body that, for a `HEAD`, keeps its size (the `Content-Length`)
    /// and ends at once, so a streamed or compressed body is never produced.
    pub struct HeadBody<B> {
        #[pin]
        body: B,
        headers_only: bool,
    }
}

impl<B: MessageBody> MessageBody for HeadBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        if *this.headers_only {
            return Poll::Ready(None);
        }
        this.body.poll_next(cx)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let headers_only = self.headers_only;
        if headers_only {
            return Err(self);
        }
        self.body
            .try_into_bytes()
            .map_err(|body| HeadBody { body, headers_only })
    }
}

#[cfg(test)]
mod tests {
    use super::head_as_get;
    use actix_web::body::{self, BodySize, MessageBody};
    use actix_web::http::Method;
    use actix_web::{test, web, App, HttpResponse};

    #[actix_web::test]
    async fn head_is_the_get_without_its_body_and_405_where_get_is_not_served() {
        let app = test::init_service(
            App::new()
                .service(web::resource("/page").get(|| async { HttpResponse::Ok().body("hello") }))
                .service(web::resource("/form").post(HttpResponse::Ok))
                .wrap_fn(head_as_get),
        )
        .await;
        let head = |uri| test::TestRequest::default().method(Method::HEAD).uri(uri);
        let res = test::call_service(&app, head("/page").to_request()).await;
        assert_eq!(res.status().as_u16(), 200);
        let body = res.into_body();
        assert_eq!(body.size(), BodySize::Sized(5), "the GET's length");
        assert!(body::to_bytes(body).await.unwrap().is_empty());

        let res = test::call_service(&app, head("/form").to_request()).await;
        assert_eq!(res.status().as_u16(), 405);

        let get = test::TestRequest::get().uri("/page").to_request();
        let res = test::call_service(&app, get).await;
        assert_eq!(body::to_bytes(res.into_body()).await.unwrap(), "hello");
    }
}
