//! Master/slave replication, the store's half (store.md §11): the master reads commit-log ranges to send, the
//! slave writes what it receives at the same physical offsets and dispatches the records in it to its own consume
//! queues and index. Connections, framing and acknowledgements live in TypeScript (`ts/broker/ha/`).
//!
//! Received bytes have arbitrary boundaries: a frame may end inside a record. The slave's writer keeps a dispatch
//! position (`reput_from`, RocketMQ's `ReputMessageService`) and dispatches each record once all of it is there.

use std::sync::Arc;

use crate::checkpoint::Checkpoint;
use crate::consume_queue::Unit;
use crate::events::{notice, Notice};
use crate::mapped_file::MappedFile;
use crate::record::{self, Check, Layout};
use crate::stats::Stats;
use crate::status::PutStatus;
use crate::store::Store;
use crate::writer::{self, AppendJob, WriterState};

pub const EVENT_REPLICA: f64 = 3.0;
/// `[3, len, ticket, status, maxOffset, dispatchedRecords, detail]`.
const EVENT_REPLICA_LEN: usize = 7;

/// Outcome of one replicated frame, as the event's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ReplicaStatus {
  Ok = 0,
  /// The frame does not continue the local commit log; `detail` is the local max offset. The connection is
  /// dropped and the slave reports its real position on the next one (§11.4).
  OffsetMismatch = 1,
  /// A segment, consume-queue file or index file could not be created (disk full); nothing past the local max
  /// offset was written.
  CreateFileFailed = 2,
  /// A received record failed its checks; `detail` is its offset. The local log is cut back to that offset, so
  /// the slave asks for it again on its next connection, and nothing of it is ever served.
  Corrupt = 3,
  /// The store refuses writes (disk full, write error, closing).
  NotWriteable = 4,
}

/// A readable range of the commit log (master side): `len` bytes at `pos` of `file`, starting at `offset`.
pub struct Range {
  pub file: Arc<MappedFile>,
  pub pos: usize,
  pub len: usize,
}

/// Where `offset` can be read from, up to `max` bytes, without leaving its segment and without passing what has
/// been written (`getData`). `Ok(None)`: nothing there yet. `Err(min)`: the offset is below the commit log's
/// first byte (deleted by retention); `min` is where the log starts now.
pub fn readable(store: &Store, offset: i64, max: usize) -> Result<Option<Range>, i64> {
  let min = store.commit_log.min_offset().unwrap_or(0);
  if offset < min {
    return Err(min);
  }
  let Some(file) = store.commit_log.find(offset) else { return Ok(None) };
  let pos = (offset - file.file_from_offset()) as usize;
  let wrote = file.wrote();
  if pos >= wrote {
    return Ok(None);
  }
  Ok(Some(Range { len: (wrote - pos).min(max), file, pos }))
}

/// The writer applies one replicated frame and posts its event (called from `writer::process`).
pub fn apply(store: &Store, state: &mut WriterState, job: &AppendJob, at: i64) {
  let bytes = job.bytes.as_slice();
  let (status, detail, records) = if store.flags.writeable() {
    match write_at(store, state, at, bytes) {
      Ok(()) => match dispatch_new(store, state) {
        Ok(n) => (ReplicaStatus::Ok, 0, n),
        Err((offset, n)) => match cut_back(store, state, offset) {
          Ok(()) => (ReplicaStatus::Corrupt, offset, n),
          Err(_) => (ReplicaStatus::NotWriteable, offset, n),
        },
      },
      Err(e) => e,
    }
  } else {
    (ReplicaStatus::NotWriteable, 0, 0)
  };
  if status == ReplicaStatus::Ok {
    Stats::add(&store.stats.put_bytes, bytes.len() as u64);
    Stats::add(&store.stats.put_messages, records);
  }
  let event = [
    EVENT_REPLICA,
    EVENT_REPLICA_LEN as f64,
    job.ticket as f64,
    status as i32 as f64,
    store.commit_log.max_offset() as f64,
    records as f64,
    detail as f64,
  ];
  store.events.post(&event);
}

/// Drops everything from `offset` on, so that a bad record received there is neither kept nor served.
fn cut_back(store: &Store, state: &mut WriterState, offset: i64) -> crate::error::StoreResult<()> {
  store.commit_log.truncate_dirty(offset)?;
  let last = store.commit_log.last().filter(|f| !f.is_full());
  writer::set_current(state, last);
  state.reput_from = offset;
  Ok(())
}

