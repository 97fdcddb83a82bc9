//! Start-up recovery (store.md §7): consume queues first, then the commit log from a safe starting segment,
//! checking every record (with its body CRC), re-dispatching what the consume queues and index miss, and
//! truncating whatever follows the last valid record.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::consume_queue::Unit;
use crate::error::{StoreError, StoreResult};
use crate::mapped_file::MappedFile;
use crate::record::{self, Check, InvalidReason, Layout};
use crate::store::Store;
use crate::writer::{consume_queue_tags_code, count_index_keys, put_index_keys};

/// What recovery found; TypeScript logs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecoveryReport {
  pub last_exit_ok: bool,
  /// First byte scanned.
  pub start_offset: i64,
  /// End of the last valid record: the commit log continues from here.
  pub process_offset: i64,
  pub records_scanned: u64,
  pub records_dispatched: u64,
  /// Where scanning stopped on something that was not a record, and why (`None` at a clean end).
  pub invalid: Option<(i64, InvalidReason)>,
  pub consume_queues: u32,
  pub elapsed_ms: u64,
}

/// Recovers in place, before any thread starts.
pub fn recover(store: &Store, last_exit_ok: bool) -> StoreResult<RecoveryReport> {
  let started = Instant::now();
  let mut report = RecoveryReport { last_exit_ok, ..RecoveryReport::default() };
  let queues = store.queues.all();
  for q in &queues {
    q.recover()?;
  }
  report.consume_queues = queues.len() as u32;
  let dispatch_from = queues.iter().map(|q| q.max_physic_offset()).max().unwrap_or(-1);
  let files = store.commit_log.snapshot();
  if files.is_empty() {
    // No commit log at all: nothing any queue points at exists (store.md §7.5 step 6).
    for q in &queues {
      q.truncate_dirty(0)?;
    }
    store.commit_log.set_flushed_where(0);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    return Ok(report);
  }
  let start = choose_start(store, &files, last_exit_ok, dispatch_from);
  report.start_offset = files[start].file_from_offset();
  let (process_offset, last_valid) = scan(store, &files[start..], last_exit_ok, dispatch_from, &mut report)?;
  report.process_offset = process_offset;
  if report.invalid.is_none() && process_offset < dispatch_from {
    // Zeroes that look like the unwritten end of the log, but the consume queues had records past them (a zeroed
    // page, a lost write): records are about to be truncated, so say so, as RocketMQ warns
    // `maxPhyOffsetOfConsumeQueue >= processOffset` (`CommitLog#recoverNormally`).
    report.invalid = Some((process_offset, InvalidReason::MissingRecords));
  }
  store.checkpoint.confirm_phy_offset.store(last_valid, Ordering::Release);
  for q in store.queues.all() {
    q.truncate_dirty(process_offset)?;
  }
  store.commit_log.truncate_dirty(process_offset)?;
  store.commit_log.set_flushed_where(process_offset);
  let min = store.commit_log.min_offset().unwrap_or(0);
  for q in store.queues.all() {
    if !last_exit_ok {
      q.flush(0).map_err(|e| StoreError::io("flush consume queue", q.files().dir(), e))?;
    }
    q.correct_min_offset(min);
  }
  report.elapsed_ms = started.elapsed().as_millis() as u64;
  Ok(report)
}

/// Reads and checks the first record of a segment.
fn first_record(store: &Store, f: &MappedFile) -> Option<(Layout, Vec<u8>)> {
  let mut head = [0u8; 8];
  f.read_at(0, &mut head).ok()?;
  let total = record::get_i32(&head, 0);
  if total <= 8 || total as usize > f.file_size() {
    return None;
  }
  let mut rec = vec![0u8; total as usize];
  f.read_at(0, &mut rec).ok()?;
  match record::check(&rec, store.config.check_crc_on_recover) {
    Check::Valid(layout) => Some((layout, rec)),
    _ => None,
  }
}

/// The segment to start scanning from: the newest whose first record is valid and already dispatched (clean stop)
/// or older than the checkpoint's safe timestamp (crash) (store.md §7.5 step 1, §7.6 step 1).
fn choose_start(store: &Store, files: &[Arc<MappedFile>], last_exit_ok: bool, dispatch_from: i64) -> usize {
  let min_timestamp = store.checkpoint.min_timestamp();
  for (i, f) in files.iter().enumerate().rev() {
    let Some((layout, rec)) = first_record(store, f) else { continue };
    let store_ts = layout.store_timestamp(&rec);
    if store_ts == 0 {
      continue;
    }
    let safe = if last_exit_ok { layout.physical_offset <= dispatch_from } else { store_ts <= min_timestamp };
    if safe {
      return i;
    }
  }
  0
}

