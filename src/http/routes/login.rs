//! `POST /api/login`: email + password → a new API key valid 24 hours.

use crate::app::OrderApp;
use crate::http::error::ApiError;
use crate::http::extract::body::parse_json;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// The handler.
pub async fn login(app: web::Data<OrderApp>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let creds: Credentials = parse_json(&body)?;
    let login = app.login(&creds.email, creds.password).await?;
    Ok(HttpResponse::Ok().json(login))
}
