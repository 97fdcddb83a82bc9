//! The key index (`IndexFile`, `IndexService`; store.md §6): a hash table on disk from `"<topic>#<key>"` to
//! commit-log offsets, for `UNIQ_KEY` and every key of `KEYS`.
//!
//! ```text
//! header (40 bytes):  beginTimestamp i64 | endTimestamp i64 | beginPhyOffset i64 | endPhyOffset i64
//!                     | hashSlotCount i32 | indexCount i32 (starts at 1)
//! slots:              slotNum × i32, the newest entry number in that bucket (0 = empty)
//! entries (20 bytes): keyHash i32 | phyOffset i64 | timeDiff seconds i32 | previous entry i32
//! ```
//!
//! Only the writer thread adds entries: entry first, then the slot, then the header, so that a reader following
//! a slot always finds a complete entry. Readers copy with `pread`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicI32, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{StoreError, StoreResult};
use crate::java::{index_key_hash, java_hash_update, java_string_hash};
use crate::mapped_file::MappedFile;
use crate::record::{get_i32, get_i64, put_i32, put_i64};

const HEADER_SIZE: usize = 40;
const SLOT_SIZE: usize = 4;
const ENTRY_SIZE: usize = 20;
const INVALID_INDEX: i32 = 0;
/// Written entries' page-table entries are released behind this distance.
const RELEASE_BEHIND_BYTES: usize = 1024 * 1024;

/// The hash of `"<topic>#<key>"`, computed without building the string.
pub fn key_hash(topic: &[u8], key: &[u8]) -> i32 {
  let h = java_hash_update(java_hash_update(java_string_hash(topic), b"#"), key);
  index_key_hash(h)
}

pub struct IndexFile {
  file: MappedFile,
  slot_num: u32,
  index_num: u32,
  begin_timestamp: AtomicI64,
  end_timestamp: AtomicI64,
  begin_phy_offset: AtomicI64,
  end_phy_offset: AtomicI64,
  hash_slot_count: AtomicI32,
  index_count: AtomicI32,
  released: AtomicUsize,
}

impl IndexFile {
  fn size(slot_num: u32, index_num: u32) -> usize {
    HEADER_SIZE + slot_num as usize * SLOT_SIZE + index_num as usize * ENTRY_SIZE
  }

  /// A new file whose header starts where the previous file ended (`IndexService#getAndCreateLastIndexFile`).
  pub fn create(path: PathBuf, slot_num: u32, index_num: u32, end_phy: i64, end_ts: i64) -> StoreResult<IndexFile> {
    let file = MappedFile::create_at(path, 0, IndexFile::size(slot_num, index_num))?;
    let f = IndexFile::with(file, slot_num, index_num);
    f.begin_phy_offset.store(end_phy, Ordering::Relaxed);
    f.end_phy_offset.store(end_phy, Ordering::Relaxed);
    f.begin_timestamp.store(end_ts, Ordering::Relaxed);
    f.end_timestamp.store(end_ts, Ordering::Relaxed);
    f.index_count.store(1, Ordering::Relaxed);
    f.write_header();
    Ok(f)
  }

  pub fn open(path: &Path, slot_num: u32, index_num: u32) -> StoreResult<IndexFile> {
    let file = MappedFile::open(path, 0, IndexFile::size(slot_num, index_num))?;
    let mut h = [0u8; HEADER_SIZE];
    file.read_at(0, &mut h).map_err(|e| StoreError::io("read index header", path, e))?;
    let f = IndexFile::with(file, slot_num, index_num);
    f.begin_timestamp.store(get_i64(&h, 0), Ordering::Relaxed);
    f.end_timestamp.store(get_i64(&h, 8), Ordering::Relaxed);
    f.begin_phy_offset.store(get_i64(&h, 16), Ordering::Relaxed);
    f.end_phy_offset.store(get_i64(&h, 24), Ordering::Relaxed);
    f.hash_slot_count.store(get_i32(&h, 32), Ordering::Relaxed);
    f.index_count.store(get_i32(&h, 36).max(1), Ordering::Relaxed);
    Ok(f)
  }

  fn with(file: MappedFile, slot_num: u32, index_num: u32) -> IndexFile {
    IndexFile {
      file,
      slot_num,
      index_num,
      begin_timestamp: AtomicI64::new(0),
      end_timestamp: AtomicI64::new(0),
      begin_phy_offset: AtomicI64::new(0),
      end_phy_offset: AtomicI64::new(0),
      hash_slot_count: AtomicI32::new(0),
      index_count: AtomicI32::new(1),
      released: AtomicUsize::new(0),
    }
  }

  pub fn end_timestamp(&self) -> i64 {
    self.end_timestamp.load(Ordering::Acquire)
  }