/// Scans forward from the first given segment. Returns (process offset, offset of the last valid record).
fn scan(
  store: &Store,
  files: &[Arc<MappedFile>],
  last_exit_ok: bool,
  dispatch_from: i64,
  report: &mut RecoveryReport,
) -> StoreResult<(i64, i64)> {
  let check_crc = store.config.check_crc_on_recover;
  let window = (8 * 1024 * 1024).max(2 * store.config.max_record_size() as usize).min(store.commit_log.file_size());
  let mut buf = vec![0u8; window];
  let mut last_valid = -1i64;
  let mut offset = files[0].file_from_offset();
  'files: for f in files {
    let size = f.file_size();
    let mut pos = 0usize;
    let mut win_start = 0usize;
    let mut win_len = 0usize;
    offset = f.file_from_offset();
    loop {
      if pos + 8 > size {
        break;
      }
      let fill = |from: usize, buf: &mut Vec<u8>| -> StoreResult<usize> {
        let len = window.min(size - from);
        f.read_at(from, &mut buf[..len]).map_err(|e| StoreError::io("read commit log", f.path(), e))?;
        Ok(len)
      };
      if pos + 8 > win_start + win_len {
        win_start = pos;
        win_len = fill(pos, &mut buf)?;
      }
      let declared = record::get_i32(&buf[pos - win_start..], 0).max(0) as usize;
      let wanted = declared.min(size - pos).min(window);
      if pos + wanted > win_start + win_len {
        win_start = pos;
        win_len = fill(pos, &mut buf)?;
      }
      let here = &buf[pos - win_start..win_len];
      match classify(record::check(here, check_crc), f.file_from_offset() + pos as i64, here) {
        Check::Valid(layout) => {
          let phy = f.file_from_offset() + pos as i64;
          report.records_scanned += 1;
          if !last_exit_ok || phy + layout.total_size as i64 > dispatch_from {
            dispatch(store, &here[..layout.total_size], &layout, phy)?;
            report.records_dispatched += 1;
          }
          last_valid = phy;
          pos += layout.total_size;
          offset = f.file_from_offset() + pos as i64;
        }
        Check::Blank => {
          offset = f.file_from_offset() + size as i64;
          continue 'files;
        }
        Check::Invalid { reason, .. } => {
          if reason != InvalidReason::Empty {
            report.invalid = Some((f.file_from_offset() + pos as i64, reason));
          }
          break 'files;
        }
      }
    }
    offset = f.file_from_offset() + size as i64;
  }
  Ok((offset, last_valid))
}

/// Extra checks on top of `record::check`: the record must say it lies where it lies, and name a valid topic.
fn classify(check: Check, phy: i64, bytes: &[u8]) -> Check {
  match check {
    Check::Valid(layout) if layout.physical_offset != phy => {
      Check::Invalid { skip: -1, reason: InvalidReason::StaleRecord }
    }
    Check::Valid(layout) if !record::topic_chars_valid(layout.topic(bytes)) => {
      Check::Invalid { skip: -1, reason: InvalidReason::BadTopic }
    }
    other => other,
  }
}

/// Re-dispatches a recovered record to its consume queue and the index; both ignore what they already have.
fn dispatch(store: &Store, rec: &[u8], layout: &Layout, phy: i64) -> StoreResult<()> {
  let props = record::dispatch_props(layout.properties(rec));
  let store_ts = layout.store_timestamp(rec);
  let topic = layout.topic(rec);
  if layout.takes_queue_offset() {
    let queue = store.queues.get_or_create(&String::from_utf8_lossy(topic), layout.queue_id);
    let tags_code = consume_queue_tags_code(store, topic, &props, store_ts);
    queue.put_unit(layout.queue_offset, Unit { phy, size: layout.total_size as i32, tags_code })?;
  }
  if let Some(index) = &store.index {
    let is_rollback = layout.transaction_type() == record::SYSFLAG_TRANSACTION_ROLLBACK;
    let below_end = index.last().is_some_and(|f| phy <= f.end_phy_offset() && f.index_count() > 1);
    let keys = count_index_keys(&props) as usize;
    if !is_rollback && !below_end && keys > 0 {
      let file = index.writable(keys, store_ts)?;
      put_index_keys(&file, topic, props.uniq_key, props.keys, phy, store_ts);
    }
  }
  crate::checkpoint::Checkpoint::advance(&store.last_dispatched_timestamp, store_ts);
  Ok(())
}
