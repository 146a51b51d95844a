//! A row's verdict and how the report is written: one text line per row (and the
//! fix under a ✘ or !), or one JSON array for machines.

use serde::Serialize;

/// What a row found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// ✔ the row holds.
    Pass,
    /// ✘ the row fails (exit status 1).
    Fail,
    /// ! a warning: it holds here but would not in production, or is borderline.
    Warn,
    /// ? could not tell (and says what it lacked).
    Unknown,
}

impl Verdict {
    fn mark(self) -> &'static str {
        match self {
            Verdict::Pass => "✔",
            Verdict::Fail => "✘",
            Verdict::Warn => "!",
            Verdict::Unknown => "?",
        }
    }
}

/// One checklist row's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// measure, DB, cache, limits, workers, compression, transfer, deployment.
    pub stage: &'static str,
    /// The row's name.
    pub row: &'static str,
    /// Its verdict.
    pub verdict: Verdict,
    /// The figure, setting or route it is based on (or what it lacked).
    pub evidence: String,
    /// On ✘ or !: the fix in one sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Row {
    /// A row with no fix (✔ or ?).
    pub fn new(stage: &'static str, row: &'static str, verdict: Verdict, evidence: String) -> Row {
        Row {
            stage,
            row,
            verdict,
            evidence,
            fix: None,
        }
    }

    /// The same row with its fix.
    pub fn fix(mut self, fix: impl Into<String>) -> Row {
        self.fix = Some(fix.into());
        self
    }
}

/// The report as text lines or JSON.
pub fn render(rows: &[Row], json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(rows).unwrap_or_default() + "\n";
    }
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!(
            "{} {:<11} {:<34} {}\n",
            r.verdict.mark(),
            r.stage,
            r.row,
            r.evidence
        ));
        if let Some(fix) = &r.fix {
            out.push_str(&format!("  {:<46} fix: {fix}\n", ""));
        }
    }
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "{} ✔  {} ✘  {} !  {} ?\n",
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Warn),
        count(Verdict::Unknown)
    ));
    out
}
