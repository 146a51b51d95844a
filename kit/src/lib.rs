//! brisk-kit: a multi-worker application server for read-heavy business APIs.
//!
//! Build the services from a [`KitConfig`], register a handler set ([`Mount`], an
//! actix `ServiceConfig` function), declare cached views and memoized calls with their
//! [`Scope`] and TTL on the [`Cache`], your plans and route limits in
//! [`RateLimitConfig`], warm recipes with [`Cache::register_view`] /
//! [`Cache::register_memo`], read the request's [`Caller`], count statements with
//! [`RequestStatements`], and serve your OpenAPI document (`/openapi.json`, `/docs`) with
//! [`docs::endpoints`], completed by [`docs::KitConventions`] with what the kit does
//! on every route.
//!
//! The kit knows no application: its defaults name no plan and no route.
//! `examples/hello_kit.rs` is a whole application on this crate; the order API of
//! the `brisk` package is another.

pub mod authenticate;
pub mod breaker;
pub mod cache;
pub mod caller;
pub mod clock;
pub mod db;
pub mod drain;
pub mod failure;
pub mod flight;
pub mod http;
pub mod metrics;
pub mod peers;
pub mod ratelimit;
pub mod redis;
pub mod route;
pub mod services;
pub mod startup;
pub mod supervise;
pub mod warm;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use crate::authenticate::{AuthError, Authenticate};
pub use crate::cache::{Cache, CacheConfig, CachedBody, Memo, Scope, ViewKey};
pub use crate::caller::{AuthContext, PlanName};
pub use crate::db::config::DbConfig;
pub use crate::db::pool::DbPool;
pub use crate::db::DbError;
pub use crate::http::conditional::{if_none_match_header, respond_cached};
pub use crate::http::docs;
pub use crate::http::error::ApiError;
pub use crate::http::extract::auth::Caller;
pub use crate::http::precompressed::Precompressed;
pub use crate::metrics::{Metrics, MetricsConfig, RequestStatements};
pub use crate::ratelimit::{
    parse_limits, parse_route_rule, FailurePolicy, KeyBy, PlanLimits, RateLimitConfig, RouteRule,
};
pub use crate::redis::RedisConfig;
pub use crate::services::{Services, Store};
pub use crate::startup::{serve, Application, KitConfig, Mount, ServerConfig};
pub use crate::warm::WarmConfig;

/// The web framework the kit serves with (actix-web), for handler sets.
pub use actix_web;
/// Bodies as the cache stores them.
pub use bytes::Bytes;
/// The query builder the pool runs (Diesel and diesel-async), for an application's queries.
pub use diesel;
/// Asynchronous Diesel connections, as the pool hands them out.
pub use diesel_async;
/// The JSON library the cache stores memoized values with.
pub use serde_json;
