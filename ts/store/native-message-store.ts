/**
 * The `MessageStore` over the native addon.
 *
 * Puts are encoded on the JavaScript thread into a job (see `job-builder.ts`); every put made in the same
 * event-loop turn goes to the native writer as one job at the end of the turn. The writer thread stamps, copies
 * and dispatches them, and a completion event per job settles the puts' promises. Reads are answered at once when
 * their bytes are in the page cache, and on the libuv pool when not.
 */
import { topicProblem, printable } from '../common/topic-validator.js'
import { ConfigError, StoreError } from '../common/errors.js'
import {
  GET_MESSAGE_BYTES_MAX,
  MESSAGE_BODY_BYTES_MAX_DEFAULT,
  QUEUE_ID_MAX,
  STORE_JOB_BYTES_MAX,
  STORE_SLAB_BYTES,
} from '../common/limits.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { messageIdPrefix } from '../common/message/message-id.js'
import { decodeMessage } from '../common/message/message-record.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { messageKeys, messageUniqKey } from '../common/message/message-ext.js'
import { encodeHost } from '../common/message/socket-address.js'
import {
  loadBinding,
  NATIVE_APPEND_HEADER_LEN,
  NativeEvent,
  NativeReplicaStatus,
  type NativeBinding,
  type NativeGetResult,
  type NativeStoreConfig,
  type NativeStoreHandle,
  type NativeStoreStats,
} from '../native/binding.js'
import { getMessageStatusOf } from './get-message-status.js'
import { JobBuilder, type Job } from './job-builder.js'
import {
  AppendMessageResult,
  GetMessageResult,
  type CleanReport,
  type LatencyPercentiles,
  type MessageExtBrokerInner,
  type MessageFilter,
  type MessageStore,
  type PutMessageResult,
  type QueryMessageResult,
  type QueueInfo,
  type RecoveryReport,
  type CommitLogRead,
  type ReplicaResult,
  type ReplicaStatus,
  type StoreStats,
} from './message-store.js'
import { putMessageStatusOf, type PutMessageStatus } from './put-message-status.js'

/** Store settings, with RocketMQ's Java key names (`MessageStoreConfig`); see store.md §12 for each default. */
export type MessageStoreConfig = NativeStoreConfig & {
  /** Use the V2 record magic (2-byte topic length) for topics longer than 127 characters. Default true. */
  autoMessageVersionOnTopicLen?: boolean
}

export interface NativeMessageStoreOptions {
  logger?: Logger
  /** A slave's store: puts are refused (`SERVICE_NOT_AVAILABLE`); only its master's bytes are written. */
  slave?: boolean
}

/** Notice codes of native/events.rs. */
const Notice = {
  SLOW_PUT: 1,
  SLOW_FLUSH: 2,
  COMMIT_LOG_DELETED: 3,
  DISK_FULL: 4,
  DISK_OK: 5,
  WRITE_ERROR: 6,
  CREATE_FILE_FAILED: 7,
  QUEUES_CLEANED: 8,
  SHORT_SEGMENT_EXTENDED: 9,
} as const

const TOPIC_CACHE_ENTRIES_MAX = 10_000

interface PendingPut {
  resolve: (r: PutMessageResult) => void
  records: number
  bytes: number
}

interface PendingJob {
  job: Job
  puts: PendingPut[]
}

const REPLICA_STATUS: Record<number, ReplicaStatus> = {
  [NativeReplicaStatus.OK]: 'OK',
  [NativeReplicaStatus.OFFSET_MISMATCH]: 'OFFSET_MISMATCH',
  [NativeReplicaStatus.CREATE_FILE_FAILED]: 'CREATE_FILE_FAILED',
  [NativeReplicaStatus.CORRUPT]: 'CORRUPT',
  [NativeReplicaStatus.NOT_WRITEABLE]: 'NOT_WRITEABLE',
}

