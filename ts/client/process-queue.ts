/**
 * The process queue of one message queue (client.md §4.4): the messages pulled but not yet consumed, ordered by
 * queue offset, with the counters flow control reads, and the orderly "consuming" sub-map. Mirrors RocketMQ's
 * `ProcessQueue` (client/impl/consumer/ProcessQueue.java); its `ReadWriteLock consumeLock` becomes
 * `ConsumeLock`, an async mutex (Node has one thread, so only the exclusion between a consume task and the
 * rebalance that removes the queue is left to express).
 *
 * Java guards the maps with a lock; here every method runs to completion on the event loop, so each is atomic.
 */
import { MessageConst } from '../common/message/message-const.js'
import type { MessageExt } from '../common/message/message-ext.js'
import type { ProcessQueueInfo } from './consumer-running-info.js'

/** `rocketmq.client.rebalance.lockMaxLiveTime`: a client-side lock older than this (ms) is treated as lost. */
export const REBALANCE_LOCK_MAX_LIVE_TIME_MS = 30_000
/** `rocketmq.client.rebalance.lockInterval`: the period (ms) of `lockAll` renewals. */
export const REBALANCE_LOCK_INTERVAL_MS = 20_000
/** `rocketmq.client.pull.pullMaxIdleTime`: a queue not pulled for longer than this (ms) is stale. */
export const PULL_MAX_IDLE_TIME_MS = 120_000

/** Below this many array slots, tombstones are never compacted away (compaction would cost more than it saves). */
const COMPACT_SLOTS_MIN = 64

/**
 * A map from queue offset to message that iterates in offset order (Java's `TreeMap<Long, MessageExt>`).
 *
 * Offsets live in a sorted array; removal only deletes from the value map and leaves a tombstone in the array,
 * which is why removing an arbitrary offset is O(1). `head` skips tombstones at the front and the tail is trimmed
 * eagerly, so the first and last keys are O(1). The array is compacted when more than half of it is tombstones,
 * which keeps every operation amortized O(1) except an insertion below the last key (O(log n) to find the slot,
 * O(1) when the slot just before it is a tombstone, as when a taken message is put back, else O(n) to splice).
 */
class OffsetTreeMap {
  private keys: number[] = []
  private head = 0
  private readonly values = new Map<number, MessageExt>()

  get size(): number {
    return this.values.size
  }

  has(offset: number): boolean {
    return this.values.has(offset)
  }

  get(offset: number): MessageExt | undefined {
    return this.values.get(offset)
  }

  firstKey(): number | undefined {
    return this.values.size === 0 ? undefined : this.keys[this.head]
  }

  lastKey(): number | undefined {
    return this.values.size === 0 ? undefined : this.keys[this.keys.length - 1]
  }

  /** Stores `msg` under `offset`; returns the message it replaced, if any (`TreeMap#put`). */
  set(offset: number, msg: MessageExt): MessageExt | undefined {
    const old = this.values.get(offset)
    this.values.set(offset, msg)
    if (old !== undefined) return old
    const keys = this.keys
    if (keys.length === 0 || offset > keys[keys.length - 1]!) {
      // The pull path: offsets arrive in increasing order.
      keys.push(offset)
      return undefined
    }
    const idx = lowerBound(keys, offset)
    if (keys[idx] === offset) {
      // A tombstone of the same offset: revive it in place.
      if (idx < this.head) this.head = idx
    } else if (idx > 0 && !this.values.has(keys[idx - 1]!)) {
      // The slot before is a tombstone with a smaller offset: reuse it, order is kept.
      keys[idx - 1] = offset
      if (idx - 1 < this.head) this.head = idx - 1
    } else {
      keys.splice(idx, 0, offset)
      if (idx < this.head) this.head = idx
    }
    return undefined
  }

  /** Removes `offset`; returns the removed message, if it was there. */
  delete(offset: number): MessageExt | undefined {
    const msg = this.values.get(offset)
    if (msg === undefined) return undefined
    this.values.delete(offset)
    if (this.values.size === 0) {
      this.keys = []
      this.head = 0
      return msg
    }
    // Restore the invariants: keys[head] and the last key are live. Bounded by the array, so a broken invariant
    // would show as a wrong answer in the model test rather than a hang.
    const keys = this.keys
    while (this.head < keys.length && !this.values.has(keys[this.head]!)) this.head++
    while (keys.length > this.head && !this.values.has(keys[keys.length - 1]!)) keys.pop()
    if (keys.length >= COMPACT_SLOTS_MIN && keys.length > 2 * this.values.size) {
      this.keys = keys.filter((k) => this.values.has(k))
      this.head = 0
    }
    return msg
  }

