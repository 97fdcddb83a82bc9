//! `StoreConfig`: every store setting, with RocketMQ's defaults (`MessageStoreConfig.java`), validated once
//! when the store opens. Keys keep their Java spelling so a `broker.conf` maps onto them unchanged.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::error::{StoreError, StoreResult};

/// The value kinds a config key can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
  Int,
  Bool,
  Str,
}

/// Every key `StoreConfig::set` accepts, with its kind. The N-API layer reads exactly these from the JS object.
pub const KEYS: &[(&str, Kind)] = &[
  ("storePathRootDir", Kind::Str),
  ("storePathCommitLog", Kind::Str),
  ("mappedFileSizeCommitLog", Kind::Int),
  ("mappedFileSizeConsumeQueue", Kind::Int),
  ("maxMessageSize", Kind::Int),
  ("flushDiskType", Kind::Str),
  ("flushIntervalCommitLog", Kind::Int),
  ("flushCommitLogLeastPages", Kind::Int),
  ("flushCommitLogThoroughInterval", Kind::Int),
  ("syncFlushTimeout", Kind::Int),
  ("flushIntervalConsumeQueue", Kind::Int),
  ("flushConsumeQueueLeastPages", Kind::Int),
  ("flushConsumeQueueThoroughInterval", Kind::Int),
  ("osPageCacheBusyTimeOutMills", Kind::Int),
  ("checkCRCOnRecover", Kind::Bool),
  ("messageIndexEnable", Kind::Bool),
  ("maxHashSlotNum", Kind::Int),
  ("maxIndexNum", Kind::Int),
  ("maxMsgsNumBatch", Kind::Int),
  ("fileReservedTime", Kind::Int),
  ("deleteWhen", Kind::Str),
  ("cleanResourceInterval", Kind::Int),
  ("deleteCommitLogFilesInterval", Kind::Int),
  ("destroyMapedFileIntervalForcibly", Kind::Int),
  ("deleteFileBatchMax", Kind::Int),
  ("diskMaxUsedSpaceRatio", Kind::Int),
  ("diskSpaceWarningLevelRatio", Kind::Int),
  ("diskSpaceCleanForciblyRatio", Kind::Int),
  ("cleanFileForciblyEnable", Kind::Bool),
  ("storeHost", Kind::Str),
  ("messageDelayLevel", Kind::Str),
  ("maxTransferBytesOnMessageInMemory", Kind::Int),
  ("maxTransferCountOnMessageInMemory", Kind::Int),
  ("maxTransferBytesOnMessageInDisk", Kind::Int),
  ("maxTransferCountOnMessageInDisk", Kind::Int),
  ("accessMessageInMemoryMaxRatio", Kind::Int),
  ("maxFilterMessageSize", Kind::Int),
  ("dataReadAheadEnable", Kind::Bool),
  ("commitLogPretouchAheadBytes", Kind::Int),
  ("allocateMappedFileTimeoutMs", Kind::Int),
  ("testHooksEnable", Kind::Bool),
];

