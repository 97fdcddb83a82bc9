/**
 * The bounded per-processor executor: concurrency, FIFO queue, capacity, and the fast-failure answers that the Java
 * broker's `BrokerFastFailure` gives (`[TIMEOUT_CLEAN_QUEUE]`, `[PCBUSY_CLEAN_QUEUE]`, protocol.md §3).
 *
 * Time is an injected clock, and the 10 ms sweep runs on faked intervals: nothing here waits on the real clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { ResponseCode } from '../../../ts/common/response-code.js'
import {
  RequestExecutor,
  type ExecutorTask,
  type RequestExecutorOptions,
} from '../../../ts/remoting/request-executor.js'

interface Probe {
  task: ExecutorTask
  ran: boolean
  refusal: { code: number; remark: string } | null
  /** Settles the promise this task's run returned. */
  finish(): void
}

class Clock {
  nowMs = 1_000_000
  readonly now = (): number => this.nowMs
}

/** A task that stays running until `finish()`, recording whether it ran or was refused. */
function asyncTask(createdMs: number, log?: string[], name?: string): Probe {
  let finish = (): void => {}
  const probe: Probe = {
    ran: false,
    refusal: null,
    finish: () => finish(),
    task: {
      createdMs,
      run: () => {
        probe.ran = true
        if (log && name) log.push(name)
        return new Promise<void>((resolve) => {
          finish = resolve
        })
      },
      refuse: (code, remark) => {
        probe.refusal = { code, remark }
      },
    },
  }
  return probe
}

function syncTask(createdMs: number, onRun: () => void): ExecutorTask {
  return {
    createdMs,
    run: onRun,
    refuse: () => {
      throw new Error('a synchronous task here is never refused')
    },
  }
}

function executor(clock: Clock, options: Partial<RequestExecutorOptions> = {}): RequestExecutor {
  return new RequestExecutor({
    name: 'test',
    concurrency: 2,
    queueCapacity: 4,
    queueWaitMsMax: 200,
    now: clock.now,
    ...options,
  })
}

