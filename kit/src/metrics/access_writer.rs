//! The access log's writer: lines are formatted on the worker that served the request
//! and handed through a bounded channel to one dedicated thread, which writes them
//! through a 64 KiB buffer in rounds: a line waits at most about one [`ROUND`] under
//! traffic, and none when the log was idle. A request never waits on the log: when the
//! channel is full (the writer cannot keep up with the output), its line is dropped
//! and counted ([`dropped_total`], exported as `brisk_access_log_dropped_total`).
//!
//! `logging::init` installs the process's writer on stderr ([`install`]); the drain
//! flushes it before the process exits ([`flush_global`]). Without one installed (the
//! kit's own tests, an application that sets up logging itself) access lines go
//! through the `log` facade as before.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Lines the channel holds before new ones are dropped: about 2 MB of lines, several
/// seconds of the heaviest traffic this server has measured (a round takes ~250).
pub const CAPACITY: usize = 16 * 1024;
/// The writer's pause between rounds under traffic: about the longest a line waits
/// before it is written (at 25k lines a second, a round writes ~250 lines at once).
pub const ROUND: Duration = Duration::from_millis(10);

enum Msg {
    Line(String),
    Flush(SyncSender<()>),
}

/// A handle on one writer thread; clone freely.
#[derive(Clone)]
pub struct AccessWriter {
    tx: SyncSender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl AccessWriter {
    /// Starts the writer thread on `sink` with a channel of `capacity` lines.
    pub fn spawn(sink: Box<dyn Write + Send>, capacity: usize) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(capacity);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || run(rx, sink))?;
        Ok(Self {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues one line (without its newline); never blocks. False when it was dropped
    /// (and counted): the channel was full or the writer is gone.
    pub fn send(&self, line: String) -> bool {
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most `timeout`) until every line queued before this call is written
    /// and flushed. False when the time ran out.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (ack, done) = mpsc::sync_channel(1);
        let mut msg = Msg::Flush(ack);
        // The queue may be full: retry until it has room (at shutdown, not per request).
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        done.recv_timeout(left).is_ok()
    }
}

/// The writer thread. Under traffic it works in rounds: take every queued line, write
/// them, flush, then sleep [`ROUND`]; senders never wake it then (a `try_send` to a
/// receiver that is not parked is a few atomics, where waking a parked one is a futex
/// call and a context switch per line: that was most of the access log's cost).
/// A round that found nothing parks it until the next line.
fn run(rx: Receiver<Msg>, sink: Box<dyn Write + Send>) {
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    loop {
        let mut taken = 0usize;
        loop {
            match rx.try_recv() {
                Ok(msg) => {
                    handle(&mut out, msg);
                    taken += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    let _ = out.flush();
                    return;
                }
            }
        }
        // A failed flush (stderr closed) loses lines, never the server.
        let _ = out.flush();
        if taken > 0 {
            std::thread::sleep(ROUND);
            continue;
        }
        match rx.recv_timeout(Duration::from_secs(3600)) {
            Ok(msg) => handle(&mut out, msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Writes one line, or answers a flush request once everything before it is out.
fn handle(out: &mut BufWriter<Box<dyn Write + Send>>, msg: Msg) {
    match msg {
        Msg::Line(line) => {
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
        Msg::Flush(ack) => {
            let _ = out.flush();
            let _ = ack.send(());
        }
    }
}

/// Frames an access line as the process's logger frames its own lines.
pub type Frame = fn(&str) -> String;

static GLOBAL: OnceLock<(AccessWriter, Frame)> = OnceLock::new();

/// Installs the process's writer and its framing (once; later calls do nothing).
pub fn install(writer: AccessWriter, frame: Frame) {
    let _ = GLOBAL.set((writer, frame));
}

/// Queues an access line on the installed writer, framed; `false` when no writer is
/// installed (the caller logs the line itself).
pub fn send_global(line: &str) -> bool {
    let Some((writer, frame)) = GLOBAL.get() else {
        return false;
    };
    writer.send(frame(line));
    true
}

/// `[<second> INFO  brisk::access] <line>`: env_logger's text frame, its second
/// stamp formatted once per second per thread.
pub fn text_frame(line: &str) -> String {
    let mut framed = String::with_capacity(line.len() + 48);
    framed.push('[');
    with_second_stamp(|ts| framed.push_str(ts));
    framed.push_str(" INFO  brisk::access] ");
    framed.push_str(line);
    framed
}

/// Calls `f` with the current second as env_logger writes it
/// (`2026-01-02T03:04:05Z`), formatted once per second per thread.
fn with_second_stamp(f: impl FnOnce(&str)) {
    thread_local! {
        static STAMP: std::cell::RefCell<(i64, String)> = const {
            std::cell::RefCell::new((i64::MIN, String::new()))
        };
    }
    let now = chrono::Utc::now();
    STAMP.with(|cell| {
        let mut stamp = cell.borrow_mut();
        if stamp.0 != now.timestamp() {
            *stamp = (
                now.timestamp(),
                now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            );
        }
        f(&stamp.1);
    });
}

/// Lines the installed writer dropped (0 without one).
pub fn dropped_total() -> u64 {
    GLOBAL.get().map_or(0, |(w, _)| w.dropped())
}

/// Flushes the installed writer (at most `timeout`): the drain's last step, so the
/// last requests' lines are not lost at exit.
pub fn flush_global(timeout: Duration) {
    if let Some((writer, _)) = GLOBAL.get() {
        if !writer.flush(timeout) {
            log::warn!("access log: lines still queued at exit could not be written");
        }
    }
}

#[cfg(test)]
#[path = "access_writer_tests.rs"]
mod tests;
