//! The commit-log record layout (store.md §1; `MessageExtEncoder`, `CommitLog#checkMessageAndReturnSize`).
//!
//! All integers are big-endian. Offsets below are for an IPv4 born host and an IPv4 store host; an IPv6 host
//! field is 20 bytes instead of 8 and shifts everything after it.
//!
//! ```text
//!  0  TOTALSIZE        i32   whole record, this field included
//!  4  MAGICCODE        i32   V1 0xDAA320A7 (1-byte topic length) | V2 0xDAA320AB (2-byte topic length)
//!  8  BODYCRC          i32   crc32(body) & 0x7FFFFFFF
//! 12  QUEUEID          i32
//! 16  FLAG             i32
//! 20  QUEUEOFFSET      i64   stamped under the put lock
//! 28  PHYSICALOFFSET   i64   stamped under the put lock
//! 36  SYSFLAG          i32
//! 40  BORNTIMESTAMP    i64
//! 48  BORNHOST         4+4   (16+4 with SYSFLAG 0x10)
//! 56  STORETIMESTAMP   i64   stamped under the put lock
//! 64  STOREHOST        4+4   (16+4 with SYSFLAG 0x20), stamped from the store config
//! 72  RECONSUMETIMES   i32
//! 76  PREPARED_TX_OFF  i64
//! 84  BODYLENGTH       i32   B
//! 88  BODY             B bytes
//!     TOPICLENGTH      i8 (V1) | i16 (V2)
//!     TOPIC            UTF-8
//!     PROPERTIESLENGTH i16
//!     PROPERTIES       name \x01 value \x02 ...
//! ```
//!
//! A BLANK record (`[remaining: i32][0xCBD43194]`) fills the end of a segment that the next record does not fit.

use crate::crc32::crc32_masked;
use crate::java::java_string_hash;

pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// The shortest record: V1 magic, IPv4 hosts, empty body, topic and properties.
pub const RECORD_LENGTH_MIN: usize = 91;
/// A segment always keeps room for a BLANK header after the last record.
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;

pub const POS_TOTAL_SIZE: usize = 0;
pub const POS_MAGIC: usize = 4;
pub const POS_BODY_CRC: usize = 8;
pub const POS_QUEUE_ID: usize = 12;
#[cfg_attr(not(test), allow(dead_code))]
pub const POS_FLAG: usize = 16;
pub const POS_QUEUE_OFFSET: usize = 20;
pub const POS_PHYSICAL_OFFSET: usize = 28;
pub const POS_SYS_FLAG: usize = 36;
#[cfg_attr(not(test), allow(dead_code))]
pub const POS_BORN_TIMESTAMP: usize = 40;
pub const POS_BORN_HOST: usize = 48;

pub const SYSFLAG_TRANSACTION_MASK: i32 = 0xC;
pub const SYSFLAG_TRANSACTION_NOT: i32 = 0x0;
#[cfg_attr(not(test), allow(dead_code))]
pub const SYSFLAG_TRANSACTION_PREPARED: i32 = 0x4;
pub const SYSFLAG_TRANSACTION_COMMIT: i32 = 0x8;
pub const SYSFLAG_TRANSACTION_ROLLBACK: i32 = 0xC;
pub const SYSFLAG_BORNHOST_V6: i32 = 0x10;
pub const SYSFLAG_STOREHOST_V6: i32 = 0x20;

/// Topics longer than this need the V2 magic.
pub const TOPIC_LENGTH_V1_MAX: usize = 127;
/// No topic may be longer (`TopicValidator`); only retry topics may exceed 127.
pub const TOPIC_LENGTH_MAX: usize = 255;

pub const SCHEDULE_TOPIC: &[u8] = b"SCHEDULE_TOPIC_XXXX";
pub const RETRY_GROUP_TOPIC_PREFIX: &[u8] = b"%RETRY%";

const PROPERTY_NAME_SEPARATOR: u8 = 0x01;
const PROPERTY_SEPARATOR: u8 = 0x02;

pub fn get_i32(b: &[u8], pos: usize) -> i32 {
  let mut a = [0u8; 4];
  a.copy_from_slice(&b[pos..pos + 4]);
  i32::from_be_bytes(a)
}

