//! Events the store sends to TypeScript, as flat runs of `f64` (see `EventSink`). Every event starts with its
//! kind and its length in values, so a reader can skip kinds it does not know.
//!
//! ```text
//! APPEND  [1, len, ticket, elapsedInLockUs, putCount, { status, (phyOffset, queueOffset, storeTimestamp) × records }× putCount]
//! NOTICE  [2, len, code, a, b, c]
//! ```

pub const EVENT_APPEND: f64 = 1.0;
pub const EVENT_NOTICE: f64 = 2.0;

/// Something TypeScript should log or count; `a`, `b`, `c` depend on the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Notice {
  /// A put held the put lock longer than 500 ms: a = elapsed ms, b = records.
  SlowPut = 1,
  /// A flush took longer than 500 ms: a = elapsed ms.
  SlowFlush = 2,
  /// A commit-log segment was deleted by clean-up: a = its start offset, b = 1 if forced by disk usage.
  CommitLogDeleted = 3,
  /// Disk usage crossed the warning level; writes are refused: a = usage percent.
  DiskFull = 4,
  /// Disk usage is back under the warning level: a = usage percent.
  DiskOk = 5,
  /// A write or flush failed; the store refuses writes until reopened: a = errno.
  WriteError = 6,
  /// Creating a segment failed: a = errno (0 if none), b = its start offset, c = 0 commit log / 1 queue / 2 index.
  CreateFileFailed = 7,
  /// Consume-queue segments and index files deleted by clean-up: a = queue segments, b = index files.
  QueuesCleaned = 8,
  /// The last segment was shorter than the segment size and was extended with zeroes at open: a = its start
  /// offset, b = the length it had, c = 0 commit log / 1 consume queue.
  ShortSegmentExtended = 9,
}

/// Where events go. Implemented by the N-API channel in `lib.rs`, and by a recorder in tests.
pub trait EventSink: Send + Sync {
  fn post(&self, event: &[f64]);
}

pub fn notice(sink: &dyn EventSink, code: Notice, a: f64, b: f64, c: f64) {
  sink.post(&[EVENT_NOTICE, 6.0, code as i32 as f64, a, b, c]);
}

#[cfg(test)]
pub mod tests {
  use super::*;
  use std::sync::Mutex;

  /// Collects events for assertions.
  #[derive(Default)]
  pub struct Recorder(pub Mutex<Vec<Vec<f64>>>);

  impl EventSink for Recorder {
    fn post(&self, event: &[f64]) {
      self.0.lock().unwrap().push(event.to_vec());
    }
  }

  #[test]
  fn notice_has_kind_and_length() {
    let r = Recorder::default();
    notice(&r, Notice::DiskFull, 91.0, 0.0, 0.0);
    let e = &r.0.lock().unwrap()[0];
    assert_eq!(e.len(), e[1] as usize);
    assert_eq!(e[2], Notice::DiskFull as i32 as f64);
  }
}
