//! The doctor's requests to the deployment: plain reads of its documents, and
//! probes. The login probe sends failed logins from one address until a 429 (at
//! most `--login-probes`), then one more with a spoofed `X-Forwarded-For`, then one
//! from a second address: whether the limit is per client, and whether a client can
//! choose its bucket. On loopback the two addresses are 127.0.0.2 and 127.0.0.3 (the
//! doctor binds them; a proxy on the same host is 127.0.0.1), elsewhere the second
//! address cannot be had and its check says `?`.

use crate::config::DoctorArgs;
use reqwest::header::{HeaderMap, ACCEPT_ENCODING, CONTENT_ENCODING};
use std::net::IpAddr;
use std::time::Duration;

/// What the probes saw.
#[derive(Debug, Default)]
pub struct Probes {
    /// The login probe, or why it could not run.
    pub login: Option<Result<LoginProbe, String>>,
    /// Whether a compressible document came back gzip-encoded when asked.
    pub compression: Option<Result<bool, String>>,
    /// The cached routes asked twice with the API key (`None`: no key, or probes off).
    pub http_caching: Option<Result<Vec<CacheProbe>, String>>,
}

/// One cached route asked with the API key, then again with its ETag.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheProbe {
    /// The path asked.
    pub path: String,
    /// The first answer's status.
    pub status: u16,
    /// The first answer's `ETag`.
    pub etag: Option<String>,
    /// The status of the second request, sent with `If-None-Match: <etag>`.
    pub revalidated: Option<u16>,
}

/// The login probe's findings.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoginProbe {
    /// Failed logins sent until the first 429 (`None`: none came).
    pub refused_after: Option<u32>,
    /// The 429's body had `error: rate_limited`, and its headers `Retry-After` and
    /// every `X-RateLimit-*`.
    pub kind_429: Option<(bool, bool, bool)>,
    /// After the 429, a spoofed `X-Forwarded-For` from the same address was admitted.
    pub spoof_admitted: Option<bool>,
    /// After the 429, a second client address was refused too (one shared bucket).
    pub second_address_refused: Option<bool>,
}

/// A client (10 s timeout, no redirects, no proxy, no transparent decompression:
/// the compression probe reads `Content-Encoding`), bound to `local` when given.
pub fn client(local: Option<IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_gzip()
        .no_brotli()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .local_address(local)
        .build()
        .unwrap_or_default()
}

/// The body of a 200 answer to GET `url`.
pub async fn text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("answered {}", resp.status()));
    }
    resp.text().await.map_err(|e| e.to_string())
}

/// The JSON body of a 200 answer to GET `url`.
pub async fn json(client: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    let body = text(client, url).await?;
    serde_json::from_str(&body).map_err(|e| format!("{url}: not JSON: {e}"))
}

/// Every probe `args` allow.
pub async fn run(args: &DoctorArgs) -> Probes {
    if args.no_probes {
        return Probes::default();
    }
    let http_caching = match &args.api_key {
        Some(key) => Some(http_caching(args, key).await),
        None => None,
    };
    Probes {
        login: Some(login(args).await),
        compression: Some(compression(&args.url).await),
        http_caching,
    }
}

/// Asks each of `--cached-paths` with the key, then again with the ETag it got.
async fn http_caching(args: &DoctorArgs, key: &str) -> Result<Vec<CacheProbe>, String> {
    let client = client(None);
    let get = |path: &str, etag: Option<&str>| {
        let mut req = client.get(format!("{}{path}", args.url)).bearer_auth(key);
        if let Some(etag) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        req.send()
    };
    let mut found = Vec::new();
    for path in args
        .cached_paths
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let first = get(path, None).await.map_err(|e| e.to_string())?;
        let etag = first
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = first.status().as_u16();
        let revalidated = match (&etag, status) {
            (Some(etag), 200) => {
                let second = get(path, Some(etag)).await.map_err(|e| e.to_string())?;
                Some(second.status().as_u16())
            }
            _ => None,
        };
        found.push(CacheProbe {
            path: path.to_string(),
            status,
            etag,
            revalidated,
        });
    }
    Ok(found)
}

/// Asks for the OpenAPI document gzip-encoded.
async fn compression(url: &str) -> Result<bool, String> {
    let resp = client(None)
        .get(format!("{url}/openapi.json"))
        .header(ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let encoding = resp.headers().get(CONTENT_ENCODING);
    Ok(encoding.is_some_and(|v| v.as_bytes() == b"gzip"))
}

/// The two client addresses of the login probe: distinct loopback addresses when the
/// deployment is on loopback, else the default route's (and no second one).
fn addresses(url: &str) -> (Option<IpAddr>, Option<IpAddr>) {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    match host.as_deref() {
        Some("127.0.0.1" | "localhost") => (
            Some(IpAddr::from([127, 0, 0, 2])),
            Some(IpAddr::from([127, 0, 0, 3])),
        ),
        _ => (None, None),
    }
}

/// One failed login; its status, headers and body.
async fn failed_login(
    client: &reqwest::Client,
    url: &str,
    spoof: Option<&str>,
) -> Result<(u16, HeaderMap, serde_json::Value), String> {
    let mut req = client
        .post(url)
        .json(&serde_json::json!({"email": "doctor@probe.invalid", "password": "not it"}));
    if let Some(spoof) = spoof {
        req = req.header("X-Forwarded-For", spoof);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    let body = resp.json().await.unwrap_or_default();
    Ok((status, headers, body))
}

async fn login(args: &DoctorArgs) -> Result<LoginProbe, String> {
    let url = format!("{}{}", args.url, args.login_path);
    let (first, second) = addresses(&args.url);
    let from_first = client(first);
    let mut probe = LoginProbe::default();
    for attempt in 1..=args.login_probes {
        let (status, headers, body) = failed_login(&from_first, &url, None).await?;
        if status == 429 {
            probe.refused_after = Some(attempt);
            let has = |h: &str| headers.contains_key(h);
            probe.kind_429 = Some((
                body["error"] == "rate_limited",
                has("retry-after"),
                [
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-reset",
                ]
                .iter()
                .all(|h| has(h)),
            ));
            break;
        }
    }
    if probe.refused_after.is_none() {
        return Ok(probe);
    }
    let spoofed = failed_login(&from_first, &url, Some("198.51.100.77")).await?;
    probe.spoof_admitted = Some(spoofed.0 != 429);
    if second.is_some() {
        let other = failed_login(&client(second), &url, None).await?;
        probe.second_address_refused = Some(other.0 == 429);
    }
    Ok(probe)
}
