//! The store: commit log, consume queues, index, checkpoint and the threads that serve them
//! (`DefaultMessageStore`, store.md §7 for the start and stop order).
//!
//! Threads, each owning one job:
//! - `ferrymq-writer`: the put lock. Appends records, stamps them, dispatches them to consume queues and index.
//! - `ferrymq-flush`: group commit (`SYNC_FLUSH`) or the periodic flush (`ASYNC_FLUSH`).
//! - `ferrymq-alloc`: creates the next commit-log segment and keeps pages ahead of the writer faulted in.
//! - `ferrymq-housekeeping`: consume-queue and index flush, checkpoint, retention and disk watermarks.
//!
//! The JavaScript thread only submits jobs, reads, and receives completion events.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::allocate::{Allocator, SegmentAdvice};
use crate::checkpoint::Checkpoint;
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueue;
use crate::error::{StoreError, StoreResult};
use crate::events::{notice, EventSink, Notice};
use crate::flush::FlushService;
use crate::index_file::IndexService;
use crate::mapped_file_queue::MappedFileQueue;
use crate::record::{encode_host, topic_chars_valid};
use crate::recovery::{self, RecoveryReport};
use crate::stats::Stats;
use crate::status::PutStatus;
use crate::writer::{self, AppendJob};

/// Before blocking for its next job, the writer spins this long: under load jobs arrive a few µs apart, and a
/// futex wake-up costs the submitting JavaScript thread and the writer more than that each.
const WRITER_SPIN: std::time::Duration = std::time::Duration::from_micros(40);
/// Below this the adaptive spin is not worth starting.
const WRITER_SPIN_MIN: std::time::Duration = std::time::Duration::from_micros(2);

/// Busy means the put lock has been held longer than the timeout but less than this sanity bound, which rules
/// out a stale start time (`DefaultMessageStore#isOSPageCacheBusy`).
const BUSY_SANITY_BOUND_MS: i64 = 10_000_000;

pub fn now_ms() -> i64 {
  SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How much of the commit log's tail `stats()` checks for page-cache residency.
const TAIL_RESIDENCY_BYTES: usize = 64 * 1024 * 1024;

/// Counters and gauges for `stats()`.
pub struct StatsSnapshot {
  pub numbers: Vec<(&'static str, f64)>,
  pub put_latency_histogram: Vec<f64>,
  pub flush_latency_histogram: Vec<f64>,
}

/// Consume queues by topic and queue id, created lazily on first dispatch.
pub struct QueueRegistry {
  root: PathBuf,
  file_size: usize,
  map: RwLock<HashMap<String, HashMap<i32, Arc<ConsumeQueue>>>>,
}

impl QueueRegistry {
  /// Loads every `consumequeue/<topic>/<queueId>` directory. Names that are not valid topics or queue ids are
  /// skipped: nothing but the store creates directories there.
  pub fn load(root: &Path, file_size: usize) -> StoreResult<QueueRegistry> {
    let registry = QueueRegistry { root: root.to_path_buf(), file_size, map: RwLock::new(HashMap::new()) };
    let topics = match std::fs::read_dir(root) {
      Ok(t) => t,
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(registry),
      Err(e) => return Err(StoreError::io("list", root, e)),
    };
    let mut map = HashMap::new();
    for topic_entry in topics.flatten() {
      let Some(topic) = topic_entry.file_name().to_str().map(str::to_string) else { continue };
      if !topic_chars_valid(topic.as_bytes()) || !topic_entry.path().is_dir() {
        continue;
      }
      let mut queues = HashMap::new();
      let dir = topic_entry.path();
      for q in std::fs::read_dir(&dir).map_err(|e| StoreError::io("list", &dir, e))?.flatten() {
        let Some(id) = q.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if id < 0 || !q.path().is_dir() {
          continue;
        }
        queues.insert(id, Arc::new(ConsumeQueue::load(root, &topic, id, file_size)?));
      }
      map.insert(topic, queues);
    }
    *registry.map.write().unwrap_or_else(|p| p.into_inner()) = map;
    Ok(registry)
  }

  pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
    self.map.read().unwrap_or_else(|p| p.into_inner()).get(topic)?.get(&queue_id).cloned()
  }

  pub fn get_or_create(&self, topic: &str, queue_id: i32) -> Arc<ConsumeQueue> {
    if let Some(q) = self.get(topic, queue_id) {
      return q;
    }
    let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
    map
      .entry(topic.to_string())
      .or_default()
      .entry(queue_id)
      .or_insert_with(|| Arc::new(ConsumeQueue::new(&self.root, topic, queue_id, self.file_size)))
      .clone()
  }

  /// Forgets every queue, unmapping its files (store close).
  pub fn release_all(&self) {
    let queues = std::mem::take(&mut *self.map.write().unwrap_or_else(|p| p.into_inner()));
    for q in queues.values().flat_map(|q| q.values()) {
      q.files().release_all();
    }
  }

  /// Takes the topic's queues out of the registry (the writer does this, see `Control::DeleteTopic`).
  pub fn remove_topic(&self, topic: &str) -> Vec<Arc<ConsumeQueue>> {
    let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
    map.remove(topic).map(|q| q.into_values().collect()).unwrap_or_default()
  }

  pub fn all(&self) -> Vec<Arc<ConsumeQueue>> {
    let map = self.map.read().unwrap_or_else(|p| p.into_inner());
    map.values().flat_map(|q| q.values().cloned()).collect()
  }
}

/// What a test stall holds up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stall {
  Put,
  Flush,
}