  pub fn begin_timestamp(&self) -> i64 {
    self.begin_timestamp.load(Ordering::Acquire)
  }

  pub fn end_phy_offset(&self) -> i64 {
    self.end_phy_offset.load(Ordering::Acquire)
  }

  pub fn index_count(&self) -> i32 {
    self.index_count.load(Ordering::Acquire)
  }

  /// Room for `n` more entries.
  pub fn has_room(&self, n: usize) -> bool {
    self.index_count() as usize + n <= self.index_num as usize
  }

  fn write_header(&self) {
    // SAFETY: writer-only; readers take header values from the atomics, never from these bytes.
    let h = unsafe { self.file.slice_mut(0, HEADER_SIZE) };
    put_i64(h, 0, self.begin_timestamp.load(Ordering::Relaxed));
    put_i64(h, 8, self.end_timestamp.load(Ordering::Relaxed));
    put_i64(h, 16, self.begin_phy_offset.load(Ordering::Relaxed));
    put_i64(h, 24, self.end_phy_offset.load(Ordering::Relaxed));
    put_i32(h, 32, self.hash_slot_count.load(Ordering::Relaxed));
    put_i32(h, 36, self.index_count.load(Ordering::Relaxed));
  }

  fn slot_pos(&self, hash: i32) -> usize {
    HEADER_SIZE + (hash as u32 % self.slot_num) as usize * SLOT_SIZE
  }

  fn entry_pos(&self, n: i32) -> usize {
    HEADER_SIZE + self.slot_num as usize * SLOT_SIZE + n as usize * ENTRY_SIZE
  }

  fn read_i32(&self, pos: usize) -> i32 {
    let mut b = [0u8; 4];
    match self.file.read_at(pos, &mut b) {
      Ok(()) => i32::from_be_bytes(b),
      Err(_) => INVALID_INDEX,
    }
  }

  /// Adds one entry (store.md §6.2). Returns false when the file is full. Writer only.
  pub fn put_key(&self, hash: i32, phy: i64, store_timestamp: i64) -> bool {
    let count = self.index_count();
    if count as u32 >= self.index_num {
      return false;
    }
    let slot_pos = self.slot_pos(hash);
    // SAFETY: writer-only; the writer reads the slot through the mapping it alone writes (no syscall).
    let mut prev = get_i32(unsafe { self.file.slice_mut(slot_pos, SLOT_SIZE) }, 0);
    if prev <= INVALID_INDEX || prev > count {
      prev = INVALID_INDEX;
    }
    if count <= 1 {
      self.begin_phy_offset.store(phy, Ordering::Release);
      self.begin_timestamp.store(store_timestamp, Ordering::Release);
    }
    let begin = self.begin_timestamp();
    let diff_s = if begin <= 0 { 0 } else { ((store_timestamp - begin) / 1000).clamp(0, i32::MAX as i64) as i32 };
    let entry_pos = self.entry_pos(count);
    // SAFETY: writer-only; the entry is unreachable until the slot below points at it.
    unsafe {
      let e = self.file.slice_mut(entry_pos, ENTRY_SIZE);
      put_i32(e, 0, hash);
      put_i64(e, 4, phy);
      put_i32(e, 12, diff_s);
      put_i32(e, 16, prev);
    }
    fence(Ordering::Release);
    // SAFETY: writer-only; a 4-byte store that readers see either before or after.
    unsafe { put_i32(self.file.slice_mut(slot_pos, SLOT_SIZE), 0, count) };
    if prev == INVALID_INDEX {
      self.hash_slot_count.fetch_add(1, Ordering::AcqRel);
    }
    self.end_phy_offset.store(phy, Ordering::Release);
    self.end_timestamp.store(store_timestamp, Ordering::Release);
    self.index_count.store(count + 1, Ordering::Release);
    self.write_header();
    self.release_behind(entry_pos);
    true
  }

  fn release_behind(&self, entry_pos: usize) {
    let released = self.released.load(Ordering::Relaxed).max(self.entry_pos(0));
    if entry_pos >= released + 2 * RELEASE_BEHIND_BYTES {
      let upto = entry_pos - RELEASE_BEHIND_BYTES;
      self.file.release(released, upto - released);
      self.released.store(upto, Ordering::Relaxed);
    }
  }

  /// `IndexFile#isTimeMatched`.
  pub fn is_time_matched(&self, begin: i64, end: i64) -> bool {
    let (b, e) = (self.begin_timestamp(), self.end_timestamp());
    (begin < b && end > e) || (begin >= b && begin <= e) || (end >= b && end <= e)
  }

