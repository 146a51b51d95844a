//! Innermost middleware: charges the statements the handler runs to the request.
//! The counter comes from the request extensions when an outer layer (metrics,
//! access log) put one there; otherwise one is made here. Authentication runs
//! outside this scope, so its memoized look-up is not counted.

use crate::db::instrument::RequestQueries;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

pub async fn count_statements(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let counter = {
        let mut ext = req.extensions_mut();
        match ext.get::<RequestQueries>() {
            Some(c) => c.clone(),
            None => {
                let c = RequestQueries::default();
                ext.insert(c.clone());
                c
            }
        }
    };
    let mut res = counter.clone().scope(next.call(req)).await?;
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