/// Why the store refuses writes (`RunningFlags`).
#[derive(Default)]
pub struct RunningFlags {
  /// Disk usage is above the warning level (store.md §8.2).
  pub disk_full: AtomicBool,
  /// A write or flush failed with this errno; sticky until the store is reopened.
  pub write_error: AtomicI32,
}

impl RunningFlags {
  pub fn writeable(&self) -> bool {
    !self.disk_full.load(Ordering::Acquire) && self.write_error.load(Ordering::Acquire) == 0
  }

  pub fn set_write_error(&self, errno: i32) {
    let _ = self.write_error.compare_exchange(0, errno.max(1), Ordering::AcqRel, Ordering::Acquire);
  }
}

struct WriterQueue {
  jobs: VecDeque<AppendJob>,
  shutdown: bool,
  /// The writer is blocked waiting for a job: only then does a submit need to wake it (a futex syscall).
  writer_waiting: bool,
}

pub struct Store {
  pub config: StoreConfig,
  /// The STOREHOST field value (IP bytes and port).
  pub store_host: Vec<u8>,
  pub commit_log: MappedFileQueue,
  pub queues: QueueRegistry,
  pub index: Option<IndexService>,
  pub checkpoint: Checkpoint,
  pub allocator: Arc<Allocator>,
  pub flush: FlushService,
  pub stats: Stats,
  pub flags: RunningFlags,
  pub events: Arc<dyn EventSink>,
  /// When the current put started holding the put lock (ms since the epoch), 0 when nobody holds it.
  pub begin_time_in_lock: AtomicI64,
  /// Store time of the last record dispatched to a consume queue (for the checkpoint).
  pub last_dispatched_timestamp: AtomicI64,
  /// Bytes of RAM, for the "message in memory" estimate of reads (store.md §5.5).
  pub total_memory_bytes: u64,
  pub recovery: RecoveryReport,
  pub housekeeping: crate::housekeeping::Control,
  /// Test hook: the next put sleeps this long inside the put lock.
  pub stall_next_put_ms: AtomicU64,
  /// Test hook: the next group commit sleeps this long before flushing.
  pub stall_next_flush_ms: AtomicU64,
  next_ticket: AtomicU64,
  writer_queue: Mutex<WriterQueue>,
  writer_wake: Condvar,
  /// Jobs in `writer_queue`, readable without the lock for the writer's spin.
  writer_queued: AtomicU64,
  /// How long the writer spins for the next job before sleeping, in ns (see `next_job`).
  writer_spin_ns: AtomicU64,
  threads: Mutex<Vec<JoinHandle<()>>>,
  lock_file: Mutex<Option<File>>,
  closed: AtomicBool,
}