/// Writes `bytes` at `at`, which must be the local max offset (or, for an empty log, the start of a segment).
fn write_at(store: &Store, state: &mut WriterState, at: i64, bytes: &[u8]) -> Result<(), (ReplicaStatus, i64, u64)> {
  let size = store.commit_log.file_size();
  let local_max = store.commit_log.max_offset();
  let empty = store.commit_log.is_empty();
  if (!empty && at != local_max) || (empty && at % size as i64 != 0) {
    return Err((ReplicaStatus::OffsetMismatch, local_max, 0));
  }
  if empty {
    state.reput_from = at;
  }
  let mut offset = at;
  let mut rest = bytes;
  while !rest.is_empty() {
    let file = match &state.current {
      Some(f) if !f.is_full() => f.clone(),
      _ => {
        let next = match &state.current {
          Some(f) => f.file_from_offset() + size as i64,
          None => store.commit_log.next_file_offset(offset),
        };
        if next != offset {
          return Err((ReplicaStatus::OffsetMismatch, local_max, 0));
        }
        let file = writer::segment_at(store, next).map_err(|_| (ReplicaStatus::CreateFileFailed, 0, 0))?;
        writer::set_current(state, Some(file.clone()));
        file
      }
    };
    let pos = file.wrote();
    let n = rest.len().min(size - pos);
    // SAFETY: the writer thread is the only one writing to the commit log, and nothing reads past `wrote`.
    unsafe { file.slice_mut(pos, n) }.copy_from_slice(&rest[..n]);
    file.set_wrote(pos + n, None);
    writer::report_progress(store, state, &file, pos + n);
    if file.is_full() {
      file.release(0, size);
    }
    rest = &rest[n..];
    offset += n as i64;
  }
  Ok(())
}

/// Dispatches every complete record between the dispatch position and the local max offset. Returns how many,
/// or the offset of a record that failed its checks (with how many were dispatched before it).
fn dispatch_new(store: &Store, state: &mut WriterState) -> Result<u64, (i64, u64)> {
  let max = store.commit_log.max_offset();
  let mut dispatched = 0u64;
  while state.reput_from < max {
    let Some(file) = store.commit_log.find(state.reput_from) else { break };
    let pos = (state.reput_from - file.file_from_offset()) as usize;
    let wrote = file.wrote();
    if pos + 8 > wrote {
      if file.is_full() {
        // The master always leaves at least 8 bytes for a BLANK; fewer means the file ended exactly.
        state.reput_from = file.file_from_offset() + file.file_size() as i64;
        continue;
      }
      break;
    }
    // SAFETY: writer thread; these bytes are below `wrote` and no longer change.
    let head = unsafe { file.slice_mut(pos, 8) };
    let total = record::get_i32(head, 0);
    if record::get_i32(head, 4) == record::BLANK_MAGIC {
      state.reput_from = file.file_from_offset() + file.file_size() as i64;
      continue;
    }
    if total < record::RECORD_LENGTH_MIN as i32 || pos + total as usize > file.file_size() {
      return Err((state.reput_from, dispatched));
    }
    if pos + total as usize > wrote {
      break; // the rest of the record comes with a later frame
    }
    // SAFETY: as above.
    let rec = unsafe { file.slice_mut(pos, total as usize) };
    let layout = match record::check(rec, true) {
      Check::Valid(layout)
        if layout.physical_offset == state.reput_from && record::topic_chars_valid(layout.topic(rec)) =>
      {
        layout
      }
      _ => return Err((state.reput_from, dispatched)),
    };
    if dispatch(store, state, rec, &layout, state.reput_from).is_err() {
      // A consume-queue or index file could not be created: the record stays undispatched and the next frame
      // (or a restart's recovery) tries again.
      break;
    }
    // For the flusher's checkpoint: the segment now holds a dispatched record of this time.
    file.set_wrote(wrote, Some(layout.store_timestamp(rec)));
    state.reput_from += total as i64;
    dispatched += 1;
  }
  Ok(dispatched)
}

/// One record to its consume queue (at the queue offset the master gave it) and to the index.
fn dispatch(store: &Store, state: &mut WriterState, rec: &[u8], layout: &Layout, phy: i64) -> Result<(), PutStatus> {
  let props = record::dispatch_props(layout.properties(rec));
  let store_ts = layout.store_timestamp(rec);
  let topic = layout.topic(rec);
  if layout.takes_queue_offset() {
    let slot = state.slot_for(store, topic, layout.queue_id);
    let segment = writer::consume_queue_segment(store, &mut state.slots[slot], layout.queue_offset)?;
    let tags_code = writer::consume_queue_tags_code(store, topic, &props, store_ts);
    let unit = Unit { phy, size: layout.total_size as i32, tags_code };
    let s = &mut state.slots[slot];
    s.queue.put_unit_in(&segment, layout.queue_offset, unit);
    s.next_offset = s.next_offset.max(layout.queue_offset + 1);
  }
  if let Some(index) = &store.index {
    let keys = writer::count_index_keys(&props) as usize;
    if keys > 0 && layout.transaction_type() != record::SYSFLAG_TRANSACTION_ROLLBACK {
      let file = index.writable(keys, store_ts).map_err(|e| {
        notice(&*store.events, Notice::CreateFileFailed, e.errno().unwrap_or(0) as f64, 0.0, 2.0);
        PutStatus::CreateMappedFileFailed
      })?;
      writer::put_index_keys(&file, topic, props.uniq_key, props.keys, phy, store_ts);
    }
  }
  Checkpoint::advance(&store.last_dispatched_timestamp, store_ts);
  Ok(())
}
