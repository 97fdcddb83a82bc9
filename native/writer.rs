//! The writer thread: RocketMQ's put lock (`CommitLog#asyncPutMessage(s)`, store.md §3).
//!
//! A job is what TypeScript submitted in one event-loop turn: a run of *puts*, each one or more records (a
//! RocketMQ batch is one put), laid out as
//!
//! ```text
//! put := recordCount u32 LE | byteLength u32 LE | records (byteLength bytes, encoded as record.rs draws them)
//! ```
//!
//! For each put the writer checks every record, makes sure the commit-log segment, the consume-queue segments
//! and the index file it needs exist (so a full disk fails the put before anything is written), copies the put
//! into the mapped segment in one go, stamps each record's queue offset, physical offset, store timestamp, store
//! host and body CRC, and dispatches it to its consume queue and the index. A put is all-or-nothing and never
//! spans two segments; records of one put share a store timestamp.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::allocate::{AllocError, PROGRESS_CHUNK_BYTES};
use crate::checkpoint::Checkpoint;
use crate::consume_queue::{ConsumeQueue, Unit};
use crate::crc32::crc32_masked;
use crate::events::{notice, Notice, EVENT_APPEND};
use crate::flush::FlushRequest;
use crate::index_file::key_hash;
use crate::mapped_file::MappedFile;
use crate::record::{self, Layout, Stamp, END_FILE_MIN_BLANK_LENGTH, SCHEDULE_TOPIC};
use crate::stats::Stats;
use crate::status::PutStatus;
use crate::store::{now_ms, Store};

/// Puts slower than this inside the lock are counted and reported (`CommitLog`, "putMessage in lock cost").
const SLOW_PUT_MS: u64 = 500;
/// Queue ids above this are refused before they become directory names.
pub const QUEUE_ID_MAX: i32 = 65_535;
/// Bytes of a put header in a job.
const PUT_HEADER_LEN: usize = 8;

/// The bytes of one job. `Borrowed` points into a JavaScript Buffer that the N-API layer keeps referenced until
/// the job's completion event has been delivered; `Owned` is for jobs built in Rust (tests).
pub enum JobBytes {
  Borrowed {
    ptr: *const u8,
    len: usize,
  },
  /// A control job carries no bytes.
  Empty,
  #[cfg(test)]
  Owned(Vec<u8>),
}

// SAFETY: a Borrowed job's memory is kept alive and unmodified by its owner until completion (see above), and
// only the writer thread reads it.
unsafe impl Send for JobBytes {}