pub fn get_i64(b: &[u8], pos: usize) -> i64 {
  let mut a = [0u8; 8];
  a.copy_from_slice(&b[pos..pos + 8]);
  i64::from_be_bytes(a)
}

pub fn put_i32(b: &mut [u8], pos: usize, v: i32) {
  b[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
}

pub fn put_i64(b: &mut [u8], pos: usize, v: i64) {
  b[pos..pos + 8].copy_from_slice(&v.to_be_bytes());
}

/// Where the variable-position fields of one record are. Produced by [`parse`], which has checked that every
/// range lies inside the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
  pub total_size: usize,
  pub magic: i32,
  pub body_crc: i32,
  pub queue_id: i32,
  pub sys_flag: i32,
  pub queue_offset: i64,
  pub physical_offset: i64,
  pub store_timestamp_pos: usize,
  pub store_host_pos: usize,
  pub store_host_len: usize,
  pub reconsume_times_pos: usize,
  pub body_pos: usize,
  pub body_len: usize,
  pub topic_pos: usize,
  pub topic_len: usize,
  pub props_pos: usize,
  pub props_len: usize,
}

impl Layout {
  pub fn body<'a>(&self, record: &'a [u8]) -> &'a [u8] {
    &record[self.body_pos..self.body_pos + self.body_len]
  }

  pub fn topic<'a>(&self, record: &'a [u8]) -> &'a [u8] {
    &record[self.topic_pos..self.topic_pos + self.topic_len]
  }

  pub fn properties<'a>(&self, record: &'a [u8]) -> &'a [u8] {
    &record[self.props_pos..self.props_pos + self.props_len]
  }

  pub fn store_timestamp(&self, record: &[u8]) -> i64 {
    get_i64(record, self.store_timestamp_pos)
  }

  pub fn transaction_type(&self) -> i32 {
    self.sys_flag & SYSFLAG_TRANSACTION_MASK
  }

  /// Prepared and rollback records take no queue offset and are not dispatched to a consume queue.
  pub fn takes_queue_offset(&self) -> bool {
    matches!(self.transaction_type(), SYSFLAG_TRANSACTION_NOT | SYSFLAG_TRANSACTION_COMMIT)
  }
}

/// Why bytes are not a well-formed record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
  /// Fewer bytes than the record needs (or than a header).
  Truncated,
  /// The magic code is neither V1, V2 nor BLANK.
  BadMagic(i32),
  /// TOTALSIZE disagrees with the lengths inside the record.
  LengthMismatch { declared: i32, computed: usize },
  /// A length field is negative or out of range.
  BadLength,
}

fn host_len(sys_flag: i32, v6_bit: i32) -> usize {
  if sys_flag & v6_bit != 0 {
    20
  } else {
    8
  }
}

