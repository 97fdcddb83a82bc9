//! Commit-log flushing (store.md §4): group commit for `SYNC_FLUSH` (`GroupCommitService`) and the periodic
//! flush for `ASYNC_FLUSH` (`FlushRealTimeService`). Both run on their own thread, never the JavaScript one.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::checkpoint::Checkpoint;
use crate::events::{notice, Notice};
use crate::status::PutStatus;
use crate::store::Store;

/// The group-commit worker wakes at least this often (`GroupCommitService`: 10 ms).
const GROUP_COMMIT_WAIT: Duration = Duration::from_millis(10);
/// A flush slower than this is reported.
const SLOW_FLUSH_MS: u128 = 500;
/// At shutdown the async flusher tries this many final passes (`FlushRealTimeService#run`).
const SHUTDOWN_FLUSH_PASSES: usize = 10;

/// A job waiting for its bytes to become durable.
pub struct FlushRequest {
  end_offset: i64,
  submitted_at: Instant,
  deadline: Instant,
  event: Vec<f64>,
  status_positions: Vec<usize>,
}

impl FlushRequest {
  pub fn new(
    end_offset: i64,
    submitted_at: Instant,
    timeout_ms: u64,
    event: Vec<f64>,
    status_positions: Vec<usize>,
  ) -> Self {
    FlushRequest {
      end_offset,
      submitted_at,
      deadline: submitted_at + Duration::from_millis(timeout_ms),
      event,
      status_positions,
    }
  }
}

struct State {
  /// Requests not completed yet, in submission order. Completed exactly once, by whoever removes them: the
  /// group-commit worker when durable, or the watchdog at the deadline.
  pending: VecDeque<FlushRequest>,
  shutdown: bool,
}

pub struct FlushService {
  sync: bool,
  state: Mutex<State>,
  /// Wakes the group-commit worker (new requests, shutdown).
  wake: Condvar,
  /// Wakes the watchdog (shutdown only; otherwise it ticks).
  watch: Condvar,
}

impl FlushService {
  pub fn new(sync: bool) -> FlushService {
    FlushService {
      sync,
      state: Mutex::new(State { pending: VecDeque::new(), shutdown: false }),
      wake: Condvar::new(),
      watch: Condvar::new(),
    }
  }

  pub fn is_sync(&self) -> bool {
    self.sync
  }

  fn lock(&self) -> MutexGuard<'_, State> {
    self.state.lock().unwrap_or_else(|p| p.into_inner())
  }

  pub fn submit(&self, request: FlushRequest) {
    self.lock().pending.push_back(request);
    self.wake.notify_one();
  }

  pub fn shutdown(&self) {
    self.lock().shutdown = true;
    self.wake.notify_all();
    self.watch.notify_all();
  }

  /// Waits up to `timeout` for work or shutdown; returns the highest end offset waited for and whether to stop.
  fn wait(&self, timeout: Duration) -> (i64, bool) {
    let mut s = self.lock();
    if s.pending.is_empty() && !s.shutdown {
      s = self.wake.wait_timeout(s, timeout).unwrap_or_else(|p| p.into_inner()).0;
    }
    (s.pending.iter().map(|r| r.end_offset).max().unwrap_or(0), s.shutdown)
  }

  /// Removes the requests `done` says are finished.
  fn take(&self, done: impl Fn(&FlushRequest) -> bool) -> Vec<FlushRequest> {
    let mut s = self.lock();
    let (finished, waiting): (VecDeque<_>, VecDeque<_>) = s.pending.drain(..).partition(|r| done(r));
    s.pending = waiting;
    finished.into()
  }

  fn is_idle_and_stopping(&self) -> bool {
    let s = self.lock();
    s.shutdown && s.pending.is_empty()
  }
}

pub fn run(store: &Arc<Store>) {
  if store.flush.sync {
    group_commit(store);
  } else {
    periodic(store);
  }
}