/// A value read from JavaScript for one key.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
  Int(i64),
  Bool(bool),
  Str(String),
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
  /// Store root: consume queues, index, checkpoint, abort and lock live here.
  pub store_path_root_dir: PathBuf,
  /// Commit log directory; `<root>/commitlog` when empty.
  pub store_path_commit_log: Option<PathBuf>,
  /// Commit-log segment size (1 GiB). Must be a multiple of 4 KiB.
  pub mapped_file_size_commit_log: u64,
  /// Consume-queue segment size in bytes (300,000 units × 20), rounded up to a multiple of 20.
  pub mapped_file_size_consume_queue: u64,
  /// Largest body accepted (4 MiB); a whole record may be 64 KiB larger.
  pub max_message_size: u64,
  /// `SYNC_FLUSH` when true: a put resolves only when durable (group commit).
  pub flush_sync: bool,
  pub flush_interval_commit_log_ms: u64,
  pub flush_commit_log_least_pages: u64,
  pub flush_commit_log_thorough_interval_ms: u64,
  pub sync_flush_timeout_ms: u64,
  pub flush_interval_consume_queue_ms: u64,
  pub flush_consume_queue_least_pages: u64,
  pub flush_consume_queue_thorough_interval_ms: u64,
  /// Put-lock hold time after which new puts are refused with `OS_PAGE_CACHE_BUSY`.
  pub os_page_cache_busy_timeout_ms: u64,
  pub check_crc_on_recover: bool,
  pub message_index_enable: bool,
  pub max_hash_slot_num: u32,
  pub max_index_num: u32,
  pub max_msgs_num_batch: u32,
  /// Hours a commit-log segment is kept (72).
  pub file_reserved_time_hours: u64,
  /// Local hours of the day at which expired files are deleted (`"04"`, `;`-separated).
  pub delete_when_hours: Vec<u32>,
  pub clean_resource_interval_ms: u64,
  pub delete_commit_log_files_interval_ms: u64,
  pub destroy_mapped_file_interval_forcibly_ms: u64,
  pub delete_file_batch_max: u32,
  /// Disk watermarks in percent, clamped as RocketMQ clamps them.
  pub disk_max_used_space_ratio: u32,
  pub disk_space_warning_level_ratio: u32,
  pub disk_space_clean_forcibly_ratio: u32,
  pub clean_file_forcibly_enable: bool,
  /// Broker address stamped into every record (STOREHOST) and used in message ids.
  pub store_host: SocketAddr,
  /// Delay of each level in ms, level 1 first (`messageDelayLevel`).
  pub delay_level_ms: Vec<i64>,
  pub max_transfer_bytes_on_message_in_memory: u64,
  pub max_transfer_count_on_message_in_memory: u64,
  pub max_transfer_bytes_on_message_in_disk: u64,
  pub max_transfer_count_on_message_in_disk: u64,
  pub access_message_in_memory_max_ratio: u64,
  pub max_filter_message_size: u64,
  pub data_read_ahead_enable: bool,
  /// How far ahead of the writer the pre-touch thread keeps commit-log pages faulted in (0 = off).
  pub commit_log_pretouch_ahead_bytes: u64,
  /// How long the writer waits for a new segment before answering `CREATE_MAPPED_FILE_FAILED` (5 s).
  pub allocate_mapped_file_timeout_ms: u64,
  /// Enables test-only entry points (the put-lock stall). Never set in production.
  pub test_hooks_enable: bool,
}

pub const PAGE_SIZE: u64 = 4096;
pub const CQ_UNIT_SIZE: u64 = 20;

/// RocketMQ's default `messageDelayLevel`.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

impl Default for StoreConfig {
  fn default() -> Self {
    StoreConfig {
      store_path_root_dir: PathBuf::from("store"),
      store_path_commit_log: None,
      mapped_file_size_commit_log: 1024 * 1024 * 1024,
      mapped_file_size_consume_queue: 300_000 * CQ_UNIT_SIZE,
      max_message_size: 4 * 1024 * 1024,
      flush_sync: false,
      flush_interval_commit_log_ms: 500,
      flush_commit_log_least_pages: 4,
      flush_commit_log_thorough_interval_ms: 10_000,
      sync_flush_timeout_ms: 5_000,
      flush_interval_consume_queue_ms: 1_000,
      flush_consume_queue_least_pages: 2,
      flush_consume_queue_thorough_interval_ms: 60_000,
      os_page_cache_busy_timeout_ms: 1_000,
      check_crc_on_recover: true,
      message_index_enable: true,
      max_hash_slot_num: 5_000_000,
      max_index_num: 20_000_000,
      max_msgs_num_batch: 64,
      file_reserved_time_hours: 72,
      delete_when_hours: vec![4],
      clean_resource_interval_ms: 10_000,
      delete_commit_log_files_interval_ms: 100,
      destroy_mapped_file_interval_forcibly_ms: 120_000,
      delete_file_batch_max: 10,
      disk_max_used_space_ratio: 75,
      disk_space_warning_level_ratio: 90,
      disk_space_clean_forcibly_ratio: 85,
      clean_file_forcibly_enable: true,
      store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
      delay_level_ms: parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap_or_default(),
      max_transfer_bytes_on_message_in_memory: 256 * 1024,
      max_transfer_count_on_message_in_memory: 32,
      max_transfer_bytes_on_message_in_disk: 64 * 1024,
      max_transfer_count_on_message_in_disk: 8,
      access_message_in_memory_max_ratio: 40,
      max_filter_message_size: 16_000,
      data_read_ahead_enable: true,
      commit_log_pretouch_ahead_bytes: 8 * 1024 * 1024,
      allocate_mapped_file_timeout_ms: 5_000,
      test_hooks_enable: false,
    }
  }
}

