//! What one access-log line costs the worker that writes it: through env_logger to
//! stderr (the access log before the writer thread), and queued for the writer thread
//! (`metrics::access_writer`), which formats the same frame and writes it buffered.
//!
//! `cargo run --release -p brisk-kit --example access_log_cost 2>/dev/null`
//!
//! (stderr to /dev/null or a file: a terminal measures the terminal.) Two threads, as
//! two workers, write 100,000 lines each as fast as they can (far above any request
//! rate: the queue overflows by design); the figures are the time per line on the
//! writing threads, the lines the writer dropped, and the lines per second it wrote.

use brisk_kit::metrics::access_writer;
use brisk_kit::metrics::logging::{self, LineFormat};
use std::time::{Duration, Instant};

const THREADS: usize = 2;
const LINES: usize = 100_000;

fn line(t: usize, i: usize) -> String {
    format!(
        "request_id=t{t}-{i} client=203.0.113.9 method=GET route=/api/catalog path=/api/catalog \
         status=200 elapsed_ms=0.412 statements=0 db_ms=0.000 cache=hit"
    )
}

/// Nanoseconds per line on `THREADS` threads each writing `LINES` lines with `write`.
fn per_line(write: impl Fn(&str) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let write = &write;
            s.spawn(move || {
                for i in 0..LINES {
                    write(&line(t, i));
                }
            });
        }
    });
    started.elapsed().as_nanos() as f64 / (THREADS * LINES) as f64
}

fn main() {
    logging::init(LineFormat::Text);
    let direct = per_line(|l| log::info!(target: "brisk::access", "{l}"));
    let started = Instant::now();
    let queued = per_line(|l| {
        access_writer::send_global(l);
    });
    access_writer::flush_global(Duration::from_secs(30));
    let dropped = access_writer::dropped_total();
    let written = (THREADS * LINES) as f64 - dropped as f64;
    let rate = written / started.elapsed().as_secs_f64();
    println!(
        "{THREADS} threads x {LINES} lines: env_logger {direct:.0} ns/line; \
         writer thread {queued:.0} ns/line on the writing threads, \
         {dropped} dropped by a full queue, {rate:.0} lines/s written"
    );
}
