//! The store end to end, in Rust: jobs in, events out, reads, close and recovery. The same flows are tested
//! again from TypeScript through the addon (`__test__/native/`).
#![cfg(test)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{ConfigValue, StoreConfig};
use crate::events::tests::Recorder;
use crate::events::{EventSink, Notice, EVENT_APPEND};
use crate::reader::{self, GetRequest};
use crate::record::{self, tests::build};
use crate::status::{GetStatus, PutStatus};
use crate::store::Store;
use crate::test_util::TempDir;
use crate::writer::JobBytes;

fn config(dir: &TempDir, sync: bool) -> StoreConfig {
  let mut c = StoreConfig::default();
  let mut set = |k: &str, v: ConfigValue| c.set(k, v).unwrap();
  set("storePathRootDir", ConfigValue::Str(dir.path().to_str().unwrap().into()));
  set("mappedFileSizeCommitLog", ConfigValue::Int(64 * 1024));
  set("mappedFileSizeConsumeQueue", ConfigValue::Int(100 * 20));
  set("maxHashSlotNum", ConfigValue::Int(1000));
  set("maxIndexNum", ConfigValue::Int(4000));
  set("flushDiskType", ConfigValue::Str(if sync { "SYNC_FLUSH" } else { "ASYNC_FLUSH" }.into()));
  set("testHooksEnable", ConfigValue::Bool(true));
  c
}

struct Harness {
  store: Arc<Store>,
  events: Arc<Recorder>,
}

impl Harness {
  fn open(c: StoreConfig) -> Harness {
    let events = Arc::new(Recorder::default());
    let sink: Arc<dyn EventSink> = events.clone();
    Harness { store: Store::open(c, sink).unwrap(), events }
  }

  /// Submits one job of single-record puts and waits for its APPEND event; returns (status, phy, queue offset)
  /// per put.
  fn put_all(&self, records: &[Vec<u8>]) -> Vec<(i32, i64, i64)> {
    let mut job = Vec::new();
    for r in records {
      job.extend_from_slice(&1u32.to_le_bytes());
      job.extend_from_slice(&(r.len() as u32).to_le_bytes());
      job.extend_from_slice(r);
    }
    let ticket = self.store.submit(JobBytes::Owned(job), true).unwrap();
    let event = self.wait_append(ticket);
    assert_eq!(event[4] as usize, records.len());
    (0..records.len()).map(|i| (event[5 + 4 * i] as i32, event[6 + 4 * i] as i64, event[7 + 4 * i] as i64)).collect()
  }

  fn wait_append(&self, ticket: u64) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
      if let Some(e) = self.events.0.lock().unwrap().iter().find(|e| e[0] == EVENT_APPEND && e[2] as u64 == ticket) {
        return e.clone();
      }
      assert!(Instant::now() < deadline, "no completion for ticket {ticket}");
      std::thread::sleep(Duration::from_millis(1));
    }
  }

  fn get(&self, topic: &str, queue_id: i32, offset: i64, max: usize) -> (reader::GetPlan, Vec<u8>) {
    let req = GetRequest { topic, queue_id, offset, max_msg_nums: max, max_total_bytes: 1 << 20, tag_codes: None };
    let mut plan = reader::plan_get(&self.store, &req);
    let mut buf = vec![0u8; plan.total_bytes];
    let used = reader::read_plan(&self.store, &mut plan, &mut buf);
    buf.truncate(used);
    (plan, buf)
  }
}

fn message(topic: &str, i: usize, body_len: usize) -> Vec<u8> {
  let body: Vec<u8> = (0..body_len).map(|j| (i + j) as u8).collect();
  let props = format!("TAGS\u{1}tag{}\u{2}KEYS\u{1}key-{i}\u{2}UNIQ_KEY\u{1}U{i}\u{2}", i % 2);
  build(topic.as_bytes(), 0, &body, props.as_bytes())
}

