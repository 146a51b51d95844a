//! The report: one row per scenario in `target/faults/rows/NN.md`, assembled
//! into `target/faults/report.md` after every scenario, so the report is whole
//! whichever scenarios ran. A scenario collects failed checks instead of
//! panicking, so its row is written before the test fails.

use super::load::Stats;
use std::fmt::Write;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// The suite's output directory, `target/faults`.
pub fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/faults")
}

/// A scenario's working directory (logs of its processes).
pub fn scenario_dir(id: u8) -> PathBuf {
    let dir = out_dir().join(format!("s{id:02}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scenario directory");
    dir
}

/// One row of the report.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// Scenario number (1–15).
    pub id: u8,
    /// Short name.
    pub scenario: String,
    /// The load, in words.
    pub load: String,
    /// The fault, in words.
    pub fault: String,
    /// Counts and latency over the load.
    pub stats: Stats,
    /// What the data check found.
    pub data: String,
    /// Measured figures beyond the columns.
    pub notes: Vec<String>,
    /// Failed pass-line checks; empty when the scenario passes.
    pub failures: Vec<String>,
}

impl Row {
    /// A row with its name, load and fault.
    pub fn new(id: u8, scenario: &str, load: &str, fault: &str) -> Row {
        Row {
            id,
            scenario: scenario.into(),
            load: load.into(),
            fault: fault.into(),
            ..Row::default()
        }
    }

    /// Records a failed check when `ok` is false.
    pub fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    /// Records a measured figure.
    pub fn note(&mut self, what: impl Into<String>) {
        self.notes.push(what.into());
    }

    fn markdown(&self) -> String {
        let result = if self.failures.is_empty() {
            "pass".to_string()
        } else {
            format!("**FAIL**: {}", self.failures.join("; "))
        };
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            self.id,
            cell(&self.scenario),
            cell(&self.load),
            cell(&self.fault),
            self.stats.requests,
            self.stats.non_2xx,
            self.stats.five_xx,
            ms(self.stats.max_latency),
            cell(&self.data),
            cell(&result),
            cell(&self.notes.join("; ")),
        )
    }

    fn write(&self) {
        let rows = out_dir().join("rows");
        std::fs::create_dir_all(&rows).expect("create target/faults/rows");
        std::fs::write(rows.join(format!("{:02}.md", self.id)), self.markdown())
            .expect("write the row");
        assemble();
    }
}

/// `N ms`.
pub fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Rewrites `report.md` from every row written so far.
fn assemble() {
    let rows = out_dir().join("rows");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&rows)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    let mut out = String::from(
        "# Fault suite report\n\n\
         | # | scenario | load | fault | requests | non-2xx | 5xx | max latency | data check | result | measured |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for path in names {
        let _ = write!(out, "{}", std::fs::read_to_string(path).unwrap_or_default());
    }
    std::fs::write(out_dir().join("report.md"), out).expect("write report.md");
}

/// Runs a scenario on its own task (a panic in it becomes a failed row, not a
/// missing one), writes its row, and fails the test when a check failed.
pub async fn run(id: u8, name: &str, scenario: impl Future<Output = Row> + Send + 'static) {
    let row = match tokio::spawn(scenario).await {
        Ok(row) => row,
        Err(e) => {
            let why = e
                .try_into_panic()
                .ok()
                .and_then(|p| {
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                })
                .unwrap_or_else(|| "cancelled".into());
            let mut row = Row::new(id, name, "-", "-");
            row.failures.push(format!("harness error: {why}"));
            row
        }
    };
    row.write();
    assert!(
        row.failures.is_empty(),
        "scenario {id} ({name}) failed: {}",
        row.failures.join("; ")
    );
}
