/**
 * The native addon: its loader and the one typed declaration of everything it exports.
 *
 * Only `ts/store/` imports this module. Every type here is a raw addon shape (prefixed `Native`); the store facade
 * converts them into domain types. `NATIVE_EXPORTS` lists each export with its arity, and a test checks it
 * against the addon's own table (`__arity`), so the declaration cannot drift from the crate.
 */
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Opaque handle to an open store. */
export type NativeStoreHandle = { readonly __brand: 'NativeStoreHandle' }

/** Store settings with their Java names (`MessageStoreConfig`); absent keys take RocketMQ's defaults. */
export interface NativeStoreConfig {
  storePathRootDir: string
  storePathCommitLog?: string
  mappedFileSizeCommitLog?: number
  mappedFileSizeConsumeQueue?: number
  maxMessageSize?: number
  flushDiskType?: 'ASYNC_FLUSH' | 'SYNC_FLUSH'
  flushIntervalCommitLog?: number
  flushCommitLogLeastPages?: number
  flushCommitLogThoroughInterval?: number
  syncFlushTimeout?: number
  flushIntervalConsumeQueue?: number
  flushConsumeQueueLeastPages?: number
  flushConsumeQueueThoroughInterval?: number
  osPageCacheBusyTimeOutMills?: number
  checkCRCOnRecover?: boolean
  messageIndexEnable?: boolean
  maxHashSlotNum?: number
  maxIndexNum?: number
  maxMsgsNumBatch?: number
  fileReservedTime?: number
  deleteWhen?: string
  cleanResourceInterval?: number
  deleteCommitLogFilesInterval?: number
  destroyMapedFileIntervalForcibly?: number
  deleteFileBatchMax?: number
  diskMaxUsedSpaceRatio?: number
  diskSpaceWarningLevelRatio?: number
  diskSpaceCleanForciblyRatio?: number
  cleanFileForciblyEnable?: boolean
  storeHost?: string
  messageDelayLevel?: string
  maxTransferBytesOnMessageInMemory?: number
  maxTransferCountOnMessageInMemory?: number
  maxTransferBytesOnMessageInDisk?: number
  maxTransferCountOnMessageInDisk?: number
  accessMessageInMemoryMaxRatio?: number
  maxFilterMessageSize?: number
  dataReadAheadEnable?: boolean
  commitLogPretouchAheadBytes?: number
  allocateMappedFileTimeoutMs?: number
  testHooksEnable?: boolean
}

export interface NativeRecoveryReport {
  lastExitOk: boolean
  startOffset: number
  processOffset: number
  recordsScanned: number
  recordsDispatched: number
  consumeQueues: number
  elapsedMs: number
  /** Where scanning stopped on something that was not a record (-1 at a clean end). */
  invalidOffset: number
  invalidReason: string
}

export interface NativeGetResult {
  status: number
  nextBeginOffset: number
  minOffset: number
  maxOffset: number
  suggestPullingFromSlave: boolean
  /** `[queueOffset, phyOffset, size]` per message. */
  entries: Float64Array
  /** The records back to back; only the first `bufferLength` bytes are used. */
  buffer: Buffer
  bufferLength: number
}

export interface NativeQueueInfo {
  topic: string
  queueId: number
  minOffset: number
  maxOffset: number
}

export interface NativeStoreStats {
  putMessages: number
  putBytes: number
  putJobs: number
  putFailures: number
  busyRefusals: number
  slowPuts: number
  flushes: number
  flushUsTotal: number
  flushUsMax: number
  getCalls: number
  getMessages: number
  getBytes: number
  getAsyncReads: number
  commitLogMinOffset: number
  commitLogMaxOffset: number
  commitLogFlushedOffset: number
  commitLogFileCount: number
  commitLogDiskBytes: number
  consumeQueueCount: number
  consumeQueueDiskBytes: number
  indexFileCount: number
  indexDiskBytes: number
  diskTotalBytes: number
  diskFreeBytes: number
  tailResidency: number
  diskFull: number
  writeErrorErrno: number
  pageCacheBusy: number
  putLockHeldMs: number
  flushSync: number
  commitLogPretouchPendingBytes: number
  checkpointPhysicMsgTimestamp: number
  /** log2 buckets in µs: bucket i counts values in [2^(i-1), 2^i). */
  putLatencyHistogramUs: Float64Array
  flushLatencyHistogramUs: Float64Array
}

export interface NativeCleanReport {
  commitLogDeleted: number
  queueSegmentsDeleted: number
  indexFilesDeleted: number
  diskUsagePercent: number
  forced: boolean
}

