//! ferrymq's native store, loaded by Node as an N-API addon.
//!
//! This file only registers the exported functions and converts between JavaScript values and the store's
//! Rust types; every other module is plain Rust. The TypeScript declaration of these exports is
//! `ts/native/binding.ts`, and a test checks the two tables agree.
#![deny(clippy::all)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod allocate;
mod checkpoint;
mod config;
mod consume_queue;
mod crc32;
mod error;
mod events;
mod flush;
mod housekeeping;
mod index_file;
mod java;
mod mapped_file;
mod mapped_file_queue;
mod napi;
mod reader;
mod record;
mod recovery;
mod replica;
mod stats;
mod status;
mod store;
mod store_tests;
mod test_util;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use napi::{sys, Args, Env, EventChannel, Export, ExternalType, JsError, JsRef, JsResult, Value};

use config::{ConfigValue, Kind, StoreConfig};
use error::StoreError;
use events::EventSink;
use reader::{Boundary, GetPlan, GetRequest};
use store::Store;

impl From<StoreError> for JsError {
  fn from(e: StoreError) -> JsError {
    JsError::new(e.code(), e.to_string())
  }
}

impl EventSink for EventChannel {
  fn post(&self, event: &[f64]) {
    EventChannel::post(self, event)
  }
}

/// The handle TypeScript holds: the store, its event channel, and the Buffers of jobs still in flight.
struct NativeStore {
  store: Arc<Store>,
  channel: Arc<EventChannel>,
  jobs: Arc<JobRefs>,
}

/// The store behind a handle argument, refusing handles of closed stores.
fn live_store(args: &Args, i: usize) -> JsResult<Arc<NativeStore>> {
  let native = args.external::<NativeStore>(i, "handle")?;
  if native.store.is_closed() {
    return Err(StoreError::Closed.into());
  }
  Ok(native)
}

impl ExternalType for NativeStore {
  const TAG: u64 = 0x6665_7272_796d_7101; // "ferrymq" + 1
}

/// References that keep each in-flight job's Buffer alive until its completion event reaches JavaScript.
#[derive(Default)]
struct JobRefs(Mutex<HashMap<u64, JsRef>>);

impl JobRefs {
  /// Releases the Buffers of the jobs completed by `events`; returns how many (JS thread).
  fn release_completed(&self, env: Env, events: &[f64]) -> usize {
    let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
    let mut completed = 0;
    let mut at = 0;
    while at + 2 < events.len() {
      let len = events[at + 1] as usize;
      if len < 2 {
        break;
      }
      if events[at] == events::EVENT_APPEND || events[at] == replica::EVENT_REPLICA {
        if let Some(r) = map.remove(&(events[at + 2] as u64)) {
          r.delete(env);
          completed += 1;
        }
      }
      at += len;
    }
    completed
  }
}

fn read_config(env: Env, object: Value) -> JsResult<StoreConfig> {
  let mut config = StoreConfig::default();
  for (key, kind) in config::KEYS {
    let v = env.get_property(object, key)?;
    if env.is_nullish(v)? {
      continue;
    }
    let value = match kind {
      Kind::Int => ConfigValue::Int(env.get_i64(v, key)?),
      Kind::Bool => ConfigValue::Bool(env.get_bool(v, key)?),
      Kind::Str => ConfigValue::Str(env.get_string(v, key)?),
    };
    config.set(key, value)?;
  }
  Ok(config)
}

fn recovery_object(env: Env, r: &recovery::RecoveryReport) -> JsResult<Value> {
  let o = env.object()?;
  env.set_bool(o, "lastExitOk", r.last_exit_ok)?;
  env.set_number(o, "startOffset", r.start_offset as f64)?;
  env.set_number(o, "processOffset", r.process_offset as f64)?;
  env.set_number(o, "recordsScanned", r.records_scanned as f64)?;
  env.set_number(o, "recordsDispatched", r.records_dispatched as f64)?;
  env.set_number(o, "consumeQueues", r.consume_queues as f64)?;
  env.set_number(o, "elapsedMs", r.elapsed_ms as f64)?;
  match r.invalid {
    Some((offset, reason)) => {
      env.set_number(o, "invalidOffset", offset as f64)?;
      env.set_string(o, "invalidReason", reason.as_str())?;
    }
    None => {
      env.set_number(o, "invalidOffset", -1.0)?;
      env.set_string(o, "invalidReason", "")?;
    }
  }
  Ok(o)
}

