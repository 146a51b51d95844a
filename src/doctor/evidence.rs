//! What the doctor reads before judging: every process's `/metrics` (summed per
//! route across processes), the settings the first one reports
//! (`brisk_config_info`), the OpenAPI document, the database, PgBouncer, Redis, and
//! the probes' answers. A source that cannot be read is kept as its error, so the
//! rows that need it say `?` and why.

use super::discover;
use super::probes::{self, Probes};
use super::services::{self, PgBouncerState, Postgres};
use super::statements::{self, TopStatement};
use crate::config::DoctorArgs;
use brisk_kit::metrics::exposition::{self, Sample};
use std::collections::BTreeMap;

/// One (method, route) summed over the processes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteTotals {
    /// Requests finished.
    pub count: f64,
    /// Their summed duration, seconds.
    pub seconds: f64,
    /// Their summed SQL statements.
    pub statements: f64,
    /// Their summed time in SQL, seconds.
    pub db_seconds: f64,
    /// Their summed time waiting on Redis, seconds.
    pub redis_seconds: f64,
    /// Body bytes sent.
    pub bytes_out: f64,
    /// Cumulative response counts per size bound (`le`, bytes), ascending.
    pub sizes: Vec<(f64, f64)>,
}

impl RouteTotals {
    /// Mean statements per request.
    pub fn mean_statements(&self) -> f64 {
        self.statements / self.count.max(1.0)
    }

    /// The smallest size bound holding 95 % of the responses (infinite above the last).
    pub fn p95_bytes(&self) -> f64 {
        let mut sizes = self.sizes.clone();
        sizes.sort_by(|a, b| a.0.total_cmp(&b.0));
        sizes
            .iter()
            .find(|(_, cum)| *cum >= 0.95 * self.count)
            .map_or(f64::INFINITY, |(le, _)| *le)
    }
}

/// Everything read, once.
#[derive(Debug)]
pub struct Evidence {
    /// Samples of every process scraped, in order.
    pub samples: Vec<Sample>,
    /// Processes whose `/metrics` answered; the errors of the others.
    pub scraped: usize,
    /// Where the processes' addresses came from (`--ops`, the registry, the front door).
    pub ops_source: String,
    /// The requests and CPU time of `--window` seconds (two scrapes), when asked.
    pub window: Option<Window>,
    /// Scrape errors, by URL.
    pub scrape_errors: Vec<String>,
    /// `brisk_config_info` of the first process that has it.
    pub info: BTreeMap<String, String>,
    /// Per "METHOD route".
    pub routes: BTreeMap<String, RouteTotals>,
    /// The OpenAPI document, or why not.
    pub openapi: Result<serde_json::Value, String>,
    /// PostgreSQL's settings, or why not.
    pub postgres: Result<Postgres, String>,
    /// The top statements of `pg_stat_statements`, planned, or why not.
    pub statements: Result<Vec<TopStatement>, String>,
    /// PgBouncer's configuration and clients, or why not.
    pub pgbouncer: Result<PgBouncerState, String>,
    /// Whether Redis answered PING without a password, or why it could not be asked.
    pub redis_open: Result<bool, String>,
    /// The probes' answers.
    pub probes: Probes,
}

impl Evidence {
    /// The sum of the samples named `name` (over labels and processes).
    pub fn total(&self, name: &str) -> Option<f64> {
        let values: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// The sum of the samples named `name` whose label `key` is `value`.
    pub fn total_where(&self, name: &str, key: &str, value: &str) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && s.label(key) == value)
            .map(|s| s.value)
            .sum()
    }

    /// A setting of `brisk_config_info`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.info.get(key).map(String::as_str)
    }

    /// Requests finished, over every route.
    pub fn requests(&self) -> f64 {
        self.routes.values().map(|r| r.count).sum()
    }
}

/// What changed between two scrapes `--window` seconds apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Seconds between the scrapes.
    pub seconds: f64,
    /// CPU seconds the processes used meanwhile.
    pub cpu_seconds: f64,
    /// Per "METHOD route": what the requests of the window added (no size buckets).
    pub routes: BTreeMap<String, RouteTotals>,
    /// Milliseconds PostgreSQL spent executing this database's statements meanwhile
    /// (`pg_stat_statements`), or why it could not tell.
    pub db_exec_ms: Result<f64, String>,
}

impl Window {
    /// The difference of two scrapes of the same processes.
    fn between(earlier: &[Sample], later: &[Sample], seconds: f64) -> Window {
        let cpu = |samples: &[Sample]| -> f64 {
            samples
                .iter()
                .filter(|s| s.name == "process_cpu_seconds_total")
                .map(|s| s.value)
                .sum()
        };
        let before = route_totals(earlier);
        let mut routes = route_totals(later);
        for (route, after) in &mut routes {
            let zero = RouteTotals::default();
            let b = before.get(route).unwrap_or(&zero);
            after.count -= b.count;
            after.seconds -= b.seconds;
            after.statements -= b.statements;
            after.db_seconds -= b.db_seconds;
            after.redis_seconds -= b.redis_seconds;
            after.bytes_out -= b.bytes_out;
            after.sizes.clear();
        }
        Window {
            seconds,
            cpu_seconds: cpu(later) - cpu(earlier),
            routes,
            db_exec_ms: Err("not read".into()),
        }
    }

