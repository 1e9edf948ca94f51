//! A memory budget shared by the decoding jobs, so that peak memory is bounded by design rather
//! than by `--jobs` times the largest image.
//!
//! Before a job reads a file it estimates what reading and decoding it will cost (file size plus
//! the decoder's buffers, from the dimensions declared in the file's header) and reserves that
//! much; it waits while other jobs hold the rest. A request is made once, for the whole amount, so
//! no job ever waits while holding a part (no deadlock), and a request larger than the whole budget
//! is refused up front: that image is skipped with a reason instead of being decoded. With one big
//! image and many small ones the big one simply runs with fewer neighbours.

use std::sync::{Condvar, Mutex};

pub struct MemoryBudget {
    total: u64,
    free: Mutex<u64>,
    released: Condvar,
}

/// Memory held by one job; given back when dropped.
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    pub fn new(total: u64) -> Self {
        Self { total, free: Mutex::new(total), released: Condvar::new() }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Waits until `bytes` are free and takes them; `Err` with the budget when it can never fit.
    pub fn reserve(&self, bytes: u64) -> Result<Reservation<'_>, u64> {
        if bytes > self.total {
            return Err(self.total);
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free < bytes {
            free = self.released.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= bytes;
        Ok(Reservation { budget: self, bytes })
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut free = self.budget.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += self.bytes;
        self.budget.released.notify_all();
    }
}

/// `bytes` for people: "840 MB".
pub fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes.div_ceil(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn never_hands_out_more_than_the_total() {
        let budget = MemoryBudget::new(100);
        assert_eq!(budget.reserve(101).err(), Some(100));
        let in_use = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        std::thread::scope(|s| {
            for i in 0..8u64 {
                let (budget, in_use, peak) = (&budget, &in_use, &peak);
                s.spawn(move || {
                    for _ in 0..50 {
                        let want = 10 + (i * 13) % 90;
                        let _r = budget.reserve(want).unwrap();
                        let now = in_use.fetch_add(want, Ordering::SeqCst) + want;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        in_use.fetch_sub(want, Ordering::SeqCst);
                    }
                });
            }
        });
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak <= 100 && peak > 0, "peak {peak}");
        assert_eq!(*budget.free.lock().unwrap(), 100, "everything given back");
    }
}
