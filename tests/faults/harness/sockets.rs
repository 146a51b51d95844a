//! A process's TCP sockets as its kernel sees them (`/proc/PID/fd` and
//! `/proc/PID/net/tcp`): which connections a server holds, to whom, and in what
//! state. Server-side evidence for the scenarios: a connection the server accepted
//! is `ESTABLISHED`; one whose client closed it while the server has not yet is
//! `CLOSE_WAIT` (the server's socket received the client's FIN).

use std::collections::BTreeSet;

/// `/proc/net/tcp` state of an open connection.
pub const ESTABLISHED: u8 = 0x01;
/// `/proc/net/tcp` state of a connection the peer closed and this side has not yet.
pub const CLOSE_WAIT: u8 = 0x08;

/// One IPv4 TCP socket of a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    /// Its local port.
    pub local: u16,
    /// The peer's port (0 for a listener).
    pub remote: u16,
    /// Its state, as in `/proc/net/tcp` ([`ESTABLISHED`], [`CLOSE_WAIT`], …).
    pub state: u8,
}

/// The IPv4 TCP sockets `pid` has open. `/proc/PID/net/tcp` lists the whole network
/// namespace, so only the rows whose inode is one of the process's fds are kept. The
/// kernel writes that table in chunks while connections come and go, so a socket can
/// be listed twice in one read: each (local, remote) pair is kept once.
pub fn sockets_of(pid: u32) -> Vec<Socket> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| {
                let link = std::fs::read_link(e.ok()?.path()).ok()?;
                let link = link.to_string_lossy();
                Some(
                    link.strip_prefix("socket:[")?
                        .strip_suffix(']')?
                        .to_string(),
                )
            })
            .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let port = |field: &str| u16::from_str_radix(field.rsplit(':').next()?, 16).ok();
    let rows: std::collections::BTreeMap<(u16, u16), Socket> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if !inodes.contains(*f.get(9)?) {
                return None;
            }
            let socket = Socket {
                local: port(f.get(1)?)?,
                remote: port(f.get(2)?)?,
                state: u8::from_str_radix(f.get(3)?, 16).ok()?,
            };
            Some(((socket.local, socket.remote), socket))
        })
        .collect();
    rows.into_values().collect()
}

/// How many connections `pid` holds on its local `port` in `state`.
pub fn count_on_port(pid: u32, port: u16, state: u8) -> usize {
    sockets_of(pid)
        .iter()
        .filter(|s| s.local == port && s.remote != 0 && s.state == state)
        .count()
}
