//! The standard `process_*` metrics (the names every Prometheus client library
//! exports, so dashboards and alerts written for them work unchanged), read from
//! Linux's `/proc` at each scrape. On a system without `/proc` only the start time
//! is exported.

/// Clock ticks per second of `/proc/PID/stat`'s CPU times: `USER_HZ`, 100 on every
/// Linux architecture brisk builds for (the Go and Python clients assume it too).
const USER_HZ: f64 = 100.0;

/// One reading of the process.
#[derive(Debug, Default, PartialEq)]
struct Reading {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    start_unix: Option<f64>,
}

/// One `process_*` family with its one sample: name, type, help, value.
pub(super) type ProcessSample = (&'static str, &'static str, &'static str, f64);

/// The `process_*` families this system can tell; `started_unix_ms` stands in for
/// the start time when `/proc` cannot tell it.
pub(super) fn samples(started_unix_ms: u64) -> Vec<ProcessSample> {
    let r = read_self();
    let start = r.start_unix.unwrap_or(started_unix_ms as f64 / 1000.0);
    let rows: [(&str, &str, &str, Option<f64>); 6] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            r.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            r.resident_bytes.map(|b| b as f64),
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            r.virtual_bytes.map(|b| b as f64),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            r.open_fds.map(|n| n as f64),
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            r.max_fds.map(|n| n as f64),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            Some(start),
        ),
    ];
    rows.into_iter()
        .filter_map(|(name, kind, help, value)| Some((name, kind, help, value?)))
        .collect()
}

/// Reads this process from `/proc/self` (and the boot time from `/proc/stat`).
fn read_self() -> Reading {
    let text = |p: &str| std::fs::read_to_string(p).ok();
    let mut r = Reading::default();
    if let Some(stat) = text("/proc/self/stat") {
        let boot = text("/proc/stat").and_then(|s| boot_time(&s));
        (r.cpu_seconds, r.start_unix) = parse_stat(&stat, boot);
    }
    if let Some(status) = text("/proc/self/status") {
        r.resident_bytes = status_kib(&status, "VmRSS:").map(|k| k * 1024);
        r.virtual_bytes = status_kib(&status, "VmSize:").map(|k| k * 1024);
    }
    r.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    r.max_fds = text("/proc/self/limits").and_then(|l| max_open_files(&l));
    r
}

/// CPU seconds (user + system) and, given the boot time, the start time in Unix
/// seconds, from `/proc/PID/stat`. Its second field (the command) may hold spaces
/// and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str, boot_unix: Option<u64>) -> (Option<f64>, Option<f64>) {
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return (None, None);
    };
    // Fields from 3 (state) on: utime is field 14, stime 15, starttime 22.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let cpu = match (field(14), field(15)) {
        (Some(u), Some(s)) => Some((u + s) as f64 / USER_HZ),
        _ => None,
    };
    let start = match (field(22), boot_unix) {
        (Some(ticks), Some(boot)) => Some(boot as f64 + ticks as f64 / USER_HZ),
        _ => None,
    };
    (cpu, start)
}

/// `btime` of `/proc/stat`: the boot time in Unix seconds.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// A `kB` line of `/proc/PID/status` (`VmRSS:`, `VmSize:`), in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/PID/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_start_are_read_after_a_command_with_spaces_and_parentheses() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    250 50 0 0 20 0 9 0 12345 1000000 2000 18446744073709551615";
        let (cpu, start) = parse_stat(stat, Some(1_700_000_000));
        assert_eq!(cpu, Some(3.0), "(250 + 50) ticks at 100 Hz");
        assert_eq!(start, Some(1_700_000_123.45));
        assert_eq!(parse_stat("garbage", None), (None, None));
    }

    #[test]
    fn memory_limits_and_boot_time_are_parsed_from_their_files() {
        let status = "Name:\tbrisk\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(2048));
        assert_eq!(status_kib(status, "VmSize:"), Some(123_456));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn this_process_is_read_from_proc() {
        let read = samples(0);
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_start_time_seconds",
        ] {
            let v = read
                .iter()
                .find(|s| s.0 == name)
                .unwrap_or_else(|| panic!("{name} missing in {read:?}"))
                .3;
            assert!(
                v > 0.0 || name == "process_cpu_seconds_total",
                "{name} = {v}"
            );
        }
    }
}