  clear(): void {
    this.keys = []
    this.head = 0
    this.values.clear()
  }

  /** Live entries in offset order. */
  *entries(): IterableIterator<[number, MessageExt]> {
    const keys = this.keys
    for (let i = this.head; i < keys.length; i++) {
      const msg = this.values.get(keys[i]!)
      if (msg !== undefined) yield [keys[i]!, msg]
    }
  }
}

/** The first index whose key is ≥ `offset` (the array is sorted, tombstones included). */
function lowerBound(keys: readonly number[], offset: number): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid]! < offset) lo = mid + 1
    else hi = mid
  }
  return lo
}

function bodyBytes(msg: MessageExt): number {
  return msg.body.length
}

/** Gives up the lock; calling it again is a no-op, so a `finally` that releases twice cannot free someone else's hold. */
export type ConsumeLockRelease = () => void

interface LockWaiter {
  grant: (release: ConsumeLockRelease) => void
  timer: NodeJS.Timeout | undefined
}

/**
 * A FIFO async mutex: Java's `ProcessQueue#consumeLock`. The orderly consume task holds it around each listener call
 * (Java's read side); rebalance takes it within 500 ms before removing the queue (Java's `writeLock().tryLock`).
 */
export class ConsumeLock {
  private held = false
  private readonly waiters: LockWaiter[] = []

  get isLocked(): boolean {
    return this.held
  }

  /**
   * Takes the lock. Without `timeoutMs`, waits as long as it takes; with it, resolves `null` if the lock was not
   * granted within `timeoutMs` ms (0 = only if free now).
   */
  acquire(timeoutMs?: number): Promise<ConsumeLockRelease | null> {
    if (!this.held && this.waiters.length === 0) {
      this.held = true
      return Promise.resolve(this.releaser())
    }
    if (timeoutMs !== undefined && timeoutMs <= 0) return Promise.resolve(null)
    return new Promise((resolve) => {
      const waiter: LockWaiter = { grant: resolve, timer: undefined }
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
          resolve(null)
        }, timeoutMs)
      }
      this.waiters.push(waiter)
    })
  }

  private releaser(): ConsumeLockRelease {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiters.shift()
      if (next === undefined) {
        this.held = false
        return
      }
      // Hand the lock straight to the next waiter, so a new caller cannot overtake it.
      if (next.timer !== undefined) clearTimeout(next.timer)
      next.grant(this.releaser())
    }
  }
}

export interface ProcessQueueOptions {
  /** Clock in ms since the epoch; defaults to `Date.now`. */
  now?: () => number
}

export class ProcessQueue {
  /** Held around each orderly listener call; taken by rebalance before removing the queue. */
  readonly consumeLock = new ConsumeLock()
  /** Set when the queue is no longer owned: pulls stop and results of running consume tasks are ignored. */
  dropped = false
  /** Orderly, CLUSTERING: the broker granted this client the queue's lock. */
  locked = false
  /** When (ms since the epoch) the broker last granted or renewed the lock. */
  lastLockTimestamp: number
  /** When (ms since the epoch) the pull loop last visited this queue. */
  lastPullTimestamp: number
  /** When (ms since the epoch) messages were last removed or taken for consumption. */
  lastConsumeTimestamp: number
  /** Backlog estimate: the `MAX_OFFSET` of the last pulled message minus its queue offset. */
  msgAccCnt = 0

  private readonly now: () => number
  private readonly msgTreeMap = new OffsetTreeMap()
  /** Orderly only: messages handed to the listener and not yet committed (a subset of what `msgCount` counts). */
  private readonly consumingMsgOrderlyTreeMap = new OffsetTreeMap()
  private msgCountValue = 0
  private msgSizeValue = 0
  private queueOffsetMaxValue = 0
  private consuming = false
  private tryUnlockTimesValue = 0

  constructor(options: ProcessQueueOptions = {}) {
    this.now = options.now ?? Date.now
    const now = this.now()
    this.lastLockTimestamp = now
    this.lastPullTimestamp = now
    this.lastConsumeTimestamp = now
  }

  /** Cached messages, the consuming (orderly) ones included. */
  get msgCount(): number {
    return this.msgCountValue
  }

  /** Sum of the cached messages' body lengths, in bytes. */
  get msgSize(): number {
    return this.msgSizeValue
  }

  /** Queue offset of the last message newly added by `putMessage` (0 after `clear()`). */
  get queueOffsetMax(): number {
    return this.queueOffsetMaxValue
  }

