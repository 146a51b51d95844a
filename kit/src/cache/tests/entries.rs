//! What an entry is: keyed by normalized query, answered by ETag (304 without the
//! body), read header-first when large, and a miss when it does not decode.

use super::*;
use crate::metrics::CacheEvent;

#[tokio::test]
async fn if_none_match_with_the_stored_etag_answers_without_the_body() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let first = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    let etag = first.etag.to_string();
    let matched = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some(&etag),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!((matched.body, matched.outcome), (None, CacheEvent::Hit));
    assert_eq!(matched.etag, first.etag);
    let listed = format!("\"nope\", W/{etag}");
    let weak = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some(&listed),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(weak.body, None);
    let other = cache
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some("\"nope\""),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(other.body.as_deref(), Some(&b"v1"[..]));
    // Another tenant with tenant 1's etag gets its own body, never a 304 on 1's entry.
    let b = cache
        .view(
            catalog(Scope::Tenant(2)),
            ttl,
            Some(&etag),
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(b.body.as_deref(), Some(&b"v2"[..]));
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn normalized_query_strings_share_an_entry() {
    let cache = cache_for(&prefix(), config());
    let counter = Counter::default();
    let ttl = Duration::from_secs(60);
    let search = |query| ViewKey {
        namespace: "search",
        route: "/api/search",
        query,
        only: Some(&["q", "limit"]),
        scope: Scope::Tenant(1),
    };
    for q in [
        "q=a&limit=5",
        "limit=5&q=a",
        "?limit=5&q=%61",
        "q=a&limit=5&junk=1",
    ] {
        cache
            .view(search(q), ttl, None, counter.compute(Duration::ZERO))
            .await
            .unwrap();
    }
    assert_eq!(counter.get(), 1);
    cache
        .view(
            search("q=a&limit=6"),
            ttl,
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!(counter.get(), 2);
}

#[tokio::test]
async fn garbage_in_an_entry_is_a_miss() {
    let prefix = prefix();
    let cache = cache_for(&prefix, config());
    let keys = catalog_keys(&prefix, Scope::Tenant(1));
    plant_entry(&prefix, &keys, b"definitely not an envelope").await;
    let counter = Counter::default();
    let got = cache
        .view(
            catalog(Scope::Tenant(1)),
            Duration::from_secs(60),
            None,
            counter.compute(Duration::ZERO),
        )
        .await
        .unwrap();
    assert_eq!((got.outcome, counter.get()), (CacheEvent::Miss, 1));
    assert_eq!(got.body.as_deref(), Some(&b"v1"[..]));
}

#[tokio::test]
async fn large_views_are_read_header_first_and_served_from_the_local_copy() {
    let prefix = prefix();
    let one = cache_for(&prefix, config());
    let two = cache_for(&prefix, config());
    let big = Bytes::from(vec![b'x'; 100 * 1024]);
    let runs = Arc::new(AtomicUsize::new(0));
    let compute = {
        let (big, runs) = (big.clone(), runs.clone());
        move || async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(big)
        }
    };
    let ttl = Duration::from_secs(60);
    let first = one
        .view(catalog(Scope::Tenant(1)), ttl, None, compute.clone())
        .await
        .unwrap();
    assert_eq!(first.body.as_ref(), Some(&big));
    // Another process: header-only read, then one GET fills its local copy.
    assert!(two.inner.payloads.get(&first.etag).is_none());
    let got = two
        .view(catalog(Scope::Tenant(1)), ttl, None, compute.clone())
        .await
        .unwrap();
    assert_eq!(
        (got.outcome, got.body.as_ref()),
        (CacheEvent::Hit, Some(&big))
    );
    assert!(two.inner.payloads.get(&first.etag).is_some());
    let again = two
        .view(catalog(Scope::Tenant(1)), ttl, None, compute.clone())
        .await
        .unwrap();
    assert_eq!(
        (again.outcome, again.body.as_ref()),
        (CacheEvent::Hit, Some(&big))
    );
    let not_modified = two
        .view(
            catalog(Scope::Tenant(1)),
            ttl,
            Some(&first.etag),
            compute.clone(),
        )
        .await
        .unwrap();
    assert_eq!(
        (not_modified.outcome, not_modified.body),
        (CacheEvent::Hit, None)
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // After an invalidation the local copy of the old ETag is not served.
    two.bump_namespace(Scope::Tenant(1), "catalog").await;
    let fresh = two
        .view(catalog(Scope::Tenant(1)), ttl, Some(&first.etag), compute)
        .await
        .unwrap();
    assert_eq!(fresh.outcome, CacheEvent::Miss);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}