#[test]
fn appends_roll_files_and_read_back_intact() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let records: Vec<Vec<u8>> = (0..300).map(|i| message("TopicA", i, 700)).collect();
  let results = h.put_all(&records);
  for (i, (status, _, queue_offset)) in results.iter().enumerate() {
    assert_eq!(*status, PutStatus::PutOk.code());
    assert_eq!(*queue_offset, i as i64);
  }
  assert!(h.store.commit_log.len() > 3, "300 × ~800 B must roll 64 KiB segments");
  let (plan, bytes) = h.get("TopicA", 0, 0, 32);
  assert_eq!(plan.status, GetStatus::Found);
  assert_eq!(plan.entries.len(), 32);
  assert_eq!(plan.next_begin_offset, 32);
  let mut at = 0;
  for (i, e) in plan.entries.iter().enumerate() {
    let rec = &bytes[at..at + e.size as usize];
    let l = record::parse(rec).unwrap();
    assert_eq!(l.queue_offset, i as i64);
    assert_eq!(l.physical_offset, results[i].1);
    assert_eq!(l.body(rec), &records[i][88..88 + 700]);
    at += e.size as usize;
  }
  let (plan, _) = h.get("TopicA", 0, 300, 32);
  assert_eq!(plan.status, GetStatus::OffsetOverflowOne);
  let (plan, _) = h.get("TopicB", 0, 0, 32);
  assert_eq!(plan.status, GetStatus::NoMatchedLogicQueue);
  let found = reader::query_by_key(&h.store, "TopicA", "key-7", 32, 0, i64::MAX);
  assert_eq!(found.len(), 1);
  assert_eq!(found[0].0, results[7].1);
  h.store.close().unwrap();

  let h = Harness::open(config(&dir, false));
  assert!(h.store.recovery.last_exit_ok);
  assert_eq!(h.store.recovery.invalid, None);
  let more = h.put_all(&[message("TopicA", 300, 10)]);
  assert_eq!(more[0].2, 300, "queue offsets continue after a clean restart");
  h.store.close().unwrap();
}

#[test]
fn sync_flush_completes_after_the_flush() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, true));
  let results = h.put_all(&(0..10).map(|i| message("S", i, 100)).collect::<Vec<_>>());
  assert!(results.iter().all(|r| r.0 == PutStatus::PutOk.code()));
  let last = results.last().unwrap();
  assert!(h.store.commit_log.flushed_where() > last.1, "acknowledged only once durable");
  h.store.close().unwrap();
}

#[test]
fn illegal_messages_are_refused_and_create_nothing() {
  let dir = TempDir::new("store");
  let mut c = config(&dir, false);
  c.set("maxMessageSize", ConfigValue::Int(1024)).unwrap();
  let h = Harness::open(c);
  let results = h.put_all(&[build(b"../x", 0, b"b", b""), message("Ok", 0, 2000), message("Ok", 1, 10)]);
  assert_eq!(results[0].0, PutStatus::MessageIllegal.code());
  assert_eq!(results[1].0, PutStatus::MessageIllegal.code());
  assert_eq!(results[2].0, PutStatus::PutOk.code());
  assert_eq!(results[2].2, 0, "refused messages take no queue offset");
  assert!(!dir.path().join("consumequeue").join("..").join("x").exists());
  assert!(!dir.path().join("x").exists());
  h.store.close().unwrap();
}

#[test]
fn page_cache_busy_refuses_at_once_while_the_lock_is_held() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  h.store.stall(crate::store::Stall::Put, 1500).unwrap();
  let stalled = h.store.submit(JobBytes::Owned(Vec::new()), true).unwrap();
  let deadline = Instant::now() + Duration::from_secs(5);
  while !h.store.is_os_page_cache_busy() {
    assert!(Instant::now() < deadline);
    std::thread::sleep(Duration::from_millis(10));
  }
  assert_eq!(h.store.submit(JobBytes::Owned(Vec::new()), true).err(), Some(PutStatus::OsPageCacheBusy));
  h.wait_append(stalled);
  assert!(!h.store.is_os_page_cache_busy());
  h.store.close().unwrap();
}

