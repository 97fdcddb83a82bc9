//! Outcome codes shared with TypeScript. Numbers are the ordinals of RocketMQ's Java enums
//! (`PutMessageStatus`, `GetMessageStatus`), which `ts/store/put-message-status.ts` mirrors.

/// All of Java's values are listed so the numbers line up; replication statuses and
/// `PROPERTIES_SIZE_EXCEEDED` are produced on the TypeScript side, not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
#[allow(dead_code)]
pub enum PutStatus {
  PutOk = 0,
  FlushDiskTimeout = 1,
  FlushSlaveTimeout = 2,
  SlaveNotAvailable = 3,
  ServiceNotAvailable = 4,
  CreateMappedFileFailed = 5,
  MessageIllegal = 6,
  PropertiesSizeExceeded = 7,
  OsPageCacheBusy = 8,
  UnknownError = 9,
}

impl PutStatus {
  pub fn code(self) -> i32 {
    self as i32
  }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum GetStatus {
  Found = 0,
  NoMatchedMessage = 1,
  MessageWasRemoving = 2,
  OffsetFoundNull = 3,
  OffsetOverflowBadly = 4,
  OffsetOverflowOne = 5,
  OffsetTooSmall = 6,
  NoMatchedLogicQueue = 7,
  NoMessageInQueue = 8,
}

impl GetStatus {
  pub fn code(self) -> i32 {
    self as i32
  }
}
