//! Innermost middleware: charges the statements the handler runs to the request.
//! The counter comes from the request extensions when an outer layer (metrics,
//! access log) put one there; otherwise one is made here and reported in
//! `Server-Timing` (with `--metrics-middleware false`). Authentication runs
//! outside this scope, so its memoized look-up is not counted.

use crate::metrics::RequestStatements;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

/// Scopes the request's statement counter around the handler (see the module doc).
pub async fn count_statements(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (counter, outer) = {
        let mut ext = req.extensions_mut();
        match ext.get::<RequestStatements>() {
            Some(c) => (c.clone(), true),
            None => {
                let c = RequestStatements::default();
                ext.insert(c.clone());
                (c, false)
            }
        }
    };
    let mut res = counter.clone().scope(next.call(req)).await?;
    if outer {
        // The metrics middleware reports it (Server-Timing, access log).
        return Ok(res);
    }
    let value = format!(
        "db;dur={:.3};desc=\"{} statements\"",
        counter.elapsed().as_secs_f64() * 1000.0,
        counter.count()
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut()
            .append(HeaderName::from_static("server-timing"), v);
    }
    Ok(res)
}