#[test]
fn a_segment_that_cannot_be_created_fails_the_put_until_it_can() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let first = h.put_all(&[message("T", 0, 100)]);
  assert_eq!(first[0].0, PutStatus::PutOk.code());
  // Fill the first segment, then block the creation of the next two.
  let blocker1 = dir.path().join("commitlog").join(crate::mapped_file::file_name(65536));
  let blocker2 = dir.path().join("commitlog").join(crate::mapped_file::file_name(131072));
  h.store.allocator.discard_unused();
  let _ = std::fs::remove_file(&blocker1);
  let _ = std::fs::remove_file(&blocker2);
  std::fs::create_dir(&blocker1).unwrap();
  std::fs::create_dir(&blocker2).unwrap();
  let mut outcome = PutStatus::PutOk.code();
  for i in 0..200 {
    let r = h.put_all(&[message("T", i, 1000)]);
    if r[0].0 != PutStatus::PutOk.code() {
      outcome = r[0].0;
      break;
    }
  }
  assert_eq!(outcome, PutStatus::CreateMappedFileFailed.code());
  let (plan, _) = h.get("T", 0, 0, 8);
  assert_eq!(plan.status, GetStatus::Found, "reads keep working");
  std::fs::remove_dir(&blocker1).unwrap();
  std::fs::remove_dir(&blocker2).unwrap();
  let r = h.put_all(&[message("T", 999, 1000)]);
  assert_eq!(r[0].0, PutStatus::PutOk.code(), "puts resume once the file can be created");
  h.store.close().unwrap();
}

#[test]
fn recovery_after_a_crash_truncates_a_torn_tail() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let results = h.put_all(&(0..20).map(|i| message("R", i, 100)).collect::<Vec<_>>());
  h.store.close().unwrap();
  drop(h);
  // An abort file makes the next start unclean; zero the middle of the last record as a torn write would.
  std::fs::write(dir.path().join("abort"), "1").unwrap();
  let last_phy = results[19].1 as u64;
  let path = dir.path().join("commitlog").join(crate::mapped_file::file_name(0));
  let mut bytes = std::fs::read(&path).unwrap();
  for b in &mut bytes[last_phy as usize + 20..last_phy as usize + 60] {
    *b = 0;
  }
  std::fs::write(&path, &bytes).unwrap();
  let h = Harness::open(config(&dir, false));
  let r = &h.store.recovery;
  assert!(!r.last_exit_ok);
  assert_eq!(r.process_offset, results[19].1);
  assert_eq!(r.invalid.map(|(o, _)| o), Some(results[19].1));
  let (plan, _) = h.get("R", 0, 0, 32);
  assert_eq!(plan.max_offset, 19, "the consume queue was trimmed to the commit log");
  let again = h.put_all(&[message("R", 19, 100)]);
  assert_eq!((again[0].1, again[0].2), (results[19].1, 19));
  h.store.close().unwrap();
}

#[test]
fn recovery_stops_at_a_flipped_byte_and_says_where() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let results = h.put_all(&(0..10).map(|i| message("F", i, 200)).collect::<Vec<_>>());
  h.store.close().unwrap();
  drop(h);
  let path = dir.path().join("commitlog").join(crate::mapped_file::file_name(0));
  let mut bytes = std::fs::read(&path).unwrap();
  bytes[results[6].1 as usize + 100] ^= 0x01; // inside record 6's body
  std::fs::write(&path, &bytes).unwrap();
  let h = Harness::open(config(&dir, false));
  let (offset, reason) = h.store.recovery.invalid.unwrap();
  assert_eq!(offset, results[6].1);
  assert_eq!(reason, record::InvalidReason::CrcMismatch);
  let (plan, _) = h.get("F", 0, 0, 32);
  assert_eq!(plan.entries.len(), 6, "every record before the damage is kept");
  h.store.close().unwrap();
}