impl JobBytes {
  pub(crate) fn as_slice(&self) -> &[u8] {
    match self {
      // SAFETY: see the type's contract.
      JobBytes::Borrowed { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
      JobBytes::Empty => &[],
      #[cfg(test)]
      JobBytes::Owned(v) => v,
    }
  }
}

pub struct AppendJob {
  pub ticket: u64,
  pub bytes: JobBytes,
  /// With SYNC_FLUSH: whether completion waits for the flush (false when every message said `WAIT=false`).
  pub wait_flush: bool,
  pub submitted_at: Instant,
  /// A change of the writer's own tables instead of an append; `bytes` is then empty.
  pub control: Option<Control>,
  /// A slave's replicated commit-log bytes, to be written at this physical offset (see `replica.rs`).
  pub replica_at: Option<i64>,
}

/// Work only the writer may do, because it owns the tables involved; ordered with the appends around it.
pub enum Control {
  /// Forget a topic's consume queues (`cleanUnusedTopic`): the writer drops its slots and takes the queues out
  /// of the registry, then hands them back for their files to be deleted off the writer thread. A later put to
  /// the topic starts a fresh queue at offset 0.
  DeleteTopic { topic: String, done: std::sync::mpsc::Sender<Vec<Arc<ConsumeQueue>>> },
}

pub(crate) struct QueueSlot {
  pub(crate) next_offset: i64,
  pub(crate) queue: Arc<ConsumeQueue>,
  /// The consume-queue segment the last unit went to, so most puts skip the lookup.
  segment: Option<Arc<MappedFile>>,
}

/// One record of the put being written, once checked.
struct Planned {
  /// Where the record starts inside the put.
  at: usize,
  layout: Layout,
  /// Index into `WriterState::slots`, or `usize::MAX` for records that take no queue offset.
  slot: usize,
  queue_offset: i64,
  /// The consume-queue segment the unit goes to.
  segment: Option<Arc<MappedFile>>,
  tags_code: i64,
  index_keys: u32,
  /// `UNIQ_KEY` and `KEYS` values as (start, length) inside the record; length 0 when absent.
  uniq_key: (u32, u32),
  keys: (u32, u32),
}

/// Where `part` (a sub-slice of `record`) lies in it.
fn range_in(record: &[u8], part: Option<&[u8]>) -> (u32, u32) {
  match part {
    Some(p) => ((p.as_ptr() as usize - record.as_ptr() as usize) as u32, p.len() as u32),
    None => (0, 0),
  }
}

fn slice_at(record: &[u8], (start, len): (u32, u32)) -> Option<&[u8]> {
  (len > 0).then(|| &record[start as usize..(start + len) as usize])
}

/// State only the writer thread touches.
pub struct WriterState {
  pub(crate) current: Option<Arc<MappedFile>>,
  /// topic → queue id → slot index.
  table: HashMap<Box<[u8]>, HashMap<i32, usize>>,
  pub(crate) slots: Vec<QueueSlot>,
  planned: Vec<Planned>,
  /// Per slot, how many records of the current put go to it.
  pending: Vec<(usize, i64)>,
  /// The last (topic, queue id) looked up and its slot: consecutive records nearly always share it.
  last_queue: (Vec<u8>, i32, usize),
  /// The progress chunk last reported to the allocator (which keeps pages ahead of the writer mapped).
  last_progress_chunk: usize,
  /// Pages of the current segment below this are unmapped (the data stays in the page cache).
  released: usize,
  /// A slave's dispatch position: replicated records before it are in the consume queues and index.
  pub(crate) reput_from: i64,
}

impl WriterState {
  /// Builds the topic-queue table from the recovered consume queues (`recoverTopicQueueTable`, store.md §7.8).
  pub fn after_recovery(store: &Store) -> WriterState {
    let mut state = WriterState {
      current: store.commit_log.last().filter(|f| !f.is_full()),
      table: HashMap::new(),
      slots: Vec::new(),
      planned: Vec::new(),
      pending: Vec::new(),
      last_queue: (Vec::new(), -1, usize::MAX),
      last_progress_chunk: usize::MAX,
      released: 0,
      // Recovery dispatched every valid record and cut the log after the last one.
      reput_from: store.commit_log.max_offset(),
    };
    for queue in store.queues.all() {
      let slot = state.slots.len();
      state.slots.push(QueueSlot { next_offset: queue.max_offset(), queue: queue.clone(), segment: None });
      let topic: Box<[u8]> = queue.topic().as_bytes().into();
      state.table.entry(topic).or_default().insert(queue.queue_id(), slot);
    }
    state
  }

  /// Asks for the segment the next put will need (and the one after), so it is created and warmed before any
  /// put waits for it.
  pub fn prefetch(&self, store: &Store) {
    let size = store.commit_log.file_size() as i64;
    match &self.current {
      Some(f) => store.allocator.request(f.file_from_offset() + size),
      None => {
        let next = store.commit_log.next_file_offset(0);
        store.allocator.request(next);
        store.allocator.request(next + size);
      }
    }
  }

  pub(crate) fn slot_for(&mut self, store: &Store, topic: &[u8], queue_id: i32) -> usize {
    if self.last_queue.1 == queue_id && self.last_queue.0 == topic {
      return self.last_queue.2;
    }
    let slot = self.lookup_slot(store, topic, queue_id);
    self.last_queue = (topic.to_vec(), queue_id, slot);
    slot
  }

  fn lookup_slot(&mut self, store: &Store, topic: &[u8], queue_id: i32) -> usize {
    if let Some(slot) = self.table.get(topic).and_then(|q| q.get(&queue_id)) {
      return *slot;
    }
    // Topic bytes passed topic_chars_valid, so they are ASCII.
    let name = String::from_utf8_lossy(topic);
    let queue = store.queues.get_or_create(&name, queue_id);
    let slot = self.slots.len();
    self.slots.push(QueueSlot { next_offset: queue.max_offset(), queue, segment: None });
    self.table.entry(topic.into()).or_default().insert(queue_id, slot);
    slot
  }

