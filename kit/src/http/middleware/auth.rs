//! The guard's first step (`super::guard`): authenticates every matched route the
//! application protects, before rate limiting, through the application's
//! [`Authenticate`] hook, and stores the
//! caller's `AuthContext` in the request extensions. Unmatched paths pass through
//! untouched so they answer 404 with or without a key.
//!
//! The route is the one the router will run (`route::route_pattern`, on the decoded
//! path), never the raw path text: `/v1/log%69n` is the login route here too.
//!
//! Failed authentication is limited per client address before any database work
//! (`ratelimit::failures`): a presented key that this process has not verified recently
//! reserves one unit of the address's failure limit before the look-up and gets it back
//! when the key is valid (one look-up per address and key at a time, see `Flights`); a
//! remembered key only needs the address not to be over the limit already, which the
//! guard's rate-limit step checks in the same Redis call as the request's own limits
//! (`FailureCheckDue`); a request with no key costs no look-up and is not counted (one 401
//! body for every bad key). Public routes under the prefix take credentials of their own
//! (login): each call reserves a unit, kept when the route answers 401. Past the limit
//! every such request gets 429 with `Retry-After`.

use crate::authenticate::{AuthError, Authenticate};
use crate::caller::AuthContext;
use crate::flight::SingleFlight;
use crate::http::error::{ApiError, UNAUTHORIZED_DETAIL};
use crate::http::extract::auth::presented_key;
use crate::http::middleware::rate_limit::refusal;
use crate::ratelimit::failures::FailureCheckDue;
use crate::ratelimit::policy::describe;
use crate::ratelimit::{Decision, KeyBy, Limiter, Policy};
use crate::route::route_pattern;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

/// Which matched routes need a key: those under `prefix` except `public` ones.
#[derive(Clone)]
pub struct Protection {
    /// The hook that resolves a key.
    pub authenticator: Arc<dyn Authenticate>,
    /// Route patterns starting with this need a key (e.g. `/v1/`).
    pub prefix: String,
    /// Route patterns under `prefix` that need none (e.g. `/v1/login`): they check
    /// credentials of their own, and a 401 from them counts as a failed authentication.
    pub public: Vec<String>,
    /// Key checks in flight in this process (shared by every worker's clone).
    flights: Flights,
}

/// What a matched route asks of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Outside the prefix: nothing.
    Open,
    /// A key, resolved by the hook.
    Key,
    /// Credentials the route checks itself (login).
    Credentials,
}

impl Protection {
    /// Routes under `prefix` except `public` need a key, resolved by `authenticator`.
    pub fn new(authenticator: Arc<dyn Authenticate>, prefix: &str, public: &[&str]) -> Self {
        Self {
            authenticator,
            prefix: prefix.to_string(),
            public: public.iter().map(|p| p.to_string()).collect(),
            flights: Flights::default(),
        }
    }

    fn access(&self, pattern: &str) -> Access {
        if !pattern.starts_with(&self.prefix) {
            Access::Open
        } else if self.public.iter().any(|p| p == pattern) {
            Access::Credentials
        } else {
            Access::Key
        }
    }

    /// Start-up check: a route limit keyed by tenant, user or key on a route that
    /// needs no key can never be charged (no request on it has a caller). `Err` is one
    /// line naming the first such limit.
    pub fn check_limits(&self, policy: &Policy) -> Result<(), String> {
        let mut lines: Vec<String> = policy
            .rules()
            .filter(|r| r.key != KeyBy::Ip && self.access(&r.pattern) != Access::Key)
            .map(|r| {
                format!(
                    "route limit {} never applies: {} {} needs no API key, so no request on it has a {}",
                    describe(r),
                    r.method,
                    r.pattern,
                    match r.key {
                        KeyBy::User => "user",
                        KeyBy::ApiKey => "key",
                        _ => "tenant",
                    }
                )
            })
            .collect();
        lines.sort();
        lines.into_iter().next().map_or(Ok(()), Err)
    }
}