/// Regression (torture scenario store-damage): a zeroed page that begins at a record looks like the end of the
/// written log; recovery truncated everything after it and reported nothing.
#[test]
fn recovery_reports_zeroes_where_the_consume_queues_expect_records() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let results = h.put_all(&(0..10).map(|i| message("Z", i, 200)).collect::<Vec<_>>());
  h.store.close().unwrap();
  drop(h);
  let path = dir.path().join("commitlog").join(crate::mapped_file::file_name(0));
  let mut bytes = std::fs::read(&path).unwrap();
  for b in &mut bytes[results[6].1 as usize..results[8].1 as usize] {
    *b = 0; // records 6 and 7 zeroed; 8 and 9 follow
  }
  std::fs::write(&path, &bytes).unwrap();
  let h = Harness::open(config(&dir, false));
  assert_eq!(h.store.recovery.invalid, Some((results[6].1, record::InvalidReason::MissingRecords)));
  assert_eq!(h.store.recovery.process_offset, results[6].1);
  let (plan, _) = h.get("Z", 0, 0, 32);
  assert_eq!(plan.entries.len(), 6, "every record before the damage is kept");
  h.store.close().unwrap();
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let events: Arc<dyn EventSink> = Arc::new(Recorder::default());
  let err = Store::open(config(&dir, false), events).err().unwrap();
  assert_eq!(err.code(), "FERRYMQ_STORE_LOCKED");
  h.store.close().unwrap();
}

/// Counts APPEND events, for the throughput test (no lock, no scanning).
struct CountingSink(std::sync::atomic::AtomicU64);

impl EventSink for CountingSink {
  fn post(&self, event: &[f64]) {
    if event[0] == EVENT_APPEND {
      self.0.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
  }
}

/// Writer throughput alone: `cargo test --release writer_throughput -- --ignored --nocapture`.
#[test]
#[ignore]
#[allow(clippy::print_stderr)] // a benchmark run by hand: its output is the point
fn writer_throughput() {
  let dir = TempDir::new("store-bench");
  let mut c = StoreConfig::default();
  c.set("storePathRootDir", ConfigValue::Str(dir.path().to_str().unwrap().into())).unwrap();
  let sink = Arc::new(CountingSink(std::sync::atomic::AtomicU64::new(0)));
  let events: Arc<dyn EventSink> = sink.clone();
  let store = Store::open(c, events).unwrap();
  while store.allocator.pending_warm_bytes() > 0 {
    std::thread::sleep(Duration::from_millis(10));
  }
  let body = vec![b'a'; 1024];
  let mut templates = Vec::new();
  let total = 800_000;
  for j in 0..64 {
    let mut job = Vec::new();
    let mut put = Vec::new();
    for i in 0..32 {
      let props = format!("TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}U{:030}\u{2}WAIT\u{1}true\u{2}", j * 32 + i);
      put.extend_from_slice(&build(b"BenchTopic", 0, &body, props.as_bytes()));
    }
    job.extend_from_slice(&32u32.to_le_bytes());
    job.extend_from_slice(&(put.len() as u32).to_le_bytes());
    job.extend_from_slice(&put);
    templates.push(job);
  }
  // Jobs are copied from a few templates as they are submitted, so their bytes are as cache-hot as a job
  // TypeScript has just encoded.
  let n = (total / 32) as u64;
  let started = Instant::now();
  for j in 0..n as usize {
    while j as u64 > sink.0.load(std::sync::atomic::Ordering::Acquire) + 16 {
      std::hint::spin_loop();
    }
    store.submit(JobBytes::Owned(templates[j % templates.len()].clone()), true).unwrap();
  }
  while sink.0.load(std::sync::atomic::Ordering::Acquire) < n {
    std::thread::yield_now();
  }
  let elapsed = started.elapsed();
  let ns = elapsed.as_nanos() as f64 / total as f64;
  eprintln!("writer: {total} msgs in {elapsed:?}: {ns:.0} ns/msg, {:.0} msgs/s", 1e9 / ns);
  store.close().unwrap();
}

#[test]
fn deleting_a_topic_removes_its_queues_and_a_new_put_starts_at_zero() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let mut records = Vec::new();
  for q in 0..3 {
    for i in 0..5 {
      records.push(build(b"Doomed", q, &[i as u8; 10], b"TAGS\x01a\x02"));
      records.push(build(b"Kept", q, &[i as u8; 10], b""));
    }
  }
  h.put_all(&records);
  let cq_root = dir.path().join("consumequeue");
  assert!(cq_root.join("Doomed").join("2").exists());
  assert_eq!(h.store.delete_topic("Doomed").unwrap(), 3);
  assert!(!cq_root.join("Doomed").exists(), "the topic's consume queue directory is gone");
  assert!(h.store.queues.get("Doomed", 0).is_none());
  let (plan, _) = h.get("Kept", 2, 0, 32);
  assert_eq!(plan.entries.len(), 5, "other topics keep every message");
  // The writer's slot table was compacted: every surviving queue still appends where it left off.
  let again =
    h.put_all(&[build(b"Doomed", 1, b"new", b""), build(b"Kept", 0, b"x", b""), build(b"Kept", 2, b"y", b"")]);
  assert_eq!(again[0].2, 0, "a deleted topic starts again at queue offset 0");
  assert_eq!(again[1].2, 5);
  assert_eq!(again[2].2, 5);
  h.store.close().unwrap();
  let h = Harness::open(config(&dir, false));
  assert_eq!(h.get("Doomed", 1, 0, 32).0.entries.len(), 1);
  assert_eq!(h.get("Doomed", 0, 0, 32).0.status, GetStatus::NoMatchedLogicQueue);
  assert_eq!(h.get("Kept", 0, 0, 32).0.entries.len(), 6);
  h.store.close().unwrap();
}

