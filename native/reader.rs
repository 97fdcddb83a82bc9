//! Reads (store.md §5.5–§5.6, §6.3): messages by queue offset, by physical offset, by key and by time.
//!
//! A pull is planned from the consume queue first (which entries, in what order, with what status), then the
//! commit-log bytes are copied with `pread` into a buffer the caller owns. Every record read is checked against
//! its body CRC: a record that fails is never handed out.

use std::sync::Arc;

use crate::consume_queue::ConsumeQueue;
use crate::crc32::crc32_masked;
use crate::mapped_file::MappedFile;
use crate::record::{self, POS_SYS_FLAG, SYSFLAG_BORNHOST_V6};
use crate::stats::Stats;
use crate::status::GetStatus;
use crate::store::Store;

/// One message a pull will return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
  pub queue_offset: i64,
  pub phy: i64,
  pub size: i32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GetPlan {
  pub status: GetStatus,
  pub next_begin_offset: i64,
  pub min_offset: i64,
  pub max_offset: i64,
  pub suggest_pulling_from_slave: bool,
  pub entries: Vec<Entry>,
  pub total_bytes: usize,
}

impl GetPlan {
  fn empty(status: GetStatus, next: i64, min: i64, max: i64) -> GetPlan {
    GetPlan {
      status,
      next_begin_offset: next,
      min_offset: min,
      max_offset: max,
      suggest_pulling_from_slave: false,
      entries: Vec::new(),
      total_bytes: 0,
    }
  }
}

/// The arguments of a pull.
pub struct GetRequest<'a> {
  pub topic: &'a str,
  pub queue_id: i32,
  pub offset: i64,
  pub max_msg_nums: usize,
  pub max_total_bytes: usize,
  /// Tag hash codes to keep; `None` keeps everything.
  pub tag_codes: Option<&'a [i32]>,
}

