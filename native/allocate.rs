//! Commit-log segment allocation and pre-touch, off the writer's path (`AllocateMappedFileService`,
//! store.md §2.5).
//!
//! Writing into a page that is not in the page cache costs a page allocation, zeroing and a fault; on a VM the
//! first touch of guest memory costs far more again (measured here: ~2.5 s per GiB against ~40 ms per GiB for
//! touched memory). So one background thread, in this order of priority:
//!
//! 1. creates the segments the writer asks for (it always asks for the next *two*), reserving their space;
//! 2. keeps the pages just ahead of the writer mapped writable (`MADV_POPULATE_WRITE`), so the writer's copies
//!    take no faults (the writer itself unmaps what is behind it, see `writer.rs`, so that RSS stays small even
//!    while this thread is held up, e.g. in `fallocate` under heavy writeback);
//! 3. warms every created segment a chunk at a time: reads its pages into the page cache (`MADV_POPULATE_READ`,
//!    clean zero pages, nothing to write back) and drops the mapping again.
//!
//! The data itself never depends on any of this: populating and releasing only move pages in and out of this
//! process's page tables.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::mapped_file::MappedFile;

/// The writer reports its position each time it crosses a chunk boundary; warming also goes a chunk at a time.
pub const PROGRESS_CHUNK_BYTES: usize = 2 * 1024 * 1024;
/// A new segment gets only this much mapped writable at creation; the rest of its window follows the writer, so a
/// segment waiting for its turn holds little RSS.
const CREATE_POPULATE_BYTES: usize = PROGRESS_CHUNK_BYTES;

/// Why a segment could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
  /// Creating it failed; `errno` when the OS said why (ENOSPC = 28).
  Failed {
    errno: Option<i32>,
    message: String,
  },
  TimedOut,
  ShutDown,
}

/// Where the writer is in its current segment, and how far ahead of it pages are mapped.
struct Window {
  file: Arc<MappedFile>,
  position: usize,
  populated: usize,
}

/// A created segment whose pages are still being read into the page cache.
struct Warming {
  file: Arc<MappedFile>,
  warmed: usize,
}

#[derive(Default)]
struct State {
  wanted: BTreeSet<i64>,
  /// The segment being created right now.
  creating: Option<i64>,
  /// The highest segment handed to the writer: nothing at or below it is ever created again.
  taken_max: Option<i64>,
  ready: BTreeMap<i64, Result<Arc<MappedFile>, AllocError>>,
  /// The writer's latest position report, not yet acted on.
  progress: Option<(Arc<MappedFile>, usize)>,
  warming: Vec<Warming>,
  shutdown: bool,
}

pub struct Allocator {
  dir: PathBuf,
  file_size: usize,
  ahead_bytes: usize,
  advise: SegmentAdvice,
  state: Mutex<State>,
  work: Condvar,
  done: Condvar,
  /// Bytes of created segments not yet warmed (for stats and for benchmarks that wait for a warm store).
  pending_warm_bytes: AtomicU64,
  /// The writer's segment and position as of its last report. Checked right before mapping anything, so that a
  /// late task never maps pages the writer has already passed (and unmapped).
  writer_file: AtomicI64,
  writer_position: AtomicU64,
}

enum Task {
  Create(i64),
  Follow(Arc<MappedFile>, usize),
  Warm(Arc<MappedFile>, usize),
}

/// How a new segment's mapping is advised to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentAdvice {
  /// `MADV_RANDOM`: no read-ahead (`dataReadAheadEnable=false`).
  Random,
  /// `MADV_HUGEPAGE`: 2 MiB folios, one fault and one TLB entry per 2 MiB. Only for ASYNC_FLUSH: writeback
  /// works per folio, and every group-commit msync of SYNC_FLUSH writes whole folios to disk.
  HugePages,
}

impl SegmentAdvice {
  /// SYNC_FLUSH maps segments `MADV_RANDOM` whatever `dataReadAheadEnable` says: a write fault under the default
  /// advice reads ahead into large folios too, and each msync then writes them whole. Measured over 50,000
  /// single sync puts: ~744 KiB written per put with the default advice, ~5 KiB with `MADV_RANDOM` (and 5,300
  /// against 3,100 puts/s); with `MADV_HUGEPAGE`, 2 MiB per put. The price: no kernel read-ahead for consumers
  /// reading old segments back from disk.
  pub fn for_store(data_read_ahead_enable: bool, flush_sync: bool) -> SegmentAdvice {
    if !data_read_ahead_enable || flush_sync {
      SegmentAdvice::Random
    } else {
      SegmentAdvice::HugePages
    }
  }
}

impl Allocator {
  pub fn new(dir: PathBuf, file_size: usize, ahead_bytes: usize, advise: SegmentAdvice) -> Allocator {
    Allocator {
      dir,
      file_size,
      ahead_bytes: ahead_bytes.min(file_size),
      advise,
      state: Mutex::new(State::default()),
      work: Condvar::new(),
      done: Condvar::new(),
      pending_warm_bytes: AtomicU64::new(0),
      writer_file: AtomicI64::new(-1),
      writer_position: AtomicU64::new(0),
    }
  }