// ---- replication (replica.rs) ------------------------------------------------------------------------------------

impl Harness {
  /// Submits one replicated frame and waits for its REPLICA event: (status, local max offset, records, detail).
  fn replicate(&self, at: i64, bytes: &[u8]) -> (i32, i64, u64, i64) {
    let ticket = self.store.submit_replica(JobBytes::Owned(bytes.to_vec()), at).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
      let found = self
        .events
        .0
        .lock()
        .unwrap()
        .iter()
        .find(|e| e[0] == crate::replica::EVENT_REPLICA && e[2] as u64 == ticket)
        .cloned();
      if let Some(e) = found {
        return (e[3] as i32, e[4] as i64, e[5] as u64, e[6] as i64);
      }
      assert!(Instant::now() < deadline, "no replica completion for ticket {ticket}");
      std::thread::sleep(Duration::from_millis(1));
    }
  }

  /// The master's bytes from `from` to its max offset, in frames of at most `chunk` bytes, as the HA writer reads.
  fn frames(&self, from: i64, chunk: usize) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = from;
    while let Ok(Some(r)) = crate::replica::readable(&self.store, at, chunk) {
      let mut buf = vec![0u8; r.len];
      r.file.read_at(r.pos, &mut buf).unwrap();
      out.push((at, buf));
      at += r.len as i64;
    }
    out
  }

  fn commit_log_bytes(&self) -> Vec<u8> {
    let mut all = Vec::new();
    for f in self.store.commit_log.snapshot() {
      let mut buf = vec![0u8; f.wrote()];
      f.read_at(0, &mut buf).unwrap();
      all.extend_from_slice(&buf);
    }
    all
  }
}

fn spread_message(i: usize) -> Vec<u8> {
  let body: Vec<u8> = (0..300 + i % 500).map(|j| (i * 7 + j) as u8).collect();
  let props = format!("TAGS\u{1}t{}\u{2}KEYS\u{1}key-{i}\u{2}UNIQ_KEY\u{1}U{i}\u{2}", i % 2);
  build(format!("Topic{}", i % 2).as_bytes(), (i % 3) as i32, &body, props.as_bytes())
}

