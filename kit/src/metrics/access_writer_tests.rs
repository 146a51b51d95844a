use super::*;
use brisk_testkit::wait::poll_until;
use std::sync::{Condvar, Mutex};

/// A sink whose bytes the test reads back; while `gate` is closed, a write blocks (a
/// terminal or pipe that stopped reading).
#[derive(Clone, Default)]
struct Sink {
    bytes: Arc<Mutex<Vec<u8>>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    writes_started: Arc<AtomicU64>,
}

impl Sink {
    fn closed() -> Self {
        let s = Self::default();
        *s.gate.0.lock().unwrap() = true;
        s
    }
    fn open(&self) {
        *self.gate.0.lock().unwrap() = false;
        self.gate.1.notify_all();
    }
    fn lines(&self) -> Vec<String> {
        let bytes = self.bytes.lock().unwrap();
        String::from_utf8(bytes.clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writes_started.fetch_add(1, Ordering::SeqCst);
        let (closed, cv) = &*self.gate;
        let mut closed = closed.lock().unwrap();
        while *closed {
            closed = cv.wait(closed).unwrap();
        }
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn line(i: usize) -> String {
    format!(
        "request_id=r{i} method=GET route=/api/catalog status=200 {}",
        "x".repeat(i % 300)
    )
}

#[test]
fn lines_from_many_threads_arrive_complete_and_each_threads_in_order() {
    let sink = Sink::default();
    let writer = AccessWriter::spawn(Box::new(sink.clone()), 256).unwrap();
    // 4 threads x 5,000 lines through a 256-line channel: senders back off on a full
    // channel only to keep this test lossless; the drop path has its own test.
    std::thread::scope(|s| {
        for t in 0..4 {
            let w = writer.clone();
            s.spawn(move || {
                for i in 0..5_000 {
                    let l = format!("t{t} {}", line(i));
                    while !w.send(l.clone()) {
                        std::thread::yield_now();
                    }
                }
            });
        }
    });
    assert!(writer.flush(Duration::from_secs(10)), "flushed");
    let lines = sink.lines();
    assert_eq!(lines.len(), 20_000);
    for t in 0..4 {
        let prefix = format!("t{t} ");
        let own: Vec<&String> = lines.iter().filter(|l| l.starts_with(&prefix)).collect();
        let expected: Vec<String> = (0..5_000).map(|i| format!("t{t} {}", line(i))).collect();
        assert!(own
            .iter()
            .map(|l| l.as_str())
            .eq(expected.iter().map(String::as_str)));
    }
}

#[test]
fn a_line_is_written_without_an_explicit_flush_once_the_channel_is_idle() {
    let sink = Sink::default();
    let writer = AccessWriter::spawn(Box::new(sink.clone()), 16).unwrap();
    assert!(writer.send(line(1)));
    assert!(poll_until(Duration::from_secs(5), || sink.lines() == [line(1)]));
}

#[test]
fn a_full_channel_drops_and_counts_lines_instead_of_blocking_the_sender() {
    let sink = Sink::closed();
    let capacity = 8;
    let writer = AccessWriter::spawn(Box::new(sink.clone()), capacity).unwrap();
    assert!(writer.send(line(0)));
    // The writer took line 0 and is stuck writing it to the closed sink.
    assert!(poll_until(Duration::from_secs(5), || {
        sink.writes_started.load(Ordering::SeqCst) > 0
    }));
    let started = Instant::now();
    let sent: Vec<bool> = (1..=100).map(|i| writer.send(line(i))).collect();
    // Never blocked: 100 sends against a stuck writer return at once.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sent.iter().filter(|s| **s).count(), capacity);
    assert!(sent[..capacity].iter().all(|s| *s), "the first ones fit");
    assert_eq!(writer.dropped(), 100 - capacity as u64);
    sink.open();
    assert!(writer.flush(Duration::from_secs(5)));
    let expected: Vec<String> = (0..=capacity).map(line).collect();
    assert_eq!(
        sink.lines(),
        expected,
        "the queued lines, whole and in order"
    );
}

#[test]
fn the_last_lines_are_written_when_the_last_handle_goes_away() {
    let sink = Sink::default();
    let writer = AccessWriter::spawn(Box::new(sink.clone()), 64).unwrap();
    for i in 0..50 {
        assert!(writer.send(line(i)));
    }
    drop(writer);
    let expected: Vec<String> = (0..50).map(line).collect();
    assert!(poll_until(Duration::from_secs(5), || sink.lines() == expected));
}