/// Parses the framing of the record at the start of `b` (which may extend past the record). Does not look at the
/// body CRC. Returns `BadMagic` for a BLANK record too: callers that expect BLANKs check for them first.
pub fn parse(b: &[u8]) -> Result<Layout, RecordError> {
  if b.len() < 8 {
    return Err(RecordError::Truncated);
  }
  let total = get_i32(b, POS_TOTAL_SIZE);
  let magic = get_i32(b, POS_MAGIC);
  if magic != MAGIC_V1 && magic != MAGIC_V2 {
    return Err(RecordError::BadMagic(magic));
  }
  if total < 0 {
    return Err(RecordError::BadLength);
  }
  let total_size = total as usize;
  if b.len() < total_size || total_size < POS_BORN_HOST {
    return Err(RecordError::Truncated);
  }
  let rec = &b[..total_size];
  let sys_flag = get_i32(rec, POS_SYS_FLAG);
  let born_len = host_len(sys_flag, SYSFLAG_BORNHOST_V6);
  let store_host_len = host_len(sys_flag, SYSFLAG_STOREHOST_V6);
  let store_timestamp_pos = POS_BORN_HOST + born_len;
  let store_host_pos = store_timestamp_pos + 8;
  let reconsume_times_pos = store_host_pos + store_host_len;
  let body_len_pos = reconsume_times_pos + 4 + 8;
  let need = |end: usize| if end <= total_size { Ok(()) } else { Err(RecordError::Truncated) };
  need(body_len_pos + 4)?;
  let body_len = get_i32(rec, body_len_pos);
  if body_len < 0 {
    return Err(RecordError::BadLength);
  }
  let body_pos = body_len_pos + 4;
  let topic_len_pos = body_pos + body_len as usize;
  let (topic_len, topic_pos) = if magic == MAGIC_V1 {
    need(topic_len_pos + 1)?;
    let len = rec[topic_len_pos] as i8;
    if len < 0 {
      return Err(RecordError::BadLength);
    }
    (len as usize, topic_len_pos + 1)
  } else {
    need(topic_len_pos + 2)?;
    let len = i16::from_be_bytes([rec[topic_len_pos], rec[topic_len_pos + 1]]);
    if len < 0 {
      return Err(RecordError::BadLength);
    }
    (len as usize, topic_len_pos + 2)
  };
  let props_len_pos = topic_pos + topic_len;
  need(props_len_pos + 2)?;
  let props_len = i16::from_be_bytes([rec[props_len_pos], rec[props_len_pos + 1]]);
  if props_len < 0 {
    return Err(RecordError::BadLength);
  }
  let props_pos = props_len_pos + 2;
  let computed = props_pos + props_len as usize;
  if computed != total_size {
    return Err(RecordError::LengthMismatch { declared: total, computed });
  }
  Ok(Layout {
    total_size,
    magic,
    body_crc: get_i32(rec, POS_BODY_CRC),
    queue_id: get_i32(rec, POS_QUEUE_ID),
    sys_flag,
    queue_offset: get_i64(rec, POS_QUEUE_OFFSET),
    physical_offset: get_i64(rec, POS_PHYSICAL_OFFSET),
    store_timestamp_pos,
    store_host_pos,
    store_host_len,
    reconsume_times_pos,
    body_pos,
    body_len: body_len as usize,
    topic_pos,
    topic_len,
    props_pos,
    props_len: props_len as usize,
  })
}

/// The outcome of checking the bytes at a commit-log position (store.md §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
  /// A whole, well-formed record (with a matching CRC when asked).
  Valid(Layout),
  /// A BLANK header: the rest of the segment is filler.
  Blank,
  /// Not a record. `skip` is RocketMQ's "size": the declared length when only the length check failed
  /// (a half-written record), else -1.
  Invalid { skip: i64, reason: InvalidReason },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidReason {
  Truncated,
  BadMagic,
  BadLength,
  LengthMismatch,
  CrcMismatch,
  /// All zeroes: space that was never written.
  Empty,
  /// A well-formed record whose PHYSICALOFFSET is not where it lies: left over from before a truncation.
  StaleRecord,
  /// A topic name the store would never have written.
  BadTopic,
  /// Zeroes where records were: the consume queues point past the point where the scan found no more records.
  MissingRecords,
}

impl InvalidReason {
  pub fn as_str(self) -> &'static str {
    match self {
      InvalidReason::Truncated => "truncated record",
      InvalidReason::BadMagic => "bad magic code",
      InvalidReason::BadLength => "bad length field",
      InvalidReason::LengthMismatch => "TOTALSIZE does not match the field lengths",
      InvalidReason::CrcMismatch => "body CRC mismatch",
      InvalidReason::Empty => "end of written data",
      InvalidReason::StaleRecord => "record left over from before a truncation",
      InvalidReason::BadTopic => "invalid topic name",
      InvalidReason::MissingRecords => "zeroes where the consume queues expect records",
    }
  }
}

/// Classifies the bytes at the start of `b` as RocketMQ's recovery does, optionally checking the body CRC.
pub fn check(b: &[u8], check_crc: bool) -> Check {
  if b.len() < 8 {
    return Check::Invalid { skip: -1, reason: InvalidReason::Truncated };
  }
  let total = get_i32(b, POS_TOTAL_SIZE);
  let magic = get_i32(b, POS_MAGIC);
  if magic == BLANK_MAGIC {
    return Check::Blank;
  }
  if total == 0 && magic == 0 {
    return Check::Invalid { skip: -1, reason: InvalidReason::Empty };
  }
  match parse(b) {
    Ok(layout) => {
      if check_crc && crc32_masked(layout.body(b)) as i32 != layout.body_crc {
        return Check::Invalid { skip: -1, reason: InvalidReason::CrcMismatch };
      }
      Check::Valid(layout)
    }
    Err(RecordError::LengthMismatch { declared, .. }) => {
      Check::Invalid { skip: declared as i64, reason: InvalidReason::LengthMismatch }
    }
    Err(RecordError::Truncated) => Check::Invalid { skip: -1, reason: InvalidReason::Truncated },
    Err(RecordError::BadMagic(_)) => Check::Invalid { skip: -1, reason: InvalidReason::BadMagic },
    Err(RecordError::BadLength) => Check::Invalid { skip: -1, reason: InvalidReason::BadLength },
  }
}