#[test]
fn a_slave_fed_odd_sized_frames_has_the_masters_bytes_queues_and_index() {
  let (mdir, sdir) = (TempDir::new("master"), TempDir::new("slave"));
  let master = Harness::open(config(&mdir, false));
  let slave = Harness::open(config(&sdir, false));
  let records: Vec<Vec<u8>> = (0..400).map(spread_message).collect();
  for chunk in records.chunks(50) {
    master.put_all(chunk);
  }
  assert!(master.store.commit_log.len() > 3, "the test must cross segment boundaries (and their BLANKs)");
  let mut dispatched = 0;
  for (at, bytes) in master.frames(0, 1000) {
    let (status, max, n, _) = slave.replicate(at, &bytes);
    assert_eq!(status, crate::replica::ReplicaStatus::Ok as i32);
    assert_eq!(max, at + bytes.len() as i64);
    dispatched += n;
  }
  assert_eq!(dispatched, 400, "every record dispatched exactly once, including those split across frames");
  assert_eq!(slave.commit_log_bytes(), master.commit_log_bytes());
  for topic in ["Topic0", "Topic1"] {
    for q in 0..3 {
      let (m, _) = master.get(topic, q, 0, 1000);
      let (s, _) = slave.get(topic, q, 0, 1000);
      assert_eq!(s.max_offset, m.max_offset);
      let phys = |p: &reader::GetPlan| p.entries.iter().map(|e| (e.queue_offset, e.phy, e.size)).collect::<Vec<_>>();
      assert_eq!(phys(&s), phys(&m), "{topic}/{q}");
    }
  }
  let found = reader::query_by_key(&slave.store, "Topic1", "key-301", 8, 0, i64::MAX);
  assert_eq!(found.len(), 1);
  master.store.close().unwrap();
  slave.store.close().unwrap();

  // After a restart the slave continues where it was: its recovery dispatched nothing twice.
  let slave = Harness::open(config(&sdir, false));
  let master = Harness::open(config(&mdir, false));
  let from = slave.store.commit_log.max_offset();
  master.put_all(&[spread_message(400)]);
  for (at, bytes) in master.frames(from, 1 << 20) {
    assert_eq!(slave.replicate(at, &bytes).2, 1);
  }
  assert_eq!(slave.get("Topic0", 1, 0, 1000).0.max_offset, master.get("Topic0", 1, 0, 1000).0.max_offset);
  master.store.close().unwrap();
  slave.store.close().unwrap();
}

#[test]
fn an_empty_slave_starts_at_the_masters_last_segment_with_queues_starting_mid_way() {
  let (mdir, sdir) = (TempDir::new("master"), TempDir::new("slave"));
  let master = Harness::open(config(&mdir, false));
  let slave = Harness::open(config(&sdir, false));
  let records: Vec<Vec<u8>> = (0..300).map(|i| message("Mid", i, 700)).collect();
  master.put_all(&records);
  let last = master.store.commit_log.last().unwrap().file_from_offset();
  assert!(last > 0);
  let (status, ..) = slave.replicate(last + 100, b"not at a segment start");
  assert_eq!(status, crate::replica::ReplicaStatus::OffsetMismatch as i32, "an empty slave starts at a segment start");
  for (at, bytes) in master.frames(last, 4096) {
    assert_eq!(slave.replicate(at, &bytes).0, 0);
  }
  let (m, _) = master.get("Mid", 0, 0, 1);
  let (s, _) = slave.get("Mid", 0, 0, 1);
  assert_eq!(s.max_offset, m.max_offset);
  assert!(s.min_offset > 0, "the slave's queue starts at the first record it received");
  let (found, _) = slave.get("Mid", 0, s.min_offset, 4);
  assert_eq!(found.status, GetStatus::Found);
  assert_eq!(found.entries[0].phy, last);
  master.store.close().unwrap();
  slave.store.close().unwrap();
}

