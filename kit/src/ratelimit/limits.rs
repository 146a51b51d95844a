//! Rate-limit strings as users write them (`"200 per day; 50 per hour"`, `"5/minute"`,
//! `"10 per 30 seconds"`), parsed into [`Rate`]s. A bad string is an error that quotes
//! it, so start-up stops with a message naming what to fix.
//!
//! Grammar (case-insensitive, whitespace-tolerant), one rate per `;` or `,`:
//! `<count> (per | /) [<multiplier>] <unit> [<strategy>]` where unit is
//! `second`/`sec`/`s`, `minute`/`min`/`m`, `hour`/`hr`/`h`, `day`/`d` (singular or
//! plural) and strategy is one of [`Strategy`]'s names (`sliding-window-counter`, the
//! default, `moving-window` or `fixed-window`): `"60 per minute moving-window"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The largest `count × period_ms` of a `gcra` limit (`super::gcra`): every number the script computes
/// (`count × period_ms` plus one request's `cost × period_ms`) stays exact in the
/// doubles of Redis's Lua.
pub const MAX_UNITS: u64 = 1 << 52;

/// The largest count accepted in one rate. A `moving-window` limit keeps one entry per
/// admitted request inside the window, so a count bounds the memory of one key.
pub const MAX_COUNT: u64 = 10_000_000;

/// How a limit counts, chosen per limit; each has its own guarantee (see
/// [`super::window`] for the arithmetic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// The default: counts per 1/64 of the period, the oldest (partly expired) one
    /// counted whole. **At most `count` in any span of one period**, like an exact
    /// count, in state independent of `count` (at most 65 counters per key); it may
    /// refuse a request up to 1/64 of the period before an exact count would admit it
    /// (`Retry-After` up to `period + period/64`), and never admits more.
    #[default]
    SlidingWindowCounter,
    /// The exact sliding-window log: one entry per request admitted inside the window.
    /// **Exactly** at most `count` in any span of one period, refusing nothing an
    /// exact count admits; state and Redis time grow with `count`.
    MovingWindow,
    /// One counter per calendar window of `period` (aligned to the epoch). At most
    /// `count` per window, but **up to `2·count` in a span of one period that straddles
    /// a window boundary**; the cheapest state (one counter).
    FixedWindow,
    /// GCRA with a burst of `count` and one request per `period/count` after it: one
    /// theoretical arrival time per key. **At most `2·count − ⌈count/period_ms⌉` in a
    /// span of one period** (`2·count − 1` when `count ≤ period_ms`), from any state,
    /// an empty one included; in general at most `count + ⌊(L−1)·count/period⌋` in a
    /// span of `L` ms. Opt-in: it does not keep API.md's "N in any period" (see
    /// [`super::gcra`]); `count × period_ms` must be at most [`MAX_UNITS`].
    Gcra,
}

impl Strategy {
    /// Every strategy, the default first.
    pub const ALL: [Strategy; 4] = [
        Strategy::SlidingWindowCounter,
        Strategy::MovingWindow,
        Strategy::FixedWindow,
        Strategy::Gcra,
    ];

    /// The name as written in a limit string (`moving-window`).
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::SlidingWindowCounter => "sliding-window-counter",
            Strategy::MovingWindow => "moving-window",
            Strategy::FixedWindow => "fixed-window",
            Strategy::Gcra => "gcra",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;
    /// Case-insensitive: one of the names [`Strategy::as_str`] gives.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown strategy {s:?} (expected sliding-window-counter, moving-window, fixed-window or gcra)"
                )
            })
    }
}

/// `count` requests per `period` (a rolling window of that length), counted by `strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// Requests admitted per window.
    pub count: u64,
    /// The window's length.
    pub period: Duration,
    /// How the limit counts (the default: [`Strategy::SlidingWindowCounter`]).
    pub strategy: Strategy,
}

impl Rate {
    /// A rate counted by the default strategy; `count >= 1`, `period >= 1 ms`.
    pub fn new(count: u64, period: Duration) -> Self {
        Self {
            count,
            period,
            strategy: Strategy::default(),
        }
    }

    /// The same rate counted by `strategy`.
    pub fn with_strategy(self, strategy: Strategy) -> Self {
        Self { strategy, ..self }
    }

    /// The period in whole milliseconds (the resolution of the limiter's clock).
    pub fn period_ms(&self) -> u64 {
        self.period.as_millis().min(u64::MAX as u128) as u64
    }

