/**
 * Consumer offset stores (client.md §4.10), mirroring RocketMQ's `OffsetStore`, `ReadOffsetType`,
 * `ControllableOffset`, `RemoteBrokerOffsetStore` (CLUSTERING) and `LocalFileOffsetStore` with
 * `OffsetSerializeWrapper` (BROADCASTING).
 *
 * The remote store has no network code: it is given an `OffsetBackend` (QUERY_CONSUMER_OFFSET /
 * UPDATE_CONSUMER_OFFSET oneway to the queue's master), so broker lookup, timeouts and route refresh stay with the
 * client runtime. The local store owns its file; where it lives is the caller's decision (Java's
 * `rocketmq.client.localOffsetStoreDir`, default `$HOME/.rocketmq_offsets`).
 *
 * Like Java, `persist` and `persistAll` never reject: a failed write is logged and retried by the next periodic
 * persist (every `persistConsumerOffsetInterval`), which rewrites the same offsets.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'

import { parseJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { messageQueueFromJson, messageQueueKey, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { sortMessageQueues } from './allocate-strategy.js'
import { MQClientError } from './client-error.js'

export const ReadOffsetType = {
  /** The in-memory value, −1 when there is none. */
  READ_FROM_MEMORY: 'READ_FROM_MEMORY',
  /** Ask the backing store (broker or file) and cache its answer; −1 = not found, −2 = error (remote only). */
  READ_FROM_STORE: 'READ_FROM_STORE',
  /** The in-memory value if there is one, else as READ_FROM_STORE. */
  MEMORY_FIRST_THEN_STORE: 'MEMORY_FIRST_THEN_STORE',
} as const
export type ReadOffsetType = (typeof ReadOffsetType)[keyof typeof ReadOffsetType]

/** An offset as `cloneOffsetTable` reports it. */
export interface OffsetEntry {
  mq: MessageQueue
  offset: number
}

export interface OffsetStore {
  /** Loads persisted offsets into memory (the local file; nothing for the remote store). */
  load(): Promise<void>
  /** Sets the in-memory offset (keeping the larger one when `increaseOnly`); ignored while the entry is frozen. */
  updateOffset(mq: MessageQueue, offset: number, increaseOnly: boolean): void
  /** Sets the in-memory offset and freezes it until `removeOffset` (OFFSET_ILLEGAL handling, §4.5). */
  updateAndFreezeOffset(mq: MessageQueue, offset: number): void
  /** See `ReadOffsetType`. */
  readOffset(mq: MessageQueue, type: ReadOffsetType): Promise<number>
  /** Writes the in-memory offset of `mq`, if any, to the backing store. */
  persist(mq: MessageQueue): Promise<void>
  /** Writes the offsets of the owned queues `mqs`; an empty `mqs` does nothing (Java returns early). */
  persistAll(mqs: readonly MessageQueue[]): Promise<void>
  /** Forgets the in-memory offset (which also unfreezes it). */
  removeOffset(mq: MessageQueue): void
  /** A copy of the in-memory offsets of `topic` (of every topic when `topic` is blank), keyed by `messageQueueKey`. */
  cloneOffsetTable(topic: string): Map<string, OffsetEntry>
}

/**
 * `ControllableOffset`: an offset that can be frozen. While frozen, `update` does nothing; only dropping the whole
 * entry (`removeOffset`) undoes a freeze. Rebalance freezes the corrected offset after OFFSET_ILLEGAL so a consume
 * task finishing late cannot overwrite it before it is persisted.
 */
export class ControllableOffset {
  private value: number
  private allowToUpdate = true

  constructor(value: number) {
    this.value = value
  }

  get offset(): number {
    return this.value
  }

  get frozen(): boolean {
    return !this.allowToUpdate
  }

  update(target: number, increaseOnly = false): void {
    if (!this.allowToUpdate) return
    this.value = increaseOnly ? Math.max(target, this.value) : target
  }

  updateAndFreeze(target: number): void {
    this.allowToUpdate = false
    this.value = target
  }
}

