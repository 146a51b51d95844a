//! Every Redis key the cache uses is built here, on the kit's key builder
//! ([`crate::redis::keys::key`]).
//!
//! Layout: `<prefix>:v1:<kind>:{<scope>}:<parts...>` where `<scope>` is `p` (public),
//! `t<id>` (tenant) or `u<id>` (user). The braces make the scope a Redis Cluster hash
//! tag, so an entry, its generation counter and its lease share one slot and can be
//! read together (MGET, scripts). Every variable part goes through [`component`],
//! which escapes `:` and `%`, so two different (route, query) or (function, arguments)
//! pairs can never produce the same key.
//!
//! Query strings are normalized here too: pairs sorted, percent-decoding normalized,
//! empty values kept (`?q=&limit=5` differs from `?limit=5`).

use crate::metrics::CacheKind;
use crate::redis::keys::key;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use url::form_urlencoded;

/// Who may see a cached value. Mandatory on every cache call: there is no way to
/// build a key without one, so a per-tenant value cannot land under a shared key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The same for every caller (no per-tenant data).
    Public,
    /// One tenant's data.
    Tenant(i64),
    /// One user's data.
    User(i64),
}

impl Scope {
    /// The hash-tag body: `p`, `t<id>` or `u<id>`.
    pub fn tag(self) -> String {
        match self {
            Scope::Public => "p".to_string(),
            Scope::Tenant(id) => format!("t{id}"),
            Scope::User(id) => format!("u{id}"),
        }
    }
}

/// Longest variable part kept verbatim; longer parts are replaced by their SHA-256
/// so keys stay short (a 100-char search is fine, a pathological one is hashed).
const MAX_COMPONENT: usize = 160;

/// Escapes a key component so it contains no `:` (our separator) and stays short.
pub fn component(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for ch in raw.chars() {
        match ch {
            ':' => out.push_str("%3A"),
            '%' => out.push_str("%25"),
            c if c.is_control() || c == ' ' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{b:02X}");
                }
            }
            c => out.push(c),
        }
    }
    if out.len() > MAX_COMPONENT {
        let digest = Sha256::digest(out.as_bytes());
        return format!("h{}", hex::encode(&digest[..20]));
    }
    out
}

/// The keys of one cache entry: its value, the generation counter that invalidates
/// it, and the single-flight lease. All three share the scope's hash tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryKeys {
    /// The entry (an envelope).
    pub entry: String,
    /// The generation counter that invalidates it.
    pub generation: String,
    /// The single-flight lease.
    pub lease: String,
    /// A view's or a memoized call's (what its outcomes are counted as).
    pub kind: CacheKind,
}

impl EntryKeys {
    /// The in-process single-flight identity of this entry at one generation.
    pub fn flight(&self, generation: u64) -> String {
        format!("{}#{generation}", self.entry)
    }

    /// These keys with the lease of one generation: a computation of an older
    /// generation (overtaken by an invalidation) must not make the readers of the
    /// new one wait for it. Same hash slot: the tag precedes the suffix.
    pub fn with_generation_lease(mut self, generation: u64) -> Self {
        self.lease = format!("{}:g{generation}", self.lease);
        self
    }

    /// How many processes wait for this lease's holder (a counter; `super::wake`).
    pub fn waiters(&self) -> String {
        format!("{}:n", self.lease)
    }

    /// Where the lease's holder pushes one wake-up per waiting process.
    pub fn wake_list(&self) -> String {
        format!("{}:w", self.lease)
    }
}

/// Keys of a cached view: entry `<p>:v1:view:{s}:<ns>:<route>:<query>`, generation
/// `<p>:v1:gen:{s}:ns:<ns>` (bumped to invalidate the namespace).
pub fn view_keys(
    prefix: &str,
    scope: Scope,
    namespace: &str,
    route: &str,
    normalized_query: &str,
) -> EntryKeys {
    let tag = scope.tag();
    let ns = component(namespace);
    let rest = format!("{ns}:{}:{}", component(route), component(normalized_query));
    EntryKeys {
        entry: key(prefix, "view", &tag, &rest),
        generation: namespace_generation_key(prefix, scope, namespace),
        lease: key(prefix, "lease", &tag, &format!("view:{rest}")),
        kind: CacheKind::View,
    }
}