    /// Requests finished in the window, over every route.
    pub fn requests(&self) -> f64 {
        self.routes.values().map(|r| r.count).sum()
    }
}

/// Every process's `/metrics`: the samples, how many answered, the others' errors.
async fn scrape(client: &reqwest::Client, urls: &[String]) -> (Vec<Sample>, usize, Vec<String>) {
    let (mut samples, mut scraped, mut scrape_errors) = (Vec::new(), 0, Vec::new());
    for url in urls {
        match probes::text(client, &format!("{url}/metrics")).await {
            Ok(text) => {
                scraped += 1;
                samples.extend(exposition::parse(&text));
            }
            Err(err) => scrape_errors.push(format!("{url}/metrics: {err}")),
        }
    }
    (samples, scraped, scrape_errors)
}

/// Reads every source named by `args`.
pub async fn gather(args: &DoctorArgs) -> Evidence {
    let client = probes::client(None);
    let ops = discover::targets(args).await;
    let (mut samples, mut scraped, mut scrape_errors) = scrape(&client, &ops.urls).await;
    let mut window = None;
    if args.window > 0 {
        let exec_before = statements::exec_ms(&args.database_url).await;
        // The second scrape of the measurement window (the doctor sends no load).
        tokio::time::sleep(std::time::Duration::from_secs(args.window)).await;
        let (later, answered, errors) = scrape(&client, &ops.urls).await;
        let exec_after = statements::exec_ms(&args.database_url).await;
        if answered == scraped {
            let mut w = Window::between(&samples, &later, args.window as f64);
            w.db_exec_ms = exec_before.and_then(|b| exec_after.map(|a| a - b));
            window = Some(w);
            (samples, scraped, scrape_errors) = (later, answered, errors);
        }
    }
    Evidence {
        ops_source: ops.source,
        window,
        info: config_info(&samples),
        routes: route_totals(&samples),
        samples,
        scraped,
        scrape_errors,
        openapi: probes::json(&client, &format!("{}/openapi.json", args.url)).await,
        postgres: services::postgres(&args.database_url).await,
        statements: statements::top(&args.database_url, args.top_statements).await,
        pgbouncer: services::pgbouncer(&args.pgbouncer_admin_url, &args.database_url).await,
        redis_open: services::redis_without_password(args.first_redis_url()).await,
        probes: probes::run(args).await,
    }
}

/// The labels of the first `brisk_config_info` sample.
fn config_info(samples: &[Sample]) -> BTreeMap<String, String> {
    samples
        .iter()
        .find(|s| s.name == "brisk_config_info")
        .map(|s| s.labels.clone())
        .unwrap_or_default()
}

/// Per-route totals from the duration and statement histograms and the SQL time.
pub fn route_totals(samples: &[Sample]) -> BTreeMap<String, RouteTotals> {
    let mut routes: BTreeMap<String, RouteTotals> = BTreeMap::new();
    for s in samples {
        let key = format!("{} {}", s.label("method"), s.label("route"));
        if s.name == "brisk_http_response_size_bytes_bucket" {
            let le: f64 = s.label("le").parse().unwrap_or(f64::INFINITY);
            let sizes = &mut routes.entry(key).or_default().sizes;
            match sizes.iter_mut().find(|(bound, _)| *bound == le) {
                Some((_, cum)) => *cum += s.value,
                None => sizes.push((le, s.value)),
            }
            continue;
        }
        let field: fn(&mut RouteTotals) -> &mut f64 = match s.name.as_str() {
            "brisk_http_request_duration_seconds_count" => |r| &mut r.count,
            "brisk_http_request_duration_seconds_sum" => |r| &mut r.seconds,
            "brisk_http_request_statements_sum" => |r| &mut r.statements,
            "brisk_http_request_db_seconds_total" => |r| &mut r.db_seconds,
            "brisk_http_request_redis_seconds_total" => |r| &mut r.redis_seconds,
            "brisk_http_response_size_bytes_sum" => |r| &mut r.bytes_out,
            _ => continue,
        };
        *field(routes.entry(key).or_default()) += s.value;
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "process_cpu_seconds_total 2.5\n\
        brisk_http_request_duration_seconds_count{method=\"GET\",route=\"/a\"} 10\n\
        brisk_http_request_duration_seconds_sum{method=\"GET\",route=\"/a\"} 1\n";
    const AFTER: &str = "process_cpu_seconds_total 4\n\
        brisk_http_request_duration_seconds_count{method=\"GET\",route=\"/a\"} 110\n\
        brisk_http_request_duration_seconds_sum{method=\"GET\",route=\"/a\"} 3\n\
        brisk_http_request_duration_seconds_count{method=\"GET\",route=\"/b\"} 5\n";

    #[test]
    fn a_window_is_what_two_scrapes_differ_by() {
        let (before, after) = (exposition::parse(BEFORE), exposition::parse(AFTER));
        let w = Window::between(&before, &after, 10.0);
        assert_eq!(w.cpu_seconds, 1.5);
        assert_eq!(w.routes["GET /a"].count, 100.0);
        assert_eq!(w.routes["GET /a"].seconds, 2.0);
        assert_eq!(
            w.routes["GET /b"].count, 5.0,
            "a route first seen in the window"
        );
        assert_eq!(w.requests(), 105.0);
    }
}
