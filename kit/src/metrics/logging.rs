//! Log output for `brisk serve`: env_logger (`RUST_LOG`, default `info`), as text or,
//! with `--log-format json`, one JSON object per line. Access-log lines are already
//! JSON objects in that mode; the timestamp and level are merged into them, so every
//! line parses as one flat object. Access lines skip env_logger: they go, framed the
//! same way, to the buffered writer thread of [`super::access_writer`] on stderr.

use super::access_writer::{self, AccessWriter, LineStyle};
use std::io::Write;

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
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    let format = format.into();
    if format == LineFormat::Json {
        builder.format(|buf, record| {
            let line = json_line(
                &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                record.level().as_str(),
                record.target(),
                &record.args().to_string(),
            );
            writeln!(buf, "{line}")
        });
    }
    if builder.try_init().is_ok() {
        let style = match format {
            LineFormat::Text => LineStyle::Text,
            LineFormat::Json => LineStyle::Json,
        };
        match AccessWriter::spawn(Box::new(std::io::stderr()), access_writer::CAPACITY) {
            Ok(writer) => access_writer::install(writer, style),
            // Without the thread, access lines go through env_logger as before.
            Err(e) => log::warn!("access log: no writer thread ({e}); logging directly"),
        }
    }
}

/// One JSON log line: `message` is merged when it is itself a JSON object, else
/// carried as `msg`.
pub fn json_line(ts: &str, level: &str, target: &str, message: &str) -> String {
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
    serde_json::Value::Object(obj).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_are_merged_and_other_messages_are_wrapped() {
        let v: serde_json::Value = serde_json::from_str(&json_line(
            "t",
            "INFO",
            "brisk::access",
            r#"{"route":"/v1/orders","status":200}"#,
        ))
        .unwrap();
        assert_eq!(v["route"], "/v1/orders");
        assert_eq!(v["level"], "INFO");
        let v: serde_json::Value =
            serde_json::from_str(&json_line("t", "WARN", "brisk", "plain \"text\"")).unwrap();
        assert_eq!(v["msg"], "plain \"text\"");
        assert_eq!(v["target"], "brisk");
    }
}
