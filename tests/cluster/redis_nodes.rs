//! The local Redis Cluster's nodes (scripts/redis-cluster.sh: 127.0.0.1:7001-7006), as
//! the failover test sees them through `redis-cli`: which master serves a hash tag's
//! slot, a node's pid, and healing the cluster afterwards.

use crate::harness::root;
use std::process::Command;

/// The nodes' ports.
pub const PORTS: [u16; 6] = [7001, 7002, 7003, 7004, 7005, 7006];

/// `redis-cli -p PORT args...`'s output, `None` when the node does not answer.
fn cli_on(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty() && !text.starts_with("Could not connect"))
        .then_some(text)
}

/// `args` on the first node that answers.
fn cli(args: &[&str]) -> String {
    PORTS
        .iter()
        .find_map(|&p| cli_on(p, args))
        .unwrap_or_else(|| panic!("no Redis Cluster node answers redis-cli {args:?}"))
}

/// The slot of hash tag `tag` (the text between a key's braces).
pub fn slot(tag: &str) -> u16 {
    cli(&["cluster", "keyslot", tag])
        .parse()
        .expect("a slot number")
}

/// The port of the master serving `slot` in the cluster's current view (asked of a
/// node that answers), `None` when no healthy master serves it.
pub fn master_of(slot: u16) -> Option<u16> {
    let nodes = cli(&["cluster", "nodes"]);
    nodes.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (addr, flags) = (fields.get(1)?, fields.get(2)?);
        if !flags.contains("master") || flags.contains("fail") {
            return None;
        }
        let serves = fields[8..].iter().any(|range| {
            let mut ends = range.split('-').map(|n| n.parse::<u16>().ok());
            match (ends.next().flatten(), ends.next()) {
                (Some(a), None) => a == slot,
                (Some(a), Some(Some(b))) => (a..=b).contains(&slot),
                _ => false,
            }
        });
        serves.then(|| addr.split(['@', ':']).nth(1)?.parse().ok())?
    })
}

/// The pid of the node on `port`.
pub fn pid(port: u16) -> u32 {
    let info = cli_on(port, &["info", "server"]).expect("the node answers");
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("process_id in INFO")
}

/// True when every node answers `cluster_state:ok` and every replica has synced with
/// its master (`scripts/redis-cluster.sh`'s `healthy`).
pub fn healthy() -> bool {
    PORTS.iter().all(|&p| {
        let ok = cli_on(p, &["cluster", "info"]).is_some_and(|i| i.contains("cluster_state:ok"));
        let replication = cli_on(p, &["info", "replication"]).unwrap_or_default();
        let synced =
            !replication.contains("role:slave") || replication.contains("master_link_status:up");
        ok && synced
    })
}

/// `scripts/redis-cluster.sh heal`: restarts stopped nodes (they rejoin as replicas)
/// and waits until all six answer `cluster_state:ok`.
pub fn heal() {
    let out = Command::new(root().join("scripts/redis-cluster.sh"))
        .arg("heal")
        .output()
        .expect("run scripts/redis-cluster.sh heal");
    assert!(out.status.success(), "heal failed: {out:?}");
}

/// Heals the cluster when dropped, the test passed or not (a failed heal is printed:
/// a panic while unwinding would abort the suite).
pub struct HealOnDrop;

impl Drop for HealOnDrop {
    fn drop(&mut self) {
        let out = Command::new(root().join("scripts/redis-cluster.sh"))
            .arg("heal")
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            other => eprintln!("scripts/redis-cluster.sh heal failed: {other:?}"),
        }
    }
}
