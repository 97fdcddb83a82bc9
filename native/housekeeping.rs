//! Periodic work off the writer's path: consume-queue and index flush (store.md §4.6), the checkpoint (§4.5),
//! retention of old files and the disk watermarks (§8).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::checkpoint::Checkpoint;
use crate::error::{StoreError, StoreResult};
use crate::events::{notice, Notice};
use crate::store::{now_ms, Store};

/// The checkpoint file is written this often (`DefaultMessageStore#start`: every 1 s).
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// The first clean-up runs after this many clean-up intervals (60 s with the default 10 s interval).
const FIRST_CLEAN_AFTER_INTERVALS: u32 = 6;
/// At shutdown each consume queue gets this many flush attempts (`ConsumeQueueStore#flush`).
const SHUTDOWN_QUEUE_FLUSH_ATTEMPTS: usize = 3;

/// Shutdown signalling for the housekeeping thread, and a lock so only one clean-up runs at a time.
#[derive(Default)]
pub struct Control {
  stop: Mutex<bool>,
  wake: Condvar,
  clean_lock: Mutex<()>,
}

impl Control {
  fn wait(&self, d: Duration) -> bool {
    let stop = self.stop.lock().unwrap_or_else(|p| p.into_inner());
    if *stop {
      return true;
    }
    *self.wake.wait_timeout(stop, d).unwrap_or_else(|p| p.into_inner()).0
  }

  fn lock_clean(&self) -> MutexGuard<'_, ()> {
    self.clean_lock.lock().unwrap_or_else(|p| p.into_inner())
  }
}

pub fn shutdown(store: &Store) {
  *store.housekeeping.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
  store.housekeeping.wake.notify_all();
}

pub fn run(store: &Store) {
  let config = &store.config;
  let cq_interval = Duration::from_millis(config.flush_interval_consume_queue_ms);
  let cq_thorough = Duration::from_millis(config.flush_consume_queue_thorough_interval_ms);
  let clean_interval = Duration::from_millis(config.clean_resource_interval_ms);
  let tick = cq_interval.min(CHECKPOINT_INTERVAL).min(clean_interval);
  let started = Instant::now();
  let mut last_cq_flush = started;
  let mut last_cq_thorough = started;
  let mut last_checkpoint = started;
  let mut next_clean = started + (clean_interval * FIRST_CLEAN_AFTER_INTERVALS).min(Duration::from_secs(60));
  loop {
    if store.housekeeping.wait(tick) {
      return;
    }
    let now = Instant::now();
    if now - last_cq_flush >= cq_interval {
      last_cq_flush = now;
      let thorough = now - last_cq_thorough >= cq_thorough;
      if thorough {
        last_cq_thorough = now;
      }
      if let Err(e) = flush_queues(store, thorough) {
        report_write_error(store, &e);
      }
    }
    if now - last_checkpoint >= CHECKPOINT_INTERVAL {
      last_checkpoint = now;
      if let Err(e) = store.checkpoint.flush() {
        report_write_error(store, &StoreError::io("flush", store.checkpoint.path(), e));
      }
    }
    if now >= next_clean {
      next_clean = now + clean_interval;
      clean(store, false);
    }
  }
}

fn report_write_error(store: &Store, e: &StoreError) {
  let errno = e.errno().unwrap_or(libc::EIO);
  store.flags.set_write_error(errno);
  notice(&*store.events, Notice::WriteError, errno as f64, 0.0, 1.0);
}

/// Flushes consume queues (at least `flushConsumeQueueLeastPages` dirty pages, or all when `thorough`); a thorough
/// pass also flushes the index and moves the checkpoint's logics and index timestamps.
fn flush_queues(store: &Store, thorough: bool) -> StoreResult<()> {
  let least = if thorough { 0 } else { store.config.flush_consume_queue_least_pages };
  let dispatched_ts = store.last_dispatched_timestamp.load(Ordering::Acquire);
  for q in store.queues.all() {
    q.flush(least).map_err(|e| StoreError::io("flush consume queue", q.files().dir(), e))?;
  }
  if thorough {
    Checkpoint::advance(&store.checkpoint.logics_msg_timestamp, dispatched_ts);
    if let Some(index) = &store.index {
      let full_end = index.flush().map_err(|e| StoreError::io("flush index", Path::new("index"), e))?;
      if let Some(ts) = full_end {
        Checkpoint::advance(&store.checkpoint.index_msg_timestamp, ts);
      }
    }
  }
  Ok(())
}

/// Everything durable at shutdown: consume queues, index, checkpoint.
pub fn final_flush(store: &Store) -> StoreResult<()> {
  let dispatched_ts = store.last_dispatched_timestamp.load(Ordering::Acquire);
  for q in store.queues.all() {
    let mut result = Ok(());
    for _ in 0..SHUTDOWN_QUEUE_FLUSH_ATTEMPTS {
      result = q.flush(0);
      if result.is_ok() {
        break;
      }
    }
    result.map_err(|e| StoreError::io("flush consume queue", q.files().dir(), e))?;
  }
  Checkpoint::advance(&store.checkpoint.logics_msg_timestamp, dispatched_ts);
  if let Some(index) = &store.index {
    index.flush().map_err(|e| StoreError::io("flush index", Path::new("index"), e))?;
    if let Some(last) = index.last() {
      Checkpoint::advance(&store.checkpoint.index_msg_timestamp, last.end_timestamp());
    }
  }
  store.checkpoint.flush().map_err(|e| StoreError::io("flush", store.checkpoint.path(), e))
}

