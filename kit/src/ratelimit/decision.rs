//! The limiter's answer for one request, independent of the web framework: whether it
//! passes, the state of each limit, the header fields describing them, and on a refusal a
//! [`Rejection`] with its retry time. The HTTP side (`http::middleware::rate_limit`)
//! renders these into the response.

use super::limits::Rate;
use super::rules::FailurePolicy;
use std::sync::Arc;

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configured store (Redis, or memory with `--store memory`).
    Store,
    /// The failure policy, because Redis failed or the breaker is open.
    WithoutStore(FailurePolicy),
}

/// One limit's state after a decision, for headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReport {
    /// The limit's name in `RateLimit-Policy` (`plan`, `login`).
    pub name: Arc<str>,
    /// The rate it was decided against (this process's share without the store).
    pub rate: Rate,
    /// Requests still admitted in the current window.
    pub remaining: u64,
    /// Milliseconds until the window has room for the whole count again.
    pub reset_after_ms: u64,
    /// Milliseconds until a refused request could pass (`None`: this limit admitted it).
    pub retry_after_ms: Option<u64>,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The request passes.
    pub allowed: bool,
    /// Who decided.
    pub source: Source,
    /// Epoch ms of the decision (Redis time when Redis decided).
    pub now_ms: u64,
    /// One report per limit of the request, in check order.
    pub limits: Vec<LimitReport>,
}

/// Why a request was refused and when to retry: what a 429 says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Whole seconds until a retry can pass (at least 1): `Retry-After`.
    pub retry_after_secs: u64,
    /// One sentence for the client, naming the limit.
    pub detail: String,
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

impl Decision {
    /// The limit the headers describe: on a refusal the one that frees last among those
    /// that refused; otherwise the one closest to exhaustion (fewest remaining, then the
    /// latest reset).
    pub fn headline(&self) -> Option<&LimitReport> {
        if !self.allowed {
            if let Some(l) = self
                .limits
                .iter()
                .filter(|l| l.retry_after_ms.is_some())
                .max_by_key(|l| l.retry_after_ms)
            {
                return Some(l);
            }
        }
        self.limits.iter().min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then(b.reset_after_ms.cmp(&a.reset_after_ms))
        })
    }

    /// Whole seconds until a retry can pass (at least 1) when refused.
    pub fn retry_after_secs(&self) -> Option<u64> {
        if self.allowed {
            return None;
        }
        let ms = self
            .limits
            .iter()
            .filter_map(|l| l.retry_after_ms)
            .max()
            .unwrap_or(1000);
        Some(ceil_secs(ms).max(1))
    }

    /// The header fields describing the limits, lowercase names in the order they are
    /// set: `X-RateLimit-Limit/Remaining/Reset` (epoch seconds) and the IETF
    /// `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-09).
    /// Empty when the request had no limit.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let Some(head) = self.headline() else {
            return Vec::new();
        };
        let (remaining, until_ms) = match head.retry_after_ms {
            Some(retry) if !self.allowed => (0, retry),
            _ => (head.remaining, head.reset_after_ms),
        };
        let reset_epoch = ceil_secs(self.now_ms + until_ms);
        let policy = self
            .limits
            .iter()
            .map(|l| {
                format!(
                    "\"{}\";q={};w={}",
                    l.name,
                    l.rate.count,
                    ceil_secs(l.rate.period_ms()).max(1)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let current = format!(
            "\"{}\";r={};t={}",
            head.name,
            remaining,
            ceil_secs(until_ms)
        );
        vec![
            ("x-ratelimit-limit", head.rate.count.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", reset_epoch.to_string()),
            ("ratelimit-policy", policy),
            ("ratelimit", current),
        ]
    }

    /// The refusal of a refused request (`None` when it passes).
    pub fn rejection(&self) -> Option<Rejection> {
        if self.allowed {
            return None;
        }
        let retry = self.retry_after_secs().unwrap_or(1);
        let detail = match (self.source, self.headline()) {
            (Source::WithoutStore(FailurePolicy::Deny), _) => {
                "the rate limiter cannot reach its store; retry shortly".to_string()
            }
            (_, Some(l)) => format!(
                "rate limit \"{}\" of {} exceeded; retry in {} s",
                l.name, l.rate, retry
            ),
            (_, None) => format!("rate limit exceeded; retry in {retry} s"),
        };
        Some(Rejection {
            retry_after_secs: retry,
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(name: &str, count: u64, remaining: u64, retry: Option<u64>) -> LimitReport {
        LimitReport {
            name: Arc::from(name),
            rate: Rate::new(count, Duration::from_secs(60)),
            remaining,
            reset_after_ms: 30_500,
            retry_after_ms: retry,
        }
    }

    #[test]
    fn an_admitted_request_has_headers_and_no_rejection() {
        let d = Decision {
            allowed: true,
            source: Source::Store,
            now_ms: 1_000_000,
            limits: vec![
                report("plan", 60, 59, None),
                report("export.csv", 1, 0, None),
            ],
        };
        assert_eq!(d.rejection(), None);
        assert_eq!(
            d.headers(),
            [
                ("x-ratelimit-limit", "1".to_string()),
                ("x-ratelimit-remaining", "0".to_string()),
                ("x-ratelimit-reset", "1031".to_string()),
                (
                    "ratelimit-policy",
                    "\"plan\";q=60;w=60, \"export.csv\";q=1;w=60".to_string()
                ),
                ("ratelimit", "\"export.csv\";r=0;t=31".to_string()),
            ]
        );
    }

    #[test]
    fn a_refusal_names_the_limit_that_frees_last_and_rounds_the_retry_up() {
        let d = Decision {
            allowed: false,
            source: Source::Store,
            now_ms: 0,
            limits: vec![
                report("plan", 60, 0, Some(1_200)),
                report("login", 5, 0, Some(9_001)),
            ],
        };
        assert_eq!(
            d.rejection(),
            Some(Rejection {
                retry_after_secs: 10,
                detail: "rate limit \"login\" of 5 per minute exceeded; retry in 10 s".into(),
            })
        );
        assert_eq!(d.headers()[4], ("ratelimit", "\"login\";r=0;t=10".into()));
    }

    #[test]
    fn a_deny_without_the_store_says_the_store_is_unreachable() {
        let d = Decision {
            allowed: false,
            source: Source::WithoutStore(FailurePolicy::Deny),
            now_ms: 0,
            limits: vec![report("plan", 60, 0, Some(1_000))],
        };
        let r = d.rejection().unwrap();
        assert_eq!(r.retry_after_secs, 1);
        assert_eq!(
            r.detail,
            "the rate limiter cannot reach its store; retry shortly"
        );
    }
}
