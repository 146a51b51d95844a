//! Scratch databases cloned from a template that is built once per test process,
//! and SQL through `psql` on a direct PostgreSQL URL.
//!
//! Names carry the test process id (`brisk_tpl_<pid>`, `brisk_t_<pid>_<n>`), so
//! suites running at once in several checkouts never touch each other's databases,
//! and whichever suite starts next drops what a killed run left behind.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Runs `sql` on the database at `url` with psql; the unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> String {
    try_psql(url, sql).unwrap_or_else(|e| panic!("psql on {url} failed: {sql}: {e}"))
}

/// Like [`psql`], the error text instead of a panic.
pub fn try_psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A template database, prepared on first use by the caller's `prepare` (given the
/// template's direct URL: migrate and seed it), and cloned per test. Meant for a
/// `static`: one template per test process.
pub struct Template {
    direct: &'static str,
    prepare: fn(&str),
    ready: Mutex<bool>,
}

impl Template {
    /// A template on the PostgreSQL server at `direct` (`postgres://user@host:port`,
    /// no database name), prepared by `prepare`.
    pub const fn new(direct: &'static str, prepare: fn(&str)) -> Template {
        Template {
            direct,
            prepare,
            ready: Mutex::new(false),
        }
    }

    /// The template's name in this test process.
    pub fn name(&self) -> String {
        format!("brisk_tpl_{}", std::process::id())
    }

    /// A fresh database cloned from the template (built first if needed, after
    /// dropping the test databases of runs whose process is gone); its name.
    pub fn fresh(&self) -> String {
        // Held across the clone too: PostgreSQL refuses a second CREATE DATABASE
        // from a template while another one is copying it.
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        if !*ready {
            drop_stale(self.direct);
            let url = format!("{}/{}", self.direct, self.name());
            psql(
                &self.admin(),
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name()),
            );
            psql(
                &self.admin(),
                &format!("CREATE DATABASE \"{}\"", self.name()),
            );
            (self.prepare)(&url);
            *ready = true;
        }
        let name = scratch_name();
        psql(
            &self.admin(),
            &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", self.name()),
        );
        name
    }

    /// Drops database `name` (its connections too).
    pub fn drop_database(&self, name: &str) {
        drop_database(self.direct, name);
    }

    fn admin(&self) -> String {
        format!("{}/postgres", self.direct)
    }
}

/// A new scratch database name of this process (`brisk_t_<pid>_<n>`): the database
/// is not created.
pub fn scratch_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "brisk_t_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops database `name` on the server at `direct`, with its connections.
pub fn drop_database(direct: &str, name: &str) {
    psql(
        &format!("{direct}/postgres"),
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    );
}

/// The pid a test database name belongs to (`brisk_tpl_<pid>`, `brisk_t_<pid>_…`).
fn owner_pid(datname: &str) -> Option<u32> {
    let rest = datname
        .strip_prefix("brisk_tpl_")
        .or_else(|| datname.strip_prefix("brisk_t_"))?;
    rest.split('_').next()?.parse().ok()
}

/// Drops the test databases of runs whose process is gone.
fn drop_stale(direct: &str) {
    let names = psql(
        &format!("{direct}/postgres"),
        "SELECT datname FROM pg_database WHERE datname LIKE 'brisk\\_t%'",
    );
    for name in names.lines() {
        let Some(pid) = owner_pid(name) else { continue };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            drop_database(direct, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{owner_pid, scratch_name};

    #[test]
    fn a_scratch_name_belongs_to_this_process_and_is_new_each_time() {
        let (a, b) = (scratch_name(), scratch_name());
        assert_ne!(a, b);
        assert_eq!(owner_pid(&a), Some(std::process::id()));
        assert_eq!(owner_pid("brisk_tpl_42"), Some(42));
        assert_eq!(owner_pid("orders"), None);
    }
}