/** Converts an error from the addon into a `StoreError`/`ConfigError` with a stable code. */
export function toStoreError(err: unknown): Error {
  const e = err as { code?: string; message?: string }
  const message = e?.message ?? String(err)
  switch (e?.code) {
    case 'FERRYMQ_CONFIG':
      return new ConfigError('RMQ_ERR_CONFIG', message, { cause: err })
    case 'FERRYMQ_STORE_LOCKED':
      return new StoreError('RMQ_ERR_STORE_LOCKED', message, { cause: err, nativeCode: e.code })
    case 'FERRYMQ_STORE_CORRUPT':
      return new StoreError('RMQ_ERR_STORE_CORRUPT', message, { cause: err, nativeCode: e.code })
    case 'FERRYMQ_STORE_CLOSED':
      return new StoreError('RMQ_ERR_STORE_CLOSED', message, { cause: err, nativeCode: e.code })
    case 'FERRYMQ_IO':
      return new StoreError('RMQ_ERR_STORE_IO', message, { cause: err, nativeCode: e.code })
    default:
      return new StoreError('RMQ_ERR_STORE', message, { cause: err, nativeCode: e?.code })
  }
}

function percentiles(histogram: Float64Array): LatencyPercentiles {
  let total = 0
  for (const n of histogram) total += n
  const at = (q: number): number => {
    if (total === 0) return 0
    const rank = Math.ceil(total * q)
    let seen = 0
    for (let i = 0; i < histogram.length; i++) {
      seen += histogram[i]!
      if (seen >= rank) return i === 0 ? 1 : 2 ** i
    }
    return 2 ** (histogram.length - 1)
  }
  let maxUs = 0
  for (let i = histogram.length - 1; i >= 0; i--) {
    if (histogram[i]! > 0) {
      maxUs = i === 0 ? 1 : 2 ** i
      break
    }
  }
  return { p50Us: at(0.5), p99Us: at(0.99), p999Us: at(0.999), maxUs }
}

/**
 * A Java long as the addon takes it: requests may carry sentinels such as `Long.MAX_VALUE` (the Java client's
 * unique-key query asks up to it), which read as the nearest double; the addon wants safe integers.
 */