export interface NativeBinding {
  open(
    config: NativeStoreConfig,
    onEvent: (events: Float64Array) => void,
  ): Promise<{ handle: NativeStoreHandle; recovery: NativeRecoveryReport }>
  /** Queues a job; returns its ticket (> 0), or a refused put status negated. */
  append(handle: NativeStoreHandle, job: Buffer, waitFlush: boolean): number
  /** A slave writes bytes received from its master at the same offset; completes with a REPLICA event. */
  appendReplica(handle: NativeStoreHandle, phyOffset: number, bytes: Buffer): number
  /**
   * Up to `maxBytes` written bytes from `offset`, within its segment (empty when nothing is there yet); a number
   * instead when the offset was deleted by retention: where the commit log starts now.
   */
  readCommitLog(handle: NativeStoreHandle, offset: number, maxBytes: number): Buffer | Promise<Buffer> | number
  getMessage(
    handle: NativeStoreHandle,
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    maxTotalBytes: number,
    tagCodes: Int32Array | null,
  ): NativeGetResult | Promise<NativeGetResult>
  readAt(handle: NativeStoreHandle, phyOffset: number): Promise<Buffer | null>
  queryByKey(
    handle: NativeStoreHandle,
    topic: string,
    key: string,
    maxNum: number,
    begin: number,
    end: number,
  ): Promise<Array<{ phyOffset: number; record: Buffer }>>
  offsetByTime(
    handle: NativeStoreHandle,
    topic: string,
    queueId: number,
    timestamp: number,
    upper: boolean,
  ): Promise<number>
  earliestMessageTime(handle: NativeStoreHandle, topic: string, queueId: number): Promise<number>
  /** `[min, max]`. */
  queueOffsets(handle: NativeStoreHandle, topic: string, queueId: number): Float64Array
  queues(handle: NativeStoreHandle): NativeQueueInfo[]
  stats(handle: NativeStoreHandle): NativeStoreStats
  /** One past the commit log's last written byte. */
  maxPhyOffset(handle: NativeStoreHandle): number
  residency(handle: NativeStoreHandle, phyOffset: number, length: number): number
  clean(handle: NativeStoreHandle): Promise<NativeCleanReport>
  flush(handle: NativeStoreHandle): Promise<number>
  /** Whether the put lock has been held longer than `osPageCacheBusyTimeOutMills` (two atomic reads). */
  pageCacheBusy(handle: NativeStoreHandle): boolean
  /** Deletes a topic's consume queues; resolves with how many there were. */
  deleteTopic(handle: NativeStoreHandle, topic: string): Promise<number>
  close(handle: NativeStoreHandle): Promise<void>
  /** Plain (unmasked) CRC32. */
  crc32(buffer: Buffer): number
  /** Test hook (needs `testHooksEnable`): the next put holds the put lock, or the next group commit waits, `ms` longer. */
  testStall(handle: NativeStoreHandle, what: 'put' | 'flush', ms: number): void
}

/** Every export and the number of arguments it requires. */
export const NATIVE_EXPORTS = {
  open: 2,
  append: 3,
  appendReplica: 3,
  readCommitLog: 3,
  getMessage: 7,
  readAt: 2,
  queryByKey: 6,
  offsetByTime: 5,
  earliestMessageTime: 3,
  queueOffsets: 3,
  queues: 1,
  stats: 1,
  maxPhyOffset: 1,
  residency: 3,
  clean: 1,
  flush: 1,
  pageCacheBusy: 1,
  deleteTopic: 2,
  close: 1,
  crc32: 1,
  testStall: 3,
} as const satisfies Record<keyof NativeBinding, number>

/** Event kinds in the `Float64Array`s passed to `onEvent` (native/events.rs). */
export const NativeEvent = { APPEND: 1, NOTICE: 2, REPLICA: 3 } as const
/** A REPLICA event's status (native/replica.rs `ReplicaStatus`). */
export const NativeReplicaStatus = {
  OK: 0,
  OFFSET_MISMATCH: 1,
  CREATE_FILE_FAILED: 2,
  CORRUPT: 3,
  NOT_WRITEABLE: 4,
} as const
/** Values in an APPEND event before its first put. */
export const NATIVE_APPEND_HEADER_LEN = 5

function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
  return !report?.header?.glibcVersionRuntime
}

/** The napi-rs platform suffix of this process: `linux-x64-gnu`, `darwin-arm64`, … */
export function platformTriple(): string {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The directory of the `ferrymq` package this file belongs to (source or compiled layout). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'package.json')
    if (existsSync(candidate)) {
      const name = (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name
      if (name === 'ferrymq') return dir
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the ferrymq package root')
    dir = parent
  }
}

export class NativeLoadError extends Error {
  readonly code = 'RMQ_ERR_NATIVE_LOAD'
}

let cached: NativeBinding | undefined

/**
 * Loads the addon: `FERRYMQ_NATIVE_LIBRARY_PATH` if set, else the `.node` built in the package directory, else the
 * prebuilt platform package (`ferrymq-<platform>`), else throws naming the platform and how to build.
 */
export function loadBinding(): NativeBinding {
  if (cached) return cached
  const require = createRequire(import.meta.url)
  const triple = platformTriple()
  const attempts: string[] = []
  const explicit = process.env.FERRYMQ_NATIVE_LIBRARY_PATH
  if (explicit) {
    cached = require(explicit) as NativeBinding
    return cached
  }
  const local = join(packageRoot(), `ferrymq.${triple}.node`)
  if (existsSync(local)) {
    cached = require(local) as NativeBinding
    return cached
  }
  attempts.push(local)
  try {
    cached = require(`ferrymq-${triple}`) as NativeBinding
    return cached
  } catch (err) {
    attempts.push(`ferrymq-${triple} (${(err as Error).message.split('\n')[0]})`)
  }
  throw new NativeLoadError(
    `ferrymq has no native addon for ${triple}. Tried: ${attempts.join('; ')}. ` +
      `Install the prebuilt package ferrymq-${triple}, or build from source with Rust (cargo) installed: ` +
      `run "npm rebuild ferrymq" (approve its install script if your npm asks), or "npm run build" in a clone.`,
  )
}
