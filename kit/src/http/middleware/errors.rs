//! JSON errors everywhere: rewrites the bare error responses actix produces itself
//! (404 for unknown routes, 405, 413, payload errors) into `{"error","detail"}`,
//! refuses bodies declared over 1 MiB before a byte of them is read, and refuses a
//! query string that is not UTF-8 once decoded or holds a NUL on every route, also
//! the ones that read no parameter (API.md "Hostile input").

use crate::http::error::{json_error_body, ApiError};
use crate::http::extract::query::QueryParams;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use std::future::Future;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The middleware function alone (the operations listener's app); the API's pipeline
/// runs [`around`] as the first step of its guard.
pub async fn json_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    around(req, |req| next.call(req)).await
}

/// Refuses an oversized or malformed request, else runs `inner` and renders whatever
/// error it answers as the contract's JSON.
pub(crate) async fn around<B, F, Fut>(
    req: ServiceRequest,
    inner: F,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    B: MessageBody,
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let resp = HttpResponse::PayloadTooLarge()
            .insert_header((header::CONNECTION, "close"))
            .json(json_error_body(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            ));
        return Ok(req.into_response(resp).map_into_right_body());
    }
    if let Err(e) = QueryParams::check(req.query_string()) {
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    }
    let res = match inner(req).await {
        Ok(res) => res,
        // An error that escaped a handler or extractor: render it as JSON here.
        Err(err) => {
            let status = err.as_response_error().status_code();
            let resp = match err.as_error::<ApiError>() {
                Some(api) => api.error_response(),
                None => HttpResponse::build(status).json(json_error_body(status)),
            };
            return Err(actix_web::error::InternalError::from_response(err, resp).into());
        }
    };
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let (req, old) = res.into_parts();
        let mut resp = HttpResponse::build(status).json(json_error_body(status));
        // Keep headers such as Allow on 405.
        for (name, value) in old.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                resp.headers_mut().insert(name.clone(), value.clone());
            }
        }
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(ServiceResponse::new(req, resp).map_into_right_body());
    }
    Ok(res.map_into_left_body())
}