/** The in-memory table both stores share (`ConcurrentMap<MessageQueue, ControllableOffset>`). */
export class OffsetTable {
  private readonly entries = new Map<string, { mq: MessageQueue; offset: ControllableOffset }>()

  get size(): number {
    return this.entries.size
  }

  get(mq: MessageQueue): ControllableOffset | undefined {
    return this.entries.get(messageQueueKey(mq))?.offset
  }

  /** Replaces the entry with a fresh, unfrozen one (`load`). */
  put(mq: MessageQueue, offset: number): void {
    this.entries.set(messageQueueKey(mq), { mq: copyQueue(mq), offset: new ControllableOffset(offset) })
  }

  /** A missing entry is created with `offset`, whatever `increaseOnly` says (Java's `putIfAbsent` path). */
  update(mq: MessageQueue, offset: number, increaseOnly: boolean): void {
    const old = this.get(mq)
    if (old === undefined) this.put(mq, offset)
    else old.update(offset, increaseOnly)
  }

  updateAndFreeze(mq: MessageQueue, offset: number): void {
    let old = this.get(mq)
    if (old === undefined) {
      this.put(mq, offset)
      old = this.get(mq)!
    }
    old.updateAndFreeze(offset)
  }

  remove(mq: MessageQueue): boolean {
    return this.entries.delete(messageQueueKey(mq))
  }

  /** Current values, in insertion order. */
  *values(): IterableIterator<OffsetEntry> {
    for (const e of this.entries.values()) yield { mq: e.mq, offset: e.offset.offset }
  }

  /** `cloneOffsetTable`: a blank topic (`UtilAll.isBlank`) selects every topic. */
  clone(topic: string): Map<string, OffsetEntry> {
    const all = topic.trim().length === 0
    const out = new Map<string, OffsetEntry>()
    for (const [key, e] of this.entries) {
      if (!all && e.mq.topic !== topic) continue
      out.set(key, { mq: copyQueue(e.mq), offset: e.offset.offset })
    }
    return out
  }
}

function copyQueue(mq: MessageQueue): MessageQueue {
  return { topic: mq.topic, brokerName: mq.brokerName, queueId: mq.queueId }
}

// ---------------------------------------------------------------------------------------------------------------

/** How the remote store reaches the master of a queue's broker; the client runtime implements it. */
export interface OffsetBackend {
  /** `QUERY_CONSUMER_OFFSET` (14); resolves `null` for `QUERY_NOT_FOUND` (22), rejects on any other failure. */
  queryConsumerOffset(mq: MessageQueue): Promise<number | null>
  /** `UPDATE_CONSUMER_OFFSET` (15), oneway; rejects only when it could not be sent (no broker, no connection). */
  updateConsumerOffsetOneway(mq: MessageQueue, offset: number): Promise<void>
}

export interface OffsetStoreOptions {
  logger?: Logger
}

/**
 * What both stores share: the in-memory table every update goes to, and `readOffset`, which answers from memory
 * unless told to read the store, and caches what the store says. Subclasses say how the store is read and written.
 */
abstract class CachedOffsetStore implements OffsetStore {
  protected readonly table = new OffsetTable()

  constructor(protected readonly log: Logger) {}

  abstract load(): Promise<void>
  abstract persist(mq: MessageQueue): Promise<void>
  abstract persistAll(mqs: readonly MessageQueue[]): Promise<void>
  /** The stored offset: ≥ 0, −1 when there is none, −2 when the store could not say. */
  protected abstract readStoredOffset(mq: MessageQueue): Promise<number>

  updateOffset(mq: MessageQueue, offset: number, increaseOnly: boolean): void {
    this.table.update(mq, offset, increaseOnly)
  }

  updateAndFreezeOffset(mq: MessageQueue, offset: number): void {
    this.table.updateAndFreeze(mq, offset)
  }

  async readOffset(mq: MessageQueue, type: ReadOffsetType): Promise<number> {
    if (type !== ReadOffsetType.READ_FROM_STORE) {
      const cached = this.table.get(mq)
      if (cached !== undefined) return cached.offset
      if (type === ReadOffsetType.READ_FROM_MEMORY) return -1
    }
    const stored = await this.readStoredOffset(mq)
    // A frozen entry keeps its value, yet the caller gets what the store said, as in Java.
    if (stored >= 0) this.table.update(mq, stored, false)
    return stored
  }