fn positive(key: &str, v: i64) -> StoreResult<u64> {
  if v <= 0 {
    return Err(StoreError::Config(format!("{key} must be > 0, got {v}")));
  }
  Ok(v as u64)
}

fn non_negative(key: &str, v: i64) -> StoreResult<u64> {
  if v < 0 {
    return Err(StoreError::Config(format!("{key} must be >= 0, got {v}")));
  }
  Ok(v as u64)
}

fn u32_in(key: &str, v: i64, min: i64, max: i64) -> StoreResult<u32> {
  if v < min || v > max {
    return Err(StoreError::Config(format!("{key} must be in [{min}, {max}], got {v}")));
  }
  Ok(v as u32)
}

/// Parses `"1s 5s 1m 2h"` into milliseconds per level (`ScheduleMessageService#parseDelayLevel`).
pub fn parse_delay_levels(s: &str) -> StoreResult<Vec<i64>> {
  let mut out = Vec::new();
  for item in s.split_whitespace() {
    let (num, unit) = item.split_at(item.len().saturating_sub(1));
    let factor = match unit {
      "s" => 1_000,
      "m" => 60_000,
      "h" => 3_600_000,
      "d" => 86_400_000,
      _ => return Err(StoreError::Config(format!("messageDelayLevel: bad unit in {item:?}"))),
    };
    let n: i64 = num.parse().map_err(|_| StoreError::Config(format!("messageDelayLevel: bad number in {item:?}")))?;
    out.push(n * factor);
  }
  if out.is_empty() {
    return Err(StoreError::Config("messageDelayLevel is empty".into()));
  }
  Ok(out)
}

/// Parses `deleteWhen` (`"04"` or `"04;16"`) into hours.
pub fn parse_delete_when(s: &str) -> StoreResult<Vec<u32>> {
  let mut out = Vec::new();
  for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
    let h: u32 = part.parse().map_err(|_| StoreError::Config(format!("deleteWhen: bad hour {part:?}")))?;
    if h > 23 {
      return Err(StoreError::Config(format!("deleteWhen: hour {h} is out of range")));
    }
    out.push(h);
  }
  Ok(out)
}

fn parse_store_host(s: &str) -> StoreResult<SocketAddr> {
  if let Ok(addr) = s.parse::<SocketAddr>() {
    return Ok(addr);
  }
  // Accept "1.2.3.4:10911" forms only; host names are resolved by TypeScript before open().
  let (host, port) =
    s.rsplit_once(':').ok_or_else(|| StoreError::Config(format!("storeHost must be ip:port, got {s:?}")))?;
  let ip: IpAddr =
    host.trim_matches(['[', ']']).parse().map_err(|_| StoreError::Config(format!("storeHost ip {host:?}")))?;
  let port: u16 = port.parse().map_err(|_| StoreError::Config(format!("storeHost port {port:?}")))?;
  Ok(SocketAddr::new(ip, port))
}

