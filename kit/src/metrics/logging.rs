//! Log output for `brisk serve`: env_logger (`RUST_LOG`, default `info`), as text or,
//! with `--log-format json`, one JSON object per line. Access-log lines are already
//! JSON objects in that mode; the timestamp and level are merged into them, so every
//! line parses as one flat object. A line written while a request's work runs
//! carries that request's `request_id` and `trace_id` (`log_context`); the access
//! line carries its own. Access lines skip env_logger: they go, framed the same way,
//! to the buffered writer thread of [`super::access_writer`] on stderr.

use super::access_writer::{self, AccessWriter};
use super::log_context::{self, LogContext};
use std::io::Write;

/// The access log's target: its lines name their request themselves.
const ACCESS_TARGET: &str = "brisk::access";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineFormat {
    /// env_logger's text lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Initialises the global logger once; later calls do nothing. `format` is a
/// [`LineFormat`] or anything that turns into one (the `--log-format` flag).
pub fn init(format: impl Into<LineFormat>) {
    let format = format.into();
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.format(move |buf, record| {
        let context = log_context::current().filter(|_| record.target() != ACCESS_TARGET);
        match format {
            LineFormat::Json => {
                let line = json_line(
                    &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    record.level().as_str(),
                    record.target(),
                    &record.args().to_string(),
                    context.as_ref(),
                );
                writeln!(buf, "{line}")
            }
            LineFormat::Text => {
                let (ts, level, target) = (buf.timestamp(), record.level(), record.target());
                match context {
                    Some(c) => writeln!(
                        buf,
                        "[{ts} {level:<5} {target}] request_id={} trace_id={} {}",
                        c.request_id,
                        c.trace_id,
                        record.args()
                    ),
                    None => writeln!(buf, "[{ts} {level:<5} {target}] {}", record.args()),
                }
            }
        }
    });
    if builder.try_init().is_ok() {
        let frame: access_writer::Frame = match format {
            LineFormat::Text => access_writer::text_frame,
            LineFormat::Json => json_access_frame,
        };
        match AccessWriter::spawn(Box::new(std::io::stderr()), access_writer::CAPACITY) {
            Ok(writer) => access_writer::install(writer, frame),
            // Without the thread, access lines go through env_logger as before.
            Err(e) => log::warn!("access log: no writer thread ({e}); logging directly"),
        }
    }
}

/// An access line (a JSON object) with `ts`, `level` and `target` merged in, as the
/// logger writes its own JSON lines: spliced in front of its fields, so the line is
/// serialized once (never parsed back and written again).
fn json_access_frame(line: &str) -> String {
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    match line.strip_prefix('{') {
        Some(fields) if fields.len() > 1 => {
            format!("{{\"ts\":\"{ts}\",\"level\":\"INFO\",\"target\":\"{ACCESS_TARGET}\",{fields}")
        }
        _ => json_line(&ts, "INFO", ACCESS_TARGET, line, None),
    }
}

/// One JSON log line: `message` is merged when it is itself a JSON object, else
/// carried as `msg`; the request's ids are added when the line is written for one.
pub fn json_line(
    ts: &str,
    level: &str,
    target: &str,
    message: &str,
    context: Option<&LogContext>,
) -> String {
    let mut obj = match serde_json::from_str::<serde_json::Value>(message) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => {
            let mut map = serde_json::Map::new();
            map.insert("msg".into(), message.into());
            map
        }
    };
    obj.insert("ts".into(), ts.into());
    obj.insert("level".into(), level.into());
    obj.insert("target".into(), target.into());
    if let Some(c) = context {
        obj.insert("request_id".into(), (*c.request_id).into());
        obj.insert("trace_id".into(), c.trace_id.to_string().into());
    }
    serde_json::Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_line_gets_its_log_fields_without_being_parsed_again() {
        let line = json_access_frame(r#"{"request_id":"r1","status":200}"#);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["request_id"].as_str(), v["status"].as_u64()),
            (Some("r1"), Some(200))
        );
        assert_eq!(
            (v["level"].as_str(), v["target"].as_str()),
            (Some("INFO"), Some(ACCESS_TARGET))
        );
        assert!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')));
        let odd: serde_json::Value = serde_json::from_str(&json_access_frame("not json")).unwrap();
        assert_eq!(odd["msg"], "not json");
    }

    #[test]
    fn access_lines_are_merged_and_other_messages_are_wrapped() {
        let v: serde_json::Value = serde_json::from_str(&json_line(
            "t",
            "INFO",
            "brisk::access",
            r#"{"route":"/v1/orders","status":200}"#,
            None,
        ))
        .unwrap();
        assert_eq!(v["route"], "/v1/orders");
        assert_eq!(v["level"], "INFO");
        let v: serde_json::Value =
            serde_json::from_str(&json_line("t", "WARN", "brisk", "plain \"text\"", None)).unwrap();
        assert_eq!(v["msg"], "plain \"text\"");
        assert_eq!(v["target"], "brisk");
        assert!(v.get("request_id").is_none());
        let context = LogContext::for_request(std::sync::Arc::from("req-9"), None);
        let v: serde_json::Value =
            serde_json::from_str(&json_line("t", "WARN", "brisk", "x", Some(&context))).unwrap();
        assert_eq!(v["request_id"], "req-9");
        assert_eq!(v["trace_id"], context.trace_id.to_string());
    }
}