    /// The same window with `count` multiplied by `factor` (at least 1): for benches.
    pub fn scaled(&self, factor: f64) -> Self {
        let count = ((self.count as f64) * factor).round();
        let most = match self.strategy {
            // GCRA's arithmetic must stay exact in Redis's doubles.
            Strategy::Gcra => (MAX_UNITS / self.period_ms().max(1)).clamp(1, MAX_COUNT),
            _ => MAX_COUNT,
        };
        let count = if count.is_finite() {
            count.clamp(1.0, most as f64)
        } else {
            1.0
        };
        Self {
            count: count as u64,
            ..*self
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.period.as_secs();
        let exact_secs = self.period.subsec_nanos() == 0;
        let (n, unit) = if exact_secs && secs > 0 && secs.is_multiple_of(86_400) {
            (secs / 86_400, "day")
        } else if exact_secs && secs > 0 && secs.is_multiple_of(3_600) {
            (secs / 3_600, "hour")
        } else if exact_secs && secs > 0 && secs.is_multiple_of(60) {
            (secs / 60, "minute")
        } else if exact_secs && secs > 0 {
            (secs, "second")
        } else {
            (self.period_ms(), "millisecond")
        };
        if n == 1 {
            write!(f, "{} per {unit}", self.count)?;
        } else {
            write!(f, "{} per {n} {unit}s", self.count)?;
        }
        if self.strategy != Strategy::default() {
            write!(f, " {}", self.strategy)?;
        }
        Ok(())
    }
}

/// A limit string that does not parse; `Display` quotes the whole input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate limit {input:?}: {reason}")]
pub struct LimitParseError {
    /// The limit string as written.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `"200 per day; 50 per hour"` into its rates (at least one).
pub fn parse_limits(input: &str) -> Result<Vec<Rate>, LimitParseError> {
    let fail = |reason: String| LimitParseError {
        input: input.to_string(),
        reason,
    };
    let mut rates = Vec::new();
    for part in input.split([';', ',']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        rates.push(parse_one(part).map_err(|r| fail(format!("{part:?}: {r}")))?);
    }
    if rates.is_empty() {
        return Err(fail(
            "no rate given (expected e.g. \"5 per minute\")".into(),
        ));
    }
    Ok(rates)
}

/// Parses one rate: `5 per minute`, `5/minute`, `10 per 30 seconds`, `10/30s`.
pub fn parse_rate(input: &str) -> Result<Rate, LimitParseError> {
    parse_one(input.trim()).map_err(|reason| LimitParseError {
        input: input.to_string(),
        reason,
    })
}

fn parse_one(part: &str) -> Result<Rate, String> {
    let lower = part.to_ascii_lowercase();
    let (count, rest) = if let Some((c, r)) = lower.split_once('/') {
        (c.trim(), r.trim())
    } else {
        let mut it = lower.splitn(2, char::is_whitespace);
        let c = it.next().unwrap_or("").trim();
        let r = it.next().unwrap_or("").trim_start();
        let r = r
            .strip_prefix("per")
            .filter(|r| {
                r.is_empty() || r.starts_with(|ch: char| ch.is_whitespace() || ch.is_ascii_digit())
            })
            .ok_or_else(|| {
                "expected \"<count> per <period>\" or \"<count>/<period>\"".to_string()
            })?;
        (c, r.trim())
    };
    let count: u64 = count
        .parse()
        .map_err(|_| format!("count {count:?} is not a whole number"))?;
    if count == 0 {
        return Err("count must be at least 1".into());
    }
    if count > MAX_COUNT {
        return Err(format!("count must be at most {MAX_COUNT}"));
    }
    // Optional multiplier: "30 seconds", "30s", "30 s".
    let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
    let (multiplier, unit) = if digits > 0 {
        let m: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("period multiplier {:?} is too large", &rest[..digits]))?;
        if m == 0 {
            return Err("period multiplier must be at least 1".into());
        }
        (m, rest[digits..].trim())
    } else {
        (1, rest)
    };
    let mut words = unit.split_whitespace();
    let (unit, strategy) = (words.next().unwrap_or(""), words.next());
    if let Some(extra) = words.next() {
        return Err(format!("unexpected {extra:?} after the strategy"));
    }
    let strategy = strategy.map_or(Ok(Strategy::default()), str::parse)?;
    let unit_secs: u64 = match unit {
        "second" | "seconds" | "sec" | "secs" | "s" => 1,
        "minute" | "minutes" | "min" | "mins" | "m" => 60,
        "hour" | "hours" | "hr" | "hrs" | "h" => 3_600,
        "day" | "days" | "d" => 86_400,
        "" => return Err("missing time unit (second, minute, hour or day)".into()),
        other => {
            return Err(format!(
                "unknown time unit {other:?} (expected second, minute, hour or day)"
            ))
        }
    };
    let secs = multiplier
        .checked_mul(unit_secs)
        .filter(|s| *s <= 366 * 86_400)
        .ok_or_else(|| "period must be at most a year".to_string())?;
    let rate = Rate::new(count, Duration::from_secs(secs)).with_strategy(strategy);
    if strategy == Strategy::Gcra && count.saturating_mul(rate.period_ms()) > MAX_UNITS {
        return Err(format!(
            "gcra needs count × period (ms) at most {MAX_UNITS}: use a shorter period"
        ));
    }
    Ok(rate)
}

/// Formats rates back into the string form (`"200 per day; 50 per hour"`).
pub fn format_limits(rates: &[Rate]) -> String {
    rates
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u64, secs: u64) -> Rate {
        Rate::new(count, Duration::from_secs(secs))
    }