impl StoreConfig {
  pub fn set(&mut self, key: &str, value: ConfigValue) -> StoreResult<()> {
    use ConfigValue::*;
    match (key, value) {
      ("storePathRootDir", Str(s)) => self.store_path_root_dir = PathBuf::from(s),
      ("storePathCommitLog", Str(s)) => self.store_path_commit_log = if s.is_empty() { None } else { Some(s.into()) },
      ("mappedFileSizeCommitLog", Int(v)) => self.mapped_file_size_commit_log = positive(key, v)?,
      ("mappedFileSizeConsumeQueue", Int(v)) => self.mapped_file_size_consume_queue = positive(key, v)?,
      ("maxMessageSize", Int(v)) => self.max_message_size = positive(key, v)?,
      ("flushDiskType", Str(s)) => {
        self.flush_sync = match s.as_str() {
          "SYNC_FLUSH" => true,
          "ASYNC_FLUSH" => false,
          _ => return Err(StoreError::Config(format!("flushDiskType must be SYNC_FLUSH or ASYNC_FLUSH, got {s:?}"))),
        }
      }
      ("flushIntervalCommitLog", Int(v)) => self.flush_interval_commit_log_ms = positive(key, v)?,
      ("flushCommitLogLeastPages", Int(v)) => self.flush_commit_log_least_pages = non_negative(key, v)?,
      ("flushCommitLogThoroughInterval", Int(v)) => self.flush_commit_log_thorough_interval_ms = non_negative(key, v)?,
      ("syncFlushTimeout", Int(v)) => self.sync_flush_timeout_ms = positive(key, v)?,
      ("flushIntervalConsumeQueue", Int(v)) => self.flush_interval_consume_queue_ms = positive(key, v)?,
      ("flushConsumeQueueLeastPages", Int(v)) => self.flush_consume_queue_least_pages = non_negative(key, v)?,
      ("flushConsumeQueueThoroughInterval", Int(v)) => {
        self.flush_consume_queue_thorough_interval_ms = non_negative(key, v)?
      }
      ("osPageCacheBusyTimeOutMills", Int(v)) => self.os_page_cache_busy_timeout_ms = positive(key, v)?,
      ("checkCRCOnRecover", Bool(b)) => self.check_crc_on_recover = b,
      ("messageIndexEnable", Bool(b)) => self.message_index_enable = b,
      ("maxHashSlotNum", Int(v)) => self.max_hash_slot_num = u32_in(key, v, 1, 100_000_000)?,
      ("maxIndexNum", Int(v)) => self.max_index_num = u32_in(key, v, 2, 400_000_000)?,
      ("maxMsgsNumBatch", Int(v)) => self.max_msgs_num_batch = u32_in(key, v, 1, 100_000)?,
      ("fileReservedTime", Int(v)) => self.file_reserved_time_hours = non_negative(key, v)?,
      ("deleteWhen", Str(s)) => self.delete_when_hours = parse_delete_when(&s)?,
      ("cleanResourceInterval", Int(v)) => self.clean_resource_interval_ms = positive(key, v)?,
      ("deleteCommitLogFilesInterval", Int(v)) => self.delete_commit_log_files_interval_ms = non_negative(key, v)?,
      ("destroyMapedFileIntervalForcibly", Int(v)) => {
        self.destroy_mapped_file_interval_forcibly_ms = non_negative(key, v)?
      }
      ("deleteFileBatchMax", Int(v)) => self.delete_file_batch_max = u32_in(key, v, 1, 10_000)?,
      ("diskMaxUsedSpaceRatio", Int(v)) => self.disk_max_used_space_ratio = u32_in(key, v, 0, 100)?,
      ("diskSpaceWarningLevelRatio", Int(v)) => self.disk_space_warning_level_ratio = u32_in(key, v, 0, 100)?,
      ("diskSpaceCleanForciblyRatio", Int(v)) => self.disk_space_clean_forcibly_ratio = u32_in(key, v, 0, 100)?,
      ("cleanFileForciblyEnable", Bool(b)) => self.clean_file_forcibly_enable = b,
      ("storeHost", Str(s)) => self.store_host = parse_store_host(&s)?,
      ("messageDelayLevel", Str(s)) => self.delay_level_ms = parse_delay_levels(&s)?,
      ("maxTransferBytesOnMessageInMemory", Int(v)) => self.max_transfer_bytes_on_message_in_memory = positive(key, v)?,
      ("maxTransferCountOnMessageInMemory", Int(v)) => self.max_transfer_count_on_message_in_memory = positive(key, v)?,
      ("maxTransferBytesOnMessageInDisk", Int(v)) => self.max_transfer_bytes_on_message_in_disk = positive(key, v)?,
      ("maxTransferCountOnMessageInDisk", Int(v)) => self.max_transfer_count_on_message_in_disk = positive(key, v)?,
      ("accessMessageInMemoryMaxRatio", Int(v)) => self.access_message_in_memory_max_ratio = non_negative(key, v)?,
      ("maxFilterMessageSize", Int(v)) => self.max_filter_message_size = positive(key, v)?,
      ("dataReadAheadEnable", Bool(b)) => self.data_read_ahead_enable = b,
      ("commitLogPretouchAheadBytes", Int(v)) => self.commit_log_pretouch_ahead_bytes = non_negative(key, v)?,
      ("allocateMappedFileTimeoutMs", Int(v)) => self.allocate_mapped_file_timeout_ms = positive(key, v)?,
      ("testHooksEnable", Bool(b)) => self.test_hooks_enable = b,
      (key, value) => return Err(StoreError::Config(format!("unknown key or wrong type: {key} = {value:?}"))),
    }
    Ok(())
  }

