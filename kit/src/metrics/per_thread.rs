//! Values kept once per recording thread and summed when read: what every request
//! writes (a route's counters and histograms) must not be one cache line that both
//! workers take turns owning. Each thread that records gets the next slot the first
//! time it records anything; with more threads than slots, threads share a slot (still
//! correct: each slot's fields are atomics or behind a mutex).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::LazyLock;

/// Slots per value: the machine's cores (at most 16). actix runs one worker per core
/// by default, so each worker records into a slot of its own.
static SLOTS: LazyLock<usize> = LazyLock::new(|| {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
});

/// The next slot to hand to a thread that records for the first time.
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
}

/// One `T` per slot, each on cache lines of its own.
pub struct PerThread<T> {
    slots: Box<[Padded<T>]>,
}

/// 128 bytes: two cache lines, as adjacent-line prefetching pairs them.
#[repr(align(128))]
struct Padded<T>(T);

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        Self::new_with(T::default)
    }
}

impl<T> PerThread<T> {
    /// One value per slot, each made by `make`.
    pub fn new_with(make: impl Fn() -> T) -> Self {
        Self {
            slots: (0..*SLOTS).map(|_| Padded(make())).collect(),
        }
    }

    /// The calling thread's value.
    pub fn local(&self) -> &T {
        let i = SLOT.with(|s| *s) % self.slots.len();
        &self.slots[i].0
    }

    /// Every slot's value, to sum.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|p| &p.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    #[test]
    fn counts_from_many_threads_sum_to_the_total() {
        let counts: Arc<PerThread<AtomicU64>> = Arc::default();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counts = Arc::clone(&counts);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counts.local().fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let total: u64 = counts.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 8000);
    }

    #[test]
    fn a_thread_keeps_its_slot() {
        let counts: PerThread<AtomicU64> = PerThread::default();
        let a = counts.local() as *const AtomicU64;
        let b = counts.local() as *const AtomicU64;
        assert_eq!(a, b);
    }
}