/// What one clean-up pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CleanReport {
  pub commit_log_deleted: u32,
  pub queue_segments_deleted: u32,
  pub index_files_deleted: u32,
  pub disk_usage_percent: f64,
  pub forced: bool,
}

/// Used fraction (percent) of the partition holding `path` (`UtilAll#getDiskPartitionSpaceUsedPercent`).
pub fn disk_usage_percent(path: &Path) -> Option<f64> {
  let (total, free) = disk_space(path)?;
  if total == 0 {
    return None;
  }
  Some((total - free) as f64 * 100.0 / total as f64)
}

/// (total, free) bytes of the partition holding `path`.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
  use std::os::unix::ffi::OsStrExt;
  let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
  let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
  // SAFETY: statvfs only writes into `s`.
  if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
    return None;
  }
  Some((s.f_blocks as u64 * s.f_frsize as u64, s.f_bfree as u64 * s.f_frsize as u64))
}

fn local_hour(ms: i64) -> u32 {
  let secs = (ms / 1000) as libc::time_t;
  let mut tm: libc::tm = unsafe { std::mem::zeroed() };
  // SAFETY: localtime_r only writes into `tm`.
  unsafe { libc::localtime_r(&secs, &mut tm) };
  tm.tm_hour as u32
}

/// One clean-up pass (store.md §8): watermarks first, then deletion of expired commit-log segments when it is
/// time (`deleteWhen`), space is short, or it was asked for (`manual`), then consume queues and index.
pub fn clean(store: &Store, manual: bool) -> CleanReport {
  let _guard = store.housekeeping.lock_clean();
  let config = &store.config;
  let usage = disk_usage_percent(&config.commit_log_dir())
    .into_iter()
    .chain(disk_usage_percent(&config.store_path_root_dir))
    .fold(0.0f64, f64::max);
  let mut report = CleanReport { disk_usage_percent: usage, ..CleanReport::default() };
  let mut clean_immediately = false;
  if usage > config.disk_space_warning_level_ratio as f64 {
    if !store.flags.disk_full.swap(true, Ordering::AcqRel) {
      notice(&*store.events, Notice::DiskFull, usage, 0.0, 0.0);
    }
    clean_immediately = true;
  } else {
    if usage > config.disk_space_clean_forcibly_ratio as f64 {
      clean_immediately = true;
    }
    if store.flags.disk_full.swap(false, Ordering::AcqRel) {
      notice(&*store.events, Notice::DiskOk, usage, 0.0, 0.0);
    }
  }
  let space_short = usage > config.disk_max_used_space_ratio as f64 || clean_immediately;
  let time_up = config.delete_when_hours.contains(&local_hour(now_ms()));
  if !(time_up || space_short || manual) {
    return report;
  }
  report.forced = clean_immediately && config.clean_file_forcibly_enable;
  let min_before = store.commit_log.min_offset();
  report.commit_log_deleted = delete_expired_commit_log(store, report.forced);
  let min_after = store.commit_log.min_offset();
  if let (Some(after), true) = (min_after, min_after != min_before) {
    for q in store.queues.all() {
      report.queue_segments_deleted += q.delete_expired(after) as u32;
    }
    if let Some(index) = &store.index {
      report.index_files_deleted = index.delete_expired(after) as u32;
    }
    notice(
      &*store.events,
      Notice::QueuesCleaned,
      report.queue_segments_deleted as f64,
      report.index_files_deleted as f64,
      after as f64,
    );
  }
  report
}

/// Deletes the oldest commit-log segments (never the newest) whose age passed `fileReservedTime`, or regardless
/// of age when `forced`, stopping at the first one that must stay (store.md §8.3).
fn delete_expired_commit_log(store: &Store, forced: bool) -> u32 {
  let config = &store.config;
  let expire_ms = config.file_reserved_time_hours as i64 * 3_600_000;
  let files = store.commit_log.snapshot();
  let now = now_ms();
  let mut deleted = 0u32;
  for f in files.iter().take(files.len().saturating_sub(1)) {
    if deleted >= config.delete_file_batch_max {
      break;
    }
    let expired = now >= f.last_modified_ms() + expire_ms;
    if !(expired || forced) {
      break;
    }
    store.commit_log.remove_first(1);
    deleted += 1;
    notice(&*store.events, Notice::CommitLogDeleted, f.file_from_offset() as f64, forced as i32 as f64, 0.0);
    if config.delete_commit_log_files_interval_ms > 0 {
      std::thread::sleep(Duration::from_millis(config.delete_commit_log_files_interval_ms));
    }
  }
  deleted
}