/// `open(config, onEvent) -> Promise<{ handle, recovery }>`
fn open(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let config = read_config(env, args.get(0))?;
  if env.type_of(args.get(1))? != sys::NAPI_FUNCTION {
    return Err(JsError::new("FERRYMQ_INVALID_ARG", "onEvent must be a function"));
  }
  let jobs = Arc::new(JobRefs::default());
  let hook_jobs = jobs.clone();
  let hook: napi::DeliverHook = Box::new(move |env, events| hook_jobs.release_completed(env, events));
  let channel = EventChannel::new(env, args.get(1), "ferrymq-store-events", hook)?;
  let sink: Arc<dyn EventSink> = channel.clone();
  let failed_channel = channel.clone();
  env
    .spawn_work(
      "ferrymq-open",
      move || match Store::open(config, sink) {
        Ok(store) => Ok(store),
        Err(e) => Err(JsError::from(e)),
      },
      move |env, store| {
        let recovery = recovery_object(env, &store.recovery)?;
        let handle = env.create_external(Arc::new(NativeStore { store, channel, jobs }))?;
        let o = env.object()?;
        env.set(o, "handle", handle)?;
        env.set(o, "recovery", recovery)?;
        Ok(o)
      },
    )
    .inspect_err(|_| failed_channel.close())
}

/// Submits a job whose bytes live in the JavaScript Buffer `buffer`: the Buffer is referenced until the job's
/// completion event reaches JavaScript. Answers the ticket (> 0), or the refusal status negated.
fn submit_borrowed(
  env: Env,
  native: &NativeStore,
  buffer: Value,
  name: &str,
  submit: impl FnOnce(writer::JobBytes) -> Result<u64, status::PutStatus>,
) -> JsResult<Value> {
  let bytes = env.get_buffer(buffer, name)?;
  let job_bytes = writer::JobBytes::Borrowed { ptr: bytes.as_ptr(), len: bytes.len() };
  // The reference is taken before submitting, so the writer never sees memory that nothing keeps alive.
  let r = JsRef::new(env, buffer)?;
  match submit(job_bytes) {
    Ok(ticket) => {
      native.jobs.0.lock().unwrap_or_else(|p| p.into_inner()).insert(ticket, r);
      native.channel.add_pending(env);
      env.number(ticket as f64)
    }
    Err(status) => {
      r.delete(env);
      env.number(-(status.code() as f64))
    }
  }
}

/// `append(handle, job, waitFlush) -> ticket (> 0) | -status`
fn append(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = args.external::<NativeStore>(0, "handle")?;
  let wait_flush = env.get_bool(args.get(2), "waitFlush")?;
  submit_borrowed(env, &native, args.get(1), "job", |bytes| native.store.submit(bytes, wait_flush))
}

/// `appendReplica(handle, phyOffset, bytes) -> ticket (> 0) | -status`: a slave writes bytes received from its
/// master at the same offset; completion comes as an `EVENT_REPLICA`.
fn append_replica(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = args.external::<NativeStore>(0, "handle")?;
  let at = args.i64(1, "phyOffset")?;
  if at < 0 {
    return Err(JsError::new("FERRYMQ_INVALID_ARG", "appendReplica: phyOffset must not be negative"));
  }
  submit_borrowed(env, &native, args.get(2), "bytes", |bytes| native.store.submit_replica(bytes, at))
}

/// `readCommitLog(handle, offset, maxBytes) -> Buffer | Promise<Buffer> | number`: up to `maxBytes` written bytes
/// from `offset`, never past the end of its segment (an empty Buffer when nothing is there yet). Answered at once
/// when the bytes are in the page cache, else read on the pool. A number instead: the offset was deleted by
/// retention, and this is where the commit log starts now.
fn read_commit_log(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = live_store(args, 0)?;
  let offset = args.i64(1, "offset")?;
  let max = args.i64(2, "maxBytes")?.max(0) as usize;
  let range = match replica::readable(&native.store, offset, max) {
    Err(min) => return env.number(min as f64),
    Ok(None) => return env.buffer_with(0, |_| ()),
    Ok(Some(r)) => r,
  };
  if range.file.is_resident(range.pos, range.len) {
    let mut failed = false;
    let buffer = env.buffer_with(range.len, |dst| failed = range.file.read_at(range.pos, dst).is_err())?;
    if !failed {
      return Ok(buffer);
    }
  }
  env.spawn_work(
    "ferrymq-read-commit-log",
    move || {
      let mut data = vec![0u8; range.len];
      range
        .file
        .read_at(range.pos, &mut data)
        .map_err(|e| JsError::from(StoreError::io("read commit log", range.file.path(), e)))?;
      Ok(data)
    },
    |env, data| env.buffer_from(&data),
  )
}

