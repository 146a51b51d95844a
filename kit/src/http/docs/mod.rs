//! The API's document and its browsable page, served by the kit for any application:
//! [`endpoints`] turns the OpenAPI document an application hands it into
//! `GET /openapi.json` and `GET /docs`, a Swagger UI page rendering it, its assets
//! compiled into the binary (`utoipa-swagger-ui`'s `vendored` feature: no CDN, no
//! download at build time). Both are operations endpoints: no key (outside the
//! protected prefix), no limit, registered wherever the application's operations
//! endpoints go.
//!
//! [`KitConventions`] adds to an application's document what the kit's middleware
//! does on its routes (keys, limits, body limit, outages), and [`operations`] the
//! kit's own endpoints, so a kit application only describes its handlers.

pub mod conventions;
pub mod operations;

pub use conventions::{ErrorBody, KitConventions, RateLimitedBody};

use crate::http::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use bytes::Bytes;
use std::sync::{Arc, OnceLock};
use utoipa_swagger_ui::Config;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Where its page is served; the page's assets are under `/docs/`.
pub const DOCS_PATH: &str = "/docs";

/// An application's OpenAPI document, serialized once.
#[derive(Clone, Debug)]
pub struct ApiDocument(Bytes);

impl ApiDocument {
    /// The document as JSON.
    pub fn new(document: &utoipa::openapi::OpenApi) -> Self {
        // Maps with string keys and plain values: serializing cannot fail.
        let json = serde_json::to_vec(document).expect("an OpenAPI document serializes");
        Self(Bytes::from(json))
    }

    /// The JSON bytes.
    pub fn json(&self) -> &Bytes {
        &self.0
    }
}

/// `/openapi.json` serving `document`, `/docs` and the page's assets, as a handler
/// set (`App::configure`, or a kit `Mount`'s routes or operations).
pub fn endpoints(document: ApiDocument) -> impl Fn(&mut web::ServiceConfig) + Send + Sync {
    let document = web::Data::new(document);
    move |cfg: &mut web::ServiceConfig| {
        cfg.service(
            web::resource(OPENAPI_PATH)
                .app_data(document.clone())
                .get(openapi_json),
        )
        .service(web::resource(DOCS_PATH).get(docs_page))
        .service(web::resource("/docs/{file}").get(docs_asset));
    }
}

/// `GET /openapi.json`: the document.
pub async fn openapi_json(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(document.json().clone())
}

/// The page's configuration: the document's URL, deep links.
fn swagger_config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                Config::from(OPENAPI_PATH)
                    .deep_linking(true)
                    .display_request_duration(true),
            )
        })
        .clone()
}

/// One vendored file, or `None` for an unknown name.
fn vendored(file: &str) -> Option<(String, Bytes)> {
    let file = utoipa_swagger_ui::serve(file, swagger_config()).ok()??;
    Some((file.content_type, Bytes::from(file.bytes.into_owned())))
}

/// `GET /docs`: Swagger UI's page; a `<base>` makes its relative asset links
/// resolve under `/docs/` whether or not the address ends in a slash.
pub async fn docs_page() -> Result<HttpResponse, ApiError> {
    let (_, html) = vendored("index.html").ok_or_else(|| ApiError::not_found("no docs page"))?;
    let html = String::from_utf8_lossy(&html).replacen(
        "<head>",
        &format!("<head>\n    <base href=\"{DOCS_PATH}/\">"),
        1,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(html))
}

/// `GET /docs/{file}`: the page's scripts, styles and icons.
pub async fn docs_asset(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let (content_type, bytes) =
        vendored(&file).ok_or_else(|| ApiError::not_found("no such file"))?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_are_in_the_binary() {
        let (kind, html) = vendored("index.html").expect("index.html");
        assert!(kind.starts_with("text/html"));
        let html = String::from_utf8_lossy(&html);
        for asset in [
            "swagger-ui.css",
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-initializer.js",
        ] {
            assert!(html.contains(asset), "index.html links {asset}");
            assert!(vendored(asset).is_some(), "{asset} is vendored");
        }
        let (_, init) = vendored("swagger-initializer.js").unwrap();
        let init = String::from_utf8_lossy(&init);
        assert!(init.contains("\"/openapi.json\""), "{init}");
        assert!(vendored("nope.js").is_none());
    }
}