  /// Checks cross-field rules and normalises sizes; call once after the last `set`.
  pub fn validate(mut self) -> StoreResult<StoreConfig> {
    if self.store_path_root_dir.as_os_str().is_empty() {
      return Err(StoreError::Config("storePathRootDir is empty".into()));
    }
    if !self.mapped_file_size_commit_log.is_multiple_of(PAGE_SIZE) {
      return Err(StoreError::Config(format!(
        "mappedFileSizeCommitLog must be a multiple of {PAGE_SIZE}, got {}",
        self.mapped_file_size_commit_log
      )));
    }
    if self.mapped_file_size_commit_log > i32::MAX as u64 + 1 {
      return Err(StoreError::Config("mappedFileSizeCommitLog must be at most 2 GiB (int positions)".into()));
    }
    // Rounded up to whole units, as ConsumeQueue#getMappedFileSizeConsumeQueue does.
    self.mapped_file_size_consume_queue = self.mapped_file_size_consume_queue.div_ceil(CQ_UNIT_SIZE) * CQ_UNIT_SIZE;
    // RocketMQ's clamps (DefaultMessageStore#getDiskSpaceWarningClassifier and friends).
    self.disk_max_used_space_ratio = self.disk_max_used_space_ratio.clamp(10, 95);
    self.disk_space_warning_level_ratio = self.disk_space_warning_level_ratio.clamp(35, 90);
    self.disk_space_clean_forcibly_ratio = self.disk_space_clean_forcibly_ratio.clamp(30, 85);
    Ok(self)
  }

  pub fn commit_log_dir(&self) -> PathBuf {
    self.store_path_commit_log.clone().unwrap_or_else(|| self.store_path_root_dir.join("commitlog"))
  }

  pub fn consume_queue_dir(&self) -> PathBuf {
    self.store_path_root_dir.join("consumequeue")
  }

  pub fn index_dir(&self) -> PathBuf {
    self.store_path_root_dir.join("index")
  }

  /// Largest record the store writes: body limit plus 64 KiB for headers, topic and properties.
  pub fn max_record_size(&self) -> u64 {
    self.max_message_size + 64 * 1024
  }