/// Writes a BLANK header claiming `remaining` bytes at the start of `dst`.
pub fn write_blank(dst: &mut [u8], remaining: usize) {
  put_i32(dst, 0, remaining as i32);
  put_i32(dst, 4, BLANK_MAGIC);
}

/// Encodes a store host as the record stores it: IP bytes then the port as an int.
pub fn encode_host(addr: &std::net::SocketAddr) -> Vec<u8> {
  let mut out = match addr.ip() {
    std::net::IpAddr::V4(ip) => ip.octets().to_vec(),
    std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
  };
  out.extend_from_slice(&(addr.port() as i32).to_be_bytes());
  out
}

/// The fields known only under the put lock, written into a record that has been copied to its place.
pub struct Stamp<'a> {
  pub queue_offset: i64,
  pub physical_offset: i64,
  pub store_timestamp: i64,
  pub store_host: &'a [u8],
  pub body_crc: u32,
}

pub fn stamp(dst: &mut [u8], layout: &Layout, s: &Stamp<'_>) {
  put_i32(dst, POS_BODY_CRC, s.body_crc as i32);
  put_i64(dst, POS_QUEUE_OFFSET, s.queue_offset);
  put_i64(dst, POS_PHYSICAL_OFFSET, s.physical_offset);
  put_i64(dst, layout.store_timestamp_pos, s.store_timestamp);
  dst[layout.store_host_pos..layout.store_host_pos + layout.store_host_len].copy_from_slice(s.store_host);
}

/// Calls `f(name, value)` for each property with a non-empty name and value (`MessageDecoder#string2messageProperties`).
pub fn for_each_property<'a>(props: &'a [u8], mut f: impl FnMut(&'a [u8], &'a [u8])) {
  for piece in props.split(|&c| c == PROPERTY_SEPARATOR) {
    if let Some(sep) = piece.iter().position(|&c| c == PROPERTY_NAME_SEPARATOR) {
      let (name, value) = (&piece[..sep], &piece[sep + 1..]);
      if !name.is_empty() && !value.is_empty() {
        f(name, value);
      }
    }
  }
}

/// What the dispatcher needs from a record's properties. Later duplicates win, as in Java's map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DispatchProps<'a> {
  pub tags: Option<&'a [u8]>,
  pub keys: Option<&'a [u8]>,
  pub uniq_key: Option<&'a [u8]>,
  pub delay_level: Option<i64>,
}

pub fn dispatch_props(props: &[u8]) -> DispatchProps<'_> {
  let mut out = DispatchProps::default();
  if props.is_empty() {
    return out;
  }
  for_each_property(props, |name, value| match name {
    b"TAGS" => out.tags = Some(value),
    b"KEYS" => out.keys = Some(value),
    b"UNIQ_KEY" => out.uniq_key = Some(value),
    b"DELAY" => out.delay_level = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok()),
    _ => {}
  });
  out
}

/// The consume-queue tag code: Java `hashCode` of TAGS, sign-extended; 0 without a tag (store.md §5.2).
pub fn tags_code(tags: Option<&[u8]>) -> i64 {
  match tags {
    Some(t) if !t.is_empty() => java_string_hash(t) as i64,
    _ => 0,
  }
}

/// RocketMQ's topic character rule (`TopicValidator`): `^[%|a-zA-Z0-9_-]+$`. Topic names become directory
/// names, so nothing else may reach the file system.
pub fn topic_chars_valid(topic: &[u8]) -> bool {
  !topic.is_empty() && topic.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'%' | b'|' | b'_' | b'-'))
}

