/**
 * The message store as the broker sees it (`MessageStore`). One implementation today: the native commit log
 * (`native-message-store.ts`).
 */
import { createMessageIdFromPrefix } from '../common/message/message-id.js'
import type { MessageExt } from '../common/message/message-ext.js'
import type { GetMessageStatus } from './get-message-status.js'
import type { PutMessageStatus } from './put-message-status.js'

/** A message on its way into the store (`MessageExtBrokerInner`). */
export interface MessageExtBrokerInner {
  topic: string
  queueId: number
  flag: number
  body: Buffer
  /** Properties already encoded (`name \u0001 value \u0002 …`), as the send request carries them. */
  propertiesString: string
  bornTimestamp: number
  /** The producer's address as the record stores it (see `encodeHost`): 8 bytes IPv4, 20 bytes IPv6. */
  bornHost: Buffer
  sysFlag: number
  reconsumeTimes: number
  preparedTransactionOffset: number
  /** With SYNC_FLUSH, whether the put waits for the flush (the `WAIT` property; default true). */
  waitStoreMsgOK?: boolean
}

/**
 * Where and when a put landed (`AppendMessageResult`). For a batch, the first record's offsets. The per-record
 * figures are read from the store's completion event on demand, so a put costs no arrays it does not use.
 */
export class AppendMessageResult {
  readonly wroteBytes: number
  readonly msgNum: number
  /** Hex of the store host, the first part of every message id. */
  private readonly idPrefix: string
  /** `(phyOffset, queueOffset, storeTimestamp)` per record, from `at`. */
  private readonly results: Float64Array
  private readonly at: number

  constructor(idPrefix: string, results: Float64Array, at: number, wroteBytes: number, msgNum: number) {
    this.idPrefix = idPrefix
    this.results = results
    this.at = at
    this.wroteBytes = wroteBytes
    this.msgNum = msgNum
  }

  /** Physical offset of the (first) record. */
  get wroteOffset(): number {
    return this.results[this.at]!
  }

  /** Queue offset of the (first) record. */
  get logicsOffset(): number {
    return this.results[this.at + 1]!
  }

  get storeTimestamp(): number {
    return this.results[this.at + 2]!
  }

  /** The offset message id; for a batch, every record's id joined with `,`. */
  get msgId(): string {
    return this.msgNum === 1 ? createMessageIdFromPrefix(this.idPrefix, this.results[this.at]!) : this.msgIds.join(',')
  }

  get msgIds(): string[] {
    const ids: string[] = []
    for (let i = 0; i < this.msgNum; i++)
      ids.push(createMessageIdFromPrefix(this.idPrefix, this.results[this.at + 3 * i]!))
    return ids
  }

  /** Physical offset of every record of the put. */
  get commitLogOffsets(): number[] {
    const out: number[] = []
    for (let i = 0; i < this.msgNum; i++) out.push(this.results[this.at + 3 * i]!)
    return out
  }
}

export interface PutMessageResult {
  putMessageStatus: PutMessageStatus
  /** Present when the message was stored (also with FLUSH_DISK_TIMEOUT). */
  appendMessageResult: AppendMessageResult | null
}

/** Filters a pull by tag hash codes (`MessageFilter` on the consume queue). */
export interface MessageFilter {
  tagCodes: Int32Array
}

/** What a pull found (`GetMessageResult`): the records back to back, ready to go into a response body. */
export class GetMessageResult {
  readonly status: GetMessageStatus
  readonly nextBeginOffset: number
  readonly minOffset: number
  readonly maxOffset: number
  readonly suggestPullingFromSlave: boolean
  /** Every record found, back to back. */
  readonly buffer: Buffer
  private readonly entries: Float64Array

  constructor(
    status: GetMessageStatus,
    nextBeginOffset: number,
    minOffset: number,
    maxOffset: number,
    suggestPullingFromSlave: boolean,
    buffer: Buffer,
    entries: Float64Array,
  ) {
    this.status = status
    this.nextBeginOffset = nextBeginOffset
    this.minOffset = minOffset
    this.maxOffset = maxOffset
    this.suggestPullingFromSlave = suggestPullingFromSlave
    this.buffer = buffer
    this.entries = entries
  }

  get messageCount(): number {
    return this.entries.length / 3
  }

  queueOffsetAt(i: number): number {
    return this.entries[i * 3]!
  }

  commitLogOffsetAt(i: number): number {
    return this.entries[i * 3 + 1]!
  }

  sizeAt(i: number): number {
    return this.entries[i * 3 + 2]!
  }

  /** Each record as its own view into `buffer`. */
  messageBuffers(): Buffer[] {
    const out: Buffer[] = []
    let at = 0
    for (let i = 0; i < this.messageCount; i++) {
      const size = this.sizeAt(i)
      out.push(this.buffer.subarray(at, at + size))
      at += size
    }
    return out
  }
}

export interface QueryMessageResult {
  /** Matching records (keys re-checked, since the index compares hashes only), newest first. */
  messages: MessageExt[]
  /** The stored record of each message, as a query response body carries them. */
  records: Buffer[]
  indexLastUpdateTimestamp: number
  indexLastUpdatePhyoffset: number
}

export interface QueueInfo {
  topic: string
  queueId: number
  minOffset: number
  maxOffset: number
}