  /** How many times rebalance failed to remove this (orderly) queue because it was busy. */
  get tryUnlockTimes(): number {
    return this.tryUnlockTimesValue
  }

  incTryUnlockTimes(): void {
    this.tryUnlockTimesValue++
  }

  /** `(now − lastLockTimestamp) > 30 s`: the broker-side lock may have lapsed, so orderly consumption must re-lock. */
  isLockExpired(now: number = this.now()): boolean {
    return now - this.lastLockTimestamp > REBALANCE_LOCK_MAX_LIVE_TIME_MS
  }

  /** `(now − lastPullTimestamp) > 120 s`: the pull loop of this queue is gone; rebalance drops the queue. */
  isPullExpired(now: number = this.now()): boolean {
    return now - this.lastPullTimestamp > PULL_MAX_IDLE_TIME_MS
  }

  /**
   * Adds pulled messages; an offset already cached is ignored (not counted twice). Returns "dispatch": true when
   * messages are cached and no consume task is marked as running, and marks one as running; orderly consumption
   * starts a task per queue only then. `queueOffsetMax` becomes the offset of the last newly added message, as in
   * Java (so after a seek back it follows the new, lower offsets), and `msgAccCnt` is taken from the `MAX_OFFSET`
   * property of the last message when the backlog it gives is positive.
   */
  putMessage(msgs: readonly MessageExt[]): boolean {
    let validMsgCnt = 0
    for (const msg of msgs) {
      // A duplicate replaces the cached object (Java's TreeMap#put) but is not counted again.
      if (this.msgTreeMap.set(msg.queueOffset, msg) !== undefined) continue
      validMsgCnt++
      this.queueOffsetMaxValue = msg.queueOffset
      this.msgSizeValue += bodyBytes(msg)
    }
    this.msgCountValue += validMsgCnt

    let dispatchToConsume = false
    if (this.msgTreeMap.size > 0 && !this.consuming) {
      dispatchToConsume = true
      this.consuming = true
    }

    const last = msgs[msgs.length - 1]
    if (last !== undefined) {
      const property = last.properties.get(MessageConst.PROPERTY_MAX_OFFSET)
      const maxOffset = property === undefined ? NaN : Number(property)
      if (Number.isSafeInteger(maxOffset)) {
        const accTotal = maxOffset - last.queueOffset
        if (accTotal > 0) this.msgAccCnt = accTotal
      }
    }
    return dispatchToConsume
  }

  /** Cached offset span: last offset − first offset, 0 when empty (concurrent flow control, §4.4). */
  getMaxSpan(): number {
    const first = this.msgTreeMap.firstKey()
    const last = this.msgTreeMap.lastKey()
    return first === undefined || last === undefined ? 0 : last - first
  }

  /**
   * Removes consumed messages (concurrently, lite pull) and returns the offset that is safe to commit: the smallest
   * offset still cached, or `queueOffsetMax + 1` when none remain, or −1 when the queue was already empty (nothing
   * was removed, nothing to commit). Offsets not cached are ignored. Sets `lastConsumeTimestamp` in every case.
   */
  removeMessage(msgs: readonly MessageExt[]): number {
    this.lastConsumeTimestamp = this.now()
    if (this.msgTreeMap.size === 0) return -1
    let result = this.queueOffsetMaxValue + 1
    let removedCnt = 0
    for (const msg of msgs) {
      const prev = this.msgTreeMap.delete(msg.queueOffset)
      if (prev !== undefined) {
        removedCnt++
        // Java subtracts the argument's body; the cached message's is the one that was counted.
        this.msgSizeValue -= bodyBytes(prev)
      }
    }
    this.msgCountValue -= removedCnt
    if (this.msgCountValue === 0) this.msgSizeValue = 0
    const first = this.msgTreeMap.firstKey()
    if (first !== undefined) result = first
    return result
  }

  /** Whether a message with this queue offset is cached and not being consumed (`containsMessage`). */
  containsMessage(msg: MessageExt): boolean {
    return this.msgTreeMap.has(msg.queueOffset)
  }

  /** Whether any message waits to be consumed (`hasTempMessage`; consuming ones do not count). */
  hasTempMessage(): boolean {
    return this.msgTreeMap.size > 0
  }

  /**
   * Up to `n` of the oldest cached messages, oldest first, for the expired-message sweep of concurrent consumption
   * (`cleanExpiredMsg` looks at up to 16). The sweep sends an expired one back and then calls `removeIfOldest`.
   */
  oldestMessages(n: number): MessageExt[] {
    const result: MessageExt[] = []
    if (n <= 0) return result
    for (const [, msg] of this.msgTreeMap.entries()) {
      result.push(msg)
      if (result.length >= n) break
    }
    return result
  }