/// Authenticates a request of a protected route, then runs `inner` (the limits and the
/// handler) with its caller in the extensions; passes straight to `inner` when the route
/// is not protected. `limits` is the limiter and the client address the guard resolved
/// (`None`: no limiter, so failed authentication is not limited).
pub(crate) async fn authenticate<B, F, Fut>(
    req: ServiceRequest,
    limits: Option<(Limiter, IpAddr)>,
    inner: F,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    B: MessageBody,
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    let protection = req.app_data::<web::Data<Protection>>().cloned();
    let access = match (&protection, route_pattern(&req)) {
        (Some(p), Some(pattern)) => p.access(&pattern),
        _ => Access::Open,
    };
    let (Some(protection), false) = (protection, access == Access::Open) else {
        return pass(req, inner).await;
    };
    if access == Access::Credentials {
        return check_credentials(req, inner, limits).await;
    }
    let authenticator = &protection.authenticator;
    // A remembered key is used where it lies; only a key to look up is copied.
    let remembered = match presented_key(req.headers()) {
        None => return reject(req, ApiError::Unauthorized(UNAUTHORIZED_DETAIL.into())),
        Some(key) => authenticator.remembered(key).ok_or_else(|| key.to_owned()),
    };
    let outcome = match (remembered, limits) {
        (Ok(ctx), Some((_, ip))) => {
            // The address's failure limit is checked with the request's own limits, in
            // the rate-limit middleware's one store call (not a round trip of its own).
            req.extensions_mut().insert(FailureCheckDue { ip });
            Checked::Done(Ok(ctx))
        }
        (Ok(ctx), None) => Checked::Done(Ok(ctx)),
        (Err(key), Some((limiter, ip))) => {
            protection
                .flights
                .check(authenticator, limiter, ip, key)
                .await
        }
        (Err(key), None) => Checked::Done(authenticator.authenticate(&key).await),
    };
    let outcome = match outcome {
        Checked::Done(outcome) => outcome,
        Checked::Refused(refused) => {
            return Ok(req.into_response(refusal(&refused)).map_into_right_body())
        }
    };
    match outcome {
        Ok(ctx) => {
            req.extensions_mut().insert(ctx);
            pass(req, inner).await
        }
        Err(err) => reject(req, ApiError::from(err)),
    }
}

/// A key check's outcome: the address was over its failure limit, or the hook answered.
#[derive(Clone)]
enum Checked {
    Refused(Decision),
    Done(Result<AuthContext, AuthError>),
}

/// Checks of a key not remembered, one per (client address, key) at a time: the first
/// request reserves a unit of the address's failure limit, looks the key up and gets
/// the unit back when the key is valid; requests with the same key from the same
/// address meanwhile share its answer (so a burst of a valid key on a cold memo takes
/// one unit for a moment, not one per request), and each of them counts as a failure
/// of its own when the key is rejected.
#[derive(Clone, Default)]
struct Flights(Arc<SingleFlight<(IpAddr, String), Checked>>);

impl Flights {
    async fn check(
        &self,
        authenticator: &Arc<dyn Authenticate>,
        limiter: Limiter,
        ip: IpAddr,
        key: String,
    ) -> Checked {
        let lead = || {
            let (auth, limiter) = (authenticator.clone(), limiter.clone());
            let key = key.clone();
            async move { lead(auth, limiter, ip, key).await }
        };
        let (flight, leader) = self.0.join_or_start(&(ip, key.clone()), lead);
        let checked = flight.await.unwrap_or_else(|_| {
            Checked::Done(Err(AuthError::Internal("the key check panicked".into())))
        });
        if !leader && matches!(checked, Checked::Done(Err(AuthError::Rejected))) {
            // The look-up was shared; the failure is this request's own.
            let _ = limiter.reserve_failure(ip).await;
        }
        checked
    }
}

/// The shared check: reserve a unit of the address's failure limit, ask the hook, and
/// give the unit back unless the key was rejected.
async fn lead(auth: Arc<dyn Authenticate>, limiter: Limiter, ip: IpAddr, key: String) -> Checked {
    match limiter.reserve_failure(ip).await {
        Err(refused) => Checked::Refused(refused),
        Ok(reservation) => {
            let outcome = auth.authenticate(&key).await;
            // A rejected key keeps its unit; anything else was not the client's failure.
            if let (Some(r), false) = (reservation, outcome == Err(AuthError::Rejected)) {
                limiter.refund(r).await;
            }
            Checked::Done(outcome)
        }
    }
}

/// A public route that checks credentials itself (login): one unit reserved before it
/// runs, kept when it answers 401.
async fn check_credentials<B, F, Fut>(
    req: ServiceRequest,
    inner: F,
    limits: Option<(Limiter, IpAddr)>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    B: MessageBody,
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    let Some((limiter, ip)) = limits else {
        return pass(req, inner).await;
    };
    let reservation = match limiter.reserve_failure(ip).await {
        Ok(r) => r,
        Err(refused) => return Ok(req.into_response(refusal(&refused)).map_into_right_body()),
    };
    let res = pass(req, inner).await;
    let failed = matches!(&res, Ok(r) if r.status() == StatusCode::UNAUTHORIZED);
    if let (Some(r), false) = (reservation, failed) {
        limiter.refund(r).await;
    }
    res
}

async fn pass<B, F, Fut>(
    req: ServiceRequest,
    inner: F,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    B: MessageBody,
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    inner(req).await.map(ServiceResponse::map_into_left_body)
}

fn reject<B>(
    req: ServiceRequest,
    err: ApiError,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let resp: HttpResponse = err.error_response();
    Ok(req.into_response(resp.map_into_right_body()))
}
