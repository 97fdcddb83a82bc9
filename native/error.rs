//! Unexpected store failures, each with a stable `code` string that TypeScript maps to `StoreError`.
//!
//! Expected outcomes of a put (`MESSAGE_ILLEGAL`, `OS_PAGE_CACHE_BUSY`, …) are *not* errors: they are
//! `PutStatus` values. Errors here are things the caller cannot fix by changing one message.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum StoreError {
  /// An operating-system call failed; `context` names the call and the path.
  Io { context: String, source: io::Error },
  /// The store directory's `lock` file is held by another process (or another open store in this one).
  Locked { path: PathBuf },
  /// The configuration passed to `open` is invalid.
  Config(String),
  /// Files on disk contradict the configuration or each other (e.g. a segment of the wrong size).
  Corrupt(String),
  /// The store has been closed.
  Closed,
}

impl StoreError {
  pub fn code(&self) -> &'static str {
    match self {
      StoreError::Io { .. } => "FERRYMQ_IO",
      StoreError::Locked { .. } => "FERRYMQ_STORE_LOCKED",
      StoreError::Config(_) => "FERRYMQ_CONFIG",
      StoreError::Corrupt(_) => "FERRYMQ_STORE_CORRUPT",
      StoreError::Closed => "FERRYMQ_STORE_CLOSED",
    }
  }

  pub fn io(context: impl Into<String>, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io { context: format!("{} {}", context.into(), path.display()), source }
  }

  /// The raw OS error number, when there is one (ENOSPC = 28, …).
  pub fn errno(&self) -> Option<i32> {
    match self {
      StoreError::Io { source, .. } => source.raw_os_error(),
      _ => None,
    }
  }
}

impl fmt::Display for StoreError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      StoreError::Io { context, source } => write!(f, "{context}: {source}"),
      StoreError::Locked { path } => {
        write!(f, "store directory {} is already open in another process (its lock file is held)", path.display())
      }
      StoreError::Config(m) => write!(f, "invalid store config: {m}"),
      StoreError::Corrupt(m) => write!(f, "store files are inconsistent: {m}"),
      StoreError::Closed => write!(f, "the store is closed"),
    }
  }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn codes_are_stable() {
    let io = StoreError::io("open", Path::new("/x"), io::Error::from_raw_os_error(28));
    assert_eq!(io.code(), "FERRYMQ_IO");
    assert_eq!(io.errno(), Some(28));
    assert!(io.to_string().starts_with("open /x: "));
    assert_eq!(StoreError::Locked { path: "/s".into() }.code(), "FERRYMQ_STORE_LOCKED");
    assert_eq!(StoreError::Config("x".into()).code(), "FERRYMQ_CONFIG");
    assert_eq!(StoreError::Corrupt("x".into()).code(), "FERRYMQ_STORE_CORRUPT");
    assert_eq!(StoreError::Closed.code(), "FERRYMQ_STORE_CLOSED");
  }
}