  fn lock(&self) -> MutexGuard<'_, State> {
    self.state.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// Asks for the segment starting at `offset` (no-op if already asked for or ready).
  pub fn request(&self, offset: i64) {
    let mut s = self.lock();
    let known = s.ready.contains_key(&offset) || s.creating == Some(offset) || s.taken_max.is_some_and(|t| offset <= t);
    if !known && s.wanted.insert(offset) {
      self.update_pending(&s);
      self.work.notify_one();
    }
  }

  /// Counts what is still to be created or warmed (call with the lock held).
  fn update_pending(&self, s: &State) {
    let warming: usize = s.warming.iter().map(|w| w.file.file_size() - w.warmed.min(w.file.file_size())).sum();
    let pending = warming + s.wanted.len() * self.file_size;
    self.pending_warm_bytes.store(pending as u64, Ordering::Release);
  }

  /// Waits up to `timeout` for the segment at `offset` and takes it.
  pub fn take(&self, offset: i64, timeout: Duration) -> Result<Arc<MappedFile>, AllocError> {
    let deadline = Instant::now() + timeout;
    let mut s = self.lock();
    loop {
      if let Some(result) = s.ready.remove(&offset) {
        if result.is_ok() {
          s.taken_max = Some(s.taken_max.map_or(offset, |t| t.max(offset)));
        }
        return result;
      }
      if s.shutdown {
        return Err(AllocError::ShutDown);
      }
      let now = Instant::now();
      if now >= deadline {
        return Err(AllocError::TimedOut);
      }
      s = self.done.wait_timeout(s, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
    }
  }

  /// The writer's position in its current segment (called when it crosses a chunk boundary or changes file).
  pub fn progress(&self, file: &Arc<MappedFile>, position: usize) {
    self.writer_position.store(position as u64, Ordering::Release);
    self.writer_file.store(file.file_from_offset(), Ordering::Release);
    let mut s = self.lock();
    s.progress = Some((file.clone(), position));
    self.work.notify_one();
  }

  /// Bytes of created segments whose pages are not in the page cache yet.
  pub fn pending_warm_bytes(&self) -> u64 {
    self.pending_warm_bytes.load(Ordering::Acquire)
  }

  pub fn shutdown(&self) {
    let mut s = self.lock();
    s.shutdown = true;
    self.work.notify_all();
    self.done.notify_all();
  }

  /// Deletes segments that were made ahead of time and never handed out (at a clean shutdown).
  pub fn discard_unused(&self) {
    let ready = std::mem::take(&mut self.lock().ready);
    for file in ready.into_values().flatten() {
      // An unused segment holds no data; if deleting fails, the next start's recovery removes it.
      let _ = file.destroy();
    }
  }

  fn next_task(&self) -> Option<Task> {
    let mut s = self.lock();
    loop {
      if s.shutdown {
        return None;
      }
      if let Some(offset) = s.wanted.pop_first() {
        s.creating = Some(offset);
        return Some(Task::Create(offset));
      }
      if let Some((file, position)) = s.progress.take() {
        return Some(Task::Follow(file, position));
      }
      // Warm the oldest segment first; skip what the writer has already passed.
      let (writer_file, writer_position) = self.writer_at();
      s.warming.retain(|w| w.warmed < w.file.file_size() && !w.file.is_deleted());
      for w in s.warming.iter_mut() {
        if writer_file == w.file.file_from_offset() {
          w.warmed = w.warmed.max(writer_position);
        } else if writer_file > w.file.file_from_offset() {
          w.warmed = w.file.file_size();
        }
      }
      {
        if let Some(w) = s.warming.iter_mut().find(|w| w.warmed < w.file.file_size()) {
          let from = w.warmed;
          w.warmed = (from + PROGRESS_CHUNK_BYTES).min(w.file.file_size());
          let task = Task::Warm(w.file.clone(), from);
          self.update_pending(&s);
          return Some(task);
        }
      }
      self.update_pending(&s);
      s = self.work.wait(s).unwrap_or_else(|p| p.into_inner());
    }
  }

  fn writer_at(&self) -> (i64, usize) {
    let file = self.writer_file.load(Ordering::Acquire);
    (file, self.writer_position.load(Ordering::Acquire) as usize)
  }

  /// The thread body.
  pub fn run(&self) {
    let mut window: Option<Window> = None;
    while let Some(task) = self.next_task() {
      match task {
        Task::Create(offset) => {
          let result = self.create(offset);
          let mut s = self.lock();
          if let Ok(file) = &result {
            s.warming.push(Warming { file: file.clone(), warmed: 0 });
          }
          s.ready.insert(offset, result);
          s.creating = None;
          self.update_pending(&s);
          self.done.notify_all();
        }
        Task::Follow(file, position) => self.follow(&mut window, file, position),
        Task::Warm(file, from) => {
          let len = PROGRESS_CHUNK_BYTES.min(file.file_size() - from);
          // Reading the pages in leaves them clean in the page cache; the mapping is dropped right away.
          file.populate_read(from, len);
          // Keep the mapping only where the writer is about to write; anything behind it must go, or it would
          // stay mapped (RSS) long after the writer left.
          let (writer_file, writer_position) = self.writer_at();
          let in_window = writer_file == file.file_from_offset()
            && from + len > writer_position
            && window.as_ref().is_some_and(|w| Arc::ptr_eq(&w.file, &file) && from < w.populated);
          if !in_window {
            file.release(from, len);
          }
        }
      }
    }
  }

  fn create(&self, offset: i64) -> Result<Arc<MappedFile>, AllocError> {
    let file = MappedFile::create(&self.dir, offset, self.file_size)
      .map_err(|e| AllocError::Failed { errno: e.errno(), message: e.to_string() })?;
    match self.advise {
      SegmentAdvice::Random => file.advise_random(),
      SegmentAdvice::HugePages => {
        file.advise_hugepage();
      }
    }
    if self.ahead_bytes > 0 {
      file.populate(0, CREATE_POPULATE_BYTES.min(self.ahead_bytes));
    }
    Ok(Arc::new(file))
  }

  /// Moves the writable window ahead of the writer.
  fn follow(&self, window: &mut Option<Window>, file: Arc<MappedFile>, position: usize) {
    let same = window.as_ref().is_some_and(|w| Arc::ptr_eq(&w.file, &file));
    if !same {
      *window = Some(Window { file: file.clone(), position, populated: CREATE_POPULATE_BYTES.min(self.ahead_bytes) });
    }
    let Some(w) = window.as_mut() else { return };
    // A report that waited behind slower work may be stale: map only ahead of where the writer is now.
    let (writer_file, writer_position) = self.writer_at();
    if writer_file != file.file_from_offset() {
      return;
    }
    let position = position.max(writer_position);
    w.position = position;
    if self.ahead_bytes > 0 {
      let target = (position + self.ahead_bytes).min(self.file_size);
      if target > w.populated {
        let from = w.populated.max(position);
        w.file.populate(from, target - from);
        w.populated = target;
      }
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  fn start(a: &Arc<Allocator>) -> std::thread::JoinHandle<()> {
    let a = a.clone();
    std::thread::spawn(move || a.run())
  }

  #[test]
  fn creates_requested_segments_and_warms_them_in_the_background() {
    let dir = TempDir::new("alloc");
    let size = 3 * PROGRESS_CHUNK_BYTES;
    let a = Arc::new(Allocator::new(dir.path().to_path_buf(), size, 64 * 1024, SegmentAdvice::HugePages));
    let worker = start(&a);
    a.request(0);
    a.request(size as i64);
    let f = a.take(0, Duration::from_secs(5)).unwrap();
    assert_eq!(f.file_from_offset(), 0);
    let g = a.take(size as i64, Duration::from_secs(5)).unwrap();
    assert_eq!(g.file_from_offset(), size as i64);
    assert!(matches!(a.take(2 * size as i64, Duration::from_millis(20)), Err(AllocError::TimedOut)));
    let deadline = Instant::now() + Duration::from_secs(20);
    while a.pending_warm_bytes() > 0 || !g.is_resident(0, size) {
      assert!(Instant::now() < deadline, "segments were not warmed");
      std::thread::sleep(Duration::from_millis(5));
    }
    assert!(f.is_resident(0, size), "every page is in the page cache");
    a.progress(&f, 2 * PROGRESS_CHUNK_BYTES);
    a.shutdown();
    worker.join().unwrap();
  }

  #[test]
  fn never_creates_a_segment_twice() {
    let dir = TempDir::new("alloc");
    let a = Arc::new(Allocator::new(dir.path().to_path_buf(), 64 * 1024, 0, SegmentAdvice::HugePages));
    let worker = start(&a);
    for _ in 0..100 {
      a.request(0);
    }
    let f = a.take(0, Duration::from_secs(5)).unwrap();
    a.request(0);
    a.request(65536);
    a.take(65536, Duration::from_secs(5)).unwrap();
    a.discard_unused();
    assert!(f.path().exists(), "a segment handed out is never made again, so never discarded");
    a.shutdown();
    worker.join().unwrap();
  }

  #[test]
  fn reports_creation_failures() {
    let dir = TempDir::new("alloc");
    // A directory where the segment file should go makes creating it fail.
    std::fs::create_dir(dir.path().join(crate::mapped_file::file_name(0))).unwrap();
    let a = Arc::new(Allocator::new(dir.path().to_path_buf(), 4096, 0, SegmentAdvice::HugePages));
    let worker = start(&a);
    a.request(0);
    assert!(matches!(a.take(0, Duration::from_secs(5)), Err(AllocError::Failed { .. })));
    a.shutdown();
    worker.join().unwrap();
  }

  #[test]
  fn huge_pages_only_for_async_flush_with_read_ahead_and_no_read_ahead_under_sync_flush() {
    assert_eq!(SegmentAdvice::for_store(true, false), SegmentAdvice::HugePages);
    assert_eq!(SegmentAdvice::for_store(true, true), SegmentAdvice::Random);
    assert_eq!(SegmentAdvice::for_store(false, false), SegmentAdvice::Random);
    assert_eq!(SegmentAdvice::for_store(false, true), SegmentAdvice::Random);
  }
}