fn plan_object(env: Env, plan: &GetPlan, buffer: Value, used: usize) -> JsResult<Value> {
  let o = env.object()?;
  env.set_number(o, "status", plan.status.code() as f64)?;
  env.set_number(o, "nextBeginOffset", plan.next_begin_offset as f64)?;
  env.set_number(o, "minOffset", plan.min_offset as f64)?;
  env.set_number(o, "maxOffset", plan.max_offset as f64)?;
  env.set_bool(o, "suggestPullingFromSlave", plan.suggest_pulling_from_slave)?;
  let mut entries = Vec::with_capacity(plan.entries.len() * 3);
  for e in &plan.entries {
    entries.extend_from_slice(&[e.queue_offset as f64, e.phy as f64, e.size as f64]);
  }
  let entries = env.float64_array(&entries)?;
  env.set(o, "entries", entries)?;
  env.set(o, "buffer", buffer)?;
  env.set_number(o, "bufferLength", used as f64)?;
  Ok(o)
}

/// `getMessage(handle, topic, queueId, offset, maxMsgNums, maxTotalBytes, tagCodes | null)
///   -> result | Promise<result>`: answered at once when every byte is in the page cache, else read on the pool.
fn get_message(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = live_store(args, 0)?;
  let topic = args.string(1, "topic")?;
  let queue_id = args.i32(2, "queueId")?;
  let offset = args.i64(3, "offset")?;
  let max_msg_nums = args.i64(4, "maxMsgNums")?.max(1) as usize;
  let max_total_bytes = args.i64(5, "maxTotalBytes")?.max(1) as usize;
  let tag_codes = if env.is_nullish(args.get(6))? { None } else { Some(env.get_i32_array(args.get(6), "tagCodes")?) };
  let req =
    GetRequest { topic: &topic, queue_id, offset, max_msg_nums, max_total_bytes, tag_codes: tag_codes.as_deref() };
  let store = &native.store;
  let mut plan = reader::plan_get(store, &req);
  if plan.entries.is_empty() || reader::plan_is_resident(store, &plan) {
    let total = plan.total_bytes;
    let mut used = 0;
    let buffer = env.buffer_with(total, |dst| used = reader::read_plan(store, &mut plan, dst))?;
    return plan_object(env, &plan, buffer, used);
  }
  store::Store::count_async_read(store);
  let store = store.clone();
  env.spawn_work(
    "ferrymq-get-message",
    move || {
      let mut data = vec![0u8; plan.total_bytes];
      let used = reader::read_plan(&store, &mut plan, &mut data);
      data.truncate(used);
      Ok((plan, data))
    },
    |env, (plan, data)| {
      let buffer = env.buffer_from(&data)?;
      plan_object(env, &plan, buffer, data.len())
    },
  )
}

/// `readAt(handle, phyOffset) -> Promise<Buffer | null>`
fn read_at(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let phy = args.i64(1, "phyOffset")?;
  let store = native.store.clone();
  args.env().spawn_work(
    "ferrymq-read-at",
    move || Ok(reader::read_record_at(&store, phy)),
    |env, rec| match rec {
      Some(r) => env.buffer_from(&r),
      None => env.null(),
    },
  )
}

/// `queryByKey(handle, topic, key, maxNum, begin, end) -> Promise<Array<{ phyOffset, record }>>`
fn query_by_key(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let topic = args.string(1, "topic")?;
  let key = args.string(2, "key")?;
  let max = args.i64(3, "maxNum")?.max(1) as usize;
  let begin = args.i64(4, "begin")?;
  let end = args.i64(5, "end")?;
  let store = native.store.clone();
  args.env().spawn_work(
    "ferrymq-query-by-key",
    move || Ok(reader::query_by_key(&store, &topic, &key, max, begin, end)),
    |env, found| {
      let array = env.array(found.len())?;
      for (i, (phy, rec)) in found.iter().enumerate() {
        let o = env.object()?;
        env.set_number(o, "phyOffset", *phy as f64)?;
        let b = env.buffer_from(rec)?;
        env.set(o, "record", b)?;
        env.set_element(array, i as u32, o)?;
      }
      Ok(array)
    },
  )
}

