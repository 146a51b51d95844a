//! The warmer under its supervisor: a panicking round is restarted and counted.

use super::*;
use crate::cache::{CacheConfig, Scope, ViewKey};
use crate::metrics::{CacheEvent, Metrics};
use brisk_testkit::wait::until;
use bytes::Bytes;
use std::future::ready;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How long the test waits for the warmer.
const WITHIN: Duration = Duration::from_secs(10);

#[actix_rt::test]
async fn a_preload_that_panics_once_restarts_the_warmer_which_then_preloads_and_counts_it() {
    let metrics = Metrics::new();
    let cache = Cache::new(None, metrics.clone(), CacheConfig::default());
    let computed = Arc::new(AtomicUsize::new(0));
    let runs = Arc::clone(&computed);
    cache.register_view(
        "catalog",
        "/api/catalog",
        Duration::from_secs(60),
        move |_, _| {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(Bytes::from_static(b"[]"))
            }
        },
    );
    let first = Arc::new(AtomicBool::new(true));
    cache.preload_view("catalog", "/api/catalog", move || {
        let first = Arc::clone(&first);
        async move {
            assert!(
                !first.swap(false, Ordering::SeqCst),
                "the first listing fails"
            );
            vec![(Scope::Tenant(1), String::new())]
        }
    });
    let config = WarmConfig {
        interval: Duration::from_millis(50),
        budget: 2,
        hot_accesses: 3.0,
    };
    let addr = Warmer::start_with(cache.clone(), config);
    until("the preload after the restart", WITHIN, || {
        ready(computed.load(Ordering::SeqCst) == 1)
    })
    .await;
    let text = metrics.render_prometheus();
    let restarts = r#"brisk_actor_restarts_total{actor="warmer"} 1"#;
    assert!(text.lines().any(|l| l == restarts), "{text}");
    let key = ViewKey {
        namespace: "catalog",
        route: "/api/catalog",
        query: "",
        only: None,
        scope: Scope::Tenant(1),
    };
    let got = cache
        .view(key, Duration::from_secs(60), None, || async {
            Err::<Bytes, _>("preloaded: not computed here")
        })
        .await
        .unwrap();
    assert_eq!(got.outcome, CacheEvent::Hit);
    addr.send(Shutdown).await.unwrap();
}