/** What recovery found when the store opened. */
export interface RecoveryReport {
  lastExitOk: boolean
  startOffset: number
  processOffset: number
  recordsScanned: number
  recordsDispatched: number
  consumeQueues: number
  elapsedMs: number
  /** Where recovery stopped on damage, and why; `null` when the log simply ended. */
  damage: { offset: number; reason: string } | null
}

export interface CleanReport {
  commitLogDeleted: number
  queueSegmentsDeleted: number
  indexFilesDeleted: number
  diskUsagePercent: number
  forced: boolean
}

export interface LatencyPercentiles {
  p50Us: number
  p99Us: number
  p999Us: number
  maxUs: number
}

export interface StoreStats {
  putMessages: number
  putBytes: number
  /** Jobs the writer took: puts of one event-loop turn go down as one job, so puts per job is the batching achieved. */
  putJobs: number
  putFailures: number
  /** Puts refused because the put lock was held too long (`OS_PAGE_CACHE_BUSY`). */
  busyRefusals: number
  /** Puts that held the put lock longer than 500 ms. */
  slowPuts: number
  putLatency: LatencyPercentiles
  flushes: number
  flushLatency: LatencyPercentiles
  flushUsMax: number
  getMessages: number
  getBytes: number
  getAsyncReads: number
  commitLogMinOffset: number
  commitLogMaxOffset: number
  commitLogFlushedOffset: number
  commitLogFileCount: number
  consumeQueueCount: number
  indexFileCount: number
  /** Bytes reserved on disk by commit log, consume queues and index. */
  diskUsedBytes: number
  diskTotalBytes: number
  diskFreeBytes: number
  /** Bytes of created commit-log segments not yet read into the page cache by the pre-touch thread. */
  pretouchPendingBytes: number
  /** Fraction of the commit log's last 64 MiB that is in the page cache. */
  tailResidency: number
  diskFull: boolean
  /** errno of the write failure that made the store read-only, 0 if none. */
  writeErrorErrno: number
  pageCacheBusy: boolean
  flushDiskType: 'SYNC_FLUSH' | 'ASYNC_FLUSH'
}

/** How a slave's replicated frame went (native/replica.rs). */
export type ReplicaStatus = 'OK' | 'OFFSET_MISMATCH' | 'CREATE_FILE_FAILED' | 'CORRUPT' | 'NOT_WRITEABLE'

export interface ReplicaResult {
  status: ReplicaStatus
  /** The slave's commit-log max offset afterwards: what it reports to its master. */
  maxOffset: number
  /** Records the frame completed and dispatched to consume queues and index. */
  records: number
  /** OFFSET_MISMATCH: the local max offset; CORRUPT: the offset of the bad record. */
  detail: number
}

/** A master's commit-log bytes for a slave, or the offset the log starts at when the asked one was deleted. */
export type CommitLogRead = Buffer | { deletedBelow: number }

export interface MessageStore {
  readonly recovery: RecoveryReport
  /** Copies the message's bytes before it returns: the caller may let go of the body at once. */
  putMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult>
  /** Stores the messages as one batch: contiguous, in one segment, all or nothing. Copies them as `putMessage` does. */
  putMessages(msgs: readonly MessageExtBrokerInner[]): Promise<PutMessageResult>
  getMessage(
    group: string,
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: MessageFilter | null,
  ): Promise<GetMessageResult>
  getMinOffsetInQueue(topic: string, queueId: number): number
  getMaxOffsetInQueue(topic: string, queueId: number): number
  getOffsetInQueueByTime(
    topic: string,
    queueId: number,
    timestamp: number,
    boundary?: 'LOWER' | 'UPPER',
  ): Promise<number>
  getEarliestMessageTime(topic: string, queueId: number): Promise<number>
  selectOneMessageByOffset(commitLogOffset: number): Promise<Buffer | null>
  lookMessageByOffset(commitLogOffset: number): Promise<MessageExt | null>
  queryMessage(topic: string, key: string, maxNum: number, begin: number, end: number): Promise<QueryMessageResult>
  getMinPhyOffset(): number
  getMaxPhyOffset(): number
  queues(): QueueInfo[]
  /** Fraction of `[offset, offset+length)` of the commit log in the page cache (RocketMQ's `isLoaded`). */
  residency(commitLogOffset: number, length: number): number
  stats(): StoreStats
  isOSPageCacheBusy(): boolean
  flush(): Promise<number>
  cleanExpiredFiles(): Promise<CleanReport>
  /** Deletes a topic's consume queues; resolves with how many there were. A later put starts at offset 0. */
  deleteTopic(topic: string): Promise<number>
  /**
   * Replication, master side: up to `maxBytes` written bytes from `offset`, never past its segment's end (empty
   * when nothing is there yet). Synchronous when the bytes are in the page cache.
   */
  readCommitLog(offset: number, maxBytes: number): CommitLogRead | Promise<CommitLogRead>
  /** Replication, slave side: writes bytes from the master at `offset` and dispatches the records they complete. */
  appendReplica(offset: number, bytes: Buffer): Promise<ReplicaResult>
  /** Calls `listener` whenever new records have been written (after the put's completion). */
  onAppended(listener: () => void): void
  shutdown(): Promise<void>
}