  /// Collects physical offsets of entries with `hash` stored in `[begin, end]` (store.md §6.3).
  pub fn select(&self, hash: i32, begin: i64, end: i64, max: usize, out: &mut Vec<i64>) {
    let count = self.index_count();
    let mut n = self.read_i32(self.slot_pos(hash));
    fence(Ordering::Acquire);
    let file_begin = self.begin_timestamp();
    while out.len() < max && n > INVALID_INDEX && n < count {
      let mut e = [0u8; ENTRY_SIZE];
      if self.file.read_at(self.entry_pos(n), &mut e).is_err() {
        break;
      }
      let entry_hash = get_i32(&e, 0);
      let phy = get_i64(&e, 4);
      let time = file_begin + get_i32(&e, 12) as i64 * 1000;
      let prev = get_i32(&e, 16);
      if time < begin {
        break;
      }
      if entry_hash == hash && time <= end {
        out.push(phy);
      }
      if prev <= INVALID_INDEX || prev >= count || prev == n {
        break;
      }
      n = prev;
    }
  }

  pub fn flush(&self) -> std::io::Result<()> {
    self.file.set_wrote(self.file.file_size(), None);
    self.file.flush(0).map(|_| ())
  }

  pub fn destroy(&self) {
    // The file is gone either way; a missing file is not worth failing clean-up for.
    let _ = self.file.destroy();
  }

  pub fn disk_bytes(&self) -> u64 {
    self.file.disk_bytes()
  }
}

/// The list of index files and the writer's entry point.
pub struct IndexService {
  dir: PathBuf,
  slot_num: u32,
  index_num: u32,
  max_msgs_num_batch: usize,
  files: RwLock<Vec<Arc<IndexFile>>>,
}

fn local_time_name(ms: i64) -> String {
  let secs = (ms / 1000) as libc::time_t;
  let mut tm: libc::tm = unsafe { std::mem::zeroed() };
  // SAFETY: localtime_r only writes into `tm`.
  unsafe { libc::localtime_r(&secs, &mut tm) };
  format!(
    "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
    tm.tm_year + 1900,
    tm.tm_mon + 1,
    tm.tm_mday,
    tm.tm_hour,
    tm.tm_min,
    tm.tm_sec,
    ms % 1000
  )
}

