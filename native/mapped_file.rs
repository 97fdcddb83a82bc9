//! One fixed-size segment file, memory-mapped read-write (`DefaultMappedFile`, store.md §2).
//!
//! Writes go into the mapping by a single writer thread at a time; readers copy bytes out with `pread`, so no
//! reader ever holds a pointer into the mapping and no JavaScript Buffer aliases it. Space is reserved with
//! `posix_fallocate` when the file is created, so a full disk is reported then, never as a SIGBUS on a later
//! write into the mapping.
//!
//! Positions are relative to the file start: `wrote` (bytes appended), `flushed` (bytes known durable).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::config::PAGE_SIZE;
use crate::error::{StoreError, StoreResult};

/// Linux's `MADV_POPULATE_READ` and `MADV_POPULATE_WRITE` (5.14+): fault pages in, readable or writable,
/// without changing their contents.
const MADV_POPULATE_READ: libc::c_int = 22;
const MADV_POPULATE_WRITE: libc::c_int = 23;

/// The 20-digit zero-padded decimal name of a segment starting at `offset` (`UtilAll#offset2FileName`).
pub fn file_name(offset: i64) -> String {
  format!("{offset:020}")
}

pub struct MappedFile {
  path: PathBuf,
  file: File,
  map: MmapRaw,
  file_from_offset: i64,
  file_size: usize,
  wrote: AtomicUsize,
  flushed: AtomicUsize,
  /// Store timestamp of the last record written, published after `wrote` (see `set_wrote`).
  last_store_timestamp: AtomicI64,
  /// Set once the segment has been removed from its queue; the mapping lives until the last `Arc` drops.
  destroyed: AtomicBool,
}

impl MappedFile {
  /// Creates (or re-creates an empty) segment named by its offset, reserving its whole size on disk.
  pub fn create(dir: &Path, offset: i64, size: usize) -> StoreResult<MappedFile> {
    MappedFile::create_at(dir.join(file_name(offset)), offset, size)
  }

  /// Creates a file at `path` (index files are named by time, not offset), reserving its whole size on disk.
  pub fn create_at(path: PathBuf, offset: i64, size: usize) -> StoreResult<MappedFile> {
    let file = OpenOptions::new()
      .read(true)
      .write(true)
      .create(true)
      .truncate(false)
      .open(&path)
      .map_err(|e| StoreError::io("create segment", &path, e))?;
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
    if rc != 0 {
      // Leave nothing half-made behind: a short file would stop the next start (store.md §2.4 step 3).
      drop(file);
      let _ = std::fs::remove_file(&path);
      return Err(StoreError::io("reserve space for segment", &path, io::Error::from_raw_os_error(rc)));
    }
    MappedFile::map(path, file, offset, size, 0)
  }

  /// Opens an existing segment of exactly `size` bytes; positions start at the end (recovery trims them).
  pub fn open(path: &Path, offset: i64, size: usize) -> StoreResult<MappedFile> {
    let file =
      OpenOptions::new().read(true).write(true).open(path).map_err(|e| StoreError::io("open segment", path, e))?;
    let len = file.metadata().map_err(|e| StoreError::io("stat segment", path, e))?.len();
    if len != size as u64 {
      return Err(StoreError::Corrupt(format!(
        "{} is {len} bytes but segments of this log are {size} bytes",
        path.display()
      )));
    }
    MappedFile::map(path.to_path_buf(), file, offset, size, size)
  }

  fn map(path: PathBuf, file: File, offset: i64, size: usize, position: usize) -> StoreResult<MappedFile> {
    let map = MmapOptions::new().len(size).map_raw(&file).map_err(|e| StoreError::io("mmap segment", &path, e))?;
    Ok(MappedFile {
      path,
      file,
      map,
      file_from_offset: offset,
      file_size: size,
      wrote: AtomicUsize::new(position),
      flushed: AtomicUsize::new(position),
      last_store_timestamp: AtomicI64::new(0),
      destroyed: AtomicBool::new(false),
    })
  }

  pub fn path(&self) -> &Path {
    &self.path
  }

  pub fn file_from_offset(&self) -> i64 {
    self.file_from_offset
  }

  pub fn file_size(&self) -> usize {
    self.file_size
  }

  pub fn wrote(&self) -> usize {
    self.wrote.load(Ordering::Acquire)
  }

  pub fn flushed(&self) -> usize {
    self.flushed.load(Ordering::Acquire)
  }

  pub fn is_full(&self) -> bool {
    self.wrote() == self.file_size
  }

  pub fn last_store_timestamp(&self) -> i64 {
    self.last_store_timestamp.load(Ordering::Acquire)
  }

