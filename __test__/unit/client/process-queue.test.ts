/**
 * ProcessQueue (client.md §4.4, RocketMQ `ProcessQueue`): ordering, counters, every return-value rule of
 * putMessage / removeMessage / commit, the orderly consuming map, expiry checks with an injected clock, and the
 * consume lock. A model test drives random operation sequences against a plain sorted-array reference.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'

import { MessageConst } from '../../../ts/common/message/message-const.js'
import type { MessageExt } from '../../../ts/common/message/message-ext.js'
import {
  ConsumeLock,
  ProcessQueue,
  PULL_MAX_IDLE_TIME_MS,
  REBALANCE_LOCK_MAX_LIVE_TIME_MS,
} from '../../../ts/client/process-queue.js'

function msg(queueOffset: number, bodyBytes = 10, properties: Record<string, string> = {}): MessageExt {
  return {
    topic: 'T',
    flag: 0,
    properties: new Map(Object.entries(properties)),
    body: Buffer.alloc(bodyBytes, queueOffset % 251),
    queueId: 0,
    storeSize: 100 + bodyBytes,
    queueOffset,
    sysFlag: 0,
    bornTimestamp: 0,
    bornHost: '10.0.0.1:1',
    storeTimestamp: 0,
    storeHost: '10.0.0.2:10911',
    msgId: `ID${queueOffset}`,
    commitLogOffset: queueOffset * 1000,
    bodyCRC: 0,
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
  }
}

const range = (from: number, to: number, bodyBytes = 10): MessageExt[] =>
  Array.from({ length: to - from }, (_, i) => msg(from + i, bodyBytes))

const offsets = (msgs: readonly MessageExt[]): number[] => msgs.map((m) => m.queueOffset)

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; set: (t: number) => void } {
  let t = start
  return { now: () => t, set: (v) => (t = v) }
}

describe('ProcessQueue.putMessage', () => {
  it('caches messages in offset order whatever the arrival order, and counts them and their body bytes', () => {
    const pq = new ProcessQueue()
    pq.putMessage([msg(5, 3), msg(2, 4)])
    pq.putMessage([msg(9, 5), msg(1, 6), msg(7, 7)])
    expect(offsets(pq.oldestMessages(100))).toEqual([1, 2, 5, 7, 9])
    expect(pq.msgCount).toBe(5)
    expect(pq.msgSize).toBe(3 + 4 + 5 + 6 + 7)
  })

  it('ignores offsets already cached: counters and queueOffsetMax do not move', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 3, 8))
    pq.putMessage([msg(1, 100), msg(2, 100)])
    expect(pq.msgCount).toBe(3)
    expect(pq.msgSize).toBe(24)
    expect(pq.queueOffsetMax).toBe(2)
    expect(offsets(pq.oldestMessages(10))).toEqual([0, 1, 2])
  })

  it('returns dispatch=true once, while no consume task is marked running', () => {
    const pq = new ProcessQueue()
    expect(pq.putMessage(range(0, 2))).toBe(true)
    expect(pq.putMessage(range(2, 4))).toBe(false)
    expect(pq.putMessage(range(4, 5))).toBe(false)
  })

  it('returns false for an empty batch into an empty queue (nothing to consume)', () => {
    const pq = new ProcessQueue()
    expect(pq.putMessage([])).toBe(false)
    expect(pq.putMessage(range(0, 1))).toBe(true)
  })

  it('dispatches again after an orderly task found the queue empty', () => {
    const pq = new ProcessQueue()
    expect(pq.putMessage(range(0, 2))).toBe(true)
    expect(offsets(pq.takeMessages(10))).toEqual([0, 1])
    expect(pq.putMessage(range(2, 3))).toBe(false) // the task is still running: it will see offset 2
    expect(offsets(pq.takeMessages(10))).toEqual([2])
    expect(pq.takeMessages(10)).toEqual([]) // the task ends here
    expect(pq.putMessage(range(3, 4))).toBe(true)
  })

  it('sets queueOffsetMax to the last newly added offset, as Java does (even when lower)', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(100, 111))
    expect(pq.queueOffsetMax).toBe(110)
    pq.putMessage([msg(50)])
    expect(pq.queueOffsetMax).toBe(50)
  })

  it('takes msgAccCnt from MAX_OFFSET of the last message of the batch, only when positive', () => {
    const pq = new ProcessQueue()
    pq.putMessage([msg(0, 1, { [MessageConst.PROPERTY_MAX_OFFSET]: '999' }), msg(10, 1, { MAX_OFFSET: '100' })])
    expect(pq.msgAccCnt).toBe(90)
    pq.putMessage([msg(11, 1, { MAX_OFFSET: '11' })]) // backlog 0: kept
    expect(pq.msgAccCnt).toBe(90)
    pq.putMessage([msg(12)]) // no property: kept
    expect(pq.msgAccCnt).toBe(90)
    pq.putMessage([msg(13, 1, { MAX_OFFSET: 'junk' })]) // unparsable: kept
    expect(pq.msgAccCnt).toBe(90)
    pq.putMessage([msg(10, 1, { MAX_OFFSET: '40' })]) // a duplicate still reports the backlog
    expect(pq.msgAccCnt).toBe(30)
  })
})

describe('ProcessQueue.removeMessage', () => {
  it('returns −1 when the queue was already empty, and still stamps lastConsumeTimestamp', () => {
    const c = clock()
    const pq = new ProcessQueue({ now: c.now })
    c.set(2_000_000)
    expect(pq.removeMessage([msg(1)])).toBe(-1)
    expect(pq.lastConsumeTimestamp).toBe(2_000_000)
  })

  it('returns the smallest offset still cached while some remain', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(10, 15))
    expect(pq.removeMessage([msg(12), msg(13)])).toBe(10) // the oldest is unfinished: commit stays at 10
    expect(pq.removeMessage([msg(10)])).toBe(11)
    expect(pq.removeMessage([msg(11)])).toBe(14)
  })

  it('returns queueOffsetMax + 1 when none remain', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(10, 15))
    expect(pq.removeMessage(range(10, 15))).toBe(15)
    expect(pq.msgCount).toBe(0)
    expect(pq.msgSize).toBe(0)
  })

  it('returns queueOffsetMax + 1 (not the largest removed + 1) when queueOffsetMax is from the last put', () => {
    const pq = new ProcessQueue()
    pq.putMessage([msg(20), msg(5)])
    expect(pq.queueOffsetMax).toBe(5)
    expect(pq.removeMessage([msg(5), msg(20)])).toBe(6)
  })

  it('ignores offsets that are not cached, in the counters and in the result', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 3, 4))
    expect(pq.removeMessage([msg(7), msg(1)])).toBe(0)
    expect(pq.msgCount).toBe(2)
    expect(pq.msgSize).toBe(8)
    // Removing only unknown offsets leaves everything as it was and reports the oldest.
    expect(pq.removeMessage([msg(99)])).toBe(0)
    expect(pq.msgCount).toBe(2)
  })

  it('subtracts the cached message body, not the one passed in', () => {
    const pq = new ProcessQueue()
    pq.putMessage([msg(0, 10), msg(1, 20)])
    pq.removeMessage([msg(0, 999)])
    expect(pq.msgSize).toBe(20)
  })

  it('returns the smallest remaining offset after removing from the middle of thousands of messages', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 5000, 1))
    const odd = range(0, 5000, 1).filter((m) => m.queueOffset % 2 === 1)
    expect(pq.removeMessage(odd)).toBe(0)
    expect(pq.msgCount).toBe(2500)
    expect(pq.getMaxSpan()).toBe(4998)
    expect(pq.removeMessage([msg(0)])).toBe(2)
  })
})

describe('ProcessQueue.getMaxSpan', () => {
  it('is last − first offset, 0 when empty or with one message', () => {
    const pq = new ProcessQueue()
    expect(pq.getMaxSpan()).toBe(0)
    pq.putMessage([msg(7)])
    expect(pq.getMaxSpan()).toBe(0)
    pq.putMessage([msg(3), msg(2007)])
    expect(pq.getMaxSpan()).toBe(2004)
    pq.removeMessage([msg(2007)])
    expect(pq.getMaxSpan()).toBe(4)
  })
})

describe('ProcessQueue orderly consumption', () => {
  it('takeMessages moves up to n messages from the head into the consuming map', () => {
    const c = clock()
    const pq = new ProcessQueue({ now: c.now })
    pq.putMessage(range(0, 5, 2))
    c.set(1_500_000)
    expect(offsets(pq.takeMessages(2))).toEqual([0, 1])
    expect(pq.lastConsumeTimestamp).toBe(1_500_000)
    expect(pq.consumingMsgCount).toBe(2)
    // Taken messages are still cached: they count until committed.
    expect(pq.msgCount).toBe(5)
    expect(pq.msgSize).toBe(10)
    expect(pq.containsMessage(msg(0))).toBe(false)
    expect(offsets(pq.takeMessages(10))).toEqual([2, 3, 4])
    expect(pq.hasTempMessage()).toBe(false)
  })

  it('commit returns the last consuming offset + 1 and drops the consuming messages from the counters', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 5, 3))
    pq.takeMessages(3)
    expect(pq.commit()).toBe(3)
    expect(pq.msgCount).toBe(2)
    expect(pq.msgSize).toBe(6)
    expect(pq.consumingMsgCount).toBe(0)
    pq.takeMessages(3)
    expect(pq.commit()).toBe(5)
    expect(pq.msgCount).toBe(0)
    expect(pq.msgSize).toBe(0)
  })

  it('commit returns −1 when nothing is being consumed', () => {
    const pq = new ProcessQueue()
    expect(pq.commit()).toBe(-1)
    pq.putMessage(range(0, 2))
    expect(pq.commit()).toBe(-1)
    expect(pq.msgCount).toBe(2)
  })

  it('commit covers every batch taken since the last commit (autoCommit=false)', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(10, 16))
    pq.takeMessages(2)
    pq.takeMessages(2)
    expect(pq.commit()).toBe(14)
    expect(pq.msgCount).toBe(2)
  })

  it('makeMessageToConsumeAgain puts messages back at the head, so they are taken first', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 6))
    const batch = pq.takeMessages(3)
    pq.makeMessageToConsumeAgain(batch.slice(1)) // 0 stays consuming
    expect(pq.consumingMsgCount).toBe(1)
    expect(offsets(pq.takeMessages(3))).toEqual([1, 2, 3])
    expect(pq.commit()).toBe(4)
    expect(pq.msgCount).toBe(2)
  })

  it('rollback puts every consuming message back', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 4))
    pq.takeMessages(2)
    pq.takeMessages(1)
    pq.rollback()
    expect(pq.consumingMsgCount).toBe(0)
    expect(pq.commit()).toBe(-1)
    expect(offsets(pq.takeMessages(10))).toEqual([0, 1, 2, 3])
    expect(pq.msgCount).toBe(4)
  })

  it('a batch put back after compaction-sized churn still comes out in order', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 1000, 1))
    for (let i = 0; i < 10; i++) {
      const batch = pq.takeMessages(64)
      expect(pq.commit()).toBe(batch[batch.length - 1]!.queueOffset + 1)
    }
    const batch = pq.takeMessages(64)
    pq.makeMessageToConsumeAgain(batch)
    expect(offsets(pq.oldestMessages(3))).toEqual([640, 641, 642])
    expect(offsets(pq.takeMessages(1000))).toEqual(offsets(range(640, 1000)))
  })
})

describe('ProcessQueue timers and helpers', () => {
  it('takes every timestamp from the injected clock at construction', () => {
    const pq = new ProcessQueue({ now: () => 42 })
    expect([pq.lastLockTimestamp, pq.lastPullTimestamp, pq.lastConsumeTimestamp]).toEqual([42, 42, 42])
  })

  it('the lock expires strictly after 30 s without renewal', () => {
    const c = clock(0)
    const pq = new ProcessQueue({ now: c.now })
    pq.lastLockTimestamp = 1000
    expect(REBALANCE_LOCK_MAX_LIVE_TIME_MS).toBe(30_000)
    expect(pq.isLockExpired(31_000)).toBe(false)
    expect(pq.isLockExpired(31_001)).toBe(true)
    c.set(31_001)
    expect(pq.isLockExpired()).toBe(true)
  })

  it('the queue is stale strictly after 120 s without a pull', () => {
    const c = clock(0)
    const pq = new ProcessQueue({ now: c.now })
    pq.lastPullTimestamp = 5
    expect(PULL_MAX_IDLE_TIME_MS).toBe(120_000)
    expect(pq.isPullExpired(120_005)).toBe(false)
    expect(pq.isPullExpired(120_006)).toBe(true)
    c.set(120_005)
    expect(pq.isPullExpired()).toBe(false)
  })

  it('clear empties both maps and resets counters and queueOffsetMax', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(3, 9))
    pq.takeMessages(2)
    pq.clear()
    expect([pq.msgCount, pq.msgSize, pq.queueOffsetMax, pq.consumingMsgCount]).toEqual([0, 0, 0, 0])
    expect(pq.hasTempMessage()).toBe(false)
    expect(pq.commit()).toBe(-1)
    expect(pq.removeMessage([msg(3)])).toBe(-1)
  })

  it('oldestMessages returns up to n of the oldest, oldest first', () => {
    const pq = new ProcessQueue()
    expect(pq.oldestMessages(16)).toEqual([])
    pq.putMessage(range(0, 40))
    pq.removeMessage([msg(0), msg(2)])
    expect(offsets(pq.oldestMessages(3))).toEqual([1, 3, 4])
    expect(pq.oldestMessages(0)).toEqual([])
    expect(pq.oldestMessages(100)).toHaveLength(38)
  })

  it('removeIfOldest removes a message only while it is the oldest', () => {
    const pq = new ProcessQueue()
    pq.putMessage(range(0, 3))
    expect(pq.removeIfOldest(msg(1))).toBe(false)
    expect(pq.removeIfOldest(msg(0))).toBe(true)
    expect(pq.removeIfOldest(msg(0))).toBe(false)
    expect(offsets(pq.oldestMessages(5))).toEqual([1, 2])
    expect(pq.msgCount).toBe(2)
  })

  it('counts unlock attempts', () => {
    const pq = new ProcessQueue()
    pq.incTryUnlockTimes()
    pq.incTryUnlockTimes()
    expect(pq.tryUnlockTimes).toBe(2)
  })
})

/** The same operations on a sorted array of offsets, written for clarity, not speed. */
class ReferenceQueue {
  cached = new Map<number, number>() // offset → body bytes
  consuming = new Map<number, number>()
  count = 0
  size = 0
  offsetMax = 0
  busy = false

