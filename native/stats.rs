//! Counters the store keeps for `stats()`; all relaxed atomics, read without stopping the writer.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a log2 histogram in microseconds: bucket i counts values in [2^(i-1), 2^i) µs (bucket 0: < 1 µs).
pub const HISTOGRAM_BUCKETS: usize = 32;

pub struct Histogram([AtomicU64; HISTOGRAM_BUCKETS]);

impl Default for Histogram {
  fn default() -> Self {
    Histogram(std::array::from_fn(|_| AtomicU64::new(0)))
  }
}

impl Histogram {
  pub fn bucket_of(us: u64) -> usize {
    ((64 - us.leading_zeros()) as usize).min(HISTOGRAM_BUCKETS - 1)
  }

  pub fn record(&self, us: u64) {
    self.0[Histogram::bucket_of(us)].fetch_add(1, Ordering::Relaxed);
  }

  pub fn snapshot(&self) -> Vec<f64> {
    self.0.iter().map(|b| b.load(Ordering::Relaxed) as f64).collect()
  }
}

#[derive(Default)]
pub struct Stats {
  pub put_messages: AtomicU64,
  pub put_bytes: AtomicU64,
  pub put_jobs: AtomicU64,
  /// Latency of each submitted job, from submit to completion (flush included with SYNC_FLUSH).
  pub put_latency_us: Histogram,
  pub put_failures: AtomicU64,
  pub busy_refusals: AtomicU64,
  pub slow_puts: AtomicU64,
  pub flushes: AtomicU64,
  pub flush_latency_us: Histogram,
  pub flush_us_total: AtomicU64,
  pub flush_us_max: AtomicU64,
  pub get_calls: AtomicU64,
  pub get_messages: AtomicU64,
  pub get_bytes: AtomicU64,
  pub get_async: AtomicU64,
}

impl Stats {
  pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
  }

  pub fn get(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
  }

  pub fn record_flush(&self, us: u64) {
    Stats::add(&self.flushes, 1);
    self.flush_latency_us.record(us);
    Stats::add(&self.flush_us_total, us);
    self.flush_us_max.fetch_max(us, Ordering::Relaxed);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn buckets_are_log2_microseconds() {
    assert_eq!(Histogram::bucket_of(0), 0);
    assert_eq!(Histogram::bucket_of(1), 1);
    assert_eq!(Histogram::bucket_of(3), 2);
    assert_eq!(Histogram::bucket_of(1024), 11);
    assert_eq!(Histogram::bucket_of(u64::MAX), HISTOGRAM_BUCKETS - 1);
  }
}