/// Store-side topic length rule (store.md §3.1 step 4).
pub fn topic_length_valid(topic: &[u8]) -> bool {
  topic.len() <= TOPIC_LENGTH_MAX && (topic.len() <= TOPIC_LENGTH_V1_MAX || topic.starts_with(RETRY_GROUP_TOPIC_PREFIX))
}

#[cfg(test)]
pub mod tests {
  use super::*;

  /// Builds a V1/IPv4 record the way the TypeScript encoder does (placeholders for stamped fields).
  pub fn build(topic: &[u8], queue_id: i32, body: &[u8], props: &[u8]) -> Vec<u8> {
    let total = 91 + body.len() + topic.len() + props.len();
    let mut r = Vec::with_capacity(total);
    r.extend_from_slice(&(total as i32).to_be_bytes());
    r.extend_from_slice(&MAGIC_V1.to_be_bytes());
    r.extend_from_slice(&0i32.to_be_bytes()); // crc
    r.extend_from_slice(&queue_id.to_be_bytes());
    r.extend_from_slice(&7i32.to_be_bytes()); // flag
    r.extend_from_slice(&0i64.to_be_bytes()); // queue offset
    r.extend_from_slice(&0i64.to_be_bytes()); // physical offset
    r.extend_from_slice(&0i32.to_be_bytes()); // sysflag
    r.extend_from_slice(&1_700_000_000_000i64.to_be_bytes()); // born ts
    r.extend_from_slice(&[10, 0, 0, 1, 0, 0, 0x30, 0x39]); // born host 10.0.0.1:12345
    r.extend_from_slice(&0i64.to_be_bytes()); // store ts
    r.extend_from_slice(&[0u8; 8]); // store host
    r.extend_from_slice(&0i32.to_be_bytes()); // reconsume
    r.extend_from_slice(&0i64.to_be_bytes()); // prepared tx offset
    r.extend_from_slice(&(body.len() as i32).to_be_bytes());
    r.extend_from_slice(body);
    r.push(topic.len() as u8);
    r.extend_from_slice(topic);
    r.extend_from_slice(&(props.len() as i16).to_be_bytes());
    r.extend_from_slice(props);
    assert_eq!(r.len(), total);
    r
  }

  #[test]
  fn parses_the_v4_layout_offsets() {
    let r = build(b"TopicTest", 3, b"hello", b"TAGS\x01TagA\x02");
    let l = parse(&r).unwrap();
    assert_eq!(l.total_size, 91 + 5 + 9 + 10);
    assert_eq!(l.queue_id, 3);
    assert_eq!(get_i32(&r, POS_FLAG), 7);
    assert_eq!(get_i64(&r, POS_BORN_TIMESTAMP), 1_700_000_000_000);
    assert_eq!(l.store_timestamp_pos, 56);
    assert_eq!(l.store_host_pos, 64);
    assert_eq!(l.body_pos, 88);
    assert_eq!(l.body(&r), b"hello");
    assert_eq!(l.topic(&r), b"TopicTest");
    assert_eq!(l.properties(&r), b"TAGS\x01TagA\x02");
  }

  #[test]
  fn ipv6_hosts_shift_the_fields() {
    let mut r = build(b"T", 0, b"b", b"");
    // Turn the born host into a 20-byte IPv6 field.
    r[POS_SYS_FLAG + 3] = SYSFLAG_BORNHOST_V6 as u8;
    r.splice(POS_BORN_HOST..POS_BORN_HOST, [0u8; 12]);
    let total = r.len() as i32;
    put_i32(&mut r, 0, total);
    let l = parse(&r).unwrap();
    assert_eq!(l.store_timestamp_pos, 68);
    assert_eq!(l.body(&r), b"b");
  }

  #[test]
  fn detects_length_mismatch_and_truncation() {
    let mut r = build(b"T", 0, b"body", b"");
    let declared = r.len() as i32 + 1;
    put_i32(&mut r, 0, declared);
    r.push(0);
    assert_eq!(check(&r, false), Check::Invalid { skip: declared as i64, reason: InvalidReason::LengthMismatch });
    let r = build(b"T", 0, b"body", b"");
    assert_eq!(check(&r[..r.len() - 1], false), Check::Invalid { skip: -1, reason: InvalidReason::Truncated });
    assert_eq!(check(&[0u8; 16], false), Check::Invalid { skip: -1, reason: InvalidReason::Empty });
  }

