//! A log made of fixed-size segments named by their start offset (`MappedFileQueue`, store.md §2.3–§2.4, §7.7).
//!
//! The list is behind a read-write lock: lookups take it shared and briefly; the writer takes it exclusively
//! only to add a segment, clean-up only to remove the oldest ones. Segments are `Arc`s, so a reader holding one
//! keeps its mapping alive even after clean-up removed and deleted it.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::{StoreError, StoreResult};
use crate::mapped_file::MappedFile;

pub struct MappedFileQueue {
  dir: PathBuf,
  file_size: usize,
  files: RwLock<Vec<Arc<MappedFile>>>,
  flushed_where: AtomicI64,
  /// The last segment was shorter than the segment size at load and was extended: (its offset, its length).
  extended_short_last: Option<(i64, u64)>,
}

fn is_segment_name(name: &str) -> bool {
  name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit())
}

impl MappedFileQueue {
  pub fn new(dir: &Path, file_size: usize) -> MappedFileQueue {
    MappedFileQueue {
      dir: dir.to_path_buf(),
      file_size,
      files: RwLock::new(Vec::new()),
      flushed_where: AtomicI64::new(0),
      extended_short_last: None,
    }
  }

  /// Maps every segment in `dir` (store.md §2.4): sorted by name, an empty last file is deleted, a last file cut
  /// short (a crash while it was being created, a torn copy) is extended with zeroes — what it lacks is as if never
  /// written, and recovery cuts the log where its data ends — and any other file of the wrong size stops the load
  /// (RocketMQ refuses a short last file too; ferrymq starts and says so, see `extended_short_last`). Positions start
  /// at the file end; recovery trims them.
  pub fn load(dir: &Path, file_size: usize) -> StoreResult<MappedFileQueue> {
    let mut queue = MappedFileQueue::new(dir, file_size);
    let entries = match std::fs::read_dir(dir) {
      Ok(e) => e,
      Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(queue),
      Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
      let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
      let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
      if let Some(name) = entry.file_name().to_str() {
        if is_file && is_segment_name(name) {
          names.push(name.to_string());
        }
      }
    }
    names.sort();
    let mut files = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
      let path = dir.join(name);
      let offset: i64 = name.parse().map_err(|_| StoreError::Corrupt(format!("bad segment name {name}")))?;
      let len = std::fs::metadata(&path).map_err(|e| StoreError::io("stat", &path, e))?.len();
      let last = i == names.len() - 1;
      if len == 0 && last {
        // A segment created just before a crash, never written: RocketMQ deletes it too.
        std::fs::remove_file(&path).map_err(|e| StoreError::io("delete empty segment", &path, e))?;
        continue;
      }
      if last && len < file_size as u64 {
        let f =
          OpenOptions::new().write(true).open(&path).map_err(|e| StoreError::io("open short segment", &path, e))?;
        f.set_len(file_size as u64).map_err(|e| StoreError::io("extend short segment", &path, e))?;
        queue.extended_short_last = Some((offset, len));
      }
      files.push(Arc::new(MappedFile::open(&path, offset, file_size)?));
    }
    *queue.write_files() = files;
    Ok(queue)
  }

  /// The last segment was shorter than the segment size at load: (its offset, the length it had).
  pub fn extended_short_last(&self) -> Option<(i64, u64)> {
    self.extended_short_last
  }

  fn read_files(&self) -> RwLockReadGuard<'_, Vec<Arc<MappedFile>>> {
    self.files.read().unwrap_or_else(|p| p.into_inner())
  }

  fn write_files(&self) -> RwLockWriteGuard<'_, Vec<Arc<MappedFile>>> {
    self.files.write().unwrap_or_else(|p| p.into_inner())
  }

  pub fn dir(&self) -> &Path {
    &self.dir
  }

  pub fn file_size(&self) -> usize {
    self.file_size
  }

  pub fn snapshot(&self) -> Vec<Arc<MappedFile>> {
    self.read_files().clone()
  }

  pub fn len(&self) -> usize {
    self.read_files().len()
  }

  pub fn is_empty(&self) -> bool {
    self.read_files().is_empty()
  }

  pub fn first(&self) -> Option<Arc<MappedFile>> {
    self.read_files().first().cloned()
  }

  pub fn last(&self) -> Option<Arc<MappedFile>> {
    self.read_files().last().cloned()
  }

  /// The segment holding absolute offset `o` (store.md §2.3).
  pub fn find(&self, o: i64) -> Option<Arc<MappedFile>> {
    let files = self.read_files();
    let first = files.first()?;
    let last = files.last()?;
    let size = self.file_size as i64;
    if o < first.file_from_offset() || o >= last.file_from_offset() + size {
      return None;
    }
    let index = (o / size - first.file_from_offset() / size) as usize;
    if let Some(f) = files.get(index) {
      if f.file_from_offset() <= o && o < f.file_from_offset() + size {
        return Some(f.clone());
      }
    }
    files.iter().find(|f| f.file_from_offset() <= o && o < f.file_from_offset() + size).cloned()
  }

  /// Appends a new last segment (the writer, after creating it).
  pub fn push(&self, file: Arc<MappedFile>) {
    let mut files = self.write_files();
    debug_assert!(files.last().is_none_or(|l| l.file_from_offset() + self.file_size as i64 == file.file_from_offset()));
    files.push(file);
  }

  /// Where the next segment starts: right after the last one, or at `start - start % size` for an empty log.
  pub fn next_file_offset(&self, start: i64) -> i64 {
    match self.last() {
      Some(last) => last.file_from_offset() + self.file_size as i64,
      None => start - start % self.file_size as i64,
    }
  }

  pub fn min_offset(&self) -> Option<i64> {
    self.first().map(|f| f.file_from_offset())
  }

  /// One past the last written byte (0 for an empty log).
  pub fn max_offset(&self) -> i64 {
    self.last().map(|f| f.file_from_offset() + f.wrote() as i64).unwrap_or(0)
  }

  pub fn flushed_where(&self) -> i64 {
    self.flushed_where.load(Ordering::Acquire)
  }

  pub fn set_flushed_where(&self, o: i64) {
    self.flushed_where.store(o, Ordering::Release);
  }

  /// Flushes the segment holding `flushed_where` (`MappedFileQueue#flush`) and returns the new `flushed_where`.
  /// Crossing into the next segment takes another call.
  pub fn flush(&self, least_pages: u64) -> io::Result<i64> {
    let at = self.flushed_where();
    let segment = self.find(at).or_else(|| if at == 0 { self.first() } else { None });
    let Some(segment) = segment else { return Ok(at) };
    let flushed = segment.flush(least_pages)?;
    let now = segment.file_from_offset() + flushed as i64;
    // Two flushers (the flush thread and an explicit flush) may race; the position only moves forward.
    self.flushed_where.fetch_max(now, Ordering::AcqRel);
    Ok(self.flushed_where())
  }

  /// Sum of reserved disk bytes over all segments.
  pub fn disk_bytes(&self) -> u64 {
    self.read_files().iter().map(|f| f.disk_bytes()).sum()
  }

  /// Drops every byte from absolute offset `o` on (store.md §7.7): later segments are deleted, the one holding
  /// `o` has its positions set to `o`'s place in it.
  pub fn truncate_dirty(&self, o: i64) -> StoreResult<()> {
    let mut files = self.write_files();
    let size = self.file_size as i64;
    let mut keep = Vec::with_capacity(files.len());
    for f in files.drain(..) {
      let end = f.file_from_offset() + size;
      if end <= o {
        keep.push(f);
      } else if o >= f.file_from_offset() {
        f.reset_positions((o - f.file_from_offset()) as usize);
        keep.push(f);
      } else {
        f.destroy().map_err(|e| StoreError::io("delete dirty segment", f.path(), e))?;
      }
    }
    *files = keep;
    if self.flushed_where() > o {
      self.set_flushed_where(o);
    }
    Ok(())
  }

  /// Forgets every segment without deleting anything; mappings go once no reader holds them (store close).
  pub fn release_all(&self) {
    self.write_files().clear();
  }

  /// Removes the last segment and deletes its file.
  pub fn remove_last(&self) -> StoreResult<()> {
    let last = self.write_files().pop();
    if let Some(f) = last {
      f.destroy().map_err(|e| StoreError::io("delete segment", f.path(), e))?;
      let end = self.max_offset();
      if self.flushed_where() > end {
        self.set_flushed_where(end);
      }
    }
    Ok(())
  }

  /// Removes the first `n` segments from the list and deletes their files; returns what was removed.
  pub fn remove_first(&self, n: usize) -> Vec<Arc<MappedFile>> {
    let removed: Vec<Arc<MappedFile>> = {
      let mut files = self.write_files();
      let n = n.min(files.len());
      files.drain(..n).collect()
    };
    for f in &removed {
      // Deleting can only fail if someone removed the file behind our back; the segment is gone either way.
      let _ = f.destroy();
    }
    removed
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  fn queue_with(dir: &Path, size: usize, n: usize) -> MappedFileQueue {
    let q = MappedFileQueue::new(dir, size);
    for i in 0..n {
      let f = MappedFile::create(dir, (i * size) as i64, size).unwrap();
      f.set_wrote(size, None);
      q.push(Arc::new(f));
    }
    q
  }

  #[test]
  fn finds_segments_by_offset() {
    let dir = TempDir::new("mfq");
    let q = queue_with(dir.path(), 4096, 3);
    assert_eq!(q.find(0).unwrap().file_from_offset(), 0);
    assert_eq!(q.find(4095).unwrap().file_from_offset(), 0);
    assert_eq!(q.find(4096).unwrap().file_from_offset(), 4096);
    assert_eq!(q.find(3 * 4096 - 1).unwrap().file_from_offset(), 8192);
    assert!(q.find(3 * 4096).is_none());
    assert!(q.find(-1).is_none());
    assert_eq!(q.max_offset(), 3 * 4096);
    assert_eq!(q.next_file_offset(0), 3 * 4096);
  }

  #[test]
  fn load_sorts_deletes_empty_tail_and_refuses_bad_sizes() {
    let dir = TempDir::new("mfq");
    drop(queue_with(dir.path(), 4096, 2));
    std::fs::write(dir.path().join(crate::mapped_file::file_name(8192)), []).unwrap();
    std::fs::write(dir.path().join("not-a-segment"), b"x").unwrap();
    let q = MappedFileQueue::load(dir.path(), 4096).unwrap();
    assert_eq!(q.len(), 2);
    assert!(!dir.path().join(crate::mapped_file::file_name(8192)).exists());
    drop(q);
    std::fs::write(dir.path().join(crate::mapped_file::file_name(8192)), [0u8; 10]).unwrap();
    std::fs::write(dir.path().join(crate::mapped_file::file_name(12288)), [0u8; 4096]).unwrap();
    assert_eq!(MappedFileQueue::load(dir.path(), 4096).err().unwrap().code(), "FERRYMQ_STORE_CORRUPT");
  }

  #[test]
  fn truncate_dirty_drops_later_segments() {
    let dir = TempDir::new("mfq");
    let q = queue_with(dir.path(), 4096, 3);
    q.set_flushed_where(3 * 4096);
    q.truncate_dirty(4096 + 100).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q.max_offset(), 4096 + 100);
    assert_eq!(q.flushed_where(), 4096 + 100);
    assert!(!dir.path().join(crate::mapped_file::file_name(8192)).exists());
  }

  #[test]
  fn flush_advances_one_segment_per_call() {
    let dir = TempDir::new("mfq");
    let q = queue_with(dir.path(), 4096, 2);
    assert_eq!(q.flush(0).unwrap(), 4096);
    assert_eq!(q.flush(0).unwrap(), 8192);
    assert_eq!(q.flush(0).unwrap(), 8192);
  }

  #[test]
  fn remove_first_deletes_files() {
    let dir = TempDir::new("mfq");
    let q = queue_with(dir.path(), 4096, 3);
    let held = q.first().unwrap();
    let removed = q.remove_first(2);
    assert_eq!(removed.len(), 2);
    assert_eq!(q.min_offset(), Some(8192));
    // A holder keeps reading a removed segment's mapping safely.
    let mut b = [0u8; 1];
    held.read_at(0, &mut b).unwrap();
  }
}