fn total_memory_bytes() -> u64 {
  let mut info: libc::sysinfo = unsafe { std::mem::zeroed() };
  // SAFETY: sysinfo only writes into `info`.
  if unsafe { libc::sysinfo(&mut info) } == 0 {
    info.totalram as u64 * info.mem_unit as u64
  } else {
    8 * 1024 * 1024 * 1024
  }
}

/// Takes the store's `lock` file exclusively, or says that someone else has it.
fn acquire_lock(root: &Path) -> StoreResult<File> {
  let path = root.join("lock");
  let mut file = OpenOptions::new()
    .read(true)
    .write(true)
    .create(true)
    .truncate(false)
    .open(&path)
    .map_err(|e| StoreError::io("open lock file", &path, e))?;
  // SAFETY: flock on an fd we own.
  if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
      return Err(StoreError::Locked { path: root.to_path_buf() });
    }
    return Err(StoreError::io("lock", &path, e));
  }
  file.write_all(b"lock").map_err(|e| StoreError::io("write lock file", &path, e))?;
  Ok(file)
}

impl Store {
  /// Loads, recovers and starts the store (blocking: run it off the JavaScript thread).
  pub fn open(config: StoreConfig, events: Arc<dyn EventSink>) -> StoreResult<Arc<Store>> {
    let config = config.validate()?;
    let root = config.store_path_root_dir.clone();
    std::fs::create_dir_all(&root).map_err(|e| StoreError::io("create store directory", &root, e))?;
    let lock_file = acquire_lock(&root)?;
    let abort_path = root.join("abort");
    let last_exit_ok = !abort_path.exists();

    let commit_log_dir = config.commit_log_dir();
    std::fs::create_dir_all(&commit_log_dir).map_err(|e| StoreError::io("create", &commit_log_dir, e))?;
    let commit_log = MappedFileQueue::load(&commit_log_dir, config.mapped_file_size_commit_log as usize)?;
    // The segment written next after a restart gets the advice new segments get (see `SegmentAdvice`).
    if SegmentAdvice::for_store(config.data_read_ahead_enable, config.flush_sync) == SegmentAdvice::Random {
      if let Some(last) = commit_log.last() {
        last.advise_random();
      }
    }
    let queues = QueueRegistry::load(&config.consume_queue_dir(), config.mapped_file_size_consume_queue as usize)?;
    let checkpoint = Checkpoint::load(&root.join("checkpoint"))?;
    let index = if config.message_index_enable {
      Some(IndexService::load(
        &config.index_dir(),
        config.max_hash_slot_num,
        config.max_index_num,
        config.max_msgs_num_batch as usize,
        last_exit_ok,
        checkpoint.index_msg_timestamp.load(Ordering::Acquire),
      )?)
    } else {
      None
    };
    let allocator = Arc::new(Allocator::new(
      commit_log_dir,
      config.mapped_file_size_commit_log as usize,
      config.commit_log_pretouch_ahead_bytes as usize,
      SegmentAdvice::for_store(config.data_read_ahead_enable, config.flush_sync),
    ));
    let store_host = encode_host(&config.store_host);
    let mut store = Store {
      flush: FlushService::new(config.flush_sync),
      config,
      store_host,
      commit_log,
      queues,
      index,
      checkpoint,
      allocator,
      stats: Stats::default(),
      flags: RunningFlags::default(),
      events,
      begin_time_in_lock: AtomicI64::new(0),
      last_dispatched_timestamp: AtomicI64::new(0),
      total_memory_bytes: total_memory_bytes(),
      recovery: RecoveryReport::default(),
      housekeeping: crate::housekeeping::Control::default(),
      stall_next_put_ms: AtomicU64::new(0),
      stall_next_flush_ms: AtomicU64::new(0),
      next_ticket: AtomicU64::new(1),
      writer_queue: Mutex::new(WriterQueue { jobs: VecDeque::new(), shutdown: false, writer_waiting: false }),
      writer_wake: Condvar::new(),
      writer_queued: AtomicU64::new(0),
      writer_spin_ns: AtomicU64::new(WRITER_SPIN.as_nanos() as u64),
      threads: Mutex::new(Vec::new()),
      lock_file: Mutex::new(Some(lock_file)),
      closed: AtomicBool::new(false),
    };
    store.recovery = recovery::recover(&store, last_exit_ok)?;
    if let Some((offset, len)) = store.commit_log.extended_short_last() {
      notice(&*store.events, Notice::ShortSegmentExtended, offset as f64, len as f64, 0.0);
    }
    for q in store.queues.all() {
      if let Some((offset, len)) = q.files().extended_short_last() {
        notice(&*store.events, Notice::ShortSegmentExtended, offset as f64, len as f64, 1.0);
      }
    }
    let writer_state = writer::WriterState::after_recovery(&store);
    let store = Arc::new(store);
    std::fs::write(&abort_path, std::process::id().to_string())
      .map_err(|e| StoreError::io("create abort file", &abort_path, e))?;
    writer_state.prefetch(&store);
    store.start_threads(writer_state)?;
    Ok(store)
  }

