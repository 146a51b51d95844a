//! Supervised background actors: every background loop of the kit (the warming
//! scheduler, the invalidation retrier, any later one) is an actix actor with an owner,
//! which holds its address, and a stop signal ([`Shutdown`]), run under
//! `actix::Supervisor`.
//!
//! A supervisor restarts an actor that *stops*, not one that panics: a panic unwinds
//! through the actor's task and the actor is silently gone. So each round of work runs
//! behind `catch_unwind` ([`round`] for a synchronous round, [`guarded`] for a future);
//! a panic is logged and stops the actor, which the supervisor restarts
//! (`Supervised::restarting`, which calls [`Supervision::restarting`]): the restart is
//! counted in `/metrics` as `brisk_actor_restarts_total{actor="<name>"}`, and the
//! actor resumes its work after [`Supervision::resume_delay`], which grows while
//! restarts follow each other, so a round that always panics does not spin.
//!
//! Stopping for good: the supervisor restarts while an address is held, so the stop
//! signal makes the actor cancel its rounds and go idle, and the actor ends when its
//! owner drops the address (see [`Shutdown`]).
//!
//! Where it runs: [`start`] uses the current arbiter (an actix-web worker, the System's
//! thread); [`start_anywhere`] also works outside actix (a plain Tokio runtime, as in
//! tests) by giving the actor an actix System on a thread of its own, which ends when
//! the actor does.
//!
//! Fault injection, for the fault suite (`make faults`, issue 10 scenario 15): a build
//! with the cargo feature `fault-injection` (never a default) reads
//! `BRISK_FAULT_PANIC_ONCE` (actor names, comma-separated) when a round first asks
//! [`injected_fault`], and the first round of each named actor panics. Without the
//! feature, [`injected_fault`] does nothing and the variable is never read.

use crate::metrics::Metrics;
use actix::prelude::*;
use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// Delay before a restarted actor resumes its work; doubled for each restart in a
/// row (no round completed in between), up to [`MAX_RESUME_DELAY`].
pub const FIRST_RESUME_DELAY: Duration = Duration::from_millis(100);
/// The longest delay before a restarted actor resumes.
pub const MAX_RESUME_DELAY: Duration = Duration::from_secs(10);

/// The stop signal of a supervised actor: it cancels the actor's rounds (work already
/// handed to other tasks finishes by itself) and leaves the actor idle; the actor ends
/// when its owner drops its address. (Stopping the actor here would make the
/// supervisor restart it, since the owner still holds the address it sent this with.)
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// What every supervised actor carries: its name, the metrics its restarts are
/// counted in, and how many restarts came in a row.
pub struct Supervision {
    name: &'static str,
    metrics: Metrics,
    in_a_row: u32,
    /// The System started for this actor alone (by [`start_anywhere`]): stopped, and
    /// its thread ended, when the actor is dropped.
    own_system: Option<System>,
}

impl Supervision {
    /// Declares the actor `name` in `metrics` (its restart counter shows at 0).
    pub fn new(name: &'static str, metrics: Metrics) -> Self {
        metrics.register_actor(name);
        Self {
            name,
            metrics,
            in_a_row: 0,
            own_system: None,
        }
    }

    /// The actor's name (the `actor` label).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Call from `Supervised::restarting`: counts and logs the restart.
    pub fn restarting(&mut self) {
        self.metrics.actor_restarted(self.name);
        self.in_a_row = self.in_a_row.saturating_add(1);
        log::warn!(
            "background actor {} restarted by its supervisor ({} in a row)",
            self.name,
            self.in_a_row
        );
    }

    /// Call when a round completed: the next restart waits the shortest delay again.
    pub fn round_completed(&mut self) {
        self.in_a_row = 0;
    }

    /// How long the actor waits before its first round: none on its first start, then
    /// [`FIRST_RESUME_DELAY`] doubled per restart in a row, at most [`MAX_RESUME_DELAY`].
    pub fn resume_delay(&self) -> Duration {
        match self.in_a_row {
            0 => Duration::ZERO,
            n => FIRST_RESUME_DELAY
                .saturating_mul(1 << (n - 1).min(16))
                .min(MAX_RESUME_DELAY),
        }
    }
}

impl Drop for Supervision {
    fn drop(&mut self) {
        if let Some(system) = self.own_system.take() {
            system.stop();
        }
    }
}

/// An actor that runs under [`start`] or [`start_anywhere`].
pub trait Background: Supervised + Actor<Context = Context<Self>> {
    /// The actor's [`Supervision`].
    fn supervision(&mut self) -> &mut Supervision;
}

/// Runs one synchronous round of `ctx`'s actor. A panic is logged and stops the actor
/// (its supervisor restarts it): `None`.
pub fn round<A, T>(ctx: &mut Context<A>, name: &'static str, work: impl FnOnce() -> T) -> Option<T>
where
    A: Actor<Context = Context<A>>,
{
    match std::panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Some(value),
        Err(panic) => {
            stop_after_panic(ctx, name, panic.as_ref());
            None
        }
    }
}