  /// Drops the topic's slots; returns how many there were.
  fn remove_topic(&mut self, topic: &[u8]) -> usize {
    let Some(queues) = self.table.remove(topic) else { return 0 };
    let mut gone: Vec<usize> = queues.into_values().collect();
    // Highest first, so each swap_remove moves a slot that is not itself about to be removed... or already was.
    gone.sort_unstable_by(|a, b| b.cmp(a));
    for &slot in &gone {
      let last = self.slots.len() - 1;
      self.slots.swap_remove(slot);
      if slot != last {
        // The slot that was last now lives at `slot`: repoint its table entry.
        for ids in self.table.values_mut() {
          for index in ids.values_mut() {
            if *index == last {
              *index = slot;
            }
          }
        }
      }
    }
    self.last_queue = (Vec::new(), -1, usize::MAX);
    gone.len()
  }
}

pub fn run(store: &Arc<Store>, mut state: WriterState) {
  while let Some(job) = store.next_job() {
    process(store, &mut state, job);
  }
}

fn process(store: &Store, state: &mut WriterState, job: AppendJob) {
  if let Some(control) = job.control {
    run_control(store, state, control);
    return;
  }
  if let Some(at) = job.replica_at {
    crate::replica::apply(store, state, &job, at);
    return;
  }
  let store_timestamp = now_ms();
  store.begin_time_in_lock.store(store_timestamp, Ordering::Release);
  let started = Instant::now();
  let stall_ms = store.stall_next_put_ms.swap(0, Ordering::AcqRel);
  if stall_ms > 0 {
    // Test hook: a writer stuck inside the put lock, as on a page fault that waits for the disk.
    std::thread::sleep(Duration::from_millis(stall_ms));
  }
  let bytes = job.bytes.as_slice();
  let mut event = vec![EVENT_APPEND, 0.0, job.ticket as f64, 0.0, 0.0];
  let mut status_positions = Vec::new();
  let mut end_offset = 0i64;
  let mut records_total = 0u64;
  let mut cursor = 0usize;
  let writeable = store.flags.writeable();
  while cursor + PUT_HEADER_LEN <= bytes.len() {
    let count = u32::from_le_bytes([bytes[cursor], bytes[cursor + 1], bytes[cursor + 2], bytes[cursor + 3]]) as usize;
    let len = u32::from_le_bytes([bytes[cursor + 4], bytes[cursor + 5], bytes[cursor + 6], bytes[cursor + 7]]) as usize;
    let start = cursor + PUT_HEADER_LEN;
    // A put that does not fit the job, or claims more records than its bytes can hold, means the job itself is
    // malformed: stop here (TypeScript answers the puts it gets no status for with UNKNOWN_ERROR).
    if start + len > bytes.len() || count * record::RECORD_LENGTH_MIN > len {
      break;
    }
    status_positions.push(event.len());
    event.push(0.0);
    let results_at = event.len();
    event.resize(results_at + 3 * count, 0.0);
    let outcome = if writeable {
      append_put(store, state, &bytes[start..start + len], count, store_timestamp, &mut event[results_at..])
    } else {
      Err(PutStatus::ServiceNotAvailable)
    };
    let status = match outcome {
      Ok(end) => {
        end_offset = end_offset.max(end);
        records_total += count as u64;
        PutStatus::PutOk
      }
      Err(status) => {
        Stats::add(&store.stats.put_failures, 1);
        status
      }
    };
    event[results_at - 1] = status.code() as f64;
    cursor = start + len;
  }
  let elapsed = started.elapsed();
  store.begin_time_in_lock.store(0, Ordering::Release);
  if elapsed.as_millis() as u64 > SLOW_PUT_MS {
    Stats::add(&store.stats.slow_puts, 1);
    notice(&*store.events, Notice::SlowPut, elapsed.as_millis() as f64, records_total as f64, 0.0);
  }
  // The header laid out in events.rs: [kind, len, ticket, elapsedInLockUs, putCount].
  event[1] = event.len() as f64;
  event[3] = elapsed.as_micros() as f64;
  event[4] = status_positions.len() as f64;
  Stats::add(&store.stats.put_jobs, 1);
  let needs_flush = store.config.flush_sync && job.wait_flush && end_offset > 0;
  if needs_flush {
    store.flush.submit(FlushRequest::new(
      end_offset,
      job.submitted_at,
      store.config.sync_flush_timeout_ms,
      event,
      status_positions,
    ));
  } else {
    store.stats.put_latency_us.record(job.submitted_at.elapsed().as_micros() as u64);
    store.events.post(&event);
  }
}

fn run_control(store: &Store, state: &mut WriterState, control: Control) {
  match control {
    Control::DeleteTopic { topic, done } => {
      state.remove_topic(topic.as_bytes());
      // The caller may have given up waiting (store closing): then nobody needs the queues back.
      let _ = done.send(store.queues.remove_topic(&topic));
    }
  }
}

/// Checks every record of a put, plans its queue offsets and makes sure the consume-queue segments exist.
/// Returns the failing status, if any.
fn plan(store: &Store, state: &mut WriterState, put: &[u8], count: usize, store_ts: i64) -> Result<(), PutStatus> {
  state.planned.clear();
  state.pending.clear();
  let config = &store.config;
  let mut at = 0usize;
  for _ in 0..count {
    let layout = record::parse(&put[at..]).map_err(|_| PutStatus::MessageIllegal)?;
    let topic = layout.topic(&put[at..]);
    if layout.body_len as u64 > config.max_message_size
      || layout.total_size as u64 > config.max_record_size()
      || !record::topic_chars_valid(topic)
      || !record::topic_length_valid(topic)
      || layout.store_host_len != store.store_host.len()
      || !(0..=QUEUE_ID_MAX).contains(&layout.queue_id)
    {
      return Err(PutStatus::MessageIllegal);
    }
    let (slot, queue_offset) = if layout.takes_queue_offset() {
      let slot = state.slot_for(store, topic, layout.queue_id);
      let n = match state.pending.iter_mut().find(|(s, _)| *s == slot) {
        Some(entry) => {
          entry.1 += 1;
          entry.1 - 1
        }
        None => {
          state.pending.push((slot, 1));
          0
        }
      };
      (slot, state.slots[slot].next_offset + n)
    } else {
      (usize::MAX, 0)
    };
    let segment =
      if slot == usize::MAX { None } else { Some(consume_queue_segment(store, &mut state.slots[slot], queue_offset)?) };
    let rec = &put[at..at + layout.total_size];
    let props = record::dispatch_props(layout.properties(rec));
    let tags_code = consume_queue_tags_code(store, topic, &props, store_ts);
    let index_keys = if store.index.is_some() && layout.transaction_type() != record::SYSFLAG_TRANSACTION_ROLLBACK {
      count_index_keys(&props)
    } else {
      0
    };
    let (uniq_key, keys) = (range_in(rec, props.uniq_key), range_in(rec, props.keys));
    state.planned.push(Planned { at, layout, slot, queue_offset, segment, tags_code, index_keys, uniq_key, keys });
    at += layout.total_size;
  }
  if at != put.len() {
    return Err(PutStatus::MessageIllegal);
  }
  Ok(())
}

/// The segment for unit `queue_offset` of a queue: the cached one when it covers it, else looked up or created.
pub(crate) fn consume_queue_segment(
  store: &Store,
  slot: &mut QueueSlot,
  queue_offset: i64,
) -> Result<Arc<MappedFile>, PutStatus> {
  let byte = queue_offset * crate::consume_queue::CQ_UNIT_SIZE as i64;
  if let Some(s) = &slot.segment {
    if s.file_from_offset() <= byte && byte < s.file_from_offset() + s.file_size() as i64 {
      return Ok(s.clone());
    }
  }
  match slot.queue.ensure_segment(queue_offset) {
    Ok(s) => {
      slot.segment = Some(s.clone());
      Ok(s)
    }
    Err(e) => {
      notice(&*store.events, Notice::CreateFileFailed, e.errno().unwrap_or(0) as f64, queue_offset as f64, 1.0);
      Err(PutStatus::CreateMappedFileFailed)
    }
  }
}

pub fn count_index_keys(props: &record::DispatchProps<'_>) -> u32 {
  let uniq = props.uniq_key.is_some() as u32;
  let keys = props.keys.map(|k| k.split(|&c| c == b' ').filter(|k| !k.is_empty()).count() as u32).unwrap_or(0);
  uniq + keys
}

/// Writes one put (see the module docs). `results` gets (phyOffset, queueOffset, storeTimestamp) per record.
/// Returns the commit-log offset just past the put.
fn append_put(
  store: &Store,
  state: &mut WriterState,
  put: &[u8],
  count: usize,
  store_timestamp: i64,
  results: &mut [f64],
) -> Result<i64, PutStatus> {
  if count == 0 {
    return Err(PutStatus::MessageIllegal);
  }
  plan(store, state, put, count, store_timestamp)?;
  if put.len() + END_FILE_MIN_BLANK_LENGTH > store.commit_log.file_size() {
    return Err(PutStatus::MessageIllegal);
  }
  let file = room_for(store, state, put.len())?;
  let index_keys: u32 = state.planned.iter().map(|p| p.index_keys).sum();
  let index_file = match (&store.index, index_keys) {
    (Some(index), n) if n > 0 => match index.writable(n as usize, store_timestamp) {
      Ok(f) => Some(f),
      Err(e) => {
        notice(&*store.events, Notice::CreateFileFailed, e.errno().unwrap_or(0) as f64, 0.0, 2.0);
        return Err(PutStatus::CreateMappedFileFailed);
      }
    },
    _ => None,
  };
  let pos = file.wrote();
  // SAFETY: the writer thread is the only one writing to the commit log, and nothing reads past `wrote`.
  let dst = unsafe { file.slice_mut(pos, put.len()) };
  dst.copy_from_slice(put);
  let base = file.file_from_offset() + pos as i64;
  for (i, p) in state.planned.iter().enumerate() {
    let rec = &mut dst[p.at..p.at + p.layout.total_size];
    let phy = base + p.at as i64;
    let body_crc = crc32_masked(p.layout.body(rec));
    let stamp = Stamp {
      queue_offset: p.queue_offset,
      physical_offset: phy,
      store_timestamp,
      store_host: &store.store_host,
      body_crc,
    };
    record::stamp(rec, &p.layout, &stamp);
    if let Some(segment) = &p.segment {
      let unit = Unit { phy, size: p.layout.total_size as i32, tags_code: p.tags_code };
      state.slots[p.slot].queue.put_unit_in(segment, p.queue_offset, unit);
    }
    if let Some(index) = &index_file {
      if p.index_keys > 0 {
        let (uniq_key, keys) = (slice_at(rec, p.uniq_key), slice_at(rec, p.keys));
        put_index_keys(index, p.layout.topic(rec), uniq_key, keys, phy, store_timestamp);
      }
    }
    results[3 * i] = phy as f64;
    results[3 * i + 1] = p.queue_offset as f64;
    results[3 * i + 2] = store_timestamp as f64;
  }
  for (slot, n) in &state.pending {
    state.slots[*slot].next_offset += n;
  }
  let end = pos + put.len();
  file.set_wrote(end, Some(store_timestamp));
  Checkpoint::advance(&store.last_dispatched_timestamp, store_timestamp);
  report_progress(store, state, &file, end);
  Stats::add(&store.stats.put_messages, count as u64);
  Stats::add(&store.stats.put_bytes, put.len() as u64);
  Ok(file.file_from_offset() + end as i64)
}

/// Tells the allocator how far the writer got in `file` (it keeps pages ahead mapped) and unmaps what is more
/// than a chunk behind: a cheap madvise that keeps RSS bounded however much is written. The range starts a little
/// before the last one, which also catches a chunk the pre-touch thread mapped just as the writer passed it.
pub(crate) fn report_progress(store: &Store, state: &mut WriterState, file: &Arc<MappedFile>, end: usize) {
  let chunk = end / PROGRESS_CHUNK_BYTES;
  if chunk != state.last_progress_chunk {
    state.last_progress_chunk = chunk;
    store.allocator.progress(file, end);
    let release_to = (chunk.saturating_sub(1)) * PROGRESS_CHUNK_BYTES;
    if release_to > state.released {
      let from = state.released.saturating_sub(2 * PROGRESS_CHUNK_BYTES);
      file.release(from, release_to - from);
      state.released = release_to;
    }
  }
}

/// Makes `file` the segment the writer fills, starting its progress reporting afresh.
pub(crate) fn set_current(state: &mut WriterState, file: Option<Arc<MappedFile>>) {
  state.current = file;
  state.last_progress_chunk = usize::MAX;
  state.released = 0;
}

/// Tag code stored in the consume queue; for the schedule topic, the delivery time (store.md §5.3, §9.3).
pub fn consume_queue_tags_code(store: &Store, topic: &[u8], props: &record::DispatchProps<'_>, store_ts: i64) -> i64 {
  if topic == SCHEDULE_TOPIC {
    if let Some(level) = props.delay_level {
      return store_ts + store.config.delay_ms_for_level(level);
    }
  }
  record::tags_code(props.tags)
}

/// Indexes `UNIQ_KEY` and every key of `KEYS` (store.md §6.2).
pub fn put_index_keys(
  index: &crate::index_file::IndexFile,
  topic: &[u8],
  uniq_key: Option<&[u8]>,
  keys: Option<&[u8]>,
  phy: i64,
  store_ts: i64,
) {
  if let Some(uniq) = uniq_key {
    index.put_key(key_hash(topic, uniq), phy, store_ts);
  }
  if let Some(keys) = keys {
    for key in keys.split(|&c| c == b' ').filter(|k| !k.is_empty()) {
      index.put_key(key_hash(topic, key), phy, store_ts);
    }
  }
}

/// The segment the put goes to, rolling to a new one (after a BLANK) when it does not fit (store.md §1.7).
fn room_for(store: &Store, state: &mut WriterState, len: usize) -> Result<Arc<MappedFile>, PutStatus> {
  if let Some(file) = &state.current {
    let pos = file.wrote();
    if pos + len + END_FILE_MIN_BLANK_LENGTH <= file.file_size() {
      return Ok(file.clone());
    }
    let remaining = file.file_size() - pos;
    // SAFETY: writer-only; a BLANK header always fits because every put leaves 8 bytes free.
    record::write_blank(unsafe { file.slice_mut(pos, END_FILE_MIN_BLANK_LENGTH) }, remaining);
    file.set_wrote(file.file_size(), None);
    file.release(0, file.file_size());
    state.current = None;
  }
  let next = segment_at(store, store.commit_log.next_file_offset(0))?;
  set_current(state, Some(next.clone()));
  Ok(next)
}

/// Creates (through the allocator) the commit-log segment starting at `offset`, which must follow the last one.
pub(crate) fn segment_at(store: &Store, offset: i64) -> Result<Arc<MappedFile>, PutStatus> {
  let size = store.commit_log.file_size() as i64;
  store.allocator.request(offset);
  store.allocator.request(offset + size);
  let timeout = Duration::from_millis(store.config.allocate_mapped_file_timeout_ms);
  let mut outcome = store.allocator.take(offset, timeout);
  if matches!(outcome, Err(AllocError::Failed { .. })) {
    // That failure may be from an earlier attempt made ahead of time (the disk was full then): try once more
    // now, so that a put fails only if the segment cannot be created at this moment.
    store.allocator.request(offset);
    outcome = store.allocator.take(offset, timeout);
  }
  match outcome {
    Ok(file) => {
      store.commit_log.push(file.clone());
      Ok(file)
    }
    Err(AllocError::Failed { errno, .. }) => {
      notice(&*store.events, Notice::CreateFileFailed, errno.unwrap_or(0) as f64, offset as f64, 0.0);
      Err(PutStatus::CreateMappedFileFailed)
    }
    Err(AllocError::TimedOut) | Err(AllocError::ShutDown) => Err(PutStatus::CreateMappedFileFailed),
  }
}