/** Lets promise callbacks (a finished task freeing its slot) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('RequestExecutor', () => {
  let clock: Clock

  beforeEach(() => {
    clock = new Clock()
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
  })

  afterEach(() => {
    vi.useRealTimers()
  })

  it('runs up to its concurrency at once and queues the rest', () => {
    const ex = executor(clock)
    const probes = Array.from({ length: 5 }, () => asyncTask(clock.nowMs))
    for (const p of probes) expect(ex.submit(p.task)).toBe(true)
    expect(probes.map((p) => p.ran)).toEqual([true, true, false, false, false])
    expect(ex.active).toBe(2)
    expect(ex.queued).toBe(3)
  })

  it('starts queued tasks in FIFO order as slots free up', async () => {
    const ex = executor(clock, { concurrency: 1, queueCapacity: 10 })
    const order: string[] = []
    const probes = ['a', 'b', 'c', 'd'].map((name) => asyncTask(clock.nowMs, order, name))
    for (const p of probes) ex.submit(p.task)
    for (const p of probes) {
      expect(ex.active).toBe(1)
      p.finish()
      await settle()
    }
    expect(order).toEqual(['a', 'b', 'c', 'd'])
    expect(ex.active).toBe(0)
    expect(ex.queued).toBe(0)
  })

  it('refuses a submit when the queue is full', () => {
    const ex = executor(clock, { concurrency: 1, queueCapacity: 2 })
    const probes = Array.from({ length: 3 }, () => asyncTask(clock.nowMs))
    for (const p of probes) expect(ex.submit(p.task)).toBe(true)
    const extra = asyncTask(clock.nowMs)
    expect(ex.submit(extra.task)).toBe(false)
    expect(extra.ran).toBe(false)
    expect(extra.refusal).toBeNull()
    expect(ex.refusedCount).toBe(1)
  })

  it('refuses every submit beyond the running ones with a capacity of 0', () => {
    const ex = executor(clock, { concurrency: 1, queueCapacity: 0 })
    expect(ex.submit(asyncTask(clock.nowMs).task)).toBe(true)
    expect(ex.submit(asyncTask(clock.nowMs).task)).toBe(false)
  })

  it('frees the slot of a task that throws or rejects', async () => {
    const ex = executor(clock, { concurrency: 1 })
    ex.submit(
      syncTask(clock.nowMs, () => {
        throw new Error('boom')
      }),
    )
    expect(ex.active).toBe(0)
    ex.submit({ createdMs: clock.nowMs, run: () => Promise.reject(new Error('async boom')), refuse: () => {} })
    expect(ex.active).toBe(1)
    await settle()
    expect(ex.active).toBe(0)
  })

  it('drains a long queue of synchronous tasks without overflowing the stack (regression)', async () => {
    const ex = executor(clock, { concurrency: 1, queueCapacity: 200_000, queueWaitMsMax: Infinity })
    const blocker = asyncTask(clock.nowMs)
    ex.submit(blocker.task)
    let ran = 0
    for (let i = 0; i < 100_000; i++) ex.submit(syncTask(clock.nowMs, () => ran++))
    blocker.finish()
    await settle()
    expect(ran).toBe(100_000)
    expect(ex.queued).toBe(0)
    expect(ex.active).toBe(0)
    // The executor still works afterwards.
    ex.submit(syncTask(clock.nowMs, () => ran++))
    expect(ran).toBe(100_001)
  })

  it('answers [TIMEOUT_CLEAN_QUEUE] from the sweep for a request queued too long, without running it', () => {
    const ex = executor(clock, { concurrency: 1, queueWaitMsMax: 200 })
    const running = asyncTask(clock.nowMs)
    ex.submit(running.task)
    const old = asyncTask(clock.nowMs)
    ex.submit(old.task)
    clock.nowMs += 100
    const young = asyncTask(clock.nowMs)
    ex.submit(young.task)
    clock.nowMs += 99
    vi.advanceTimersToNextTimer()
    expect(old.refusal).toBeNull()
    clock.nowMs += 1
    vi.advanceTimersToNextTimer()
    expect(old.refusal?.code).toBe(ResponseCode.SYSTEM_BUSY)
    expect(old.refusal?.remark).toBe(
      '[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: 200ms, size of queue: 1',
    )
    expect(old.ran).toBe(false)
    expect(young.refusal).toBeNull()
    expect(ex.queued).toBe(1)
    expect(ex.refusedCount).toBe(1)
    // The slot was never freed: the sweep, not a finishing task, answered.
    expect(ex.active).toBe(1)
    expect(running.refusal).toBeNull()
  })

  it('refuses an expired request when its turn comes instead of running it', async () => {
    const ex = executor(clock, { concurrency: 1, queueWaitMsMax: 200 })
    const running = asyncTask(clock.nowMs)
    ex.submit(running.task)
    const expired = asyncTask(clock.nowMs)
    ex.submit(expired.task)
    clock.nowMs += 250
    const fresh = asyncTask(clock.nowMs)
    ex.submit(fresh.task)
    running.finish()
    await settle()
    expect(expired.ran).toBe(false)
    expect(expired.refusal?.remark).toMatch(/^\[TIMEOUT_CLEAN_QUEUE\].*period in queue: 250ms/)
    expect(fresh.ran).toBe(true)
  })

  it('answers the whole queue [PCBUSY_CLEAN_QUEUE] while busy() holds', () => {
    let busy = false
    const ex = executor(clock, { concurrency: 1, queueWaitMsMax: Infinity, busy: () => busy })
    const running = asyncTask(clock.nowMs)
    ex.submit(running.task)
    const queued = Array.from({ length: 3 }, () => asyncTask(clock.nowMs))
    for (const p of queued) ex.submit(p.task)
    vi.advanceTimersToNextTimer()
    expect(queued.every((p) => p.refusal === null)).toBe(true)
    busy = true
    clock.nowMs += 7
    vi.advanceTimersToNextTimer()
    expect(queued.map((p) => p.refusal?.code)).toEqual([2, 2, 2])
    expect(queued.map((p) => p.refusal?.remark)).toEqual(
      [0, 1, 2].map(
        (i) =>
          `[PCBUSY_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: 7ms, size of queue: ${2 - i}`,
      ),
    )
    expect(queued.some((p) => p.ran)).toBe(false)
    expect(running.refusal).toBeNull()
    expect(ex.queued).toBe(0)
    expect(ex.refusedCount).toBe(3)
  })

  it('stops sweeping when the queue empties', () => {
    const ex = executor(clock, { concurrency: 1 })
    ex.submit(asyncTask(clock.nowMs).task)
    expect(vi.getTimerCount()).toBe(0)
    ex.submit(asyncTask(clock.nowMs).task)
    expect(vi.getTimerCount()).toBe(1)
    clock.nowMs += 1000
    vi.advanceTimersToNextTimer()
    expect(ex.queued).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('refuses everything queued on drain and leaves running tasks alone', async () => {
    const ex = executor(clock, { concurrency: 1 })
    const running = asyncTask(clock.nowMs)
    ex.submit(running.task)
    const queued = [asyncTask(clock.nowMs), asyncTask(clock.nowMs)]
    for (const p of queued) ex.submit(p.task)
    ex.drain(ResponseCode.SYSTEM_BUSY, 'shutting down')
    expect(queued.map((p) => p.refusal)).toEqual([
      { code: 2, remark: 'shutting down' },
      { code: 2, remark: 'shutting down' },
    ])
    expect(ex.queued).toBe(0)
    expect(ex.active).toBe(1)
    expect(vi.getTimerCount()).toBe(0)
    running.finish()
    await settle()
    expect(ex.active).toBe(0)
    expect(queued.some((p) => p.ran)).toBe(false)
  })

  it('reports how long the oldest queued request has waited', () => {
    const ex = executor(clock, { concurrency: 1, queueWaitMsMax: Infinity })
    expect(ex.headWaitMs()).toBe(0)
    ex.submit(asyncTask(clock.nowMs).task)
    ex.submit(asyncTask(clock.nowMs).task)
    clock.nowMs += 42
    ex.submit(asyncTask(clock.nowMs).task)
    expect(ex.headWaitMs()).toBe(42)
  })

  it('refuses nonsensical sizes', () => {
    expect(() => executor(clock, { concurrency: 0 })).toThrow(RangeError)
    expect(() => executor(clock, { queueCapacity: -1 })).toThrow(RangeError)
  })
})