/// Wraps a round's future for `ctx.spawn`: its output, or `None` when it panicked, in
/// which case the panic is logged and the actor stopped (its supervisor restarts it).
pub fn guarded<A, F>(name: &'static str, work: F) -> impl ActorFuture<A, Output = Option<F::Output>>
where
    A: Actor<Context = Context<A>>,
    F: Future + 'static,
{
    actix::fut::wrap_future::<_, A>(AssertUnwindSafe(work).catch_unwind()).map(
        move |result, _act, ctx: &mut Context<A>| match result {
            Ok(value) => Some(value),
            Err(panic) => {
                stop_after_panic(ctx, name, panic.as_ref());
                None
            }
        },
    )
}

fn stop_after_panic<A>(ctx: &mut Context<A>, name: &'static str, panic: &(dyn Any + Send))
where
    A: Actor<Context = Context<A>>,
{
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string payload");
    log::error!("a round of background actor {name} panicked ({message}); restarting it");
    ctx.stop();
}

/// Called at the start of a round of `name`: panics once if the fault suite asked for
/// it (feature `fault-injection`, module doc); otherwise does nothing.
pub fn injected_fault(name: &'static str) {
    #[cfg(feature = "fault-injection")]
    if fault::ARMED.take(name) {
        panic!("injected fault: one round of {name} panics (BRISK_FAULT_PANIC_ONCE)");
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = name;
}

/// The actors whose next round panics, each once.
#[cfg(any(test, feature = "fault-injection"))]
mod fault {
    use std::sync::Mutex;

    /// Names not fired yet.
    pub struct PanicOnce(Mutex<Vec<String>>);

    impl PanicOnce {
        /// From `warmer,invalidation_retrier` (blanks ignored).
        pub fn parse(spec: &str) -> Self {
            let names = spec
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            Self(Mutex::new(names))
        }

        /// True the first time `name` asks, if it is listed.
        pub fn take(&self, name: &str) -> bool {
            let mut names = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let before = names.len();
            names.retain(|n| n != name);
            names.len() < before
        }
    }

    /// What `BRISK_FAULT_PANIC_ONCE` asked for, read on first use.
    #[cfg(feature = "fault-injection")]
    pub static ARMED: std::sync::LazyLock<PanicOnce> = std::sync::LazyLock::new(|| {
        let spec = std::env::var("BRISK_FAULT_PANIC_ONCE").unwrap_or_default();
        if !spec.is_empty() {
            log::warn!("fault injection: one round of each of [{spec}] will panic");
        }
        PanicOnce::parse(&spec)
    });
}

/// Starts `make`'s actor under a supervisor on the current arbiter. Like
/// `Actor::start`, it panics outside an actix arbiter.
pub fn start<A, F>(make: F) -> Addr<A>
where
    A: Background,
    F: FnOnce(&mut Context<A>) -> A + 'static,
{
    Supervisor::start(make)
}

/// Starts `make`'s actor under a supervisor: on the current arbiter when there is
/// one, else on an actix System of its own (a thread that ends with the actor). Fails
/// only when that thread cannot be started.
pub fn start_anywhere<A, F>(make: F) -> std::io::Result<Addr<A>>
where
    A: Background,
    F: FnOnce(&mut Context<A>) -> A + Send + 'static,
{
    if Arbiter::try_current().is_some() {
        return Ok(Supervisor::start(make));
    }
    let arbiter = own_system()?;
    Ok(Supervisor::start_in_arbiter(&arbiter, move |ctx| {
        let mut actor = make(ctx);
        actor.supervision().own_system = Some(System::current());
        actor
    }))
}

/// A new actix System on a thread of its own, running until it is stopped.
fn own_system() -> std::io::Result<ArbiterHandle> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("brisk-background".into())
        .spawn(move || {
            let runner = System::new();
            let _ = tx.send(System::current().arbiter().clone());
            if let Err(e) = runner.run() {
                log::error!("background actor system failed: {e}");
            }
        })?;
    // Waits only for the thread to start its System (microseconds).
    rx.recv()
        .map_err(|_| std::io::Error::other("background actor system did not start"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_testkit::wait::until;
    use std::future::ready;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    /// How long a test waits for the actor.
    const WITHIN: Duration = Duration::from_secs(10);

    const NAME: &str = "ticker";

    /// Counts its rounds every 5 ms; round `panic_at` panics.
    struct Ticker {
        supervision: Supervision,
        rounds: Arc<AtomicUsize>,
        panic_at: usize,
        ticks: Option<SpawnHandle>,
        dropped: Arc<AtomicBool>,
    }

    impl Actor for Ticker {
        type Context = Context<Self>;

        fn started(&mut self, ctx: &mut Self::Context) {
            self.ticks = Some(ctx.run_interval(Duration::from_millis(5), |act, ctx| {
                let (rounds, panic_at) = (Arc::clone(&act.rounds), act.panic_at);
                let work = move || {
                    let n = rounds.fetch_add(1, Ordering::SeqCst) + 1;
                    assert_ne!(n, panic_at, "round {n} fails");
                };
                if round(ctx, NAME, work).is_some() {
                    act.supervision.round_completed();
                }
            }));
        }
    }

    impl Supervised for Ticker {
        fn restarting(&mut self, _ctx: &mut Self::Context) {
            self.supervision.restarting();
        }
    }

    impl Background for Ticker {
        fn supervision(&mut self) -> &mut Supervision {
            &mut self.supervision
        }
    }

    impl Handler<Shutdown> for Ticker {
        type Result = ();

        fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
            if let Some(ticks) = self.ticks.take() {
                ctx.cancel_future(ticks);
            }
        }
    }

    impl Drop for Ticker {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    struct Probe {
        metrics: Metrics,
        rounds: Arc<AtomicUsize>,
        dropped: Arc<AtomicBool>,
    }

    impl Probe {
        fn new() -> Self {
            Self {
                metrics: Metrics::new(),
                rounds: Arc::default(),
                dropped: Arc::default(),
            }
        }

        fn ticker(&self, panic_at: usize) -> impl FnOnce(&mut Context<Ticker>) -> Ticker + Send {
            let (metrics, rounds, dropped) = (
                self.metrics.clone(),
                self.rounds.clone(),
                self.dropped.clone(),
            );
            move |_ctx| Ticker {
                supervision: Supervision::new(NAME, metrics),
                rounds,
                panic_at,
                ticks: None,
                dropped,
            }
        }

        fn restarts_line(&self) -> Option<String> {
            self.metrics
                .render_prometheus()
                .lines()
                .find(|l| l.starts_with("brisk_actor_restarts_total{actor=\"ticker\"}"))
                .map(str::to_string)
        }
    }

    /// Runs a ticker whose third round panics, checks it was restarted and kept
    /// counting, then stops it for good.
    async fn a_panicking_round_is_survived(probe: &Probe, addr: Addr<Ticker>) {
        until("rounds after the panicking one", WITHIN, || {
            ready(probe.rounds.load(Ordering::SeqCst) >= 6)
        })
        .await;
        assert_eq!(
            probe.restarts_line().as_deref(),
            Some("brisk_actor_restarts_total{actor=\"ticker\"} 1")
        );
        addr.send(Shutdown).await.unwrap();
        let after_shutdown = probe.rounds.load(Ordering::SeqCst);
        // A live ticker adds a round every 5 ms; one round already under way when the
        // Shutdown arrived may still land (it runs on the actor's own thread outside
        // actix), so "idle" is at most that one in 50 ms, not exactly none.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let late = probe.rounds.load(Ordering::SeqCst) - after_shutdown;
        assert!(late <= 1, "idle after Shutdown, but {late} more rounds ran");
        assert!(
            !probe.dropped.load(Ordering::SeqCst),
            "its owner still holds it"
        );
        drop(addr);
        until("the actor to end", WITHIN, || {
            ready(probe.dropped.load(Ordering::SeqCst))
        })
        .await;
    }

    #[actix_rt::test]
    async fn a_round_that_panics_restarts_the_actor_which_keeps_working_and_is_counted() {
        let probe = Probe::new();
        let addr = start(probe.ticker(3));
        a_panicking_round_is_survived(&probe, addr).await;
    }

    #[tokio::test]
    async fn outside_actix_the_actor_gets_a_system_of_its_own() {
        let probe = Probe::new();
        let addr = start_anywhere(probe.ticker(3)).unwrap();
        a_panicking_round_is_survived(&probe, addr).await;
    }

    #[test]
    fn a_fault_named_once_fires_once_per_actor() {
        let armed = fault::PanicOnce::parse(" warmer, invalidation_retrier ,");
        assert!(!armed.take("ticker"));
        assert!(armed.take("warmer"));
        assert!(!armed.take("warmer"), "once");
        assert!(armed.take("invalidation_retrier"));
        assert!(!fault::PanicOnce::parse("").take("warmer"));
        // Without the feature, the hook is a no-op whatever the environment says.
        #[cfg(not(feature = "fault-injection"))]
        injected_fault(NAME);
    }

    #[test]
    fn restarts_in_a_row_wait_longer() {
        let mut s = Supervision::new(NAME, Metrics::new());
        assert_eq!(s.resume_delay(), Duration::ZERO);
        s.restarting();
        assert_eq!(s.resume_delay(), FIRST_RESUME_DELAY);
        s.restarting();
        assert_eq!(s.resume_delay(), FIRST_RESUME_DELAY * 2);
        for _ in 0..40 {
            s.restarting();
        }
        assert_eq!(s.resume_delay(), MAX_RESUME_DELAY);
        s.round_completed();
        assert_eq!(s.resume_delay(), Duration::ZERO);
    }
}