  /// Delay in ms for a delay level (1-based), clamped to the last level as RocketMQ does.
  pub fn delay_ms_for_level(&self, level: i64) -> i64 {
    if self.delay_level_ms.is_empty() || level <= 0 {
      return 0;
    }
    let index = (level as usize).min(self.delay_level_ms.len()) - 1;
    self.delay_level_ms[index]
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn delay_levels_parse_rocketmq_default() {
    let levels = parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap();
    assert_eq!(levels.len(), 18);
    assert_eq!(levels[0], 1_000);
    assert_eq!(levels[4], 60_000);
    assert_eq!(levels[17], 7_200_000);
    assert!(parse_delay_levels("1x").is_err());
    assert!(parse_delay_levels("").is_err());
  }

  #[test]
  fn delay_level_is_clamped_to_last() {
    let c = StoreConfig::default();
    assert_eq!(c.delay_ms_for_level(3), 10_000);
    assert_eq!(c.delay_ms_for_level(99), 7_200_000);
    assert_eq!(c.delay_ms_for_level(0), 0);
  }

  #[test]
  fn consume_queue_size_rounds_up_to_units() {
    let mut c = StoreConfig::default();
    c.set("mappedFileSizeConsumeQueue", ConfigValue::Int(1001)).unwrap();
    let c = c.validate().unwrap();
    assert_eq!(c.mapped_file_size_consume_queue, 1020);
  }

  #[test]
  fn commit_log_size_must_be_page_multiple() {
    let mut c = StoreConfig::default();
    c.set("mappedFileSizeCommitLog", ConfigValue::Int(5000)).unwrap();
    assert!(c.validate().is_err());
  }

  #[test]
  fn watermarks_are_clamped() {
    let mut c = StoreConfig::default();
    c.set("diskSpaceWarningLevelRatio", ConfigValue::Int(99)).unwrap();
    c.set("diskSpaceCleanForciblyRatio", ConfigValue::Int(5)).unwrap();
    let c = c.validate().unwrap();
    assert_eq!(c.disk_space_warning_level_ratio, 90);
    assert_eq!(c.disk_space_clean_forcibly_ratio, 30);
  }

  #[test]
  fn unknown_keys_and_wrong_types_are_refused() {
    let mut c = StoreConfig::default();
    assert!(c.set("nope", ConfigValue::Int(1)).is_err());
    assert!(c.set("maxMessageSize", ConfigValue::Bool(true)).is_err());
    assert!(c.set("flushDiskType", ConfigValue::Str("SOMETIMES".into())).is_err());
  }

  #[test]
  fn every_listed_key_is_settable() {
    for (key, kind) in KEYS {
      let mut c = StoreConfig::default();
      let value = match (key, kind) {
        (&"flushDiskType", _) => ConfigValue::Str("SYNC_FLUSH".into()),
        (&"storeHost", _) => ConfigValue::Str("10.0.0.1:10911".into()),
        (&"messageDelayLevel", _) => ConfigValue::Str("1s 2s".into()),
        (&"deleteWhen", _) => ConfigValue::Str("04;05".into()),
        (_, Kind::Int) => ConfigValue::Int(100),
        (_, Kind::Bool) => ConfigValue::Bool(true),
        (_, Kind::Str) => ConfigValue::Str("x".into()),
      };
      c.set(key, value).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
  }

  #[test]
  fn store_host_parses_v4_and_v6() {
    assert_eq!(parse_store_host("10.1.2.3:10911").unwrap().port(), 10911);
    assert!(parse_store_host("[::1]:10911").unwrap().is_ipv6());
    assert!(parse_store_host("host:1").is_err());
  }

  #[test]
  fn delete_when_parses_hours() {
    assert_eq!(parse_delete_when("04").unwrap(), vec![4]);
    assert_eq!(parse_delete_when("04;16").unwrap(), vec![4, 16]);
    assert!(parse_delete_when("25").is_err());
  }
}
