//! `/api/orders`: offset and keyset lists with sparse fieldsets, one order, and
//! order creation with `Idempotency-Key`.

use crate::app::ordering::{request_hash, Idempotency, Placed};
use crate::app::OrderApp;
use crate::domain::ordering::RequestedLine;
use crate::domain::{OrderFields, OrderPage, OrderQuery, OrderStatus};
use crate::http::error::ApiError;
use crate::http::extract::auth::Caller;
use crate::http::extract::body::parse_json;
use crate::http::extract::query::QueryParams;
use crate::http::routes::cursor;
use crate::http::routes::errors::{rejection_answer, replayed};
use crate::http::routes::{path_id, CursorKey};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger pages are clamped to this.
pub const MAX_PAGE_SIZE: i64 = 100;

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

fn parse_status(params: &QueryParams) -> Result<Option<OrderStatus>, ApiError> {
    match params.get("status").map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => raw.parse::<OrderStatus>().map(Some).map_err(|_| {
            ApiError::bad_request(
                "status",
                format!("status must be one of pending, paid, shipped, cancelled; got {raw:?}"),
            )
        }),
    }
}

fn parse_page(
    key: &CursorKey,
    tenant_id: i64,
    params: &QueryParams,
) -> Result<OrderPage, ApiError> {
    let keyset = params.get("cursor").is_some() || params.get("limit").is_some();
    if !keyset {
        return Ok(OrderPage::Offset {
            page: params.positive("page", 1)?,
            per_page: params.clamped("per_page", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
        });
    }
    for offset_param in ["page", "per_page"] {
        if params.get(offset_param).is_some() {
            return Err(ApiError::bad_request(
                "cursor",
                format!("cursor/limit (keyset) cannot be combined with {offset_param} (offset)"),
            ));
        }
    }
    let after = match params.get("cursor").map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(cursor::decode(&key.0, tenant_id, raw).ok_or_else(|| {
            ApiError::bad_request("cursor", "cursor is malformed or was tampered with")
        })?),
    };
    Ok(OrderPage::Keyset {
        after,
        limit: params.clamped("limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?,
    })
}

fn parse_list_query(
    key: &CursorKey,
    tenant_id: i64,
    params: &QueryParams,
) -> Result<OrderQuery, ApiError> {
    let status = parse_status(params)?;
    let fields = match params.get("fields") {
        None => OrderFields::ALL,
        Some(raw) => OrderFields::parse(raw)
            .map_err(|e| ApiError::bad_request("fields", format!("fields: {e}")))?,
    };
    Ok(OrderQuery {
        status,
        fields,
        page: parse_page(key, tenant_id, params)?,
    })
}

/// `GET /api/orders`, offset or keyset form.
pub async fn list(
    app: web::Data<OrderApp>,
    key: web::Data<CursorKey>,
    Caller(caller): Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = QueryParams::parse(req.query_string())?;
    let tenant = caller.tenant_id;
    let query = parse_list_query(&key, tenant, &params)?;
    let found = app.orders.list(tenant, query).await?;
    let next_cursor = found.next.map(|pos| cursor::encode(&key.0, tenant, pos));
    // Typed bodies: serialized straight to bytes, no intermediate `Value`.
    Ok(match query.page {
        OrderPage::Offset { page, per_page } => {
            let total = found.total.unwrap_or(0);
            HttpResponse::Ok().json(OffsetPage {
                items: &found.items,
                page,
                per_page,
                pages: (total + per_page - 1) / per_page,
                total,
                next_cursor,
            })
        }
        OrderPage::Keyset { .. } => HttpResponse::Ok().json(KeysetPage {
            items: &found.items,
            next_cursor,
        }),
    })
}

/// `GET /api/orders/{id}`.
pub async fn show(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "order")?;
    let order = app.orders.show(caller.tenant_id, id).await?;
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

/// `POST /api/orders`.
pub async fn create(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let order: NewOrder = parse_json(&body)?;
    let idempotency = match idempotency_key(&req)? {
        None => None,
        Some(key) => {
            let value: Value = parse_json(&body)?;
            Some(Idempotency {
                key,
                request_hash: request_hash(&value),
            })
        }
    };
    let lines: Vec<RequestedLine> = order
        .items
        .iter()
        .map(|l| RequestedLine {
            product_id: l.product_id,
            quantity: l.quantity,
        })
        .collect();
    let placed = app
        .ordering
        .place(
            caller.tenant_id,
            order.customer_id,
            &lines,
            idempotency,
            &rejection_answer,
        )
        .await?;
    Ok(match placed {
        Placed::Created(json) => HttpResponse::Created()
            .content_type("application/json")
            .body(json),
        Placed::Replayed { status, body } => replayed(status, body),
    })
}