/// The last queue offset a reader may see, plus one. With `SYNC_FLUSH` a message only becomes visible once it is
/// durable, as RocketMQ's dispatcher stops at the flushed offset (store.md §5.3).
pub fn visible_max_offset(store: &Store, queue: &ConsumeQueue) -> i64 {
  let max = queue.max_offset();
  if !store.config.flush_sync {
    return max;
  }
  let confirmed = store.commit_log.flushed_where();
  let durable = |o: i64| queue.unit_at(o).is_some_and(|u| u.phy + u.size as i64 <= confirmed);
  let min = queue.min_offset();
  if max == min || durable(max - 1) {
    return max;
  }
  // Units are in commit-log order, so the durable ones are a prefix: find where it ends.
  let (mut lo, mut hi) = (min, max - 1);
  while lo < hi {
    let mid = lo + (hi - lo) / 2;
    if durable(mid) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  lo
}

fn in_memory_bytes(store: &Store) -> i64 {
  (store.total_memory_bytes as f64 * store.config.access_message_in_memory_max_ratio as f64 / 100.0) as i64
}

/// `DefaultMessageStore#isTheBatchFull`.
fn batch_full(store: &Store, req: &GetRequest<'_>, size: i32, bytes: usize, count: usize, in_disk: bool) -> bool {
  if bytes == 0 || count == 0 {
    return false;
  }
  let c = &store.config;
  let size = size as usize;
  if count + 1 > req.max_msg_nums || bytes + size > req.max_total_bytes {
    return true;
  }
  let (bytes_max, count_max) = if in_disk {
    (c.max_transfer_bytes_on_message_in_disk, c.max_transfer_count_on_message_in_disk)
  } else {
    (c.max_transfer_bytes_on_message_in_memory, c.max_transfer_count_on_message_in_memory)
  };
  (bytes + size) as u64 > bytes_max || count as u64 > count_max - 1
}

/// Decides what a pull returns (store.md §5.5), without reading any commit-log bytes.
pub fn plan_get(store: &Store, req: &GetRequest<'_>) -> GetPlan {
  let Some(queue) = store.queues.get(req.topic, req.queue_id) else {
    return GetPlan::empty(GetStatus::NoMatchedLogicQueue, 0, 0, 0);
  };
  let min = queue.min_offset();
  let max = visible_max_offset(store, &queue);
  let offset = req.offset;
  if max == 0 {
    return GetPlan::empty(GetStatus::NoMessageInQueue, 0, min, max);
  }
  if offset < min {
    return GetPlan::empty(GetStatus::OffsetTooSmall, min, min, max);
  }
  if offset == max {
    return GetPlan::empty(GetStatus::OffsetOverflowOne, offset, min, max);
  }
  if offset > max {
    return GetPlan::empty(GetStatus::OffsetOverflowBadly, max, min, max);
  }
  let scan_units = (store.config.max_filter_message_size as usize).max(req.max_msg_nums * 20) / 20;
  let scan_units = scan_units.min((max - offset) as usize);
  let Some(units) = queue.read_units(offset, scan_units) else {
    return GetPlan::empty(GetStatus::OffsetFoundNull, queue.roll_next_file(offset), min, max);
  };
  let commit_min = store.commit_log.min_offset().unwrap_or(0);
  let max_phy = store.commit_log.max_offset();
  let memory = in_memory_bytes(store);
  let mut plan = GetPlan::empty(GetStatus::NoMatchedMessage, offset, min, max);
  let mut removing = false;
  for (i, unit) in units.iter().enumerate() {
    let queue_offset = offset + i as i64;
    if unit.is_pre_blank() {
      plan.next_begin_offset = queue_offset + 1;
      continue;
    }
    let in_disk = max_phy - unit.phy > memory;
    if batch_full(store, req, unit.size, plan.total_bytes, plan.entries.len(), in_disk) {
      break;
    }
    plan.next_begin_offset = queue_offset + 1;
    if let Some(codes) = req.tag_codes {
      if !codes.contains(&(unit.tags_code as i32)) {
        continue;
      }
    }
    if unit.phy < commit_min {
      removing = true;
      continue;
    }
    plan.entries.push(Entry { queue_offset, phy: unit.phy, size: unit.size });
    plan.total_bytes += unit.size as usize;
  }
  if let Some(last) = plan.entries.last() {
    plan.status = GetStatus::Found;
    plan.suggest_pulling_from_slave = max_phy - last.phy > memory;
  } else if removing {
    plan.status = GetStatus::MessageWasRemoving;
  }
  plan
}

/// Runs of entries that lie back to back in one segment, so each run is one `pread`.
fn runs(store: &Store, entries: &[Entry]) -> Vec<(Option<Arc<MappedFile>>, usize, usize, usize)> {
  let mut out: Vec<(Option<Arc<MappedFile>>, usize, usize, usize)> = Vec::new();
  let mut i = 0;
  while i < entries.len() {
    let first = entries[i];
    let segment = store.commit_log.find(first.phy);
    let seg_end = segment.as_ref().map(|s| s.file_from_offset() + s.file_size() as i64).unwrap_or(0);
    let mut j = i + 1;
    let mut end = first.phy + first.size as i64;
    while j < entries.len() && entries[j].phy == end && end + entries[j].size as i64 <= seg_end {
      end += entries[j].size as i64;
      j += 1;
    }
    let pos = segment.as_ref().map(|s| (first.phy - s.file_from_offset()) as usize).unwrap_or(0);
    out.push((segment, pos, (end - first.phy) as usize, j - i));
    i = j;
  }
  out
}

/// Whether every page the plan reads is in the page cache (`mincore`): then reading it cannot block on disk.
pub fn plan_is_resident(store: &Store, plan: &GetPlan) -> bool {
  runs(store, &plan.entries).iter().all(|(s, pos, len, _)| s.as_ref().is_some_and(|s| s.is_resident(*pos, *len)))
}

/// Copies the planned records into `dst` (which has `plan.total_bytes`) and checks their CRCs. Records that
/// cannot be read (their segment was deleted meanwhile) or fail the CRC are dropped from the plan and the
/// remaining bytes moved up. Returns the bytes used.
pub fn read_plan(store: &Store, plan: &mut GetPlan, dst: &mut [u8]) -> usize {
  let mut ok = vec![true; plan.entries.len()];
  let mut at = 0usize;
  let mut e = 0usize;
  for (segment, pos, len, n) in runs(store, &plan.entries) {
    let read = segment.as_ref().is_some_and(|s| s.read_at(pos, &mut dst[at..at + len]).is_ok());
    let mut rec_at = at;
    for (entry, ok) in plan.entries[e..e + n].iter().zip(&mut ok[e..e + n]) {
      let size = entry.size as usize;
      *ok = read && record_is_intact(&dst[rec_at..rec_at + size], entry.phy);
      rec_at += size;
    }
    at += len;
    e += n;
  }
  if ok.iter().all(|&b| b) {
    count_read(store, plan.entries.len(), at);
    return at;
  }
  let mut write = 0usize;
  let mut read = 0usize;
  let mut kept = Vec::with_capacity(plan.entries.len());
  for (k, entry) in plan.entries.iter().enumerate() {
    let size = entry.size as usize;
    if ok[k] {
      dst.copy_within(read..read + size, write);
      write += size;
      kept.push(*entry);
    }
    read += size;
  }
  plan.entries = kept;
  plan.total_bytes = write;
  if plan.entries.is_empty() {
    plan.status = GetStatus::MessageWasRemoving;
  }
  count_read(store, plan.entries.len(), write);
  write
}

fn count_read(store: &Store, messages: usize, bytes: usize) {
  Stats::add(&store.stats.get_calls, 1);
  Stats::add(&store.stats.get_messages, messages as u64);
  Stats::add(&store.stats.get_bytes, bytes as u64);
}

/// A record read back is whole, says it lies where it was found, and its body matches its CRC.
fn record_is_intact(rec: &[u8], phy: i64) -> bool {
  match record::parse(rec) {
    Ok(l) => l.total_size == rec.len() && l.physical_offset == phy && crc32_masked(l.body(rec)) as i32 == l.body_crc,
    Err(_) => false,
  }
}

/// The record at a physical offset (`selectOneMessageByOffset`), checked; `None` if there is none.
pub fn read_record_at(store: &Store, phy: i64) -> Option<Vec<u8>> {
  let segment = store.commit_log.find(phy)?;
  let pos = (phy - segment.file_from_offset()) as usize;
  if pos + 8 > segment.wrote() {
    return None;
  }
  let mut head = [0u8; 8];
  segment.read_at(pos, &mut head).ok()?;
  let size = record::get_i32(&head, 0);
  let magic = record::get_i32(&head, 4);
  if size <= 8 || pos + size as usize > segment.wrote() || (magic != record::MAGIC_V1 && magic != record::MAGIC_V2) {
    return None;
  }
  let mut rec = vec![0u8; size as usize];
  segment.read_at(pos, &mut rec).ok()?;
  record_is_intact(&rec, phy).then_some(rec)
}

/// Store timestamp of the record at `phy`.
pub fn store_timestamp_at(store: &Store, phy: i64) -> Option<i64> {
  let segment = store.commit_log.find(phy)?;
  let pos = (phy - segment.file_from_offset()) as usize;
  let mut head = [0u8; 76];
  let len = head.len().min(segment.file_size() - pos);
  segment.read_at(pos, &mut head[..len]).ok()?;
  let sys_flag = record::get_i32(&head, POS_SYS_FLAG);
  let at = if sys_flag & SYSFLAG_BORNHOST_V6 != 0 { 68 } else { 56 };
  (at + 8 <= len).then(|| record::get_i64(&head, at))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
  Lower,
  Upper,
}

/// `SEARCH_OFFSET_BY_TIMESTAMP` (store.md §5.6): LOWER is the first message stored at or after `ts` (the queue end
/// if none), UPPER the last stored at or before `ts` (the queue start if none).
pub fn offset_by_time(store: &Store, topic: &str, queue_id: i32, ts: i64, boundary: Boundary) -> i64 {
  let Some(queue) = store.queues.get(topic, queue_id) else { return 0 };
  let (min, max) = (queue.min_offset(), visible_max_offset(store, &queue));
  let time_at = |o: i64| queue.unit_at(o).and_then(|u| store_timestamp_at(store, u.phy));
  // First offset in [min, max) whose time is > ts (UPPER) or >= ts (LOWER).
  let (mut lo, mut hi) = (min, max);
  while lo < hi {
    let mid = lo + (hi - lo) / 2;
    let t = time_at(mid).unwrap_or(i64::MAX);
    let after = match boundary {
      Boundary::Lower => t >= ts,
      Boundary::Upper => t > ts,
    };
    if after {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  match boundary {
    Boundary::Lower => lo,
    Boundary::Upper => (lo - 1).max(min),
  }
}

/// Store time of the first message still in the queue (`getEarliestMessageTime`), or -1.
pub fn earliest_message_time(store: &Store, topic: &str, queue_id: i32) -> i64 {
  let Some(queue) = store.queues.get(topic, queue_id) else { return -1 };
  queue.unit_at(queue.min_offset()).and_then(|u| store_timestamp_at(store, u.phy)).unwrap_or(-1)
}

/// Records of `topic` indexed under `key` stored in `[begin, end]`, newest first, at most `max` (store.md §6.3).
/// Only hashes are compared on disk, so the caller must re-check the key.
pub fn query_by_key(store: &Store, topic: &str, key: &str, max: usize, begin: i64, end: i64) -> Vec<(i64, Vec<u8>)> {
  let Some(index) = &store.index else { return Vec::new() };
  let mut offsets = index.query(topic.as_bytes(), key.as_bytes(), max, begin, end);
  offsets.sort_unstable();
  offsets.dedup();
  offsets.reverse();
  offsets.into_iter().filter_map(|phy| read_record_at(store, phy).map(|r| (phy, r))).collect()
}