/// `offsetByTime(handle, topic, queueId, timestamp, upper) -> Promise<number>`
fn offset_by_time(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = live_store(args, 0)?;
  let topic = args.string(1, "topic")?;
  let queue_id = args.i32(2, "queueId")?;
  let ts = args.i64(3, "timestamp")?;
  let boundary = if env.get_bool(args.get(4), "upper")? { Boundary::Upper } else { Boundary::Lower };
  let store = native.store.clone();
  env.spawn_work(
    "ferrymq-offset-by-time",
    move || Ok(reader::offset_by_time(&store, &topic, queue_id, ts, boundary)),
    |env, offset| env.number(offset as f64),
  )
}

/// `earliestMessageTime(handle, topic, queueId) -> Promise<number>` (-1 when the queue is empty)
fn earliest_message_time(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let topic = args.string(1, "topic")?;
  let queue_id = args.i32(2, "queueId")?;
  let store = native.store.clone();
  args.env().spawn_work(
    "ferrymq-earliest-time",
    move || Ok(reader::earliest_message_time(&store, &topic, queue_id)),
    |env, t| env.number(t as f64),
  )
}

/// `queueOffsets(handle, topic, queueId) -> [min, max]` (`[0, 0]` for a queue that does not exist)
fn queue_offsets(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = live_store(args, 0)?;
  let topic = args.string(1, "topic")?;
  let queue_id = args.i32(2, "queueId")?;
  let (min, max) = match native.store.queues.get(&topic, queue_id) {
    Some(q) => (q.min_offset(), reader::visible_max_offset(&native.store, &q)),
    None => (0, 0),
  };
  env.float64_array(&[min as f64, max as f64])
}

/// `queues(handle) -> Array<{ topic, queueId, minOffset, maxOffset }>`
fn queues(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = live_store(args, 0)?;
  let store = &native.store;
  let mut all = store.queues.all();
  all.sort_by(|a, b| (a.topic(), a.queue_id()).cmp(&(b.topic(), b.queue_id())));
  let array = env.array(all.len())?;
  for (i, q) in all.iter().enumerate() {
    let o = env.object()?;
    env.set_string(o, "topic", q.topic())?;
    env.set_number(o, "queueId", q.queue_id() as f64)?;
    env.set_number(o, "minOffset", q.min_offset() as f64)?;
    env.set_number(o, "maxOffset", reader::visible_max_offset(store, q) as f64)?;
    env.set_element(array, i as u32, o)?;
  }
  Ok(array)
}

/// `stats(handle) -> object` (see `NativeStoreStats` in binding.ts)
fn stats(args: &Args) -> JsResult<Value> {
  let env = args.env();
  let native = live_store(args, 0)?;
  let s = native.store.stats_snapshot();
  let o = env.object()?;
  for (name, value) in &s.numbers {
    env.set_number(o, name, *value)?;
  }
  let put_hist = env.float64_array(&s.put_latency_histogram)?;
  env.set(o, "putLatencyHistogramUs", put_hist)?;
  let flush_hist = env.float64_array(&s.flush_latency_histogram)?;
  env.set(o, "flushLatencyHistogramUs", flush_hist)?;
  Ok(o)
}

/// `maxPhyOffset(handle) -> number`: one past the commit log's last written byte; cheap (no stats snapshot).
fn max_phy_offset(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  args.env().number(native.store.commit_log.max_offset() as f64)
}

/// `pageCacheBusy(handle) -> boolean`: RocketMQ's busy test, from two atomics: cheap enough to ask per request.
fn page_cache_busy(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  args.env().boolean(native.store.is_os_page_cache_busy())
}

/// `residency(handle, phyOffset, length) -> fraction of the range's pages in the page cache`
fn residency(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let phy = args.i64(1, "phyOffset")?;
  let len = args.i64(2, "length")?.max(0) as usize;
  args.env().number(native.store.residency(phy, len))
}

/// `clean(handle) -> Promise<report>`: one retention pass now, as RocketMQ's admin "delete expired files".
fn clean(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let store = native.store.clone();
  args.env().spawn_work(
    "ferrymq-clean",
    move || Ok(housekeeping::clean(&store, true)),
    |env, r| {
      let o = env.object()?;
      env.set_number(o, "commitLogDeleted", r.commit_log_deleted as f64)?;
      env.set_number(o, "queueSegmentsDeleted", r.queue_segments_deleted as f64)?;
      env.set_number(o, "indexFilesDeleted", r.index_files_deleted as f64)?;
      env.set_number(o, "diskUsagePercent", r.disk_usage_percent)?;
      env.set_bool(o, "forced", r.forced)?;
      Ok(o)
    },
  )
}