/// Flushes segment after segment until `target` is durable or no progress is made. Returns the flushed offset,
/// or `Err(errno)` after marking the store unwriteable.
fn flush_to(store: &Store, target: i64, least_pages: u64) -> Result<i64, i32> {
  let started = Instant::now();
  let mut flushed = store.commit_log.flushed_where();
  let mut did_flush = false;
  loop {
    let at = store.commit_log.flushed_where();
    let segment = store.commit_log.find(at).or_else(|| store.commit_log.first());
    let (ts, wrote) = match &segment {
      // Timestamp first, then position: the position then covers the record with that timestamp.
      Some(s) => (s.last_store_timestamp(), s.wrote()),
      None => (0, 0),
    };
    let now = match store.commit_log.flush(least_pages) {
      Ok(o) => o,
      Err(e) => {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        store.flags.set_write_error(errno);
        notice(&*store.events, Notice::WriteError, errno as f64, at as f64, 0.0);
        return Err(errno);
      }
    };
    if let Some(s) = &segment {
      if s.flushed() >= wrote && ts > 0 {
        Checkpoint::advance(&store.checkpoint.physic_msg_timestamp, ts);
      }
    }
    if now > flushed {
      did_flush = true;
    }
    if now == flushed || now >= target {
      flushed = now;
      break;
    }
    flushed = now;
  }
  if did_flush {
    let elapsed = started.elapsed();
    store.stats.record_flush(elapsed.as_micros() as u64);
    if elapsed.as_millis() > SLOW_FLUSH_MS {
      notice(&*store.events, Notice::SlowFlush, elapsed.as_millis() as f64, 0.0, 0.0);
    }
  }
  Ok(flushed)
}

fn complete(store: &Store, mut request: FlushRequest, durable: bool) {
  if !durable {
    for &pos in &request.status_positions {
      if request.event[pos] == PutStatus::PutOk.code() as f64 {
        request.event[pos] = PutStatus::FlushDiskTimeout.code() as f64;
      }
    }
  }
  store.stats.put_latency_us.record(request.submitted_at.elapsed().as_micros() as u64);
  store.events.post(&request.event);
}

/// `SYNC_FLUSH`: one flush serves every request waiting at that moment; each completes when the flushed offset
/// passes its end (store.md §4.2). The watchdog answers `FLUSH_DISK_TIMEOUT` at each deadline meanwhile.
fn group_commit(store: &Store) {
  loop {
    let (target, shutdown) = store.flush.wait(GROUP_COMMIT_WAIT);
    if target > 0 {
      let stall_ms = store.stall_next_flush_ms.swap(0, std::sync::atomic::Ordering::AcqRel);
      if stall_ms > 0 {
        // Test hook: a disk that takes this long to answer.
        std::thread::sleep(Duration::from_millis(stall_ms));
      }
    }
    let outcome = flush_to(store, target.max(store.commit_log.max_offset()), 0);
    let finished = match outcome {
      Ok(flushed) => store.flush.take(|r| r.end_offset <= flushed),
      Err(_) => Vec::new(),
    };
    for r in finished {
      complete(store, r, true);
    }
    if outcome.is_err() || shutdown {
      // A failed flush will not confirm anything: answer now instead of at the deadlines.
      for r in store.flush.take(|_| true) {
        complete(store, r, false);
      }
    }
    if store.flush.is_idle_and_stopping() {
      return;
    }
  }
}

/// `FlushDiskWatcher`: completes requests still waiting at their deadline with `FLUSH_DISK_TIMEOUT`, even while the
/// group-commit worker is stuck in a slow flush.
pub fn watchdog(store: &Store) {
  loop {
    let stopping = {
      let s = store.flush.lock();
      let s = if s.shutdown {
        s
      } else {
        store.flush.watch.wait_timeout(s, GROUP_COMMIT_WAIT).unwrap_or_else(|p| p.into_inner()).0
      };
      s.shutdown
    };
    let now = Instant::now();
    for r in store.flush.take(|r| r.deadline <= now) {
      complete(store, r, false);
    }
    if stopping {
      return;
    }
  }
}

/// `ASYNC_FLUSH`: every `flushIntervalCommitLog`, flush when at least `flushCommitLogLeastPages` pages are dirty,
/// and everything every `flushCommitLogThoroughInterval` (store.md §4.3).
fn periodic(store: &Store) {
  let config = &store.config;
  let interval = Duration::from_millis(config.flush_interval_commit_log_ms);
  let thorough = Duration::from_millis(config.flush_commit_log_thorough_interval_ms);
  let mut last_thorough = Instant::now();
  loop {
    let (_, shutdown) = store.flush.wait(interval);
    if shutdown {
      break;
    }
    let mut least_pages = config.flush_commit_log_least_pages;
    if last_thorough.elapsed() >= thorough {
      least_pages = 0;
      last_thorough = Instant::now();
    }
    if flush_to(store, store.commit_log.max_offset(), least_pages).is_err() {
      // The store is now unwriteable and TypeScript has been told; keep the thread for shutdown.
      continue;
    }
  }
  for _ in 0..SHUTDOWN_FLUSH_PASSES {
    let before = store.commit_log.flushed_where();
    match flush_to(store, store.commit_log.max_offset(), 0) {
      Ok(after) if after > before => continue,
      _ => break,
    }
  }
}