#[test]
fn a_frame_that_does_not_continue_the_log_or_carries_a_bad_record_is_refused() {
  let (mdir, sdir) = (TempDir::new("master"), TempDir::new("slave"));
  let master = Harness::open(config(&mdir, false));
  let slave = Harness::open(config(&sdir, false));
  master.put_all(&(0..10).map(|i| message("Bad", i, 100)).collect::<Vec<_>>());
  let frames = master.frames(0, 1 << 20);
  let (_, all) = &frames[0];
  let size = record::parse(all).unwrap().total_size;
  assert_eq!(slave.replicate(0, &all[..size]).0, 0);
  let (status, max, _, detail) = slave.replicate(size as i64 + 1, &all[size..]);
  assert_eq!((status, max, detail), (crate::replica::ReplicaStatus::OffsetMismatch as i32, size as i64, size as i64));
  // The third record's body is damaged on the way: it is cut off, never dispatched, and asked for again.
  let mut damaged = all[size..].to_vec();
  let third = size + record::parse(&all[size..]).unwrap().total_size;
  damaged[third - size + 100] ^= 0x5a;
  let (status, max, n, detail) = slave.replicate(size as i64, &damaged);
  assert_eq!(status, crate::replica::ReplicaStatus::Corrupt as i32);
  assert_eq!((max, detail, n), (third as i64, third as i64, 1));
  assert_eq!(slave.get("Bad", 0, 0, 100).0.max_offset, 2);
  let (status, max, n, _) = slave.replicate(third as i64, &all[third..]);
  assert_eq!((status, max, n), (0, all.len() as i64, 8));
  assert_eq!(slave.commit_log_bytes(), master.commit_log_bytes());
  master.store.close().unwrap();
  slave.store.close().unwrap();
}

#[test]
fn a_last_segment_cut_short_is_extended_and_the_log_ends_where_its_data_does() {
  let dir = TempDir::new("store");
  let h = Harness::open(config(&dir, false));
  let results = h.put_all(&(0..300).map(|i| message("S", i, 700)).collect::<Vec<_>>());
  let files = h.store.commit_log.snapshot();
  assert!(files.len() >= 3);
  let last = files.last().unwrap().file_from_offset();
  h.store.close().unwrap();
  drop(h);
  std::fs::write(dir.path().join("abort"), "1").unwrap();
  // The last segment is cut inside its second record, as an interrupted copy leaves it.
  let second = results.iter().find(|r| r.1 > last).unwrap().1;
  let cut = (second - last + 50) as u64;
  let path = dir.path().join("commitlog").join(crate::mapped_file::file_name(last));
  std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();

  let h = Harness::open(config(&dir, false));
  assert_eq!(h.store.recovery.process_offset, second, "the log ends before the record the cut tore");
  assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 * 1024, "the segment has its full size again");
  let said = h.events.0.lock().unwrap().iter().any(|e| {
    e[0] == crate::events::EVENT_NOTICE
      && e[2] == Notice::ShortSegmentExtended as i32 as f64
      && e[3] == last as f64
      && e[4] == cut as f64
  });
  assert!(said, "the store says which segment was short");
  let kept = results.iter().filter(|r| r.1 < second).count() as i64;
  assert_eq!(h.get("S", 0, 0, 1).0.max_offset, kept);
  h.store.close().unwrap();
  drop(h);

  // A short segment that is not the last one still stops the open: later data would not follow it.
  let first = dir.path().join("commitlog").join(crate::mapped_file::file_name(0));
  std::fs::OpenOptions::new().write(true).open(&first).unwrap().set_len(1000).unwrap();
  let events = Arc::new(Recorder::default());
  let sink: Arc<dyn EventSink> = events.clone();
  assert!(Store::open(config(&dir, false), sink).is_err());
}
