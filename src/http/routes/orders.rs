//! `/api/orders`: offset and keyset lists with sparse fieldsets, one order, and
//! order creation with `Idempotency-Key`.

use crate::db::queries::idempotency::{self, Claim};
use crate::db::queries::order_create::{self, CreateOrderError, NewLine};
use crate::db::queries::orders;
use crate::domain::orders::{OrderFields, OrderPage, OrderQuery};
use crate::domain::types::OrderStatus;
use crate::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::parse_json;
use crate::http::extract::cursor;
use crate::http::extract::query::QueryParams;
use crate::http::routes::path_id;
use crate::state::AppState;
use crate::warm::recipes;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

pub const DEFAULT_PAGE_SIZE: i64 = 50;

#[derive(Serialize)]
struct OffsetPage<'a, T> {
    items: &'a [T],
    page: i64,
    per_page: i64,
    pages: i64,
    total: i64,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct KeysetPage<'a, T> {
    items: &'a [T],
    next_cursor: Option<String>,
}
pub const MAX_PAGE_SIZE: i64 = 100;

fn parse_list_query(
    state: &AppState,
    tenant_id: i64,
    params: &QueryParams,
) -> Result<OrderQuery, ApiError> {
    let status = match params.get("status").map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(raw.parse::<OrderStatus>().map_err(|_| {
            ApiError::bad_request(
                "status",
                format!("status must be one of pending, paid, shipped, cancelled; got {raw:?}"),
            )
        })?),
    };
    let fields = match params.get("fields") {
        None => OrderFields::ALL,
        Some(raw) => OrderFields::parse(raw)
            .map_err(|e| ApiError::bad_request("fields", format!("fields: {e}")))?,
    };
    let keyset = params.get("cursor").is_some() || params.get("limit").is_some();
    let page = if keyset {
        for offset_param in ["page", "per_page"] {
            if params.get(offset_param).is_some() {
                return Err(ApiError::bad_request(
                    "cursor",
                    format!(
                        "cursor/limit (keyset) cannot be combined with {offset_param} (offset)"
                    ),
                ));
            }
        }
        let after = match params.get("cursor").map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                cursor::decode(&state.cursor_secret, tenant_id, raw).ok_or_else(|| {
                    ApiError::bad_request("cursor", "cursor is malformed or was tampered with")
                })?,
            ),
        };
        OrderPage::Keyset {
            after,
            limit: params.clamped("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
        }
    } else {
        OrderPage::Offset {
            page: params.positive("page", 1)?,
            per_page: params.clamped("per_page", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
        }
    };
    Ok(OrderQuery {
        status,
        fields,
        page,
    })
}

pub async fn list(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string());
    let tenant = caller.tenant_id;
    let query = parse_list_query(&state, tenant, &params)?;
    let q = query;
    let page = async {
        state
            .db
            .read(move |c| Box::pin(async move { orders::list(c, tenant, &q).await }))
            .await
            .map_err(ApiError::from)
    };
    // The count is independent of the page: both run at once.
    let (list, total) = match query.page {
        OrderPage::Offset { .. } => {
            let total = recipes::order_count(&state.cache, &state.db, tenant, query.status);
            let (list, total) = futures_util::try_join!(page, total)?;
            (list, Some(total))
        }
        OrderPage::Keyset { .. } => (page.await?, None),
    };
    let next_cursor = list
        .next
        .map(|pos| cursor::encode(&state.cursor_secret, tenant, pos));
    // Typed bodies: serialized straight to bytes, no intermediate `Value`.
    Ok(match query.page {
        OrderPage::Offset { page, per_page } => {
            let total = total.unwrap_or(0);
            HttpResponse::Ok().json(OffsetPage {
                items: &list.items,
                page,
                per_page,
                pages: (total + per_page - 1) / per_page,
                total,
                next_cursor,
            })
        }
        OrderPage::Keyset { .. } => HttpResponse::Ok().json(KeysetPage {
            items: &list.items,
            next_cursor,
        }),
    })
}

