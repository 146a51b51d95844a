//! The access log: one line per request (info, target `brisk::access`), as
//! `key=value` text or one JSON object, formatted here on the worker and written by
//! the writer thread (`metrics::access_writer`), plus the N+1 and slow-request
//! warnings, which repeat the line behind their reason (through `log`).

use super::super::access_writer;
use super::super::settings::AccessLogSettings;
use crate::metrics::log_context::TraceId;
use std::net::IpAddr;
use std::time::Duration;

/// One access-log record.
#[derive(serde::Serialize)]
pub(super) struct AccessLine<'a> {
    pub(super) request_id: &'a str,
    pub(super) trace_id: Option<&'a TraceId>,
    pub(super) method: &'a str,
    pub(super) route: &'a str,
    pub(super) path: &'a str,
    pub(super) status: u16,
    pub(super) elapsed_ms: f64,
    pub(super) statements: u64,
    pub(super) db_ms: f64,
    pub(super) cache: Option<&'static str>,
    pub(super) client: Option<IpAddr>,
    /// False when the client went away before the body ended.
    pub(super) complete: bool,
}

impl AccessLine<'_> {
    /// Writes the line and its warnings as `settings` say; `elapsed` is the request's
    /// time, compared with the slow-request threshold.
    pub(super) fn write(&self, settings: &AccessLogSettings, elapsed: Duration) {
        let s = settings;
        if s.enabled && log::log_enabled!(target: "brisk::access", log::Level::Info) {
            let line = self.render(s.json, None);
            // The writer thread when logging set one up; else the `log` facade.
            if !access_writer::send_global(&line) {
                log::info!(target: "brisk::access", "{line}");
            }
        }
        if self.statements > s.statement_warn_threshold {
            let detail = format!(
                "{} statements (threshold {})",
                self.statements, s.statement_warn_threshold
            );
            let line = self.render(s.json, Some(("n_plus_one", detail)));
            log::warn!(target: "brisk::access", "{line}");
        }
        if elapsed > s.slow_request {
            let detail = format!(
                "{:.1} ms (threshold {} ms)",
                self.elapsed_ms,
                s.slow_request.as_millis()
            );
            let line = self.render(s.json, Some(("slow_request", detail)));
            log::warn!(target: "brisk::access", "{line}");
        }
    }

    /// The line as text or JSON, with a warning's kind and detail when given.
    pub(super) fn render(&self, json: bool, warning: Option<(&str, String)>) -> String {
        if json {
            // Serialized once, straight to text; a warning (rare) goes through a Value.
            let Some((kind, detail)) = warning else {
                return serde_json::to_string(self).unwrap_or_default();
            };
            let mut v = serde_json::to_value(self).unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("warning".into(), kind.into());
                obj.insert("detail".into(), detail.into());
            }
            return v.to_string();
        }
        let client = self.client.map(|c| c.to_string());
        let trace: &dyn std::fmt::Display = match self.trace_id {
            Some(id) => id,
            None => &"-",
        };
        let mut line = format!(
            "request_id={} trace_id={} client={} method={} route={} path={} status={} elapsed_ms={:.3} statements={} db_ms={:.3} cache={}{}",
            self.request_id,
            trace,
            client.as_deref().unwrap_or("-"),
            self.method,
            self.route,
            self.path,
            self.status,
            self.elapsed_ms,
            self.statements,
            self.db_ms,
            self.cache.unwrap_or("-"),
            if self.complete { "" } else { " complete=false" },
        );
        if let Some((kind, detail)) = warning {
            line = format!("{kind}: {detail}: {line}");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TRACE: TraceId = TraceId::Own(0x4bf92f3577b34da6a3ce929d0e0e4736);

    fn line() -> AccessLine<'static> {
        AccessLine {
            request_id: "r1",
            trace_id: Some(&TRACE),
            method: "GET",
            route: "/v1/orders",
            path: "/v1/orders",
            status: 200,
            elapsed_ms: 12.5,
            statements: 14,
            db_ms: 3.25,
            cache: Some("hit"),
            client: Some("10.0.0.7".parse().unwrap()),
            complete: true,
        }
    }

    #[test]
    fn the_access_line_is_key_value_text_or_one_json_object() {
        assert_eq!(
            line().render(false, None),
            "request_id=r1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 client=10.0.0.7 method=GET route=/v1/orders path=/v1/orders status=200 \
             elapsed_ms=12.500 statements=14 db_ms=3.250 cache=hit"
        );
        let v: serde_json::Value = serde_json::from_str(&line().render(true, None)).unwrap();
        assert_eq!(v["route"], "/v1/orders");
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(v["statements"], 14);
        assert_eq!(v["client"], "10.0.0.7");
        assert_eq!(v["cache"], "hit");
        let warn = line().render(
            true,
            Some(("n_plus_one", "14 statements (threshold 10)".into())),
        );
        let v: serde_json::Value = serde_json::from_str(&warn).unwrap();
        assert_eq!(v["warning"], "n_plus_one");
        assert!(line()
            .render(false, Some(("slow_request", "12.5 ms".into())))
            .starts_with("slow_request: 12.5 ms: request_id=r1"));
    }
}