    #[test]
    fn the_documented_forms_parse() {
        assert_eq!(
            parse_limits("200 per day; 50 per hour").unwrap(),
            vec![rate(200, 86_400), rate(50, 3_600)]
        );
        assert_eq!(parse_limits("5/minute").unwrap(), vec![rate(5, 60)]);
        assert_eq!(
            parse_limits("10 per 30 seconds").unwrap(),
            vec![rate(10, 30)]
        );
        assert_eq!(parse_limits("1 per day").unwrap(), vec![rate(1, 86_400)]);
    }

    #[test]
    fn spacing_case_plurals_and_short_units_are_accepted() {
        assert_eq!(
            parse_limits("  6000 PER Minute ").unwrap(),
            vec![rate(6000, 60)]
        );
        assert_eq!(parse_limits("10/30s").unwrap(), vec![rate(10, 30)]);
        assert_eq!(parse_limits("10 / 2 hours").unwrap(), vec![rate(10, 7_200)]);
        assert_eq!(
            parse_limits("3 per 2 days").unwrap(),
            vec![rate(3, 172_800)]
        );
        assert_eq!(parse_limits("2 per second").unwrap(), vec![rate(2, 1)]);
        assert_eq!(
            parse_limits("1/sec, 100/min;").unwrap(),
            vec![rate(1, 1), rate(100, 60)]
        );
    }

    #[test]
    fn invalid_forms_are_rejected_with_the_string_quoted() {
        for bad in [
            "",
            " ; ",
            "five per minute",
            "5 per",
            "5 per fortnight",
            "0 per minute",
            "-1 per minute",
            "5 minute",
            "5 perminute",
            "5 per 0 seconds",
            "5 per 400 days",
            "20000000 per second",
            "5 per minute; nonsense",
            "5 per minute moving",
            "5 per minute fixed-window now",
        ] {
            let err = parse_limits(bad).expect_err(bad);
            let msg = err.to_string();
            assert!(
                msg.contains(&format!("{bad:?}")),
                "{msg} should quote {bad:?}"
            );
        }
    }

    #[test]
    fn rates_display_in_the_string_form_and_round_trip() {
        for s in [
            "200 per day; 50 per hour",
            "10 per 30 seconds",
            "5 per minute",
            "1 per 2 days",
            "60 per minute moving-window; 1000 per day fixed-window",
            "100 per second gcra",
        ] {
            let rates = parse_limits(s).unwrap();
            assert_eq!(format_limits(&rates), s);
            assert_eq!(parse_limits(&format_limits(&rates)).unwrap(), rates);
        }
    }

    #[test]
    fn a_strategy_is_named_per_rate_and_the_default_is_the_sliding_window_counter() {
        let rates = parse_limits("60 per minute moving-window; 10/30s FIXED-WINDOW; 5/s").unwrap();
        let strategies: Vec<Strategy> = rates.iter().map(|r| r.strategy).collect();
        assert_eq!(
            strategies,
            [
                Strategy::MovingWindow,
                Strategy::FixedWindow,
                Strategy::SlidingWindowCounter
            ]
        );
        assert_eq!(
            parse_limits("5 per minute sliding-window-counter").unwrap(),
            vec![rate(5, 60)]
        );
        assert_eq!(
            parse_limits("5 per minute GCRA").unwrap()[0].strategy,
            Strategy::Gcra
        );
        let err = parse_limits("5 per minute leaky").unwrap_err().to_string();
        assert!(err.contains("unknown strategy \"leaky\""), "{err}");
        assert!(parse_limits("10000000 per day gcra").is_ok());
        let err = parse_limits("10000000 per 366 days gcra").unwrap_err();
        assert!(
            err.to_string().contains("gcra needs count × period"),
            "{err}"
        );
        assert_eq!(
            rate(60, 60)
                .with_strategy(Strategy::FixedWindow)
                .scaled(2.0),
            rate(120, 60).with_strategy(Strategy::FixedWindow)
        );
    }

    #[test]
    fn scaling_multiplies_the_count_and_keeps_at_least_one() {
        assert_eq!(rate(60, 60).scaled(10.0), rate(600, 60));
        assert_eq!(rate(5, 60).scaled(0.01), rate(1, 60));
        assert_eq!(rate(5, 60).scaled(1.0), rate(5, 60));
    }
}