impl IndexService {
  /// Opens every index file in name order. After an unclean stop, files that end after the checkpoint's
  /// `indexMsgTimestamp` are destroyed (store.md §6.4); recovery's re-dispatch refills what it can.
  pub fn load(
    dir: &Path,
    slot_num: u32,
    index_num: u32,
    max_msgs_num_batch: usize,
    last_exit_ok: bool,
    index_msg_timestamp: i64,
  ) -> StoreResult<IndexService> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
      Ok(entries) => entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
        .collect(),
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
      Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    names.sort();
    let mut files = Vec::new();
    for name in names {
      let path = dir.join(&name);
      let f = IndexFile::open(&path, slot_num, index_num)?;
      if !last_exit_ok && f.end_timestamp() > index_msg_timestamp {
        f.destroy();
        continue;
      }
      files.push(Arc::new(f));
    }
    Ok(IndexService { dir: dir.to_path_buf(), slot_num, index_num, max_msgs_num_batch, files: RwLock::new(files) })
  }

  fn snapshot(&self) -> Vec<Arc<IndexFile>> {
    self.files.read().unwrap_or_else(|p| p.into_inner()).clone()
  }

  pub fn file_count(&self) -> usize {
    self.snapshot().len()
  }

  pub fn disk_bytes(&self) -> u64 {
    self.snapshot().iter().map(|f| f.disk_bytes()).sum()
  }

  /// The file new entries go to, with room for `n` more; creates one when needed. Writer only.
  pub fn writable(&self, n: usize, now_ms: i64) -> StoreResult<Arc<IndexFile>> {
    let last = self.last();
    if let Some(f) = &last {
      if f.has_room(n) {
        return Ok(f.clone());
      }
    }
    std::fs::create_dir_all(&self.dir).map_err(|e| StoreError::io("create index directory", &self.dir, e))?;
    let (end_phy, end_ts) = last.as_ref().map(|f| (f.end_phy_offset(), f.end_timestamp())).unwrap_or((0, 0));
    let mut ms = now_ms;
    let mut path = self.dir.join(local_time_name(ms));
    while path.exists() {
      ms += 1;
      path = self.dir.join(local_time_name(ms));
    }
    let f = Arc::new(IndexFile::create(path, self.slot_num, self.index_num, end_phy, end_ts)?);
    if let Some(full) = &last {
      // The full file is flushed by the housekeeping thread's next pass; its pages are no longer needed here.
      full.file.release(0, full.file.file_size());
    }
    self.files.write().unwrap_or_else(|p| p.into_inner()).push(f.clone());
    Ok(f)
  }

  /// Forgets every file without deleting anything (store close).
  pub fn release_all(&self) {
    self.files.write().unwrap_or_else(|p| p.into_inner()).clear();
  }

  /// The last file, if any.
  pub fn last(&self) -> Option<Arc<IndexFile>> {
    self.files.read().unwrap_or_else(|p| p.into_inner()).last().cloned()
  }

  /// Physical offsets of messages of `topic` with `key`, newest files first (store.md §6.3).
  pub fn query(&self, topic: &[u8], key: &[u8], max: usize, begin: i64, end: i64) -> Vec<i64> {
    let max = max.clamp(1, self.max_msgs_num_batch);
    let hash = key_hash(topic, key);
    let mut out = Vec::new();
    for f in self.snapshot().iter().rev() {
      if f.is_time_matched(begin, end) {
        f.select(hash, begin, end, max, &mut out);
      }
      if f.begin_timestamp() < begin || out.len() >= max {
        break;
      }
    }
    out
  }

  /// Deletes files (never the newest) whose last entry is below the commit-log min offset (store.md §8.4).
  pub fn delete_expired(&self, commit_log_min: i64) -> usize {
    let mut files = self.files.write().unwrap_or_else(|p| p.into_inner());
    let keep_from = files
      .iter()
      .take(files.len().saturating_sub(1))
      .position(|f| f.end_phy_offset() >= commit_log_min)
      .unwrap_or(files.len().saturating_sub(1));
    let removed: Vec<Arc<IndexFile>> = files.drain(..keep_from).collect();
    for f in &removed {
      f.destroy();
    }
    removed.len()
  }

  /// Flushes every file; returns the end timestamp of the newest *full* file flushed (for the checkpoint).
  pub fn flush(&self) -> std::io::Result<Option<i64>> {
    let files = self.snapshot();
    let mut full_end = None;
    for f in &files {
      f.flush()?;
      if !f.has_room(1) {
        full_end = Some(f.end_timestamp());
      }
    }
    Ok(full_end)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  #[test]
  fn key_hash_is_java_hash_of_topic_hash_key() {
    let direct = index_key_hash(java_string_hash(b"TopicA#order-1"));
    assert_eq!(key_hash(b"TopicA", b"order-1"), direct);
  }

  #[test]
  fn put_and_query_follow_bucket_chains() {
    let dir = TempDir::new("idx");
    // Two slots force collisions between different keys.
    let svc = IndexService::load(dir.path(), 2, 100, 64, true, 0).unwrap();
    let f = svc.writable(10, 1_700_000_000_000).unwrap();
    let t0 = 1_700_000_000_000i64;
    for i in 0..10i64 {
      let key = format!("k{}", i % 3);
      assert!(f.put_key(key_hash(b"T", key.as_bytes()), i * 100, t0 + i * 1000));
    }
    let hits = svc.query(b"T", b"k1", 64, 0, i64::MAX);
    assert_eq!(hits, vec![700, 400, 100], "newest first");
    assert!(svc.query(b"T", b"k9", 64, 0, i64::MAX).is_empty());
    assert!(svc.query(b"Other", b"k1", 64, 0, i64::MAX).is_empty());
    let late = svc.query(b"T", b"k1", 64, t0 + 3000, i64::MAX);
    assert_eq!(late, vec![700, 400], "entries before begin are skipped");
  }

  #[test]
  fn full_files_roll_and_survive_reopen() {
    let dir = TempDir::new("idx");
    let svc = IndexService::load(dir.path(), 16, 4, 64, true, 0).unwrap();
    for i in 0..7i64 {
      let f = svc.writable(1, 1_700_000_000_000 + i).unwrap();
      assert!(f.put_key(key_hash(b"T", b"same"), i, 1_700_000_000_000 + i * 1000));
    }
    assert_eq!(svc.file_count(), 3, "3 usable entries per file (entry 0 is never used)");
    assert_eq!(svc.query(b"T", b"same", 64, 0, i64::MAX).len(), 7);
    svc.flush().unwrap();
    drop(svc);
    let svc = IndexService::load(dir.path(), 16, 4, 64, true, 0).unwrap();
    assert_eq!(svc.query(b"T", b"same", 64, 0, i64::MAX).len(), 7);
    assert_eq!(svc.delete_expired(5), 1);
    assert_eq!(svc.file_count(), 2);
  }

  #[test]
  fn unclean_load_drops_files_newer_than_the_checkpoint() {
    let dir = TempDir::new("idx");
    let svc = IndexService::load(dir.path(), 16, 100, 64, true, 0).unwrap();
    let f = svc.writable(1, 1_700_000_000_000).unwrap();
    f.put_key(key_hash(b"T", b"k"), 0, 5_000);
    svc.flush().unwrap();
    drop((f, svc));
    let svc = IndexService::load(dir.path(), 16, 100, 64, false, 4_000).unwrap();
    assert_eq!(svc.file_count(), 0);
  }
}