  /// Publishes new write progress. The timestamp is stored after the position so that a reader that sees a
  /// timestamp also sees a position at least as far as that record (the flusher relies on this).
  pub fn set_wrote(&self, position: usize, store_timestamp: Option<i64>) {
    debug_assert!(position <= self.file_size);
    self.wrote.store(position, Ordering::Release);
    if let Some(ts) = store_timestamp {
      self.last_store_timestamp.store(ts, Ordering::Release);
    }
  }

  /// Resets all positions (recovery truncation, store.md §7.7). Bytes after `position` are left as they are.
  pub fn reset_positions(&self, position: usize) {
    self.wrote.store(position, Ordering::Release);
    self.flushed.store(position, Ordering::Release);
  }

  /// A mutable view of `len` bytes at `pos` inside the mapping.
  ///
  /// # Safety
  /// Only the one thread that owns writing to this file may call this, and the range must not be read through
  /// the mapping by anyone else while the returned slice lives. Readers use [`MappedFile::read_at`], which
  /// copies through the kernel and never observes a torn Rust reference.
  #[allow(clippy::mut_from_ref)]
  pub unsafe fn slice_mut(&self, pos: usize, len: usize) -> &mut [u8] {
    assert!(pos + len <= self.file_size, "write past segment end: {pos}+{len} > {}", self.file_size);
    std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(pos), len)
  }

  /// Copies `dst.len()` bytes from `pos` through the page cache (`pread`).
  pub fn read_at(&self, pos: usize, dst: &mut [u8]) -> io::Result<()> {
    if pos + dst.len() > self.file_size {
      return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past segment end"));
    }
    self.file.read_exact_at(dst, pos as u64)
  }

  /// Makes the written-but-unflushed range durable when at least `least_pages` whole pages are dirty
  /// (or anything is dirty with 0, or the file is full), as `DefaultMappedFile#flush` decides.
  /// Returns the new flushed position.
  pub fn flush(&self, least_pages: u64) -> io::Result<usize> {
    let write = self.wrote();
    let flushed = self.flushed();
    if !self.is_able_to_flush(flushed, write, least_pages) {
      return Ok(flushed);
    }
    let start = flushed - flushed % PAGE_SIZE as usize;
    let rc =
      unsafe { libc::msync(self.map.as_mut_ptr().add(start) as *mut libc::c_void, write - start, libc::MS_SYNC) };
    if rc != 0 {
      return Err(io::Error::last_os_error());
    }
    let flushed = self.flushed.fetch_max(write, Ordering::AcqRel).max(write);
    Ok(flushed)
  }

  fn is_able_to_flush(&self, flushed: usize, write: usize, least_pages: u64) -> bool {
    if write <= flushed {
      return false;
    }
    if write == self.file_size {
      return true;
    }
    if least_pages > 0 {
      let page = PAGE_SIZE as usize;
      return (write / page).saturating_sub(flushed / page) as u64 >= least_pages;
    }
    true
  }

  /// How many of the pages covering `[pos, pos+len)` are in the page cache (`mincore`), and how many there are.
  pub fn residency(&self, pos: usize, len: usize) -> (usize, usize) {
    if len == 0 || pos >= self.file_size {
      return (0, 0);
    }
    let page = PAGE_SIZE as usize;
    let end = (pos + len).min(self.file_size);
    let start = pos - pos % page;
    let pages = (end - start).div_ceil(page);
    let mut vec = vec![0u8; pages];
    let rc =
      unsafe { libc::mincore(self.map.as_mut_ptr().add(start) as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
    if rc != 0 {
      return (0, pages);
    }
    (vec.iter().filter(|&&b| b & 1 == 1).count(), pages)
  }

  pub fn is_resident(&self, pos: usize, len: usize) -> bool {
    let (resident, pages) = self.residency(pos, len);
    resident == pages
  }

  /// Faults the pages of a range in, writable, so that the writer does not take those faults later. Returns
  /// false when the kernel does not support it (then nothing happened, which is harmless).
  pub fn populate(&self, pos: usize, len: usize) -> bool {
    self.advise(pos, len, MADV_POPULATE_WRITE)
  }

  /// Reads the pages of a range into the page cache (zero pages for reserved space), leaving them clean.
  pub fn populate_read(&self, pos: usize, len: usize) -> bool {
    self.advise(pos, len, MADV_POPULATE_READ)
  }

  /// Drops this process's page-table entries for a range. The pages stay in the page cache (dirty ones are
  /// still written back), so this only keeps RSS small; the data is unaffected.
  pub fn release(&self, pos: usize, len: usize) {
    self.advise(pos, len, libc::MADV_DONTNEED);
  }

  /// `MADV_HUGEPAGE` for the whole mapping: the page cache may then use 2 MiB folios mapped by one page-table
  /// entry, so faulting the file in costs one fault per 2 MiB instead of one per 4 KiB.
  pub fn advise_hugepage(&self) -> bool {
    self.advise(0, self.file_size, libc::MADV_HUGEPAGE)
  }

  /// `MADV_RANDOM` for the whole mapping (`dataReadAheadEnable=false`).
  pub fn advise_random(&self) {
    self.advise(0, self.file_size, libc::MADV_RANDOM);
  }

  fn advise(&self, pos: usize, len: usize, advice: libc::c_int) -> bool {
    let page = PAGE_SIZE as usize;
    let start = pos - pos % page;
    let end = (pos + len).min(self.file_size);
    if end <= start {
      return true;
    }
    let rc = unsafe { libc::madvise(self.map.as_mut_ptr().add(start) as *mut libc::c_void, end - start, advice) };
    rc == 0
  }

  /// Marks the segment destroyed and deletes its file. The mapping stays valid for holders of an `Arc`.
  pub fn destroy(&self) -> io::Result<()> {
    if self.destroyed.swap(true, Ordering::AcqRel) {
      return Ok(());
    }
    match std::fs::remove_file(&self.path) {
      Ok(()) => Ok(()),
      Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
      Err(e) => Err(e),
    }
  }

  pub fn is_deleted(&self) -> bool {
    self.destroyed.load(Ordering::Acquire)
  }

  /// Last modification time in ms since the epoch (retention uses it, store.md §8.3).
  pub fn last_modified_ms(&self) -> i64 {
    self
      .file
      .metadata()
      .and_then(|m| m.modified())
      .ok()
      .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
      .map(|d| d.as_millis() as i64)
      .unwrap_or(0)
  }

  /// Reserved bytes on disk (allocated blocks).
  pub fn disk_bytes(&self) -> u64 {
    use std::os::unix::fs::MetadataExt;
    self.file.metadata().map(|m| m.blocks() * 512).unwrap_or(0)
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  #[test]
  fn names_are_twenty_digits() {
    assert_eq!(file_name(0), "00000000000000000000");
    assert_eq!(file_name(1_073_741_824), "00000000001073741824");
  }

  #[test]
  fn writes_are_visible_to_pread_and_survive_reopen() {
    let dir = TempDir::new("mf");
    let f = MappedFile::create(dir.path(), 8192, 8192).unwrap();
    unsafe { f.slice_mut(100, 5) }.copy_from_slice(b"hello");
    f.set_wrote(105, Some(42));
    let mut out = [0u8; 5];
    f.read_at(100, &mut out).unwrap();
    assert_eq!(&out, b"hello");
    assert_eq!(f.flush(0).unwrap(), 105);
    assert_eq!(f.flushed(), 105);
    assert_eq!(f.last_store_timestamp(), 42);
    let path = f.path().to_path_buf();
    drop(f);
    let g = MappedFile::open(&path, 8192, 8192).unwrap();
    assert_eq!(g.wrote(), 8192);
    let mut out = [0u8; 5];
    g.read_at(100, &mut out).unwrap();
    assert_eq!(&out, b"hello");
  }

  #[test]
  fn open_refuses_a_segment_of_the_wrong_size() {
    let dir = TempDir::new("mf");
    let path = dir.path().join(file_name(0));
    std::fs::write(&path, [0u8; 100]).unwrap();
    let err = MappedFile::open(&path, 0, 4096).err().unwrap();
    assert_eq!(err.code(), "FERRYMQ_STORE_CORRUPT");
  }

  #[test]
  fn flush_respects_least_pages() {
    let dir = TempDir::new("mf");
    let f = MappedFile::create(dir.path(), 0, 64 * 1024).unwrap();
    f.set_wrote(4096 * 3 + 10, None);
    assert_eq!(f.flush(4).unwrap(), 0, "3 dirty pages < 4");
    f.set_wrote(4096 * 4, None);
    assert_eq!(f.flush(4).unwrap(), 4096 * 4);
    f.set_wrote(4096 * 4 + 1, None);
    assert_eq!(f.flush(0).unwrap(), 4096 * 4 + 1);
  }

  #[test]
  fn residency_reports_touched_pages() {
    let dir = TempDir::new("mf");
    let f = MappedFile::create(dir.path(), 0, 16 * 4096).unwrap();
    unsafe { f.slice_mut(0, 4096) }.fill(1);
    let (resident, pages) = f.residency(0, 4096);
    assert_eq!((resident, pages), (1, 1));
    assert!(f.is_resident(0, 10));
    f.release(0, 4096);
    // Releasing only drops our page-table entries; the page cache keeps the data.
    let mut out = [0u8; 1];
    f.read_at(0, &mut out).unwrap();
    assert_eq!(out[0], 1);
  }

  #[test]
  fn destroy_deletes_the_file_once() {
    let dir = TempDir::new("mf");
    let f = MappedFile::create(dir.path(), 0, 4096).unwrap();
    f.destroy().unwrap();
    assert!(!f.path().exists());
    f.destroy().unwrap();
  }
}
