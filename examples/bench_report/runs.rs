//! The lines of `results.jsonl`: wrk runs (the wrk script's `done()`) and stampedes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One load-generator run, as the wrk script's `done()` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub name: String,
    pub label: String,
    pub workers: u32,
    #[serde(default)]
    pub variant: String,
    /// The round of a `bench-compare` run (0 elsewhere).
    #[serde(default)]
    pub round: u32,
    pub requests: u64,
    pub duration_s: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub non_2xx_3xx: u64,
    /// The server's CPU seconds (user + system, every thread) during the run.
    #[serde(default)]
    pub server_cpu_s: Option<f64>,
    /// Bytes read by wrk (headers and bodies; 0 in results written before it was kept).
    #[serde(default)]
    pub bytes: u64,
}

impl Run {
    /// The server's CPU microseconds per answered request, when measured.
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.server_cpu_s?;
        (self.requests > 0).then(|| cpu * 1e6 / self.requests as f64)
    }
}

/// The stampede experiment's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stampede {
    pub kind: String,
    pub n: usize,
    pub ok: usize,
    pub statuses: BTreeMap<u16, usize>,
    pub statements: f64,
    pub cache_miss: f64,
    pub cache_coalesced: f64,
    pub cache_hit: f64,
    pub wall_ms: f64,
}

/// A pgbench run of a workload's statements (the W3/W4 ceiling).
#[derive(Debug, Clone, Deserialize)]
pub struct Pgbench {
    pub name: String,
    pub label: String,
    pub clients: u32,
    pub duration_s: f64,
    pub transactions: u64,
    pub failed: u64,
    pub tps: f64,
    pub latency_ms: f64,
}

/// `brisk doctor --window` during a workload's run, and PostgreSQL's own execution time
/// of the bench's database over that run (`pg_stat_statements`, before and after).
#[derive(Debug, Clone, Deserialize)]
pub struct Doctor {
    pub name: String,
    /// The doctor's `--json` output.
    pub doctor_json: String,
    pub window_s: f64,
    pub pg_exec_ms: f64,
}

/// An open-loop run (oha at a fixed rate, latency from the scheduled send time).
#[derive(Debug, Clone, Deserialize)]
pub struct Openloop {
    pub name: String,
    pub label: String,
    /// The rate as a fraction of the saturation rate.
    pub fraction: f64,
    pub saturation_rps: f64,
    /// Where the saturation rate came from: "main" or "short-wrk".
    pub saturation_source: String,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Every line of a results file, by kind, in file order.
#[derive(Debug, Default)]
pub struct Results {
    pub runs: Vec<Run>,
    pub stampedes: Vec<Stampede>,
    pub pgbench: Vec<Pgbench>,
    pub doctor: Vec<Doctor>,
    pub openloop: Vec<Openloop>,
}

impl Results {
    /// The runs of one variant, in file order.
    pub fn variant(&self, name: &str) -> Vec<&Run> {
        self.runs.iter().filter(|r| r.variant == name).collect()
    }

    /// The run of workload `name` in `variant` (the last, if several).
    pub fn find(&self, variant: &str, name: &str) -> Option<&Run> {
        self.runs
            .iter()
            .rev()
            .find(|r| r.variant == variant && r.name == name)
    }
}

fn parse<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, String> {
    serde_json::from_str(line).map_err(|e| format!("{line}: {e}"))
}

/// The lines of a results file.
pub fn read(results: &Path) -> Result<Results, String> {
    let text =
        std::fs::read_to_string(results).map_err(|e| format!("{}: {e}", results.display()))?;
    let mut out = Results::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{line}: {e}"))?;
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("stampede") => out.stampedes.push(parse(line)?),
            Some("pgbench") => out.pgbench.push(parse(line)?),
            Some("doctor") => out.doctor.push(parse(line)?),
            Some("openloop") => out.openloop.push(parse(line)?),
            _ => out.runs.push(parse(line)?),
        }
    }
    Ok(out)
}
