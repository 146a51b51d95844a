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

/// The runs and stampedes of a results file, in file order.
pub fn read(results: &Path) -> Result<(Vec<Run>, Vec<Stampede>), String> {
    let text =
        std::fs::read_to_string(results).map_err(|e| format!("{}: {e}", results.display()))?;
    let mut runs = Vec::new();
    let mut stampedes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{line}: {e}"))?;
        if value.get("kind").and_then(|k| k.as_str()) == Some("stampede") {
            stampedes
                .push(serde_json::from_str::<Stampede>(line).map_err(|e| format!("{line}: {e}"))?);
        } else {
            runs.push(serde_json::from_str::<Run>(line).map_err(|e| format!("{line}: {e}"))?);
        }
    }
    Ok((runs, stampedes))
}