pub async fn show(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "order")?;
    let tenant = caller.tenant_id;
    let order = state
        .db
        .read(move |c| Box::pin(orders::find(c, tenant, id)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no order with id {id}")))?;
    Ok(HttpResponse::Ok().json(order))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    customer_id: i64,
    items: Vec<NewOrderLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrderLine {
    product_id: i64,
    quantity: i64,
}

impl NewOrder {
    fn validate(&self) -> Result<Vec<NewLine>, ApiError> {
        if !(1..=50).contains(&self.items.len()) {
            return Err(ApiError::bad_request(
                "items",
                "items must hold 1 to 50 lines",
            ));
        }
        let mut seen = HashSet::new();
        let mut lines = Vec::with_capacity(self.items.len());
        for (i, line) in self.items.iter().enumerate() {
            if !seen.insert(line.product_id) {
                return Err(ApiError::bad_request(
                    format!("items[{i}].product_id"),
                    format!(
                        "items[{i}].product_id: product {} appears twice",
                        line.product_id
                    ),
                ));
            }
            if !(1..=1000).contains(&line.quantity) {
                return Err(ApiError::bad_request(
                    format!("items[{i}].quantity"),
                    format!("items[{i}].quantity must be 1 to 1000"),
                ));
            }
            lines.push(NewLine {
                product_id: line.product_id,
                quantity: line.quantity as i32,
            });
        }
        Ok(lines)
    }
}

/// Canonical form of a JSON body (keys sorted at every level), so a retry is
/// recognised whatever its key order or spacing.
fn canonical_hash(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    write(value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().unwrap_or("").trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_string()))
}

pub async fn create(
    state: web::Data<AppState>,
    Caller(caller): Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let order: NewOrder = parse_json(&body)?;
    let lines = order.validate()?;
    let tenant = caller.tenant_id;
    let Some(key) = idempotency_key(&req)? else {
        let (status, body) = place(&state, tenant, order.customer_id, &lines, None).await?;
        return Ok(json_response(status, body));
    };

    let value: Value = serde_json::from_slice(&body).map_err(ApiError::internal)?;
    let hash = canonical_hash(&value);
    let claim = {
        let mut conn = state.db.get().await?;
        idempotency::claim(&mut conn, tenant, &key, &hash).await?
    };
    match claim {
        Claim::Mismatch => Err(ApiError::Unprocessable {
            code: "idempotency_key_reused",
            detail: "Idempotency-Key was already used with a different body".into(),
        }),
        Claim::InFlight => Err(ApiError::Conflict {
            code: "idempotency_in_flight",
            detail: "a request with this Idempotency-Key is still being processed".into(),
        }),
        Claim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
            Ok(HttpResponse::build(status)
                .insert_header(("Idempotent-Replayed", "true"))
                .content_type("application/json")
                .body(body))
        }
        Claim::Fresh => match place(&state, tenant, order.customer_id, &lines, Some(&key)).await {
            Ok((status, body)) => Ok(json_response(status, body)),
            Err(err) => {
                // Not an answer worth replaying (5xx/503): free the key for a retry.
                if let Ok(mut conn) = state.db.get().await {
                    let _ = idempotency::release(&mut conn, tenant, &key).await;
                }
                Err(err)
            }
        },
    }
}

fn json_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// Creates the order; 201, or the 404/409 that a retry must see again. Other
/// errors propagate. With an idempotency key the answer is stored: a 201 inside
/// the order's transaction, a 404/409 (nothing was written) right after.
async fn place(
    state: &AppState,
    tenant: i64,
    customer_id: i64,
    lines: &[NewLine],
    idempotency_key: Option<&str>,
) -> Result<(StatusCode, String), ApiError> {
    let mut conn = state.db.get().await?;
    let result = order_create::create(&mut conn, tenant, customer_id, lines, idempotency_key).await;
    let answer = match result {
        Ok((_, json)) => {
            drop(conn);
            let ids: Vec<i64> = lines.iter().map(|l| l.product_id).collect();
            state.after_order_created(tenant, &ids).await;
            return Ok((StatusCode::CREATED, json));
        }
        Err(CreateOrderError::CustomerNotFound(id)) => {
            ApiError::not_found(format!("customer {id} not found"))
        }
        Err(CreateOrderError::ProductNotFound(id)) => {
            ApiError::not_found(format!("product {id} not found"))
        }
        Err(CreateOrderError::InsufficientStock {
            product_id,
            requested,
            available,
        }) => ApiError::Conflict {
            code: "insufficient_stock",
            detail: format!("product {product_id}: {requested} requested, {available} in stock"),
        },
        Err(CreateOrderError::Db(e)) => return Err(e.into()),
    };
    let status = answer.status_code();
    let body = answer.error_response().into_body();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|_| ApiError::internal("error body"))?;
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if let Some(key) = idempotency_key {
        // Nothing was committed: if storing fails, the open claim only delays a retry.
        idempotency::complete(&mut conn, tenant, key, status.as_u16(), &body).await?;
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::canonical_hash;
    use serde_json::json;

    #[test]
    fn canonical_hash_ignores_key_order_but_not_values() {
        let a =
            canonical_hash(&json!({"customer_id": 1, "items": [{"product_id": 2, "quantity": 3}]}));
        let b =
            canonical_hash(&json!({"items": [{"quantity": 3, "product_id": 2}], "customer_id": 1}));
        let c =
            canonical_hash(&json!({"items": [{"quantity": 4, "product_id": 2}], "customer_id": 1}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
