//! `POST /api/login`: email + password → a new API key valid 24 hours.

use crate::app::sessions::Login;
use crate::app::OrderApp;
use actix_web::{web, HttpResponse};
use brisk_kit::http::docs::ErrorBody;
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::body::parse_json;
use serde::Deserialize;

/// `POST /api/login` body.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    /// The user's email.
    #[schema(examples("admin@tenant2.example"))]
    email: String,
    /// The user's password.
    #[schema(examples("password"))]
    password: String,
}

/// Log in: a new API key valid 24 hours.
///
/// Trades a user's email and password for a new login token, an API key of the
/// user's tenant that expires in 24 hours. Limited per client address (5 per minute
/// by default); failed logins count as failed authentications of the address.
#[utoipa::path(
    post,
    path = "/api/login",
    tag = "session",
    request_body = Credentials,
    responses(
        (status = 200, description = "The new key", body = Login),
        (status = 400, description = "The body is not valid JSON or a field is invalid (named in `detail`)", body = ErrorBody),
        (status = 401, description = "Unknown email or wrong password", body = ErrorBody),
    )
)]
pub async fn login(app: web::Data<OrderApp>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let creds: Credentials = parse_json(&body)?;
    let login = app.login(&creds.email, creds.password).await?;
    Ok(HttpResponse::Ok().json(login))
}
