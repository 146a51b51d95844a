//! `/api/orders`: offset and keyset lists with sparse fieldsets, one order, and
//! order creation with `Idempotency-Key`.

use crate::app::ordering::{request_hash, Idempotency, Placed};
use crate::app::views::OrderView;
use crate::app::OrderApp;
use crate::domain::ordering::RequestedLine;
use crate::domain::{OrderFields, OrderPage, OrderQuery, OrderStatus};
use crate::routes::cursor::{self, CursorKey};
use crate::routes::errors::{rejection_answer, replayed};
use crate::routes::path::path_id;
use actix_web::{web, HttpRequest, HttpResponse};
use brisk_kit::http::docs::ErrorBody;
use brisk_kit::http::error::ApiError;
use brisk_kit::http::extract::auth::Caller;
use brisk_kit::http::extract::body::parse_json;
use brisk_kit::http::extract::query::QueryParams;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Page size when none is given.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger pages are clamped to this.
pub const MAX_PAGE_SIZE: i64 = 100;

/// A page of orders in the offset form (neither `cursor` nor `limit` given).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffsetPage<'a> {
    /// The page's orders, newest first.
    items: &'a [OrderView],
    /// This page's number (from 1).
    page: i64,
    /// The page size applied (clamped to 100).
    per_page: i64,
    /// How many pages there are.
    pages: i64,
    /// How many orders match.
    total: i64,
    /// The keyset cursor continuing after this page's last order (null after the last).
    next_cursor: Option<String>,
}

/// A page of orders in the keyset form (`cursor` or `limit` given): no total.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysetPage<'a> {
    /// The page's orders, newest first.
    items: &'a [OrderView],
    /// The cursor of the next page; null after the last.
    next_cursor: Option<String>,
}

/// `GET /api/orders` body: the offset or the keyset form.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum OrderList<'a> {
    /// Offset pagination.
    Offset(OffsetPage<'a>),
    /// Keyset pagination.
    Keyset(KeysetPage<'a>),
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

/// The tenant's orders, newest first.
///
/// Offset pagination (`page`, `per_page`) unless `cursor` or `limit` is given, then
/// keyset pagination from the opaque `cursor` of the previous page (no or empty
/// cursor: the first page). `fields` selects a sparse fieldset: only the named
/// fields are sent, and relations not named are not loaded.
#[utoipa::path(
    get,
    path = "/api/orders",
    tag = "orders",
    params(
        ("page" = Option<i64>, Query, minimum = 1, maximum = 1_000_000, description = "Offset form: the page (default 1); not with `cursor`/`limit`"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 1_000_000, description = "Offset form: orders per page (default 50, clamped to 100)"),
        ("cursor" = Option<String>, Query, description = "Keyset form: the previous page's `next_cursor` (malformed or tampered: 400)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1_000_000, description = "Keyset form: orders per page (default 50, clamped to 100)"),
        ("status" = Option<String>, Query, description = "Only orders with this status", example = "paid", pattern = "^(pending|paid|shipped|cancelled)?$"),
        ("fields" = Option<String>, Query, description = "Comma-separated fields to send: id, status, total_cents, created_at, customer, items (unknown: 400)", example = "id,status,total_cents",
            pattern = "^(id|status|total_cents|created_at|customer|items)(,(id|status|total_cents|created_at|customer|items))*$"),
    ),
    responses(
        (status = 200, description = "The page", body = OrderList),
        (status = 400, description = "A parameter is invalid, or the offset and keyset forms are mixed (named in `detail`)", body = ErrorBody),
    )
)]
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
            HttpResponse::Ok().json(OrderList::Offset(OffsetPage {
                items: &found.items,
                page,
                per_page,
                pages: (total + per_page - 1) / per_page,
                total,
                next_cursor,
            }))
        }
        OrderPage::Keyset { .. } => HttpResponse::Ok().json(OrderList::Keyset(KeysetPage {
            items: &found.items,
            next_cursor,
        })),
    })
}

/// One order with its customer and lines.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    tag = "orders",
    params(("id" = i64, Path, minimum = 1, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "The tenant has no such order", body = ErrorBody),
    )
)]
pub async fn show(
    app: web::Data<OrderApp>,
    Caller(caller): Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "order")?;
    let order = app.orders.show(caller.tenant_id, id).await?;
    Ok(HttpResponse::Ok().json(order))
}

/// `POST /api/orders` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    /// The ordering customer (the tenant's).
    #[schema(minimum = 1)]
    customer_id: i64,
    /// 1 to 50 lines of distinct products.
    #[schema(min_items = 1, max_items = 50)]
    items: Vec<NewOrderLine>,
}

/// One line of a new order.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderLine {
    /// The product (the tenant's; each at most once per order).
    #[schema(minimum = 1)]
    product_id: i64,
    /// Units, 1 to 1,000.
    #[schema(minimum = 1, maximum = 1000)]
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

/// Place an order.
///
/// One transaction: checks that the customer and products are the tenant's and in
/// stock, decrements stock, prices the lines at the current prices; status
/// `pending`. With an `Idempotency-Key` (kept 24 h per tenant), a retry with the
/// same key and the same JSON body gets the first answer (201, 404 or 409, marked
/// `Idempotent-Replayed: true`) and creates nothing.
#[utoipa::path(
    post,
    path = "/api/orders",
    tag = "orders",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "1 to 255 visible ASCII characters naming this request, for safe retries"),
    ),
    request_body = NewOrder,
    responses(
        (status = 201, description = "The order, created (or replayed)", body = OrderView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"))),
        (status = 400, description = "The body is not one JSON object of known fields, a field is out of range, or `Idempotency-Key` is malformed (named in `detail`)", body = ErrorBody),
        (status = 404, description = "The customer or a product is not the tenant's (named in `detail`; may be replayed)", body = ErrorBody,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is a stored answer"))),
        (status = 409, description = "`insufficient_stock` (nothing changed; may be replayed) or `idempotency_in_flight` (the first request with this key is still running)", body = ErrorBody,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is a stored answer"))),
        (status = 422, description = "`idempotency_key_reused` (the key came with another body) or `total_out_of_range`", body = ErrorBody),
    )
)]
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
