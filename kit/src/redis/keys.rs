//! The kit's one Redis key builder. Every key the kit or an application writes is
//! `<prefix>:v1:<kind>:{<tag>}[:<rest>]`:
//!
//! - the prefix keeps deployments (and tests) sharing one Redis apart;
//! - `v1` lets a later layout live beside this one during a rolling upgrade;
//! - the braces make `<tag>` a Redis Cluster hash tag: keys with one tag share a slot,
//!   so a script or an `MGET` over them never crosses slots. Callers choose the tag for
//!   what must be read together (a tenant `t<id>` for its entries, generations and
//!   limits; a client address for its failure guard).
//!
//! The cache's layout (`cache::keys`) and the limiter's (`ratelimit::policy`) are
//! built on [`key`].

/// The layout version, second segment of every key.
pub const LAYOUT: &str = "v1";

/// `<prefix>:v1:<kind>:{<tag>}:<rest>`, or without `:<rest>` when `rest` is empty.
pub fn key(prefix: &str, kind: &str, tag: &str, rest: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + kind.len() + tag.len() + rest.len() + 10);
    out.push_str(prefix);
    out.push(':');
    out.push_str(LAYOUT);
    out.push(':');
    out.push_str(kind);
    out.push_str(":{");
    out.push_str(tag);
    out.push('}');
    if !rest.is_empty() {
        out.push(':');
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_versioned_and_hash_tagged() {
        assert_eq!(key("b", "rl", "t7", "plan:x"), "b:v1:rl:{t7}:plan:x");
        assert_eq!(key("b", "authkey", "ab12", ""), "b:v1:authkey:{ab12}");
    }
}
