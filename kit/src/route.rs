//! The route a request will be handled by, as every policy sees it.
//!
//! actix's router matches the *decoded* path: `Url::new` turns `%69` into `i` (every
//! escape but `%2F`, `%25` and `%2B`) before the resource tree is walked. Middleware runs
//! before routing, and `ServiceRequest::match_pattern()` walks the same tree with the
//! *raw* path text, so `/v1/log%69n` gives `None` there while the router runs the login
//! handler: a policy decided on `match_pattern()` can be skipped by a spelling.
//!
//! [`route_pattern`] walks the resource tree with the path the router will match (the
//! request's `match_info()` path, decoded the router's way), so authentication, limits
//! and metric labels follow exactly the route that runs. Spellings the router does not
//! fold (`//`, `/./`, a trailing `/`, another case) match no resource, so they get no
//! policy and no handler: the router answers them 404. The answer is kept in the request
//! extensions, so each middleware pays for one walk at most once per request.

use actix_web::dev::ServiceRequest;
use actix_web::HttpMessage;
use std::sync::Arc;

/// The request's matched pattern, memoized in its extensions (shared, not copied, by
/// the middlewares that ask: each clone is a reference count, not an allocation).
#[derive(Debug, Clone)]
struct MatchedRoute(Option<Arc<str>>);

/// The pattern of the resource the router will run for `req` (`/v1/products/{id}`),
/// or `None` when no resource matches (the request ends in the default service).
pub fn route_pattern(req: &ServiceRequest) -> Option<Arc<str>> {
    if let Some(m) = req.extensions().get::<MatchedRoute>() {
        return m.0.clone();
    }
    let pattern: Option<Arc<str>> = req
        .resource_map()
        .match_pattern(req.match_info().as_str())
        .map(Arc::from);
    req.extensions_mut().insert(MatchedRoute(pattern.clone()));
    pattern
}

#[cfg(test)]
mod tests {
    use super::route_pattern;
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::middleware::{from_fn, Next};
    use actix_web::{body::MessageBody, test, web, App, HttpResponse};

    async fn echo_pattern(
        req: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        let pattern = route_pattern(&req).unwrap_or_else(|| "none".into());
        let pattern: &str = &pattern;
        let mut res = next.call(req).await?;
        res.headers_mut()
            .insert("x-pattern".parse().unwrap(), pattern.parse().unwrap());
        Ok(res)
    }

    #[actix_web::test]
    async fn the_pattern_is_the_one_the_router_runs_whatever_the_spelling() {
        let app = test::init_service(
            App::new()
                .service(web::resource("/v1/login").to(HttpResponse::Ok))
                .service(web::resource("/v1/products/{id}").to(HttpResponse::Ok))
                .wrap(from_fn(echo_pattern)),
        )
        .await;
        for (path, status, pattern) in [
            ("/v1/login", 200, "/v1/login"),
            ("/v1/log%69n", 200, "/v1/login"),
            ("/v1/%6Cogin", 200, "/v1/login"),
            ("/%761/products/%31", 200, "/v1/products/{id}"),
            ("/v1//login", 404, "none"),
            ("/v1/./login", 404, "none"),
            ("/v1/login/", 404, "none"),
            ("/API/login", 404, "none"),
            ("/v1%2Flogin", 404, "none"),
        ] {
            let req = test::TestRequest::get().uri(path).to_request();
            let res = test::call_service(&app, req).await;
            assert_eq!(res.status().as_u16(), status, "{path}");
            assert_eq!(res.headers().get("x-pattern").unwrap(), pattern, "{path}");
        }
    }
}