  sorted(m: Map<number, number>): number[] {
    return [...m.keys()].sort((a, b) => a - b)
  }
  put(os: number[]): boolean {
    for (const o of os) {
      if (this.cached.has(o)) continue
      this.cached.set(o, o % 7)
      this.count++
      this.size += o % 7
      this.offsetMax = o
    }
    if (this.cached.size > 0 && !this.busy) return (this.busy = true)
    return false
  }
  remove(os: number[]): number {
    if (this.cached.size === 0) return -1
    for (const o of os) {
      if (!this.cached.has(o)) continue
      this.size -= this.cached.get(o)!
      this.cached.delete(o)
      this.count--
    }
    if (this.count === 0) this.size = 0
    return this.cached.size > 0 ? this.sorted(this.cached)[0]! : this.offsetMax + 1
  }
  take(n: number): number[] {
    const out = this.sorted(this.cached).slice(0, n)
    for (const o of out) {
      this.consuming.set(o, this.cached.get(o)!)
      this.cached.delete(o)
    }
    if (out.length === 0) this.busy = false
    return out
  }
  commit(): number {
    const keys = this.sorted(this.consuming)
    this.count -= keys.length
    if (this.count === 0) this.size = 0
    else for (const k of keys) this.size -= this.consuming.get(k)!
    this.consuming.clear()
    return keys.length === 0 ? -1 : keys[keys.length - 1]! + 1
  }
  again(os: number[]): void {
    for (const o of os) {
      if (!this.consuming.has(o)) continue
      this.cached.set(o, this.consuming.get(o)!)
      this.consuming.delete(o)
    }
  }
}

