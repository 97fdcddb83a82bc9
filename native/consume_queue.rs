//! A consume queue: fixed 20-byte units, one per message of one topic queue (`ConsumeQueue`, store.md §5).
//!
//! ```text
//!  0  commit-log physical offset   i64
//!  8  record size (TOTALSIZE)      i32
//! 12  tag hash code                i64   (delivery time for SCHEDULE_TOPIC_XXXX)
//! ```
//!
//! Unit `n` lives at byte `n × 20` of the queue's segment space. Only the store's writer thread appends; readers
//! copy units with `pread` up to `max_offset`, which the writer publishes after the unit (and its commit-log
//! record) are in place.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{StoreError, StoreResult};
use crate::mapped_file::MappedFile;
use crate::mapped_file_queue::MappedFileQueue;
use crate::record::{get_i32, get_i64, put_i32, put_i64};

pub const CQ_UNIT_SIZE: usize = 20;
/// Pads the head of a queue whose first segment starts at a non-zero offset (store.md §5.1).
const PRE_BLANK_SIZE: i32 = i32::MAX;
/// Page-table entries of written units behind this distance are released to keep RSS small.
const RELEASE_BEHIND_BYTES: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
  pub phy: i64,
  pub size: i32,
  pub tags_code: i64,
}

impl Unit {
  pub fn decode(b: &[u8]) -> Unit {
    Unit { phy: get_i64(b, 0), size: get_i32(b, 8), tags_code: get_i64(b, 12) }
  }

  pub fn encode(&self, b: &mut [u8]) {
    put_i64(b, 0, self.phy);
    put_i32(b, 8, self.size);
    put_i64(b, 12, self.tags_code);
  }

  /// A unit recovery accepts (`phyOffset >= 0 && size > 0`; pre-blank units included).
  pub fn is_valid(&self) -> bool {
    self.phy >= 0 && self.size > 0
  }

  pub fn is_pre_blank(&self) -> bool {
    self.phy == 0 && self.size == PRE_BLANK_SIZE
  }
}

pub struct ConsumeQueue {
  topic: String,
  queue_id: i32,
  files: MappedFileQueue,
  /// One past the last unit readers may see.
  max_offset: AtomicI64,
  /// The first unit that still refers to a live commit-log record.
  min_offset: AtomicI64,
  /// End (`phy + size`) of the last unit written; used to ignore re-dispatched records.
  max_physic_offset: AtomicI64,
  /// How far (in the last segment) page-table entries have been released; writer-only.
  released: AtomicUsize,
}

/// `<root>/consumequeue/<topic>/<queueId>`.
pub fn queue_dir(root: &Path, topic: &str, queue_id: i32) -> PathBuf {
  root.join(topic).join(queue_id.to_string())
}

impl ConsumeQueue {
  /// A queue with no segments yet; its directory is created with the first segment.
  pub fn new(root: &Path, topic: &str, queue_id: i32, file_size: usize) -> ConsumeQueue {
    let files = MappedFileQueue::new(&queue_dir(root, topic, queue_id), file_size);
    ConsumeQueue::from_files(topic, queue_id, files)
  }

  pub fn load(root: &Path, topic: &str, queue_id: i32, file_size: usize) -> StoreResult<ConsumeQueue> {
    let files = MappedFileQueue::load(&queue_dir(root, topic, queue_id), file_size)?;
    Ok(ConsumeQueue::from_files(topic, queue_id, files))
  }

  fn from_files(topic: &str, queue_id: i32, files: MappedFileQueue) -> ConsumeQueue {
    ConsumeQueue {
      topic: topic.to_string(),
      queue_id,
      files,
      max_offset: AtomicI64::new(0),
      min_offset: AtomicI64::new(0),
      max_physic_offset: AtomicI64::new(-1),
      released: AtomicUsize::new(0),
    }
  }

  pub fn topic(&self) -> &str {
    &self.topic
  }

  pub fn queue_id(&self) -> i32 {
    self.queue_id
  }

  pub fn max_offset(&self) -> i64 {
    self.max_offset.load(Ordering::Acquire)
  }

  pub fn min_offset(&self) -> i64 {
    self.min_offset.load(Ordering::Acquire)
  }

