//! Headless chromium (Debian's, `scripts/ensure-chromium.sh`; `BRISK_CHROMIUM` may
//! name another binary) for the tests that look at a page as a browser draws it, and
//! reading attributes back from the DOM it dumps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The chromium binary: `BRISK_CHROMIUM`, else `chromium` on PATH.
pub fn chromium() -> String {
    std::env::var("BRISK_CHROMIUM").unwrap_or_else(|_| "chromium".to_string())
}

/// Runs headless chromium, offline and quiet, on a fresh profile, with `extra` (the
/// action, e.g. `--dump-dom`, and the URL), letting the page's scripts run for 8 s of
/// virtual time; returns stdout. Panics naming the fix when chromium is missing.
pub async fn run_chromium(extra: &[String]) -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let profile = std::env::temp_dir().join(format!(
        "brisk-chromium-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1400,1900",
        "--virtual-time-budget=8000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 120 s")
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/ensure-chromium.sh (make test does) or set BRISK_CHROMIUM",
                chromium()
            )
        });
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `attr` in the start tag that contains `marker` (e.g. `id="status"`).
pub fn attr_of(dom: &str, marker: &str, attr: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let key = format!(" {attr}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(v[..v.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::attr_of;

    #[test]
    fn an_attribute_is_read_from_the_tag_holding_the_marker() {
        let dom =
            r#"<p id="a" data-state="ok"></p><tr data-process="x:1" data-state="unreachable">"#;
        assert_eq!(
            attr_of(dom, r#"id="a""#, "data-state").as_deref(),
            Some("ok")
        );
        let state = attr_of(dom, r#"data-process="x:1""#, "data-state");
        assert_eq!(state.as_deref(), Some("unreachable"));
        assert_eq!(attr_of(dom, r#"id="a""#, "state"), None);
        assert_eq!(attr_of(dom, "nowhere", "data-state"), None);
    }
}