  #[test]
  fn crc_check_catches_a_flipped_body_byte() {
    let mut r = build(b"T", 0, b"payload", b"");
    let l = parse(&r).unwrap();
    let crc = crc32_masked(l.body(&r));
    put_i32(&mut r, POS_BODY_CRC, crc as i32);
    assert!(matches!(check(&r, true), Check::Valid(_)));
    r[l.body_pos] ^= 0x40;
    assert_eq!(check(&r, true), Check::Invalid { skip: -1, reason: InvalidReason::CrcMismatch });
    assert!(matches!(check(&r, false), Check::Valid(_)));
  }

  #[test]
  fn blank_is_recognised() {
    let mut b = [0u8; 8];
    write_blank(&mut b, 100);
    assert_eq!(check(&b, true), Check::Blank);
    assert_eq!(get_i32(&b, 0), 100);
  }

  #[test]
  fn stamps_the_lock_time_fields() {
    let mut r = build(b"T", 0, b"x", b"");
    let l = parse(&r).unwrap();
    let host = encode_host(&"192.168.0.2:10911".parse().unwrap());
    stamp(
      &mut r,
      &l,
      &Stamp { queue_offset: 5, physical_offset: 4096, store_timestamp: 9, store_host: &host, body_crc: 3 },
    );
    let l2 = parse(&r).unwrap();
    assert_eq!(l2.queue_offset, 5);
    assert_eq!(l2.physical_offset, 4096);
    assert_eq!(l2.store_timestamp(&r), 9);
    assert_eq!(&r[64..72], &[192, 168, 0, 2, 0, 0, 0x2A, 0x9F]);
    assert_eq!(l2.body_crc, 3);
  }

  #[test]
  fn properties_follow_the_java_rules() {
    let props = b"TAGS\x01a\x02KEYS\x01k1 k2\x02\x01novalue\x02noname\x01\x02UNIQ_KEY\x01U1\x02DELAY\x013\x02TAGS\x01b";
    let d = dispatch_props(props);
    assert_eq!(d.tags, Some(&b"b"[..]));
    assert_eq!(d.keys, Some(&b"k1 k2"[..]));
    assert_eq!(d.uniq_key, Some(&b"U1"[..]));
    assert_eq!(d.delay_level, Some(3));
    assert_eq!(tags_code(d.tags), java_string_hash(b"b") as i64);
    assert_eq!(tags_code(None), 0);
  }

  #[test]
  fn prepared_and_rollback_records_take_no_queue_offset() {
    let mut r = build(b"T", 0, b"x", b"");
    for (flag, takes) in [
      (SYSFLAG_TRANSACTION_NOT, true),
      (SYSFLAG_TRANSACTION_PREPARED, false),
      (SYSFLAG_TRANSACTION_COMMIT, true),
      (SYSFLAG_TRANSACTION_ROLLBACK, false),
    ] {
      put_i32(&mut r, POS_SYS_FLAG, flag);
      assert_eq!(parse(&r).unwrap().takes_queue_offset(), takes);
    }
  }

  #[test]
  fn negative_tag_hash_is_sign_extended() {
    assert_eq!(tags_code(Some(b"polygenelubricants")), i32::MIN as i64);
  }

  #[test]
  fn topic_rules_match_rocketmq() {
    assert!(topic_chars_valid(b"TopicTest"));
    assert!(topic_chars_valid(b"%RETRY%group-1"));
    assert!(topic_chars_valid(b"a|b_c-d"));
    assert!(!topic_chars_valid(b"../x"));
    assert!(!topic_chars_valid(b"a/b"));
    assert!(!topic_chars_valid(b"a\nb"));
    assert!(!topic_chars_valid(b""));
    assert!(!topic_chars_valid(b"."));
    assert!(topic_length_valid(&[b'a'; 127]));
    assert!(!topic_length_valid(&[b'a'; 128]));
    let mut retry = b"%RETRY%".to_vec();
    retry.extend_from_slice(&[b'g'; 200]);
    assert!(topic_length_valid(&retry));
    retry.extend_from_slice(&[b'g'; 100]);
    assert!(!topic_length_valid(&retry));
  }
}
