//! Which of a request's limits can share one script call on a Redis Cluster: keys
//! with the same hash tag (`{…}`) live on one slot. A request whose limits span
//! several tags (a tenant's plan beside a per-address guard) is reserved tag by tag
//! (`RedisStore`): never over any limit, as API.md's cluster exception says.

/// The hash tag of `key`: between its first `{` and the next `}` when non-empty (as
/// Redis Cluster reads it), else the whole key.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The positions of `keys` grouped by hash tag, groups in order of first appearance,
/// positions ascending within a group.
pub fn by_tag<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<Vec<usize>> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let tag = hash_tag(key);
        match groups.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, positions)) => positions.push(i),
            None => groups.push((tag, vec![i])),
        }
    }
    groups.into_iter().map(|(_, positions)| positions).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_what_redis_cluster_hashes() {
        assert_eq!(hash_tag("b:v1:rl:{t7}:plan"), "t7");
        assert_eq!(hash_tag("b:v1:rl:{ip1.2.3.4}:x:{t7}"), "ip1.2.3.4");
        assert_eq!(hash_tag("no-tag"), "no-tag");
        assert_eq!(hash_tag("empty:{}:tag"), "empty:{}:tag");
    }

    #[test]
    fn keys_group_by_tag_in_order() {
        let keys = ["a:{t1}:plan", "a:{ip9}:login", "a:{t1}:route"];
        assert_eq!(by_tag(keys), vec![vec![0, 2], vec![1]]);
        assert_eq!(by_tag(["x:{t1}:a"]), vec![vec![0]]);
    }
}
