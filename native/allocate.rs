//! Commit-log segment allocation and pre-touch, off the writer's path (`AllocateMappedFileService`,
//! store.md §2.5).
//!
//! One background thread:
//! - creates the segments the writer asks for (the writer always asks for the next *two*, so the one after the
//!   current is ready before it is needed), reserving their space and faulting in their first pages;
//! - keeps the pages just ahead of the writer faulted in (`MADV_POPULATE_WRITE`): an append into fresh pages
//!   takes a page fault per page, many times slower than a copy into present ones;
//! - releases this process's page-table entries for pages well behind the writer, so the mapped commit log does
//!   not grow RSS (the data stays in the page cache and is flushed as usual).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::PAGE_SIZE;
use crate::error::StoreError;
use crate::mapped_file::MappedFile;

/// The writer reports its position each time it crosses a chunk boundary.
pub const PROGRESS_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Pages closer than this behind the writer keep their page-table entries.
const RELEASE_LAG_BYTES: usize = PROGRESS_CHUNK_BYTES;

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

struct Touch {
  file: Arc<MappedFile>,
  populated: usize,
  released: usize,
}

#[derive(Default)]
struct State {
  wanted: BTreeSet<i64>,
  ready: BTreeMap<i64, Result<Arc<MappedFile>, AllocError>>,
  progress: Option<(Arc<MappedFile>, usize)>,
  shutdown: bool,
}

pub struct Allocator {
  dir: PathBuf,
  file_size: usize,
  ahead_bytes: usize,
  advise_random: bool,
  state: Mutex<State>,
  work: Condvar,
  done: Condvar,
}

impl Allocator {
  pub fn new(dir: PathBuf, file_size: usize, ahead_bytes: usize, advise_random: bool) -> Allocator {
    Allocator {
      dir,
      file_size,
      ahead_bytes: ahead_bytes.min(file_size),
      advise_random,
      state: Mutex::new(State::default()),
      work: Condvar::new(),
      done: Condvar::new(),
    }
  }

  fn lock(&self) -> MutexGuard<'_, State> {
    self.state.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// Asks for the segment starting at `offset` (no-op if already asked for or ready).
  pub fn request(&self, offset: i64) {
    let mut s = self.lock();
    if !s.ready.contains_key(&offset) && s.wanted.insert(offset) {
      self.work.notify_one();
    }
  }

  /// Waits up to `timeout` for the segment at `offset` and takes it.
  pub fn take(&self, offset: i64, timeout: Duration) -> Result<Arc<MappedFile>, AllocError> {
    let deadline = Instant::now() + timeout;
    let mut s = self.lock();
    loop {
      if let Some(result) = s.ready.remove(&offset) {
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
    let mut s = self.lock();
    s.progress = Some((file.clone(), position));
    self.work.notify_one();
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

  /// The thread body.
  pub fn run(&self) {
    let mut touch: Option<Touch> = None;
    loop {
      let (create, progress) = {
        let mut s = self.lock();
        while !s.shutdown && s.wanted.is_empty() && s.progress.is_none() {
          s = self.work.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.shutdown {
          return;
        }
        let create = s.wanted.pop_first();
        let progress = if create.is_none() { s.progress.take() } else { None };
        (create, progress)
      };
      if let Some(offset) = create {
        let result = self.create(offset);
        let mut s = self.lock();
        s.ready.insert(offset, result);
        self.done.notify_all();
      } else if let Some((file, position)) = progress {
        self.follow(&mut touch, file, position);
      }
    }
  }

  fn create(&self, offset: i64) -> Result<Arc<MappedFile>, AllocError> {
    let file = MappedFile::create(&self.dir, offset, self.file_size)
      .map_err(|e| AllocError::Failed { errno: e.errno(), message: e.to_string() })?;
    if self.advise_random {
      file.advise_random();
    }
    if self.ahead_bytes > 0 {
      file.populate(0, self.ahead_bytes);
    }
    Ok(Arc::new(file))
  }

  /// Moves the populated window ahead of the writer and releases pages behind it.
  fn follow(&self, touch: &mut Option<Touch>, file: Arc<MappedFile>, position: usize) {
    let same = touch.as_ref().is_some_and(|t| Arc::ptr_eq(&t.file, &file));
    if !same {
      if let Some(old) = touch.take() {
        old.file.release(old.released, self.file_size - old.released);
      }
      *touch = Some(Touch { file: file.clone(), populated: self.ahead_bytes, released: 0 });
    }
    let Some(t) = touch.as_mut() else { return };
    if self.ahead_bytes > 0 {
      let target = (position + self.ahead_bytes).min(self.file_size);
      if target > t.populated {
        let from = t.populated.max(position);
        t.file.populate(from, target - from);
        t.populated = target;
      }
    }
    let page = PAGE_SIZE as usize;
    let release_to = position.saturating_sub(RELEASE_LAG_BYTES) / page * page;
    if release_to > t.released {
      t.file.release(t.released, release_to - t.released);
      t.released = release_to;
    }
  }
}

impl From<StoreError> for AllocError {
  fn from(e: StoreError) -> AllocError {
    AllocError::Failed { errno: e.errno(), message: e.to_string() }
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  #[test]
  fn creates_requested_segments_in_the_background() {
    let dir = TempDir::new("alloc");
    let a = Arc::new(Allocator::new(dir.path().to_path_buf(), 64 * 1024, 16 * 1024, false));
    let worker = {
      let a = a.clone();
      std::thread::spawn(move || a.run())
    };
    a.request(0);
    a.request(65536);
    let f = a.take(0, Duration::from_secs(5)).unwrap();
    assert_eq!(f.file_from_offset(), 0);
    assert!(f.is_resident(0, 16 * 1024), "the first pages are pre-touched");
    let g = a.take(65536, Duration::from_secs(5)).unwrap();
    assert_eq!(g.file_from_offset(), 65536);
    assert!(matches!(a.take(131072, Duration::from_millis(20)), Err(AllocError::TimedOut)));
    a.progress(&f, 40 * 1024);
    a.shutdown();
    worker.join().unwrap();
  }

  #[test]
  fn reports_creation_failures() {
    let dir = TempDir::new("alloc");
    // A directory where the segment file should go makes creating it fail.
    std::fs::create_dir(dir.path().join(crate::mapped_file::file_name(0))).unwrap();
    let a = Arc::new(Allocator::new(dir.path().to_path_buf(), 4096, 0, false));
    let worker = {
      let a = a.clone();
      std::thread::spawn(move || a.run())
    };
    a.request(0);
    assert!(matches!(a.take(0, Duration::from_secs(5)), Err(AllocError::Failed { .. })));
    a.shutdown();
    worker.join().unwrap();
  }
}