  removeOffset(mq: MessageQueue): void {
    this.table.remove(mq)
    this.log.debug({ mq, offsetTableSize: this.table.size }, 'remove unnecessary messageQueue offset')
  }

  cloneOffsetTable(topic: string): Map<string, OffsetEntry> {
    return this.table.clone(topic)
  }
}

/** CLUSTERING: offsets live on the broker, this store caches them (`RemoteBrokerOffsetStore`). */
export class RemoteBrokerOffsetStore extends CachedOffsetStore {
  constructor(
    private readonly backend: OffsetBackend,
    readonly group: string,
    options: OffsetStoreOptions = {},
  ) {
    super((options.logger ?? noopLogger).child({ component: 'offset-store', group }))
  }

  /** Nothing to load: offsets are read from the broker queue by queue. */
  async load(): Promise<void> {}

  protected async readStoredOffset(mq: MessageQueue): Promise<number> {
    try {
      return (await this.backend.queryConsumerOffset(mq)) ?? -1
    } catch (err) {
      // −2 tells rebalance not to add the queue this round (§4.11); the next round asks again.
      this.log.warn({ mq, err }, 'fetchConsumeOffsetFromBroker exception')
      return -2
    }
  }

  async persist(mq: MessageQueue): Promise<void> {
    const offset = this.table.get(mq)
    if (offset === undefined) return
    await this.send(mq, offset.offset, 'persist')
  }

  /** Sends the owned queues' offsets and drops the in-memory entries of queues no longer owned. */
  async persistAll(mqs: readonly MessageQueue[]): Promise<void> {
    if (mqs.length === 0) return
    const owned = new Set(mqs.map(messageQueueKey))
    const unused: MessageQueue[] = []
    const sends: Promise<void>[] = []
    for (const { mq, offset } of this.table.values()) {
      if (owned.has(messageQueueKey(mq))) sends.push(this.send(mq, offset, 'persistAll'))
      else unused.push(mq)
    }
    for (const mq of unused) {
      this.table.remove(mq)
      this.log.info({ mq }, 'remove unused mq')
    }
    await Promise.all(sends)
  }

