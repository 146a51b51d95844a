//! Content negotiation that never refuses: an `Accept-Encoding` that no coding
//! satisfies (`identity;q=0, *;q=0`) is dropped before actix's `Compress` sees it, so
//! the answer is sent in identity (RFC 9110 §12.5.3 lets a server ignore an
//! unsatisfiable `Accept-Encoding`) instead of `Compress`'s plain-text 406, which it
//! gives before authentication, routing and rate limiting have had their say.
//!
//! Run it just outside `Compress` (`http::build_app` does, in its HEAD layer).

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, AcceptEncoding, Encoding, Header};

/// The codings actix's `Compress` offers with the workspace's features
/// (`compress-brotli`, `compress-gzip`); the test below holds the two lists together.
const OFFERED: [Encoding; 4] = [
    Encoding::identity(),
    Encoding::brotli(),
    Encoding::gzip(),
    Encoding::deflate(),
];

/// Removes an `Accept-Encoding` that refuses every offered coding (identity included).
pub fn drop_unsatisfiable(mut req: ServiceRequest) -> ServiceRequest {
    if refuses_every_offered_coding(&req) {
        req.headers_mut().remove(header::ACCEPT_ENCODING);
    }
    req
}

/// True when the request's `Accept-Encoding` parses and accepts none of [`OFFERED`]
/// (a header that does not parse is ignored by `Compress` already).
fn refuses_every_offered_coding(req: &ServiceRequest) -> bool {
    if !req.headers().contains_key(header::ACCEPT_ENCODING) {
        return false;
    }
    AcceptEncoding::parse(req).is_ok_and(|accept| accept.negotiate(OFFERED.iter()).is_none())
}

#[cfg(test)]
mod tests {
    use super::drop_unsatisfiable;
    use actix_web::dev::Service;
    use actix_web::middleware::Compress;
    use actix_web::{test, web, App, HttpResponse};

    #[actix_web::test]
    async fn compress_never_answers_406_and_still_compresses_what_is_accepted() {
        let app = test::init_service(
            App::new()
                .route(
                    "/",
                    web::get().to(|| async { HttpResponse::Ok().body("x".repeat(2048)) }),
                )
                .wrap(Compress::default())
                .wrap_fn(|req, srv| srv.call(drop_unsatisfiable(req))),
        )
        .await;
        for (accept, coding) in [
            ("identity;q=0, *;q=0", None),
            ("*;q=0", None),
            ("zstd, identity;q=0", None),
            ("br;q=0, gzip;q=0, deflate;q=0, identity;q=0", None),
            ("gzip, identity;q=0", Some("gzip")),
            ("br", Some("br")),
            ("deflate;q=1, *;q=0", Some("deflate")),
        ] {
            let req = test::TestRequest::get()
                .uri("/")
                .insert_header(("accept-encoding", accept))
                .to_request();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status().as_u16(), 200, "{accept}");
            let got = res
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(got.as_deref(), coding, "{accept}");
        }
    }
}
