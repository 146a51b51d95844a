//! `POST /api/login`: email + password → a new API key valid 24 hours. Argon2
//! runs on the blocking pool; an unknown email costs the same hash as a wrong
//! password so the response time does not reveal which emails exist.

use crate::db::queries::auth;
use crate::error::ApiError;
use crate::http::extract::auth::hash_key;
use crate::http::extract::body::parse_json;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{Duration, Utc};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use std::sync::OnceLock;

pub const TOKEN_LIFETIME_HOURS: i64 = 24;

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

/// A hash of a random password: verified against when the email is unknown.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut secret = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Argon2::default()
            .hash_password(&secret, &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub async fn login(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let creds: Credentials = parse_json(&body)?;
    let email = creds.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 320 {
        return Err(ApiError::bad_request(
            "email",
            "email must be 1 to 320 characters",
        ));
    }
    if creds.password.is_empty() || creds.password.len() > 1024 {
        return Err(ApiError::bad_request(
            "password",
            "password must be 1 to 1024 characters",
        ));
    }
    let lookup = email.clone();
    let user = state
        .db
        .read(move |c| {
            let e = lookup.clone();
            Box::pin(async move { auth::find_user(c, &e).await })
        })
        .await?;
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let password = creds.password;
    let ok = web::block(move || verify(&password, &phc))
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(ApiError::Unauthorized("invalid email or password".into()));
    };

    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("bk_{}", hex::encode(raw));
    let expires_at = Utc::now() + Duration::hours(TOKEN_LIFETIME_HOURS);
    {
        let mut conn = state.db.get().await?;
        auth::insert_token(
            &mut conn,
            user.tenant_id,
            &hash_key(&token),
            "login",
            expires_at,
        )
        .await?;
    }
    Ok(HttpResponse::Ok().json(json!({"token": token, "tenant_id": user.tenant_id})))
}