  pub fn max_physic_offset(&self) -> i64 {
    self.max_physic_offset.load(Ordering::Acquire)
  }

  pub fn files(&self) -> &MappedFileQueue {
    &self.files
  }

  /// Deletes every segment file and forgets the mappings (readers still holding one keep it until they drop it).
  pub fn destroy_files(&self) -> StoreResult<()> {
    for f in self.files.snapshot() {
      f.destroy().map_err(|e| StoreError::io("delete consume queue segment", f.path(), e))?;
    }
    self.files.release_all();
    Ok(())
  }

  fn file_size(&self) -> usize {
    self.files.file_size()
  }

  /// Recovery (store.md §7.3): scan from the third-from-last segment, keep units up to the first invalid one,
  /// truncate the rest, and set the offsets from what is left.
  pub fn recover(&self) -> StoreResult<()> {
    let files = self.files.snapshot();
    if files.is_empty() {
      return Ok(());
    }
    let start = files.len().saturating_sub(3);
    let mut process_offset = files[start].file_from_offset();
    let mut max_phy = -1i64;
    let mut buf = vec![0u8; self.file_size()];
    'segments: for f in &files[start..] {
      f.read_at(0, &mut buf).map_err(|e| StoreError::io("read consume queue", f.path(), e))?;
      for pos in (0..self.file_size()).step_by(CQ_UNIT_SIZE) {
        let unit = Unit::decode(&buf[pos..pos + CQ_UNIT_SIZE]);
        if !unit.is_valid() {
          process_offset = f.file_from_offset() + pos as i64;
          break 'segments;
        }
        if !unit.is_pre_blank() {
          max_phy = unit.phy + unit.size as i64;
        }
      }
      process_offset = f.file_from_offset() + self.file_size() as i64;
    }
    self.files.truncate_dirty(process_offset)?;
    self.files.set_flushed_where(process_offset);
    self.max_physic_offset.store(max_phy, Ordering::Release);
    self.max_offset.store(process_offset / CQ_UNIT_SIZE as i64, Ordering::Release);
    self.min_offset.store(self.first_real_unit_offset()?, Ordering::Release);
    Ok(())
  }

  /// The offset of the first unit of the first segment that is not a pre-blank.
  fn first_real_unit_offset(&self) -> StoreResult<i64> {
    let Some(first) = self.files.first() else { return Ok(self.max_offset()) };
    let limit = first.wrote();
    let mut buf = vec![0u8; limit];
    first.read_at(0, &mut buf).map_err(|e| StoreError::io("read consume queue", first.path(), e))?;
    for pos in (0..limit).step_by(CQ_UNIT_SIZE) {
      if !Unit::decode(&buf[pos..pos + CQ_UNIT_SIZE]).is_pre_blank() {
        return Ok((first.file_from_offset() + pos as i64) / CQ_UNIT_SIZE as i64);
      }
    }
    Ok((first.file_from_offset() + limit as i64) / CQ_UNIT_SIZE as i64)
  }

  /// Makes sure the segment that will hold unit `queue_offset` exists (writer only). Called before the
  /// commit-log record is written, so that a full disk fails the put instead of leaving an undispatched record.
  pub fn ensure_segment(&self, queue_offset: i64) -> StoreResult<Arc<MappedFile>> {
    let byte = queue_offset * CQ_UNIT_SIZE as i64;
    if let Some(f) = self.files.last() {
      if f.file_from_offset() <= byte && byte < f.file_from_offset() + self.file_size() as i64 {
        return Ok(f);
      }
    }
    if let Some(f) = self.files.find(byte) {
      return Ok(f);
    }
    let start = self.files.next_file_offset(byte);
    if start > byte || byte >= start + self.file_size() as i64 {
      return Err(StoreError::Corrupt(format!(
        "consume queue {}/{}: unit {queue_offset} is not next to the last segment",
        self.topic, self.queue_id
      )));
    }
    let dir = self.files.dir().to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| StoreError::io("create consume queue directory", &dir, e))?;
    let f = Arc::new(MappedFile::create(&dir, start, self.file_size())?);
    if let Some(previous) = self.files.last() {
      previous.release(0, self.file_size());
    }
    self.files.push(f.clone());
    self.released.store(0, Ordering::Relaxed);
    Ok(f)
  }

  /// Writes unit `queue_offset` (store.md §5.4) and publishes it to readers. Returns false when the unit was
  /// already there (re-dispatch during recovery). Writer only.
  pub fn put_unit(&self, queue_offset: i64, unit: Unit) -> StoreResult<bool> {
    if unit.phy + unit.size as i64 <= self.max_physic_offset() {
      return Ok(false);
    }
    let segment = self.ensure_segment(queue_offset)?;
    Ok(self.put_unit_in(&segment, queue_offset, unit))
  }

  /// `put_unit` into a segment the caller already holds (the one `ensure_segment` gave for this offset).
  pub fn put_unit_in(&self, segment: &MappedFile, queue_offset: i64, unit: Unit) -> bool {
    let expected = queue_offset * CQ_UNIT_SIZE as i64;
    let pos = (expected - segment.file_from_offset()) as usize;
    let fresh_queue = self.files.len() == 1 && segment.wrote() == 0 && self.max_offset() == 0;
    if fresh_queue {
      // The queue's first unit: pad the segment head if the queue does not start at its first unit.
      if pos > 0 {
        self.fill_pre_blank(segment, pos);
      }
      self.min_offset.store(queue_offset, Ordering::Release);
      self.files.set_flushed_where(segment.file_from_offset());
    } else if pos < segment.wrote() {
      return false;
    }
    // SAFETY: only the writer thread appends to consume queues; readers never read past max_offset.
    unsafe { unit.encode(segment.slice_mut(pos, CQ_UNIT_SIZE)) };
    segment.set_wrote(pos + CQ_UNIT_SIZE, None);
    self.max_physic_offset.store(unit.phy + unit.size as i64, Ordering::Release);
    self.max_offset.store(queue_offset + 1, Ordering::Release);
    self.release_behind(segment, pos);
    true
  }

  fn fill_pre_blank(&self, segment: &MappedFile, upto: usize) {
    let blank = Unit { phy: 0, size: PRE_BLANK_SIZE, tags_code: 0 };
    for pos in (0..upto).step_by(CQ_UNIT_SIZE) {
      // SAFETY: writer-only, before the segment's first real unit is published.
      unsafe { blank.encode(segment.slice_mut(pos, CQ_UNIT_SIZE)) };
    }
    segment.set_wrote(upto, None);
  }

  fn release_behind(&self, segment: &MappedFile, pos: usize) {
    let released = self.released.load(Ordering::Relaxed);
    if pos >= released + 2 * RELEASE_BEHIND_BYTES {
      let upto = pos - RELEASE_BEHIND_BYTES;
      segment.release(released, upto - released);
      self.released.store(upto, Ordering::Relaxed);
    }
  }

  /// Reads up to `max_units` units from `from`, staying inside one segment and below `max_offset`.
  /// `None` when no segment holds `from` (`OFFSET_FOUND_NULL`).
  pub fn read_units(&self, from: i64, max_units: usize) -> Option<Vec<Unit>> {
    let max = self.max_offset();
    if from >= max || max_units == 0 {
      return Some(Vec::new());
    }
    let byte = from * CQ_UNIT_SIZE as i64;
    let segment = self.files.find(byte)?;
    let pos = (byte - segment.file_from_offset()) as usize;
    let segment_end = (max * CQ_UNIT_SIZE as i64 - segment.file_from_offset()).min(self.file_size() as i64) as usize;
    let n = ((segment_end - pos) / CQ_UNIT_SIZE).min(max_units);
    let mut buf = vec![0u8; n * CQ_UNIT_SIZE];
    segment.read_at(pos, &mut buf).ok()?;
    Some(buf.chunks_exact(CQ_UNIT_SIZE).map(Unit::decode).collect())
  }

  /// One unit, if it is inside the queue.
  pub fn unit_at(&self, offset: i64) -> Option<Unit> {
    if offset < self.min_offset() {
      return None;
    }
    self.read_units(offset, 1).and_then(|v| v.first().copied())
  }

  /// First byte of the segment after the one holding `offset`, in units (`OFFSET_FOUND_NULL` correction).
  pub fn roll_next_file(&self, offset: i64) -> i64 {
    let per_file = (self.file_size() / CQ_UNIT_SIZE) as i64;
    offset + per_file - offset % per_file
  }

  /// Drops units that refer to commit-log bytes at or after `phy` (store.md §7.7, `truncateDirtyLogicFiles`).
  pub fn truncate_dirty(&self, phy: i64) -> StoreResult<()> {
    if self.max_physic_offset() < phy {
      return Ok(());
    }
    loop {
      let Some(last) = self.files.last() else { break };
      let mut buf = vec![0u8; self.file_size()];
      last.read_at(0, &mut buf).map_err(|e| StoreError::io("read consume queue", last.path(), e))?;
      let mut keep = 0usize;
      let mut max_phy = -1i64;
      for pos in (0..self.file_size()).step_by(CQ_UNIT_SIZE) {
        let unit = Unit::decode(&buf[pos..pos + CQ_UNIT_SIZE]);
        if !unit.is_valid() || (!unit.is_pre_blank() && unit.phy >= phy) {
          break;
        }
        keep = pos + CQ_UNIT_SIZE;
        if !unit.is_pre_blank() {
          max_phy = unit.phy + unit.size as i64;
        }
      }
      if keep == 0 {
        self.files.remove_last()?;
        continue;
      }
      self.files.truncate_dirty(last.file_from_offset() + keep as i64)?;
      self.max_physic_offset.store(max_phy, Ordering::Release);
      break;
    }
    let end = self.files.max_offset();
    self.max_offset.store(end / CQ_UNIT_SIZE as i64, Ordering::Release);
    if self.files.is_empty() {
      self.max_physic_offset.store(-1, Ordering::Release);
      self.min_offset.store(0, Ordering::Release);
    } else if self.min_offset() > self.max_offset() {
      self.min_offset.store(self.max_offset(), Ordering::Release);
    }
    Ok(())
  }

  /// Moves `min_offset` to the first unit whose record is still in the commit log (store.md §5.6).
  pub fn correct_min_offset(&self, commit_log_min: i64) {
    let mut offset = self.min_offset().max(self.first_segment_start_units());
    let max = self.max_offset();
    while offset < max {
      let Some(units) = self.read_units(offset, 1024) else {
        offset = self.roll_next_file(offset);
        continue;
      };
      if units.is_empty() {
        break;
      }
      if let Some(i) = units.iter().position(|u| !u.is_pre_blank() && u.phy >= commit_log_min) {
        offset += i as i64;
        break;
      }
      offset += units.len() as i64;
    }
    self.min_offset.store(offset.min(max), Ordering::Release);
  }

  fn first_segment_start_units(&self) -> i64 {
    self.files.min_offset().unwrap_or(0) / CQ_UNIT_SIZE as i64
  }

  /// Deletes whole segments (never the last) whose last unit refers to commit-log bytes below `commit_log_min`
  /// (store.md §8.4), then corrects `min_offset`. Returns the number deleted.
  pub fn delete_expired(&self, commit_log_min: i64) -> usize {
    let files = self.files.snapshot();
    let mut n = 0;
    for f in files.iter().take(files.len().saturating_sub(1)) {
      let mut b = [0u8; CQ_UNIT_SIZE];
      if f.read_at(self.file_size() - CQ_UNIT_SIZE, &mut b).is_err() {
        break;
      }
      let last = Unit::decode(&b);
      if last.is_valid() && last.phy + (last.size as i64) <= commit_log_min {
        n += 1;
      } else {
        break;
      }
    }
    if n > 0 {
      self.files.remove_first(n);
    }
    self.correct_min_offset(commit_log_min);
    n
  }

  /// Flushes dirty units, every segment up to the last.
  pub fn flush(&self, least_pages: u64) -> std::io::Result<()> {
    loop {
      let before = self.files.flushed_where();
      let after = self.files.flush(least_pages)?;
      if after == before {
        return Ok(());
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  fn unit(phy: i64) -> Unit {
    Unit { phy, size: 100, tags_code: 7 }
  }

  #[test]
  fn units_round_trip_big_endian() {
    let mut b = [0u8; 20];
    Unit { phy: 0x0102_0304_0506_0708, size: 0x0A0B_0C0D, tags_code: -2 }.encode(&mut b);
    assert_eq!(&b[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[8..12], &[0x0A, 0x0B, 0x0C, 0x0D]);
    assert_eq!(Unit::decode(&b).tags_code, -2);
  }

  #[test]
  fn put_read_and_roll_segments() {
    let dir = TempDir::new("cq");
    let cq = ConsumeQueue::new(dir.path(), "T", 0, 5 * CQ_UNIT_SIZE);
    for i in 0..12 {
      assert!(cq.put_unit(i, unit(i * 100)).unwrap());
    }
    assert_eq!(cq.max_offset(), 12);
    assert_eq!(cq.files().len(), 3);
    let units = cq.read_units(3, 10).unwrap();
    assert_eq!(units.len(), 2, "a read stays inside one segment");
    assert_eq!(units[0].phy, 300);
    assert_eq!(cq.read_units(12, 5).unwrap().len(), 0);
    assert_eq!(cq.roll_next_file(3), 5);
  }

  #[test]
  fn duplicates_are_ignored() {
    let dir = TempDir::new("cq");
    let cq = ConsumeQueue::new(dir.path(), "T", 0, 100 * CQ_UNIT_SIZE);
    assert!(cq.put_unit(0, unit(0)).unwrap());
    assert!(!cq.put_unit(0, unit(0)).unwrap());
    assert_eq!(cq.max_offset(), 1);
  }

  #[test]
  fn a_queue_starting_late_is_padded_with_pre_blanks() {
    let dir = TempDir::new("cq");
    let cq = ConsumeQueue::new(dir.path(), "T", 1, 100 * CQ_UNIT_SIZE);
    cq.put_unit(7, unit(5000)).unwrap();
    assert_eq!(cq.min_offset(), 7);
    assert_eq!(cq.max_offset(), 8);
    assert!(cq.read_units(0, 1).unwrap()[0].is_pre_blank());
    drop(cq);
    let cq = ConsumeQueue::load(dir.path(), "T", 1, 100 * CQ_UNIT_SIZE).unwrap();
    cq.recover().unwrap();
    assert_eq!(cq.min_offset(), 7);
    assert_eq!(cq.max_offset(), 8);
    assert_eq!(cq.max_physic_offset(), 5100);
  }

  #[test]
  fn recover_stops_at_the_first_invalid_unit() {
    let dir = TempDir::new("cq");
    let cq = ConsumeQueue::new(dir.path(), "T", 0, 100 * CQ_UNIT_SIZE);
    for i in 0..5 {
      cq.put_unit(i, unit(i * 100)).unwrap();
    }
    drop(cq);
    let cq = ConsumeQueue::load(dir.path(), "T", 0, 100 * CQ_UNIT_SIZE).unwrap();
    cq.recover().unwrap();
    assert_eq!(cq.max_offset(), 5);
    assert_eq!(cq.max_physic_offset(), 500);
  }

  #[test]
  fn truncate_dirty_keeps_units_before_the_offset() {
    let dir = TempDir::new("cq");
    let cq = ConsumeQueue::new(dir.path(), "T", 0, 4 * CQ_UNIT_SIZE);
    for i in 0..10 {
      cq.put_unit(i, unit(i * 100)).unwrap();
    }
    cq.truncate_dirty(450).unwrap();
    assert_eq!(cq.max_offset(), 5);
    assert_eq!(cq.max_physic_offset(), 500);
    assert_eq!(cq.files().len(), 2);
    cq.truncate_dirty(0).unwrap();
    assert_eq!(cq.max_offset(), 0);
    assert!(cq.files().is_empty());
  }

  #[test]
  fn expired_segments_are_deleted_and_min_offset_corrected() {
    let dir = TempDir::new("cq");
    let cq = ConsumeQueue::new(dir.path(), "T", 0, 4 * CQ_UNIT_SIZE);
    for i in 0..10 {
      cq.put_unit(i, unit(i * 100)).unwrap();
    }
    assert_eq!(cq.delete_expired(650), 1);
    assert_eq!(cq.files().len(), 2);
    assert_eq!(cq.min_offset(), 7, "first unit with phy >= 650 is at 700");
  }
}