  /** One oneway update; a failure is logged, and the next periodic persist sends the offset again. */
  private async send(mq: MessageQueue, offset: number, what: string): Promise<void> {
    try {
      await this.backend.updateConsumerOffsetOneway(mq, offset)
      this.log.debug({ mq, offset }, `[${what}] updateConsumeOffsetToBroker`)
    } catch (err) {
      this.log.error({ mq, offset, err }, 'updateConsumeOffsetToBroker exception')
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The on-disk form of `OffsetSerializeWrapper` as Java writes it: `RemotingSerializable#toJson(true)`, i.e. fastjson
 * with `PrettyFormat`. fastjson writes a `MessageQueue` map key as the object itself (not valid JSON), indents with
 * tabs, and puts no newline before an object key:
 *
 * ```
 * {
 * →"offsetTable":{{
 * →→→"brokerName":"broker-a",
 * →→→"queueId":0,
 * →→→"topic":"TopicTest"
 * →→}:1470,{
 * ...
 * →→}:1471
 * →}
 * }
 * ```
 *
 * We write exactly that shape, with entries sorted by queue (Java's order is `ConcurrentHashMap`'s, i.e.
 * arbitrary), so a Java client can take over the file and the file diffs cleanly. We read it back with the fastjson
 * reader of `ts/common/fastjson.ts`, which also accepts the compact form and string keys holding the queue's JSON.
 */
export function encodeOffsetsFile(entries: Iterable<OffsetEntry>): string {
  const byKey = new Map<string, number>()
  const queues: MessageQueue[] = []
  for (const e of entries) {
    const key = messageQueueKey(e.mq)
    if (!byKey.has(key)) queues.push(e.mq)
    byKey.set(key, e.offset)
  }
  if (queues.length === 0) return '{\n\t"offsetTable":{}\n}'
  const items = sortMessageQueues(queues).map(
    (mq) =>
      `{\n\t\t\t"brokerName":${JSON.stringify(mq.brokerName)},\n\t\t\t"queueId":${mq.queueId},\n\t\t\t` +
      `"topic":${JSON.stringify(mq.topic)}\n\t\t}:${byKey.get(messageQueueKey(mq))!}`,
  )
  return `{\n\t"offsetTable":{${items.join(',')}\n\t}\n}`
}

/** Parses an offsets file; throws `MQClientError` (`RMQ_ERR_OFFSET_FILE`) when it is not one. */
export function decodeOffsetsFile(text: string): OffsetEntry[] {
  let root: unknown
  try {
    root = parseJson(text)
  } catch (err) {
    throw new MQClientError('RMQ_ERR_OFFSET_FILE', `the offsets file is not JSON: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (typeof root !== 'object' || root === null || Array.isArray(root)) {
    throw new MQClientError('RMQ_ERR_OFFSET_FILE', 'the offsets file is not a JSON object')
  }
  const table = (root as Record<string, unknown>).offsetTable
  // Java reads a missing or null offsetTable as "no offsets".
  if (table === undefined || table === null) return []
  if (typeof table !== 'object' || Array.isArray(table)) {
    throw new MQClientError('RMQ_ERR_OFFSET_FILE', 'offsetTable is not an object')
  }
  const out: OffsetEntry[] = []
  for (const [key, value] of Object.entries(table as Record<string, unknown>)) {
    let mq: MessageQueue
    try {
      mq = messageQueueFromJson(JSON.parse(key), 'an offsetTable key')
    } catch (err) {
      throw new MQClientError('RMQ_ERR_OFFSET_FILE', `offsetTable key ${key} is not a MessageQueue`, { cause: err })
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new MQClientError('RMQ_ERR_OFFSET_FILE', `offset of ${key} is not an integer`)
    }
    out.push({ mq, offset: value })
  }
  return out
}

/** The file name under `<dir>/<clientId>/<group>/`. */
export const LOCAL_OFFSETS_FILE_NAME = 'offsets.json'

/** What one read of the file found: the offsets, and the main file's text when it was valid (to back it up). */
interface StoredOffsets {
  table: Map<string, OffsetEntry> | null
  validMainContent: string | null
}

/**
 * BROADCASTING: offsets in `<dir>/<clientId>/<group>/offsets.json` (`LocalFileOffsetStore`).
 *
 * Writes are atomic (write `offsets.json.tmp`, fsync, rename), so a crash leaves either the old or the new file.
 * Before each write the previous main file, if it was valid, is copied to `offsets.json.bak` (Java's
 * `MixAll#string2File` copies it even when corrupt; we never let a corrupt file replace a good backup). Reads use
 * the backup when the main file is missing, empty or corrupt, as Java's `readLocalOffset` does. File operations of
 * one store run one at a time, in call order, because `persist` and `persistAll` read, merge and rewrite the file.
 */
export class LocalFileOffsetStore extends CachedOffsetStore {
  readonly storePath: string
  private fileOps: Promise<unknown> = Promise.resolve()

  constructor(dir: string, clientId: string, group: string, options: OffsetStoreOptions = {}) {
    const storePath = join(dir, clientId, group, LOCAL_OFFSETS_FILE_NAME)
    super((options.logger ?? noopLogger).child({ component: 'offset-store', group, storePath }))
    this.storePath = storePath
  }

  /** Reads the file (or its backup) into memory; throws `MQClientError` when both are corrupt. */
  async load(): Promise<void> {
    const stored = await this.serialized(() => this.readLocalOffset())
    for (const e of stored.table?.values() ?? []) {
      this.table.put(e.mq, e.offset)
      this.log.info({ mq: e.mq, offset: e.offset }, "load consumer's offset")
    }
  }

  /** Reads the file; as in Java an unreadable file reads as −1 (not found), never −2. */
  protected async readStoredOffset(mq: MessageQueue): Promise<number> {
    let stored: StoredOffsets
    try {
      stored = await this.serialized(() => this.readLocalOffset())
    } catch (err) {
      this.log.warn({ mq, err }, 'readLocalOffset exception')
      return -1
    }
    return stored.table?.get(messageQueueKey(mq))?.offset ?? -1
  }

  /** Merges the in-memory offset of `mq` into the file. */
  async persist(mq: MessageQueue): Promise<void> {
    if (this.table.get(mq) === undefined) return
    await this.rewrite('persist', (merged) => {
      // Read at write time: the latest value, even if it moved while earlier file operations ran.
      const offset = this.table.get(mq)
      if (offset !== undefined) merged.set(messageQueueKey(mq), { mq: copyQueue(mq), offset: offset.offset })
    })
  }

  /**
   * Merges the in-memory offsets of the owned queues into the file. Entries already in the file for other queues
   * are kept, and in-memory entries of other queues are not dropped (both as in Java's local store).
   */
  async persistAll(mqs: readonly MessageQueue[]): Promise<void> {
    if (mqs.length === 0) return
    const owned = new Set(mqs.map(messageQueueKey))
    await this.rewrite('persistAll', (merged) => {
      for (const e of this.table.values()) {
        const key = messageQueueKey(e.mq)
        if (owned.has(key)) merged.set(key, e)
      }
    })
  }

  /** Read, merge, write, as one file operation. Failures are logged: the next periodic persist writes again. */
  private async rewrite(what: string, merge: (merged: Map<string, OffsetEntry>) => void): Promise<void> {
    await this.serialized(async () => {
      let stored: StoredOffsets
      try {
        stored = await this.readLocalOffset()
      } catch (err) {
        // Writing now would drop whatever the unreadable files hold; leave them for an operator to look at.
        this.log.error({ err }, `${what}: readLocalOffset exception`)
        return
      }
      const merged = stored.table ?? new Map<string, OffsetEntry>()
      merge(merged)
      try {
        if (stored.validMainContent !== null) await writeFileAtomic(`${this.storePath}.bak`, stored.validMainContent)
        await writeFileAtomic(this.storePath, encodeOffsetsFile(merged.values()))
      } catch (err) {
        this.log.error({ err }, `${what} consumer offset exception`)
      }
    })
  }

  /** `readLocalOffset`: the main file, or the backup when the main one is missing, empty or corrupt. */
  private async readLocalOffset(): Promise<StoredOffsets> {
    const content = await this.readText(this.storePath)
    if (content !== null && content.length > 0) {
      try {
        return { table: toTable(decodeOffsetsFile(content)), validMainContent: content }
      } catch (err) {
        this.log.warn({ err }, 'readLocalOffset Exception, and try to correct')
      }
    }
    return { table: await this.readLocalOffsetBak(), validMainContent: null }
  }

  private async readLocalOffsetBak(): Promise<Map<string, OffsetEntry> | null> {
    const content = await this.readText(`${this.storePath}.bak`)
    if (content === null || content.length === 0) return null
    try {
      return toTable(decodeOffsetsFile(content))
    } catch (err) {
      throw new MQClientError('RMQ_ERR_OFFSET_FILE', `both ${this.storePath} and its .bak are unreadable`, {
        cause: err,
      })
    }
  }

  /** The file's text, or null when it does not exist or cannot be read (logged: the caller falls back). */
  private async readText(path: string): Promise<string | null> {
    try {
      return await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err, path }, 'Load local offset file exception')
      return null
    }
  }

  /** Runs `op` after every file operation started before it, whether those succeeded or not. */
  private serialized<T>(op: () => Promise<T>): Promise<T> {
    const run = this.fileOps.then(op, op)
    this.fileOps = run.catch(() => undefined)
    return run
  }
}

function toTable(entries: readonly OffsetEntry[]): Map<string, OffsetEntry> {
  const table = new Map<string, OffsetEntry>()
  for (const e of entries) table.set(messageQueueKey(e.mq), e)
  return table
}

/** Writes `content` to `path` through `<path>.tmp` + fsync + rename, creating the directory if needed. */
async function writeFileAtomic(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(content, 'utf8')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}