  /**
   * Removes `msg` only if it is still the oldest cached message (`cleanExpiredMsg`: a message sent back while a
   * consume task finished it meanwhile must not be removed twice); returns whether it was removed.
   */
  removeIfOldest(msg: MessageExt): boolean {
    if (this.msgTreeMap.firstKey() !== msg.queueOffset) return false
    this.removeMessage([msg])
    return true
  }

  /**
   * Orderly: moves up to `batchSize` messages from the head into the consuming map and returns them. An empty result
   * clears the "consuming" mark, so the next `putMessage` dispatches a new consume task.
   */
  takeMessages(batchSize: number): MessageExt[] {
    this.lastConsumeTimestamp = this.now()
    const result: MessageExt[] = []
    while (result.length < batchSize) {
      const offset = this.msgTreeMap.firstKey()
      if (offset === undefined) break
      const msg = this.msgTreeMap.delete(offset)!
      result.push(msg)
      this.consumingMsgOrderlyTreeMap.set(offset, msg)
    }
    if (result.length === 0) this.consuming = false
    return result
  }

  /**
   * Orderly: the consuming messages are done. Returns the offset to commit (last consuming offset + 1), or −1 when
   * nothing was being consumed, and drops them from the counters.
   */
  commit(): number {
    const last = this.consumingMsgOrderlyTreeMap.lastKey()
    this.msgCountValue -= this.consumingMsgOrderlyTreeMap.size
    if (this.msgCountValue === 0) {
      this.msgSizeValue = 0
    } else {
      for (const [, msg] of this.consumingMsgOrderlyTreeMap.entries()) this.msgSizeValue -= bodyBytes(msg)
    }
    this.consumingMsgOrderlyTreeMap.clear()
    return last === undefined ? -1 : last + 1
  }

  /** Orderly: puts these consuming messages back among the cached ones, so they are taken first next time. */
  makeMessageToConsumeAgain(msgs: readonly MessageExt[]): void {
    for (const msg of msgs) {
      this.consumingMsgOrderlyTreeMap.delete(msg.queueOffset)
      this.msgTreeMap.set(msg.queueOffset, msg)
    }
  }

  /** Orderly: puts every consuming message back (`ROLLBACK`). */
  rollback(): void {
    for (const [offset, msg] of this.consumingMsgOrderlyTreeMap.entries()) this.msgTreeMap.set(offset, msg)
    this.consumingMsgOrderlyTreeMap.clear()
  }

  /**
   * Forgets every cached message and resets the counters and `queueOffsetMax` (lite pull `seek`, offset reset). As
   * in Java the "consuming" mark is kept: a running orderly task clears it when it finds the queue empty.
   */
  clear(): void {
    this.msgTreeMap.clear()
    this.consumingMsgOrderlyTreeMap.clear()
    this.msgCountValue = 0
    this.msgSizeValue = 0
    this.queueOffsetMaxValue = 0
  }

  /**
   * The queue as `GET_CONSUMER_RUNNING_INFO` reports it (`fillProcessQueueInfo`), without `commitOffset`, which the
   * offset store knows. Offsets of an empty cache are 0, the cached size is whole MiB.
   */
  fillProcessQueueInfo(): Omit<ProcessQueueInfo, 'commitOffset'> {
    const consuming = this.consumingMsgOrderlyTreeMap
    return {
      cachedMsgMinOffset: this.msgTreeMap.firstKey() ?? 0,
      cachedMsgMaxOffset: this.msgTreeMap.lastKey() ?? 0,
      cachedMsgCount: this.msgTreeMap.size,
      cachedMsgSizeInMiB: Math.floor(this.msgSizeValue / (1024 * 1024)),
      transactionMsgMinOffset: consuming.firstKey() ?? 0,
      transactionMsgMaxOffset: consuming.lastKey() ?? 0,
      transactionMsgCount: consuming.size,
      locked: this.locked,
      tryUnlockTimes: this.tryUnlockTimesValue,
      lastLockTimestamp: this.lastLockTimestamp,
      droped: this.dropped,
      lastPullTimestamp: this.lastPullTimestamp,
      lastConsumeTimestamp: this.lastConsumeTimestamp,
    }
  }

  /** Orderly: the number of messages taken and not yet committed or put back. */
  get consumingMsgCount(): number {
    return this.consumingMsgOrderlyTreeMap.size
  }
}