/// `flush(handle) -> Promise<flushedOffset>`: makes everything written so far durable now.
fn flush(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let store = native.store.clone();
  args.env().spawn_work(
    "ferrymq-flush",
    move || store.flush_all().map_err(JsError::from),
    |env, flushed| env.number(flushed as f64),
  )
}

/// `deleteTopic(handle, topic) -> Promise<number>`: the number of consume queues deleted.
fn delete_topic(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let topic = args.string(1, "topic")?;
  let store = native.store.clone();
  args.env().spawn_work(
    "ferrymq-delete-topic",
    move || store.delete_topic(&topic).map_err(JsError::from),
    |env, n| env.number(n as f64),
  )
}

/// `close(handle) -> Promise<void>`
fn close(args: &Args) -> JsResult<Value> {
  let native = args.external::<NativeStore>(0, "handle")?;
  let store = native.store.clone();
  let channel = native.channel.clone();
  args.env().spawn_work(
    "ferrymq-close",
    move || store.close().map_err(JsError::from),
    move |env, ()| {
      channel.close();
      env.undefined()
    },
  )
}

/// `crc32(buffer) -> number`: the plain (unmasked) CRC32 of the bytes.
fn crc32(args: &Args) -> JsResult<Value> {
  let bytes = args.buffer(0, "buffer")?;
  args.env().number(crc32fast::hash(bytes) as f64)
}

/// `testStall(handle, "put" | "flush", ms)`: test hook (needs `testHooksEnable`): the next put holds the put lock
/// `ms` longer, or the next group commit waits `ms` before flushing.
fn test_stall(args: &Args) -> JsResult<Value> {
  let native = live_store(args, 0)?;
  let what = match args.string(1, "what")?.as_str() {
    "put" => store::Stall::Put,
    "flush" => store::Stall::Flush,
    other => return Err(JsError::new("FERRYMQ_INVALID_ARG", format!("testStall: unknown stall {other:?}"))),
  };
  let ms = args.i64(2, "ms")?.max(0) as u64;
  native.store.stall(what, ms)?;
  args.env().undefined()
}

static EXPORTS: &[Export] = &[
  Export { name: "open", arity: 2, func: open },
  Export { name: "append", arity: 3, func: append },
  Export { name: "appendReplica", arity: 3, func: append_replica },
  Export { name: "readCommitLog", arity: 3, func: read_commit_log },
  Export { name: "getMessage", arity: 7, func: get_message },
  Export { name: "readAt", arity: 2, func: read_at },
  Export { name: "queryByKey", arity: 6, func: query_by_key },
  Export { name: "offsetByTime", arity: 5, func: offset_by_time },
  Export { name: "earliestMessageTime", arity: 3, func: earliest_message_time },
  Export { name: "queueOffsets", arity: 3, func: queue_offsets },
  Export { name: "queues", arity: 1, func: queues },
  Export { name: "stats", arity: 1, func: stats },
  Export { name: "maxPhyOffset", arity: 1, func: max_phy_offset },
  Export { name: "residency", arity: 3, func: residency },
  Export { name: "pageCacheBusy", arity: 1, func: page_cache_busy },
  Export { name: "clean", arity: 1, func: clean },
  Export { name: "flush", arity: 1, func: flush },
  Export { name: "deleteTopic", arity: 2, func: delete_topic },
  Export { name: "close", arity: 1, func: close },
  Export { name: "crc32", arity: 1, func: crc32 },
  Export { name: "testStall", arity: 3, func: test_stall },
];

/// Node's entry point for an N-API module without static registration.
///
/// # Safety
/// Called by Node with a valid environment and exports object.
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(env: sys::napi_env, exports: sys::napi_value) -> sys::napi_value {
  if let Err(e) = napi::register(env, exports, EXPORTS) {
    let code = std::ffi::CString::new(e.code).unwrap_or_default();
    let msg = std::ffi::CString::new(e.message).unwrap_or_default();
    sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr());
  }
  exports
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn export_names_are_unique_and_arity_fits_the_trampoline() {
    let mut names: Vec<&str> = EXPORTS.iter().map(|e| e.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EXPORTS.len());
    assert!(EXPORTS.iter().all(|e| e.arity <= 8));
  }
}
