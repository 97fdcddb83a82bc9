//! The 4 KiB `checkpoint` file (`StoreCheckpoint`, store.md §4.5): timestamps that bound how far back recovery
//! after a crash must look.
//!
//! ```text
//!  0  physicMsgTimestamp  i64   store time of the last commit-log data known flushed
//!  8  logicsMsgTimestamp  i64   store time of the last message written to a consume queue
//! 16  indexMsgTimestamp   i64   end time of the last full index file flushed
//! 24  masterFlushedOffset i64   (HA controller modes only)
//! 32  confirmPhyOffset    i64   last valid physical offset found by recovery
//! ```

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::{StoreError, StoreResult};
use crate::record::{get_i64, put_i64};

const FILE_SIZE: usize = 4096;

/// The file is opened for each write rather than held, so a closed store keeps nothing open.
pub struct Checkpoint {
  path: PathBuf,
  pub physic_msg_timestamp: AtomicI64,
  pub logics_msg_timestamp: AtomicI64,
  pub index_msg_timestamp: AtomicI64,
  pub master_flushed_offset: AtomicI64,
  pub confirm_phy_offset: AtomicI64,
}

impl Checkpoint {
  pub fn load(path: &Path) -> StoreResult<Checkpoint> {
    let file = OpenOptions::new()
      .read(true)
      .write(true)
      .create(true)
      .truncate(false)
      .open(path)
      .map_err(|e| StoreError::io("open checkpoint", path, e))?;
    let mut b = [0u8; 40];
    let len = file.metadata().map_err(|e| StoreError::io("stat checkpoint", path, e))?.len();
    if len >= 40 {
      file.read_exact_at(&mut b, 0).map_err(|e| StoreError::io("read checkpoint", path, e))?;
    }
    if len != FILE_SIZE as u64 {
      file.set_len(FILE_SIZE as u64).map_err(|e| StoreError::io("size checkpoint", path, e))?;
    }
    Ok(Checkpoint {
      path: path.to_path_buf(),
      physic_msg_timestamp: AtomicI64::new(get_i64(&b, 0)),
      logics_msg_timestamp: AtomicI64::new(get_i64(&b, 8)),
      index_msg_timestamp: AtomicI64::new(get_i64(&b, 16)),
      master_flushed_offset: AtomicI64::new(get_i64(&b, 24)),
      confirm_phy_offset: AtomicI64::new(get_i64(&b, 32)),
    })
  }

  /// Writes all five fields and makes them durable.
  pub fn flush(&self) -> io::Result<()> {
    let mut b = [0u8; 40];
    put_i64(&mut b, 0, self.physic_msg_timestamp.load(Ordering::Acquire));
    put_i64(&mut b, 8, self.logics_msg_timestamp.load(Ordering::Acquire));
    put_i64(&mut b, 16, self.index_msg_timestamp.load(Ordering::Acquire));
    put_i64(&mut b, 24, self.master_flushed_offset.load(Ordering::Acquire));
    put_i64(&mut b, 32, self.confirm_phy_offset.load(Ordering::Acquire));
    let file = OpenOptions::new().write(true).open(&self.path)?;
    file.write_all_at(&b, 0)?;
    file.sync_data()
  }

  /// `max(0, min(physicMsgTimestamp, logicsMsgTimestamp) - 3000)`: records stored before this are known to be
  /// both flushed and dispatched.
  pub fn min_timestamp(&self) -> i64 {
    let physic = self.physic_msg_timestamp.load(Ordering::Acquire);
    let logics = self.logics_msg_timestamp.load(Ordering::Acquire);
    (physic.min(logics) - 3000).max(0)
  }

  /// Moves a timestamp forward only.
  pub fn advance(field: &AtomicI64, ts: i64) {
    field.fetch_max(ts, Ordering::AcqRel);
  }

  pub fn path(&self) -> &Path {
    &self.path
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::test_util::TempDir;

  #[test]
  fn round_trips_all_fields() {
    let dir = TempDir::new("cp");
    let path = dir.path().join("checkpoint");
    let cp = Checkpoint::load(&path).unwrap();
    cp.physic_msg_timestamp.store(10_000, Ordering::Release);
    cp.logics_msg_timestamp.store(8_000, Ordering::Release);
    cp.index_msg_timestamp.store(3, Ordering::Release);
    cp.confirm_phy_offset.store(4096, Ordering::Release);
    cp.flush().unwrap();
    drop(cp);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
    let cp = Checkpoint::load(&path).unwrap();
    assert_eq!(cp.logics_msg_timestamp.load(Ordering::Acquire), 8_000);
    assert_eq!(cp.confirm_phy_offset.load(Ordering::Acquire), 4096);
    assert_eq!(cp.min_timestamp(), 5_000);
  }
}