  fn start_threads(self: &Arc<Self>, writer_state: writer::WriterState) -> StoreResult<()> {
    let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
      std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| StoreError::io("spawn thread", Path::new(name), e))
    };
    let s = self.clone();
    threads.push(spawn("ferrymq-alloc", Box::new(move || s.allocator.run()))?);
    let s = self.clone();
    threads.push(spawn("ferrymq-writer", Box::new(move || writer::run(&s, writer_state)))?);
    let s = self.clone();
    threads.push(spawn("ferrymq-flush", Box::new(move || crate::flush::run(&s)))?);
    let s = self.clone();
    threads.push(spawn("ferrymq-housekeeping", Box::new(move || crate::housekeeping::run(&s)))?);
    if self.flush.is_sync() {
      let s = self.clone();
      threads.push(spawn("ferrymq-flush-watchdog", Box::new(move || crate::flush::watchdog(&s)))?);
    }
    Ok(())
  }

  pub fn is_closed(&self) -> bool {
    self.closed.load(Ordering::Acquire)
  }

  /// RocketMQ's page-cache-busy test (store.md §3.4): the put lock has been held for longer than
  /// `osPageCacheBusyTimeOutMills`.
  pub fn is_os_page_cache_busy(&self) -> bool {
    let begin = self.begin_time_in_lock.load(Ordering::Acquire);
    if begin == 0 {
      return false;
    }
    let held = now_ms() - begin;
    held < BUSY_SANITY_BOUND_MS && held > self.config.os_page_cache_busy_timeout_ms as i64
  }

  /// Queues a job for the writer. Refusals that need no writer come back at once, as RocketMQ answers them
  /// before taking the put lock.
  pub fn submit(&self, bytes: writer::JobBytes, wait_flush: bool) -> Result<u64, PutStatus> {
    if self.is_closed() || !self.flags.writeable() {
      return Err(PutStatus::ServiceNotAvailable);
    }
    if self.is_os_page_cache_busy() {
      Stats::add(&self.stats.busy_refusals, 1);
      return Err(PutStatus::OsPageCacheBusy);
    }
    let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
    let job = AppendJob { ticket, bytes, wait_flush, submitted_at: Instant::now(), control: None, replica_at: None };
    self.push_job(job).map_err(|_| PutStatus::ServiceNotAvailable)?;
    Ok(ticket)
  }

  /// Queues a slave's replicated frame: `bytes` go to the commit log at `at` (see `replica.rs`). Returns the
  /// ticket its `EVENT_REPLICA` completion carries.
  pub fn submit_replica(&self, bytes: writer::JobBytes, at: i64) -> Result<u64, PutStatus> {
    if self.is_closed() {
      return Err(PutStatus::ServiceNotAvailable);
    }
    let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
    let job =
      AppendJob { ticket, bytes, wait_flush: false, submitted_at: Instant::now(), control: None, replica_at: Some(at) };
    self.push_job(job).map_err(|_| PutStatus::ServiceNotAvailable)?;
    Ok(ticket)
  }

  fn push_job(&self, job: AppendJob) -> Result<(), ()> {
    let mut q = self.writer_queue.lock().unwrap_or_else(|p| p.into_inner());
    if q.shutdown {
      return Err(());
    }
    q.jobs.push_back(job);
    self.writer_queued.fetch_add(1, Ordering::Release);
    let wake = q.writer_waiting;
    drop(q);
    if wake {
      self.writer_wake.notify_one();
    }
    Ok(())
  }

  /// The writer's next job; `None` once shut down and drained.
  ///
  /// Between jobs the writer spins a while before it sleeps, because waking it costs more than a job when jobs
  /// come back to back. The spin adapts: it is kept while the next job keeps arriving within `WRITER_SPIN`, and
  /// halved away when it does not, so a writer fed in bursts (a broker between network reads) does not burn a
  /// core that the event loop and the clients need.
  pub(crate) fn next_job(&self) -> Option<AppendJob> {
    let idle_since = Instant::now();
    let budget = std::time::Duration::from_nanos(self.writer_spin_ns.load(Ordering::Relaxed));
    if !budget.is_zero() {
      let spin_until = idle_since + budget;
      let mut spins = 0u32;
      while self.writer_queued.load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
        spins += 1;
        if spins.is_multiple_of(64) && Instant::now() >= spin_until {
          break;
        }
      }
    }
    let mut q = self.lock_writer_queue();
    loop {
      if let Some(job) = q.jobs.pop_front() {
        self.writer_queued.fetch_sub(1, Ordering::Release);
        drop(q);
        self.adapt_writer_spin(idle_since.elapsed(), budget);
        return Some(job);
      }
      if q.shutdown {
        return None;
      }
      q.writer_waiting = true;
      q = self.writer_wake.wait(q).unwrap_or_else(|p| p.into_inner());
      q.writer_waiting = false;
    }
  }

  /// Spin fully again when the job came within `WRITER_SPIN` of going idle; otherwise halve the spin.
  fn adapt_writer_spin(&self, gap: std::time::Duration, budget: std::time::Duration) {
    let next = if gap <= WRITER_SPIN {
      WRITER_SPIN
    } else if budget > WRITER_SPIN_MIN * 2 {
      budget / 2
    } else {
      std::time::Duration::ZERO
    };
    self.writer_spin_ns.store(next.as_nanos() as u64, Ordering::Relaxed);
  }

  fn lock_writer_queue(&self) -> MutexGuard<'_, WriterQueue> {
    self.writer_queue.lock().unwrap_or_else(|p| p.into_inner())
  }

  /// Deletes a topic's consume queues and their files (`cleanUnusedTopic`): the writer forgets them between two
  /// puts, then the files are deleted here. Blocking: run it off the JavaScript thread. Returns the number of
  /// queues deleted. The topic's records stay in the commit log until retention removes them.
  pub fn delete_topic(&self, topic: &str) -> StoreResult<usize> {
    if !topic_chars_valid(topic.as_bytes()) {
      return Err(StoreError::Config(format!("not a valid topic: {topic:?}")));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let control = writer::Control::DeleteTopic { topic: topic.to_string(), done: tx };
    let job = AppendJob {
      ticket: 0,
      bytes: writer::JobBytes::Empty,
      wait_flush: false,
      submitted_at: Instant::now(),
      control: Some(control),
      replica_at: None,
    };
    self.push_job(job).map_err(|_| StoreError::Closed)?;
    let queues = rx.recv().map_err(|_| StoreError::Closed)?;
    for q in &queues {
      q.destroy_files()?;
    }
    let dir = self.queues.root.join(topic);
    match std::fs::remove_dir_all(&dir) {
      Ok(()) => {}
      Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
      Err(e) => return Err(StoreError::io("delete consume queue directory", &dir, e)),
    }
    Ok(queues.len())
  }

  /// Test hook: the next put holds the put lock `ms` longer, like a writer stuck on a page fault
  /// (`Stall::Put`), or the next group commit waits `ms` before flushing, like a slow disk (`Stall::Flush`).
  pub fn stall(&self, what: Stall, ms: u64) -> StoreResult<()> {
    if !self.config.test_hooks_enable {
      return Err(StoreError::Config("test stalls need testHooksEnable".into()));
    }
    match what {
      Stall::Put => self.stall_next_put_ms.store(ms, Ordering::Release),
      Stall::Flush => self.stall_next_flush_ms.store(ms, Ordering::Release),
    }
    Ok(())
  }

  pub fn count_async_read(&self) {
    Stats::add(&self.stats.get_async, 1);
  }

  /// Fraction of the pages of `[phy, phy+len)` that are in the page cache (`mincore`).
  pub fn residency(&self, phy: i64, len: usize) -> f64 {
    let (mut resident, mut pages) = (0usize, 0usize);
    let mut at = phy;
    let end = phy + len as i64;
    while at < end {
      let Some(segment) = self.commit_log.find(at) else { break };
      let pos = (at - segment.file_from_offset()) as usize;
      let n = ((end - at) as usize).min(segment.file_size() - pos);
      let (r, p) = segment.residency(pos, n);
      resident += r;
      pages += p;
      at += n as i64;
    }
    if pages == 0 {
      0.0
    } else {
      resident as f64 / pages as f64
    }
  }

  /// Makes everything written so far durable now (commit log, consume queues, checkpoint); returns the commit
  /// log's flushed offset.
  pub fn flush_all(&self) -> StoreResult<i64> {
    loop {
      let before = self.commit_log.flushed_where();
      let after = self.commit_log.flush(0).map_err(|e| StoreError::io("flush commit log", self.commit_log.dir(), e))?;
      if after == before {
        break;
      }
    }
    for q in self.queues.all() {
      q.flush(0).map_err(|e| StoreError::io("flush consume queue", q.files().dir(), e))?;
    }
    self.checkpoint.flush().map_err(|e| StoreError::io("flush", self.checkpoint.path(), e))?;
    Ok(self.commit_log.flushed_where())
  }

  pub fn stats_snapshot(&self) -> StatsSnapshot {
    let s = &self.stats;
    let g = Stats::get;
    let commit_log_dir = self.config.commit_log_dir();
    let (disk_total, disk_free) = crate::housekeeping::disk_space(&commit_log_dir).unwrap_or((0, 0));
    let queues = self.queues.all();
    let queue_bytes: u64 = queues.iter().map(|q| q.files().disk_bytes()).sum();
    let index_bytes = self.index.as_ref().map(|i| i.disk_bytes()).unwrap_or(0);
    let index_files = self.index.as_ref().map(|i| i.file_count()).unwrap_or(0);
    let tail = self.commit_log.last().map(|f| {
      let wrote = f.wrote();
      let from = wrote.saturating_sub(TAIL_RESIDENCY_BYTES);
      let (r, p) = f.residency(from, wrote - from);
      if p == 0 {
        1.0
      } else {
        r as f64 / p as f64
      }
    });
    let held = match self.begin_time_in_lock.load(Ordering::Acquire) {
      0 => 0,
      begin => (now_ms() - begin).max(0),
    };
    let numbers = vec![
      ("putMessages", g(&s.put_messages)),
      ("putBytes", g(&s.put_bytes)),
      ("putJobs", g(&s.put_jobs)),
      ("putFailures", g(&s.put_failures)),
      ("busyRefusals", g(&s.busy_refusals)),
      ("slowPuts", g(&s.slow_puts)),
      ("flushes", g(&s.flushes)),
      ("flushUsTotal", g(&s.flush_us_total)),
      ("flushUsMax", g(&s.flush_us_max)),
      ("getCalls", g(&s.get_calls)),
      ("getMessages", g(&s.get_messages)),
      ("getBytes", g(&s.get_bytes)),
      ("getAsyncReads", g(&s.get_async)),
      ("commitLogMinOffset", self.commit_log.min_offset().unwrap_or(0) as f64),
      ("commitLogMaxOffset", self.commit_log.max_offset() as f64),
      ("commitLogFlushedOffset", self.commit_log.flushed_where() as f64),
      ("commitLogFileCount", self.commit_log.len() as f64),
      ("commitLogDiskBytes", self.commit_log.disk_bytes() as f64),
      ("consumeQueueCount", queues.len() as f64),
      ("consumeQueueDiskBytes", queue_bytes as f64),
      ("indexFileCount", index_files as f64),
      ("indexDiskBytes", index_bytes as f64),
      ("diskTotalBytes", disk_total as f64),
      ("diskFreeBytes", disk_free as f64),
      ("tailResidency", tail.unwrap_or(1.0)),
      ("diskFull", self.flags.disk_full.load(Ordering::Acquire) as i32 as f64),
      ("writeErrorErrno", self.flags.write_error.load(Ordering::Acquire) as f64),
      ("pageCacheBusy", self.is_os_page_cache_busy() as i32 as f64),
      ("putLockHeldMs", held as f64),
      ("flushSync", self.config.flush_sync as i32 as f64),
      ("commitLogPretouchPendingBytes", self.allocator.pending_warm_bytes() as f64),
      ("checkpointPhysicMsgTimestamp", self.checkpoint.physic_msg_timestamp.load(Ordering::Acquire) as f64),
    ];
    StatsSnapshot {
      numbers,
      put_latency_histogram: s.put_latency_us.snapshot(),
      flush_latency_histogram: s.flush_latency_us.snapshot(),
    }
  }

  /// Stops the threads in order, flushes everything and removes the abort file, so that the next open is a
  /// clean one (store.md §7.1). Blocking; idempotent.
  pub fn close(&self) -> StoreResult<()> {
    if self.closed.swap(true, Ordering::AcqRel) {
      return Ok(());
    }
    self.lock_writer_queue().shutdown = true;
    self.writer_wake.notify_all();
    self.flush.shutdown();
    self.allocator.shutdown();
    crate::housekeeping::shutdown(self);
    let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
    for t in threads {
      // A thread that panicked has already stopped; there is nothing left to join.
      let _ = t.join();
    }
    self.allocator.discard_unused();
    let flushed = crate::housekeeping::final_flush(self);
    let root = &self.config.store_path_root_dir;
    if flushed.is_ok() && self.flags.write_error.load(Ordering::Acquire) == 0 {
      let abort = root.join("abort");
      std::fs::remove_file(&abort).map_err(|e| StoreError::io("remove abort file", &abort, e))?;
    }
    // Unmap everything now rather than when JavaScript garbage-collects the handle: the directory (or its
    // mount) may be removed right after close.
    self.commit_log.release_all();
    self.queues.release_all();
    if let Some(index) = &self.index {
      index.release_all();
    }
    *self.lock_file.lock().unwrap_or_else(|p| p.into_inner()) = None;
    flushed
  }
}