describe('ProcessQueue model test', () => {
  type Op =
    | { kind: 'put'; offsets: number[] }
    | { kind: 'remove'; offsets: number[] }
    | { kind: 'take'; n: number }
    | { kind: 'commit' }
    | { kind: 'again'; pick: number[] }
    | { kind: 'rollback' }

  const offsetArb = fc.integer({ min: 0, max: 300 })
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.array(offsetArb, { maxLength: 40 }).map((o): Op => ({ kind: 'put', offsets: o })) },
    {
      weight: 2,
      arbitrary: fc
        .integer({ min: 0, max: 280 })
        .chain((start) => fc.integer({ min: 1, max: 20 }).map((len) => ({ start, len })))
        .map(({ start, len }): Op => ({ kind: 'put', offsets: Array.from({ length: len }, (_, i) => start + i) })),
    },
    { weight: 4, arbitrary: fc.array(offsetArb, { maxLength: 30 }).map((o): Op => ({ kind: 'remove', offsets: o })) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 12 }).map((n): Op => ({ kind: 'take', n })) },
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'commit' }) },
    { weight: 1, arbitrary: fc.array(fc.nat(), { maxLength: 6 }).map((pick): Op => ({ kind: 'again', pick })) },
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'rollback' }) },
  )

  it('matches a sorted-array reference on every return value and counter', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const pq = new ProcessQueue({ now: () => 0 })
        const ref = new ReferenceQueue()
        const byOffset = (o: number): MessageExt => msg(o, o % 7)
        for (const op of ops) {
          switch (op.kind) {
            case 'put':
              expect(pq.putMessage(op.offsets.map(byOffset))).toBe(ref.put(op.offsets))
              break
            case 'remove':
              expect(pq.removeMessage(op.offsets.map(byOffset))).toBe(ref.remove(op.offsets))
              break
            case 'take':
              expect(offsets(pq.takeMessages(op.n))).toEqual(ref.take(op.n))
              break
            case 'commit':
              expect(pq.commit()).toBe(ref.commit())
              break
            case 'again': {
              const consuming = ref.sorted(ref.consuming)
              const chosen = consuming.length === 0 ? [] : op.pick.map((p) => consuming[p % consuming.length]!)
              pq.makeMessageToConsumeAgain(chosen.map(byOffset))
              ref.again(chosen)
              break
            }
            case 'rollback':
              pq.rollback()
              ref.again([...ref.consuming.keys()])
              break
          }
          expect(pq.msgCount).toBe(ref.count)
          expect(pq.msgSize).toBe(ref.size)
          expect(pq.queueOffsetMax).toBe(ref.offsetMax)
          expect(pq.consumingMsgCount).toBe(ref.consuming.size)
          const cached = ref.sorted(ref.cached)
          expect(offsets(pq.oldestMessages(Number.MAX_SAFE_INTEGER))).toEqual(cached)
          expect(pq.getMaxSpan()).toBe(cached.length === 0 ? 0 : cached[cached.length - 1]! - cached[0]!)
          expect(pq.hasTempMessage()).toBe(cached.length > 0)
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('ConsumeLock', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('grants a free lock at once and frees it on release', async () => {
    const lock = new ConsumeLock()
    const release = await lock.acquire()
    expect(release).not.toBeNull()
    expect(lock.isLocked).toBe(true)
    release!()
    expect(lock.isLocked).toBe(false)
  })

  it('serves waiters in arrival order, handing the lock over without a gap', async () => {
    const lock = new ConsumeLock()
    const first = (await lock.acquire())!
    const order: string[] = []
    const a = lock.acquire().then((r) => {
      order.push('a')
      return r!
    })
    const b = lock.acquire().then((r) => {
      order.push('b')
      return r!
    })
    first()
    expect(lock.isLocked).toBe(true)
    const releaseA = await a
    expect(order).toEqual(['a'])
    // A newcomer must queue behind b even though the lock is about to be released.
    releaseA()
    expect((await lock.acquire(0)) === null).toBe(true)
    const releaseB = await b
    expect(order).toEqual(['a', 'b'])
    releaseB()
    expect(lock.isLocked).toBe(false)
  })

  it('timeout 0 answers null at once when the lock is held', async () => {
    const lock = new ConsumeLock()
    await lock.acquire()
    expect(await lock.acquire(0)).toBeNull()
  })

  it('a waiter with a timeout gives up with null, and leaves the queue', async () => {
    vi.useFakeTimers()
    const lock = new ConsumeLock()
    const release = (await lock.acquire())!
    const timed = lock.acquire(500)
    await vi.advanceTimersByTimeAsync(499)
    let settled = false
    void timed.then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(await timed).toBeNull()
    // The timed-out waiter is gone: releasing frees the lock instead of granting it to nobody.
    release()
    expect(lock.isLocked).toBe(false)
  })

  it('a waiter granted before its timeout keeps the lock when the timer would have fired', async () => {
    vi.useFakeTimers()
    const lock = new ConsumeLock()
    const release = (await lock.acquire())!
    const timed = lock.acquire(500)
    await vi.advanceTimersByTimeAsync(100)
    release()
    const got = await timed
    expect(got).not.toBeNull()
    await vi.advanceTimersByTimeAsync(1000)
    expect(lock.isLocked).toBe(true)
    got!()
    expect(lock.isLocked).toBe(false)
  })

  it('releasing twice is harmless: the second call cannot free another holder', async () => {
    const lock = new ConsumeLock()
    const first = (await lock.acquire())!
    const second = lock.acquire()
    first()
    const releaseSecond = (await second)!
    first()
    expect(lock.isLocked).toBe(true)
    releaseSecond()
    expect(lock.isLocked).toBe(false)
  })

  it('each process queue has its own lock', async () => {
    const p1 = new ProcessQueue()
    const p2 = new ProcessQueue()
    await p1.consumeLock.acquire()
    expect(await p2.consumeLock.acquire(0)).not.toBeNull()
  })
})
