/**
 * Queue locks for orderly consumers (`RebalanceLockManager`, protocol.md §2.5 LOCK_BATCH_MQ): per group and queue,
 * the client holding it and when it last renewed. A lock is granted when free, already held by the same client,
 * or expired (60 s without renewal). Locks are advisory and outlive connections (they expire).
 */
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import { messageQueueKey } from '../remoting/protocol/message-queue.js'

export const REBALANCE_LOCK_MAX_LIVE_TIME_MS = 60_000

interface LockEntry {
  clientId: string
  lastUpdateTimestamp: number
}

export class RebalanceLockManager {
  private readonly table = new Map<string, Map<string, LockEntry>>()

  constructor(private readonly lockMaxLiveTimeMs = REBALANCE_LOCK_MAX_LIVE_TIME_MS) {}

  /** Locks what it can; returns the queues now locked by `clientId`. */
  tryLockBatch(group: string, mqs: readonly MessageQueue[], clientId: string, now = Date.now()): MessageQueue[] {
    let locks = this.table.get(group)
    if (locks === undefined) {
      locks = new Map()
      this.table.set(group, locks)
    }
    const locked: MessageQueue[] = []
    for (const mq of mqs) {
      const key = messageQueueKey(mq)
      const entry = locks.get(key)
      if (entry === undefined || entry.clientId === clientId || now - entry.lastUpdateTimestamp > this.lockMaxLiveTimeMs) {
        locks.set(key, { clientId, lastUpdateTimestamp: now })
        locked.push(mq)
      }
    }
    return locked
  }

  unlockBatch(group: string, mqs: readonly MessageQueue[], clientId: string): void {
    const locks = this.table.get(group)
    if (locks === undefined) return
    for (const mq of mqs) {
      const key = messageQueueKey(mq)
      if (locks.get(key)?.clientId === clientId) locks.delete(key)
    }
    if (locks.size === 0) this.table.delete(group)
  }

  /** Forgets expired locks, so the table holds only what consumers renew. */
  scanExpired(now = Date.now()): void {
    for (const [group, locks] of this.table) {
      for (const [key, entry] of locks) if (now - entry.lastUpdateTimestamp > this.lockMaxLiveTimeMs) locks.delete(key)
      if (locks.size === 0) this.table.delete(group)
    }
  }

  /** Locks held right now, across groups. */
  get size(): number {
    let n = 0
    for (const locks of this.table.values()) n += locks.size
    return n
  }

  isLockedBy(group: string, mq: MessageQueue, clientId: string, now = Date.now()): boolean {
    const entry = this.table.get(group)?.get(messageQueueKey(mq))
    return entry !== undefined && entry.clientId === clientId && now - entry.lastUpdateTimestamp <= this.lockMaxLiveTimeMs
  }
}