function clampLong(n: number): number {
  return Math.min(Math.max(n, -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER)
}

function refused(status: PutMessageStatus): PutMessageResult {
  return { putMessageStatus: status, appendMessageResult: null }
}

export class NativeMessageStore implements MessageStore {
  readonly recovery: RecoveryReport
  private readonly native: NativeBinding
  private readonly handle: NativeStoreHandle
  private readonly log: Logger
  private readonly builder: JobBuilder
  private readonly storeHost: Buffer
  private readonly messageIdPrefix: string
  private readonly maxMessageSize: number
  private readonly topicBytes = new Map<string, Buffer>()
  private lastTopicName = ''
  private lastTopicBytes: Buffer | null = null
  private readonly pending = new Map<number, PendingJob>()
  /** Replicated frames in flight (slave), by ticket. */
  private readonly pendingReplicas = new Map<number, (r: ReplicaResult) => void>()
  private readonly appendedListeners: (() => void)[] = []
  private readonly slave: boolean
  /** Puts encoded in this turn, not yet submitted. */
  private turnPuts: PendingPut[] = []
  private turnWaitFlush = false
  private submitScheduled = false
  private closing = false
  private drained: (() => void) | null = null

  private constructor(
    native: NativeBinding,
    handle: NativeStoreHandle,
    recovery: RecoveryReport,
    config: MessageStoreConfig,
    log: Logger,
    slave: boolean,
  ) {
    this.native = native
    this.slave = slave
    this.handle = handle
    this.recovery = recovery
    this.log = log
    const [host, port] = splitHostPort(config.storeHost ?? '127.0.0.1:10911')
    this.storeHost = encodeHost(host, port)
    this.messageIdPrefix = messageIdPrefix(this.storeHost)
    this.maxMessageSize = config.maxMessageSize ?? MESSAGE_BODY_BYTES_MAX_DEFAULT
    this.builder = new JobBuilder(this.storeHost, STORE_SLAB_BYTES, config.autoMessageVersionOnTopicLen !== false)
  }

  /** Opens (and recovers) the store in `config.storePathRootDir`. */
  static async open(config: MessageStoreConfig, options: NativeMessageStoreOptions = {}): Promise<NativeMessageStore> {
    const log = (options.logger ?? noopLogger).child({ component: 'store' })
    const native = loadBinding()
    const { autoMessageVersionOnTopicLen: _ignored, ...nativeConfig } = config
    let store: NativeMessageStore | undefined
    const events: Float64Array[] = []
    const onEvent = (e: Float64Array): void => {
      if (store) store.onEvents(e)
      else events.push(e)
    }
    let opened: Awaited<ReturnType<NativeBinding['open']>>
    try {
      opened = await native.open(nativeConfig, onEvent)
    } catch (err) {
      throw toStoreError(err)
    }
    const r = opened.recovery
    const recovery: RecoveryReport = {
      lastExitOk: r.lastExitOk,
      startOffset: r.startOffset,
      processOffset: r.processOffset,
      recordsScanned: r.recordsScanned,
      recordsDispatched: r.recordsDispatched,
      consumeQueues: r.consumeQueues,
      elapsedMs: r.elapsedMs,
      damage: r.invalidOffset >= 0 ? { offset: r.invalidOffset, reason: r.invalidReason } : null,
    }
    store = new NativeMessageStore(native, opened.handle, recovery, config, log, options.slave === true)
    for (const e of events) store.onEvents(e)
    store.logRecovery()
    return store
  }

  private logRecovery(): void {
    const r = this.recovery
    const fields = { ...r }
    if (r.damage) {
      this.log.warn(
        fields,
        `recovery stopped at offset ${r.damage.offset}: ${r.damage.reason}; the log was truncated there`,
      )
    } else if (!r.lastExitOk) {
      this.log.warn(fields, 'recovered after an unclean shutdown')
    } else {
      this.log.info(fields, 'store opened')
    }
  }

  putMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult> {
    if (this.closing || this.slave) return Promise.resolve(refused('SERVICE_NOT_AVAILABLE'))
    const topic = this.checked(msg)
    if (topic === null) return Promise.resolve(refused('MESSAGE_ILLEGAL'))
    this.builder.beginPut(JobBuilder.maxRecordBytes(msg, topic.length, this.storeHost.length))
    const problem = this.builder.writeRecord(msg, topic)
    if (problem) {
      this.builder.abandonPut()
      return Promise.resolve(refused(problem))
    }
    return this.enqueue(1, msg.waitStoreMsgOK !== false)
  }

  putMessages(msgs: readonly MessageExtBrokerInner[]): Promise<PutMessageResult> {
    if (this.closing || this.slave) return Promise.resolve(refused('SERVICE_NOT_AVAILABLE'))
    if (msgs.length === 0) return Promise.resolve(refused('MESSAGE_ILLEGAL'))
    let maxBytes = 0
    const topics: Buffer[] = []
    for (const msg of msgs) {
      const topic = this.checked(msg)
      if (topic === null) return Promise.resolve(refused('MESSAGE_ILLEGAL'))
      topics.push(topic)
      maxBytes += JobBuilder.maxRecordBytes(msg, topic.length, this.storeHost.length)
    }
    this.builder.beginPut(maxBytes)
    let waitFlush = false
    for (let i = 0; i < msgs.length; i++) {
      const msg = msgs[i]!
      const problem = this.builder.writeRecord(msg, topics[i]!)
      if (problem) {
        this.builder.abandonPut()
        return Promise.resolve(refused(problem))
      }
      waitFlush ||= msg.waitStoreMsgOK !== false
    }
    return this.enqueue(msgs.length, waitFlush)
  }

  /** The encoded topic when the message may be stored, else `null` (MESSAGE_ILLEGAL). */
  private checked(msg: MessageExtBrokerInner): Buffer | null {
    const topic = this.topic(msg.topic)
    if (
      topic === null ||
      msg.body.length > this.maxMessageSize ||
      !Number.isInteger(msg.queueId) ||
      msg.queueId < 0 ||
      msg.queueId > QUEUE_ID_MAX
    ) {
      return null
    }
    return topic
  }

  /** Finishes the put just encoded and returns its promise; submits the job now if it grew large. */
  private enqueue(records: number, waitFlush: boolean): Promise<PutMessageResult> {
    const bytes = this.builder.endPut()
    return new Promise((resolve) => {
      this.turnPuts.push({ resolve, records, bytes })
      this.turnWaitFlush ||= waitFlush
      if (this.builder.pendingJobBytes() >= STORE_JOB_BYTES_MAX) {
        // A big turn goes down in pieces, so the writer starts on the first while the rest is encoded.
        this.submitTurn()
      } else if (!this.submitScheduled) {
        this.submitScheduled = true
        process.nextTick(this.onTurnEnd)
      }
    })
  }

  /** The encoded topic, or `null` if the store must refuse it. Validated once per distinct topic. */
  private topic(name: string): Buffer | null {
    // Consecutive messages nearly always share a topic: skip the map lookup for a repeat.
    if (name === this.lastTopicName) return this.lastTopicBytes
    const cached = this.topicBytes.get(name)
    if (cached) {
      this.lastTopicName = name
      this.lastTopicBytes = cached
      return cached
    }
    const problem = topicProblem(name)
    if (problem) {
      this.log.debug({ topic: printable(name) }, `refused put: ${problem}`)
      return null
    }
    if (this.topicBytes.size >= TOPIC_CACHE_ENTRIES_MAX) this.topicBytes.clear()
    const bytes = Buffer.from(name, 'utf8')
    this.topicBytes.set(name, bytes)
    return bytes
  }

  private readonly onTurnEnd = (): void => {
    this.submitScheduled = false
    this.submitTurn()
  }

  private submitTurn(): void {
    const puts = this.turnPuts
    if (puts.length === 0) return
    this.turnPuts = []
    const waitFlush = this.turnWaitFlush
    this.turnWaitFlush = false
    const job = this.builder.takeJob()
    const ticket = this.native.append(this.handle, job.bytes, waitFlush)
    if (ticket > 0) {
      this.pending.set(ticket, { job, puts })
      return
    }
    this.builder.release(job)
    const result = refused(putMessageStatusOf(-ticket))
    for (const p of puts) p.resolve(result)
  }

  private onEvents(events: Float64Array): void {
    let at = 0
    let appended = false
    while (at + 1 < events.length) {
      const kind = events[at]!
      const len = events[at + 1]!
      if (len < 2) break
      if (kind === NativeEvent.APPEND) {
        this.completeJob(events, at)
        appended = true
      } else if (kind === NativeEvent.REPLICA) this.completeReplica(events, at)
      else if (kind === NativeEvent.NOTICE) this.notice(events, at)
      at += len
    }
    if (appended) for (const listener of this.appendedListeners) listener()
    if (this.drained && this.pending.size === 0 && this.pendingReplicas.size === 0) this.drained()
  }

  private completeReplica(e: Float64Array, at: number): void {
    const ticket = e[at + 2]!
    const resolve = this.pendingReplicas.get(ticket)
    if (!resolve) {
      this.log.error({ ticket }, 'completion for an unknown replica frame')
      return
    }
    this.pendingReplicas.delete(ticket)
    resolve({
      status: REPLICA_STATUS[e[at + 3]!] ?? 'NOT_WRITEABLE',
      maxOffset: e[at + 4]!,
      records: e[at + 5]!,
      detail: e[at + 6]!,
    })
  }

  onAppended(listener: () => void): void {
    this.appendedListeners.push(listener)
  }

  readCommitLog(offset: number, maxBytes: number): CommitLogRead | Promise<CommitLogRead> {
    const r = this.call((n, h) => n.readCommitLog(h, offset, maxBytes))
    if (typeof r === 'number') return { deletedBelow: r }
    return r instanceof Promise ? this.callAsync(() => r) : r
  }

  appendReplica(offset: number, bytes: Buffer): Promise<ReplicaResult> {
    if (this.closing)
      return Promise.resolve({ status: 'NOT_WRITEABLE', maxOffset: this.getMaxPhyOffset(), records: 0, detail: 0 })
    const ticket = this.call((n, h) => n.appendReplica(h, offset, bytes))
    if (ticket <= 0) {
      return Promise.resolve({ status: 'NOT_WRITEABLE', maxOffset: this.getMaxPhyOffset(), records: 0, detail: 0 })
    }
    return new Promise((resolve) => this.pendingReplicas.set(ticket, resolve))
  }

  private completeJob(e: Float64Array, at: number): void {
    const ticket = e[at + 2]!
    const entry = this.pending.get(ticket)
    if (!entry) {
      this.log.error({ ticket }, 'completion for an unknown job')
      return
    }
    this.pending.delete(ticket)
    this.builder.release(entry.job)
    const putCount = e[at + 4]!
    let p = at + NATIVE_APPEND_HEADER_LEN
    for (let i = 0; i < entry.puts.length; i++) {
      const put = entry.puts[i]!
      if (i >= putCount) {
        put.resolve(refused('UNKNOWN_ERROR'))
        continue
      }
      const status = putMessageStatusOf(e[p]!)
      const results = p + 1
      p = results + 3 * put.records
      if (status !== 'PUT_OK' && status !== 'FLUSH_DISK_TIMEOUT') {
        put.resolve(refused(status))
        continue
      }
      const append = new AppendMessageResult(this.messageIdPrefix, e, results, put.bytes, put.records)
      put.resolve({ putMessageStatus: status, appendMessageResult: append })
    }
  }

  private notice(e: Float64Array, at: number): void {
    const [code, a, b, c] = [e[at + 2]!, e[at + 3]!, e[at + 4]!, e[at + 5]!]
    switch (code) {
      case Notice.SLOW_PUT:
        this.log.warn({ elapsedMs: a, messages: b }, 'put message held the put lock too long')
        break
      case Notice.SLOW_FLUSH:
        this.log.warn({ elapsedMs: a }, 'commit log flush was slow')
        break
      case Notice.COMMIT_LOG_DELETED:
        this.log.info({ fileFromOffset: a, forced: b === 1 }, 'deleted expired commit log file')
        break
      case Notice.DISK_FULL:
        this.log.error({ usagePercent: a }, 'disk usage above the warning level: writes are refused')
        break
      case Notice.DISK_OK:
        this.log.info({ usagePercent: a }, 'disk usage back under the warning level: writes accepted again')
        break
      case Notice.WRITE_ERROR:
        this.log.error({ errno: a, offset: b }, 'a store write failed: the store refuses writes until reopened')
        break
      case Notice.CREATE_FILE_FAILED:
        this.log.error(
          { errno: a, offset: b, kind: ['commitlog', 'consumequeue', 'index'][c] ?? c },
          'could not create a store file',
        )
        break
      case Notice.SHORT_SEGMENT_EXTENDED:
        this.log.warn(
          { fileFromOffset: a, length: b, kind: c === 0 ? 'commitlog' : 'consumequeue' },
          'the last segment was shorter than the segment size (cut short by a crash or a copy): extended with zeroes; recovery cut the log where its data ends',
        )
        break
      case Notice.QUEUES_CLEANED:
        this.log.info(
          { queueSegments: a, indexFiles: b, commitLogMinOffset: c },
          'cleaned expired queue and index files',
        )
        break
      default:
        this.log.debug({ code, a, b, c }, 'store notice')
    }
  }

  async getMessage(
    _group: string,
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: MessageFilter | null,
  ): Promise<GetMessageResult> {
    const tagCodes = filter?.tagCodes ?? null
    const from = clampLong(offset)
    const r = this.call((n, h) => n.getMessage(h, topic, queueId, from, maxMsgNums, GET_MESSAGE_BYTES_MAX, tagCodes))
    // Answered at once when the bytes were in the page cache; otherwise read on the libuv pool.
    const result: NativeGetResult = r instanceof Promise ? await this.callAsync(() => r) : r
    const buffer =
      result.bufferLength === result.buffer.length ? result.buffer : result.buffer.subarray(0, result.bufferLength)
    return new GetMessageResult(
      getMessageStatusOf(result.status),
      result.nextBeginOffset,
      result.minOffset,
      result.maxOffset,
      result.suggestPullingFromSlave,
      buffer,
      result.entries,
    )
  }

  /** Calls the addon, turning what it throws into a `StoreError`. */
  private call<T>(f: (native: NativeBinding, handle: NativeStoreHandle) => T): T {
    try {
      return f(this.native, this.handle)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  /** `call` for the addon's promise-returning functions: sync throws and rejections both become `StoreError`s. */
  private async callAsync<T>(f: (native: NativeBinding, handle: NativeStoreHandle) => T | Promise<T>): Promise<T> {
    try {
      return await f(this.native, this.handle)
    } catch (err) {
      throw toStoreError(err)
    }
  }

  getMinOffsetInQueue(topic: string, queueId: number): number {
    return this.call((n, h) => n.queueOffsets(h, topic, queueId))[0]!
  }

  getMaxOffsetInQueue(topic: string, queueId: number): number {
    return this.call((n, h) => n.queueOffsets(h, topic, queueId))[1]!
  }

  getOffsetInQueueByTime(
    topic: string,
    queueId: number,
    timestamp: number,
    boundary: 'LOWER' | 'UPPER' = 'LOWER',
  ): Promise<number> {
    const at = clampLong(timestamp)
    return this.callAsync((n, h) => n.offsetByTime(h, topic, queueId, at, boundary === 'UPPER'))
  }

  getEarliestMessageTime(topic: string, queueId: number): Promise<number> {
    return this.callAsync((n, h) => n.earliestMessageTime(h, topic, queueId))
  }

  selectOneMessageByOffset(commitLogOffset: number): Promise<Buffer | null> {
    // No record lives beyond what a safe integer can name, nor below 0.
    if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < 0) return Promise.resolve(null)
    return this.callAsync((n, h) => n.readAt(h, commitLogOffset))
  }

  async lookMessageByOffset(commitLogOffset: number): Promise<MessageExt | null> {
    const record = await this.selectOneMessageByOffset(commitLogOffset)
    return record ? decodeMessage(record, 0, { decompressBody: false }) : null
  }

  async queryMessage(
    topic: string,
    key: string,
    maxNum: number,
    begin: number,
    end: number,
  ): Promise<QueryMessageResult> {
    const from = clampLong(begin)
    const to = clampLong(end)
    const found = await this.callAsync((n, h) => n.queryByKey(h, topic, key, maxNum, from, to))
    const messages: MessageExt[] = []
    const records: Buffer[] = []
    for (const { record } of found) {
      const m = decodeMessage(record, 0, { decompressBody: false })
      // The index compares hashes only: keep what really has this key.
      if (m && m.topic === topic && (messageUniqKey(m) === key || messageKeys(m).includes(key))) {
        messages.push(m)
        records.push(record)
      }
    }
    const s = this.call((n, h) => n.stats(h))
    return {
      messages,
      records,
      indexLastUpdateTimestamp: s.checkpointPhysicMsgTimestamp,
      indexLastUpdatePhyoffset: s.commitLogMaxOffset,
    }
  }

  getMinPhyOffset(): number {
    return this.call((n, h) => n.stats(h)).commitLogMinOffset
  }

  getMaxPhyOffset(): number {
    return this.call((n, h) => n.maxPhyOffset(h))
  }

  queues(): QueueInfo[] {
    return this.call((n, h) => n.queues(h))
  }

  residency(commitLogOffset: number, length: number): number {
    return this.call((n, h) => n.residency(h, commitLogOffset, length))
  }

  /** Whether the put lock has been held longer than `osPageCacheBusyTimeOutMills`; cheap: senders ask per request. */
  isOSPageCacheBusy(): boolean {
    return this.call((n, h) => n.pageCacheBusy(h))
  }

  stats(): StoreStats {
    const s: NativeStoreStats = this.call((n, h) => n.stats(h))
    return {
      putMessages: s.putMessages,
      putBytes: s.putBytes,
      putJobs: s.putJobs,
      putFailures: s.putFailures,
      busyRefusals: s.busyRefusals,
      slowPuts: s.slowPuts,
      putLatency: percentiles(s.putLatencyHistogramUs),
      flushes: s.flushes,
      flushLatency: percentiles(s.flushLatencyHistogramUs),
      flushUsMax: s.flushUsMax,
      getMessages: s.getMessages,
      getBytes: s.getBytes,
      getAsyncReads: s.getAsyncReads,
      commitLogMinOffset: s.commitLogMinOffset,
      commitLogMaxOffset: s.commitLogMaxOffset,
      commitLogFlushedOffset: s.commitLogFlushedOffset,
      commitLogFileCount: s.commitLogFileCount,
      consumeQueueCount: s.consumeQueueCount,
      indexFileCount: s.indexFileCount,
      diskUsedBytes: s.commitLogDiskBytes + s.consumeQueueDiskBytes + s.indexDiskBytes,
      diskTotalBytes: s.diskTotalBytes,
      diskFreeBytes: s.diskFreeBytes,
      pretouchPendingBytes: s.commitLogPretouchPendingBytes,
      tailResidency: s.tailResidency,
      diskFull: s.diskFull === 1,
      writeErrorErrno: s.writeErrorErrno,
      pageCacheBusy: s.pageCacheBusy === 1,
      flushDiskType: s.flushSync === 1 ? 'SYNC_FLUSH' : 'ASYNC_FLUSH',
    }
  }

  flush(): Promise<number> {
    return this.callAsync((n, h) => n.flush(h))
  }

  /** Deletes the topic's consume queues (`cleanUnusedTopic`); its records leave with the commit log's retention. */
  async deleteTopic(topic: string): Promise<number> {
    const problem = topicProblem(topic)
    if (problem !== null) throw new StoreError('RMQ_ERR_STORE_TOPIC', `cannot delete topic: ${problem}`)
    return this.callAsync((n, h) => n.deleteTopic(h, topic))
  }

  cleanExpiredFiles(): Promise<CleanReport> {
    return this.callAsync((n, h) => n.clean(h))
  }

  /**
   * Test hook (needs `testHooksEnable`): the next put holds the put lock `ms` longer, as a writer stuck on a page
   * fault would; or the next group commit waits `ms` before flushing, as a slow disk would.
   */
  stallForTest(what: 'put' | 'flush', ms: number): void {
    this.call((n, h) => n.testStall(h, what, ms))
  }

  /**
   * Stops accepting puts, waits for every submitted put to complete, then flushes and closes the store so that
   * the next open is a clean one.
   */
  async shutdown(): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.submitTurn()
    if (this.pending.size > 0 || this.pendingReplicas.size > 0) {
      await new Promise<void>((resolve) => {
        this.drained = resolve
      })
    }
    await this.callAsync((n, h) => n.close(h))
    this.log.info({}, 'store closed')
  }
}

function splitHostPort(s: string): [string, number] {
  const i = s.lastIndexOf(':')
  if (i <= 0) throw new ConfigError('RMQ_ERR_CONFIG', `storeHost must be ip:port, got "${s}"`)
  const port = Number(s.slice(i + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('RMQ_ERR_CONFIG', `storeHost port must be 0-65535, got "${s}"`)
  }
  return [s.slice(0, i).replace(/^\[|\]$/g, ''), port]
}