/// The generation counter of a namespace (a tenant's catalog, its searches).
pub fn namespace_generation_key(prefix: &str, scope: Scope, namespace: &str) -> String {
    key(
        prefix,
        "gen",
        &scope.tag(),
        &format!("ns:{}", component(namespace)),
    )
}

/// Keys of a memoized call: entry `<p>:v1:memo:{s}:<name>:<args>`, with a
/// generation counter of its own so a delete by arguments also defeats a computation
/// that started before the delete and finishes after it.
pub fn memo_keys(prefix: &str, scope: Scope, name: &str, args_json: &str) -> EntryKeys {
    let tag = scope.tag();
    let rest = format!("{}:{}", component(name), component(args_json));
    EntryKeys {
        entry: key(prefix, "memo", &tag, &rest),
        generation: key(prefix, "gen", &tag, &format!("memo:{rest}")),
        lease: key(prefix, "lease", &tag, &format!("memo:{rest}")),
        kind: CacheKind::Memo,
    }
}

/// Canonical form of a query string: pairs decoded (`+` and `%XX`), sorted by key then
/// value, re-encoded with one encoding; empty values kept, empty segments dropped.
/// With `only`, keys outside the list are ignored (a handler that reads `q` and
/// `limit` should not get one entry per junk parameter).
pub fn normalize_query(raw: &str, only: Option<&[&str]>) -> String {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| only.is_none_or(|keys| keys.contains(&k.as_ref())))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_order_does_not_matter() {
        assert_eq!(
            normalize_query("q=a&limit=5", None),
            normalize_query("?limit=5&q=a", None)
        );
    }

    #[test]
    fn percent_encoding_is_normalized() {
        assert_eq!(
            normalize_query("q=red%20chair", None),
            normalize_query("q=red+chair", None)
        );
        assert_eq!(normalize_query("q=%61", None), normalize_query("q=a", None));
    }

    #[test]
    fn empty_values_are_kept_and_empty_segments_dropped() {
        assert_ne!(
            normalize_query("q=&limit=5", None),
            normalize_query("limit=5", None)
        );
        assert_eq!(
            normalize_query("q=&&limit=5&", None),
            normalize_query("limit=5&q=", None)
        );
    }

    #[test]
    fn only_keeps_the_listed_keys() {
        assert_eq!(
            normalize_query("q=a&junk=1&limit=5", Some(&["q", "limit"])),
            normalize_query("limit=5&q=a", None)
        );
    }

    #[test]
    fn scopes_get_their_own_hash_tag() {
        let a = view_keys("b", Scope::Tenant(1), "catalog", "/v1/catalog", "");
        let b = view_keys("b", Scope::Tenant(2), "catalog", "/v1/catalog", "");
        let p = view_keys("b", Scope::Public, "catalog", "/v1/catalog", "");
        let u = view_keys("b", Scope::User(1), "catalog", "/v1/catalog", "");
        assert_eq!(a.entry, "b:v1:view:{t1}:catalog:/v1/catalog:");
        assert_ne!(a.entry, b.entry);
        assert!(p.entry.contains(":{p}:"));
        assert!(u.entry.contains(":{u1}:"));
        assert!(a.generation.contains("{t1}") && a.lease.contains("{t1}"));
    }

    #[test]
    fn separators_in_parts_cannot_collide() {
        let one = view_keys("b", Scope::Public, "n", "a:b", "c");
        let two = view_keys("b", Scope::Public, "n", "a", "b:c");
        assert_ne!(one.entry, two.entry);
    }

    #[test]
    fn long_parts_are_hashed() {
        let long = "x".repeat(1000);
        let keys = memo_keys("b", Scope::Tenant(1), "f", &long);
        assert!(keys.entry.len() < 120, "{}", keys.entry);
        let other = memo_keys("b", Scope::Tenant(1), "f", &"y".repeat(1000));
        assert_ne!(keys.entry, other.entry);
    }
}
