//! The load generator: `concurrency` workers, each sending one request at a time
//! until the deadline or its request budget, recording every outcome with its
//! start time relative to the scenario's clock. Bounded in time and count.

use reqwest::{Client, RequestBuilder};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a request was, for the report's split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A GET.
    Read,
    /// A PUT or POST.
    Write,
}

/// One request's outcome.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Start, from the scenario's clock.
    pub start: Duration,
    /// Time to the last body byte (or to the error).
    pub latency: Duration,
    /// HTTP status, or 0 when no response came (connection error, timeout).
    pub status: u16,
    /// Read or write.
    pub kind: Kind,
    /// The route label (for messages).
    pub route: &'static str,
    /// The transport error was a failed connect (nothing was sent).
    pub connect_error: bool,
    /// The response carried `Retry-After`.
    pub retry_after: bool,
}

impl Sample {
    /// End, from the scenario's clock.
    pub fn end(&self) -> Duration {
        self.start + self.latency
    }

    /// A 5xx or no response at all.
    pub fn failed(&self) -> bool {
        self.status == 0 || self.status >= 500
    }
}

/// Builds worker `w`'s `i`-th request.
pub type MakeRequest =
    Arc<dyn Fn(&Client, usize, u64) -> (RequestBuilder, Kind, &'static str) + Send + Sync>;

/// Load settings.
#[derive(Clone)]
pub struct LoadSpec {
    /// Workers, each with at most one request in flight.
    pub concurrency: usize,
    /// Run for this long from the start.
    pub duration: Duration,
    /// At most this many requests per worker.
    pub max_per_worker: u64,
    /// Per-request client timeout.
    pub timeout: Duration,
    /// A worker stops after its first failed connect (the server is gone).
    pub stop_on_connect_error: bool,
}

impl LoadSpec {
    /// `concurrency` workers for `duration`, 10 s request timeout.
    pub fn new(concurrency: usize, duration: Duration) -> LoadSpec {
        LoadSpec {
            concurrency,
            duration,
            max_per_worker: 100_000,
            timeout: Duration::from_secs(10),
            stop_on_connect_error: false,
        }
    }
}

/// A running load; `finish` waits for it and returns every sample.
pub struct Load {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    samples: Arc<Mutex<Vec<Sample>>>,
    /// Requests answered so far (any status), for scenarios that wait for a baseline.
    answered: Arc<AtomicUsize>,
    /// Requests failed so far (5xx or no answer), for scenarios that hold a fault until
    /// the clients have met it.
    failed: Arc<AtomicUsize>,
    /// Set by [`Load::stop`]: workers send no further request.
    #[allow(dead_code)] // read by `stop`, which tests/cluster uses (this file is shared)
    stopped: Arc<AtomicBool>,
}

/// A client for the load: keep-alive, no proxy, one connection per worker.
pub fn client(spec: &LoadSpec) -> Client {
    Client::builder()
        .no_proxy()
        .timeout(spec.timeout)
        .pool_max_idle_per_host(spec.concurrency)
        .build()
        .expect("build the load client")
}

/// Starts the load. `clock` is the scenario's time zero. With `own_clients`,
/// every worker has its own client, hence its own keep-alive connection.
pub fn start(spec: LoadSpec, clock: Instant, own_clients: bool, make: MakeRequest) -> Load {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicBool::new(false));
    let shared = client(&spec);
    let tasks = (0..spec.concurrency)
        .map(|w| {
            let client = if own_clients {
                client(&LoadSpec {
                    concurrency: 1,
                    ..spec.clone()
                })
            } else {
                shared.clone()
            };
            let make = Arc::clone(&make);
            let samples = Arc::clone(&samples);
            let answered = Arc::clone(&answered);
            let failed = Arc::clone(&failed);
            let stopped = Arc::clone(&stopped);
            let spec = spec.clone();
            tokio::spawn(async move {
                let deadline = Instant::now() + spec.duration;
                let mut mine = Vec::new();
                for i in 0..spec.max_per_worker {
                    if Instant::now() >= deadline || stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let (req, kind, route) = make(&client, w, i);
                    let sample = send(req, kind, route, clock).await;
                    let stop = spec.stop_on_connect_error && sample.connect_error;
                    if !sample.connect_error {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    if sample.failed() {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    mine.push(sample);
                    if stop {
                        break;
                    }
                }
                samples.lock().unwrap().extend(mine);
            })
        })
        .collect();
    Load {
        tasks,
        samples,
        answered,
        failed,
        stopped,
    }
}

/// Sends one request and records it.
pub async fn send(req: RequestBuilder, kind: Kind, route: &'static str, clock: Instant) -> Sample {
    let start = Instant::now();
    let (status, connect_error, retry_after) = match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp.headers().contains_key("retry-after");
            match resp.bytes().await {
                Ok(_) => (status, false, retry_after),
                Err(_) => (0, false, false),
            }
        }
        Err(e) => (0, e.is_connect(), false),
    };
    Sample {
        start: start - clock,
        latency: start.elapsed(),
        status,
        kind,
        route,
        connect_error,
        retry_after,
    }
}

impl Load {
    /// Waits until `n` requests have been answered (the baseline before a fault),
    /// failing the scenario if that takes longer than `within`.
    pub async fn until_answered(&self, n: usize, within: Duration) {
        until_count(&self.answered, n, within, "answered").await;
    }

    /// Ends the load before its duration: each worker finishes its request in flight.
    #[allow(dead_code)] // tests/cluster's, not a fault scenario's (this file is shared)
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Requests failed so far.
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    /// Waits until `n` requests in all have failed (5xx or no answer), at most `within`.
    pub async fn until_failed(&self, n: usize, within: Duration) {
        until_count(&self.failed, n, within, "failed").await;
    }

    /// Waits for every worker; the samples sorted by start.
    pub async fn finish(self) -> Vec<Sample> {
        for t in self.tasks {
            t.await.expect("a load worker panicked");
        }
        let mut samples = std::mem::take(&mut *self.samples.lock().unwrap());
        samples.sort_by_key(|s| s.start);
        samples
    }
}

/// Summary of a set of samples.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Requests.
    pub requests: usize,
    /// Responses other than 2xx (and no response).
    pub non_2xx: usize,
    /// 5xx responses.
    pub five_xx: usize,
    /// No response (transport error or timeout).
    pub no_response: usize,
    /// Slowest request.
    pub max_latency: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

impl Stats {
    /// Summarises `samples`.
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Stats {
        let mut latencies = Vec::new();
        let mut s = Stats::default();
        for x in samples {
            s.requests += 1;
            if !(200..300).contains(&x.status) {
                s.non_2xx += 1;
            }
            if x.status >= 500 {
                s.five_xx += 1;
            }
            if x.status == 0 {
                s.no_response += 1;
            }
            latencies.push(x.latency);
        }
        latencies.sort();
        s.max_latency = latencies.last().copied().unwrap_or_default();
        s.p99 = percentile(&latencies, 0.99);
        s
    }
}

/// The `q` quantile of sorted `values`.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64) * q).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The standard mix on tenant 2: reads of one product, the catalog, an orders
/// page, a search and a summary; one write in `write_every` (a price PUT or an
/// order of one unit).
pub fn w6_mix(
    base: String,
    key: String,
    products: Vec<i64>,
    customers: Vec<i64>,
    write_every: u64,
) -> MakeRequest {
    Arc::new(move |client: &Client, w: usize, i: u64| {
        let n = (w as u64).wrapping_mul(7919).wrapping_add(i);
        let product = products[(n as usize) % products.len()];
        if write_every > 0 && n.is_multiple_of(write_every) {
            if n.is_multiple_of(2 * write_every) {
                let body = serde_json::json!({"price_cents": 1000 + (n % 5000) as i64});
                let req = client
                    .put(format!("{base}/api/products/{product}"))
                    .bearer_auth(&key)
                    .json(&body);
                return (req, Kind::Write, "PUT /api/products/{id}");
            }
            let customer = customers[(n as usize) % customers.len()];
            let body = serde_json::json!({
                "customer_id": customer,
                "items": [{"product_id": product, "quantity": 1}]
            });
            let req = client
                .post(format!("{base}/api/orders"))
                .bearer_auth(&key)
                .json(&body);
            return (req, Kind::Write, "POST /api/orders");
        }
        let (path, route) = match n % 5 {
            0 => (format!("/api/products/{product}"), "GET /api/products/{id}"),
            1 => ("/api/catalog".to_string(), "GET /api/catalog"),
            2 => ("/api/orders?per_page=10".to_string(), "GET /api/orders"),
            3 => ("/api/search?q=a&limit=5".to_string(), "GET /api/search"),
            _ => (
                format!("/api/products/{product}/summary"),
                "GET /api/products/{id}/summary",
            ),
        };
        let req = client.get(format!("{base}{path}")).bearer_auth(&key);
        (req, Kind::Read, route)
    })
}

/// Waits until `counter` reaches `n`, at most `within`; panics naming `what` when not.
async fn until_count(counter: &Arc<AtomicUsize>, n: usize, within: Duration, what: &str) {
    let reached = brisk_testkit::wait::wait_until(within, || {
        let counter = Arc::clone(counter);
        async move { counter.load(Ordering::Relaxed) >= n }
    })
    .await;
    assert!(
        reached.is_some(),
        "the load {what} fewer than {n} requests in {within:?}"
    );
}
