/**
 * A processor's bounded work queue: the Node counterpart of the thread pool and `LinkedBlockingQueue` each Java
 * processor runs on (`BrokerController#registerProcessor`, `BrokerFastFailure`).
 *
 * Up to `concurrency` requests run at once (a running request is one whose processing promise has not settled:
 * for a send, until its put completes). Further requests wait in a FIFO of at most `queueCapacity`; beyond that
 * they are refused at once with `[OVERLOAD]`. A request that has waited `queueWaitMsMax` or longer is answered
 * `[TIMEOUT_CLEAN_QUEUE]` without running, by a 10 ms sweep while the queue is not empty, and while `busy()`
 * holds (the store's page cache is busy) the whole queue is answered `[PCBUSY_CLEAN_QUEUE]`. All three answers
 * are `SYSTEM_BUSY`, which producers treat as "try elsewhere".
 */
import { ResponseCode } from '../common/response-code.js'

/** A request waiting for its turn. */
export interface ExecutorTask {
  readonly createdMs: number
  /** Runs the request; the returned promise settles when it no longer occupies a slot. */
  run(): Promise<void> | void
  /** Answers the request without running it. */
  refuse(code: number, remark: string): void
}

export interface RequestExecutorOptions {
  name: string
  concurrency: number
  queueCapacity: number
  /** Longest wait in the queue before the request is refused; `Infinity` for none. */
  queueWaitMsMax: number
  /** While true, queued requests are refused (`[PCBUSY_CLEAN_QUEUE]`). */
  busy?: () => boolean
  now?: () => number
}

const SWEEP_INTERVAL_MS = 10

export const OVERLOAD_REMARK = '[OVERLOAD]system busy, start flow control for a while'

export class RequestExecutor {
  readonly name: string
  readonly concurrency: number
  readonly queueCapacity: number
  readonly queueWaitMsMax: number
  private readonly busy: (() => boolean) | undefined
  private readonly now: () => number
  private running = 0
  private queue: ExecutorTask[] = []
  private head = 0
  private sweeper: NodeJS.Timeout | null = null
  /** True while `pump` runs: a task that finishes synchronously inside it must not start a nested pump. */
  private pumping = false
  /** Requests refused because the queue was full, waited too long, or the page cache was busy. */
  refusedCount = 0

  constructor(options: RequestExecutorOptions) {
    if (!(options.concurrency >= 1)) throw new RangeError(`${options.name}: concurrency must be at least 1`)
    if (!(options.queueCapacity >= 0)) throw new RangeError(`${options.name}: queueCapacity must not be negative`)
    this.name = options.name
    this.concurrency = options.concurrency
    this.queueCapacity = options.queueCapacity
    this.queueWaitMsMax = options.queueWaitMsMax
    this.busy = options.busy
    this.now = options.now ?? Date.now
  }

  /** Requests waiting in the queue. */
  get queued(): number {
    return this.queue.length - this.head
  }

  get active(): number {
    return this.running
  }

  /** How long the oldest queued request has waited, in ms (0 when none waits). */
  headWaitMs(): number {
    const first = this.queue[this.head]
    return first === undefined ? 0 : this.now() - first.createdMs
  }

  /** Runs the task now, or queues it; `false` when the queue is full (answer `[OVERLOAD]`). */
  submit(task: ExecutorTask): boolean {
    if (this.running < this.concurrency && this.queued === 0) {
      this.start(task)
      return true
    }
    if (this.queued >= this.queueCapacity) {
      this.refusedCount++
      return false
    }
    this.queue.push(task)
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS)
      this.sweeper.unref()
    }
    return true
  }

  /** Refuses everything queued (shutdown). */
  drain(code: number, remark: string): void {
    while (this.queued > 0) this.shift()!.refuse(code, remark)
    this.stopSweeper()
  }

  private start(task: ExecutorTask): void {
    this.running++
    let result: Promise<void> | void
    try {
      result = task.run()
    } catch {
      // `run` answers its own request; a throw here is already reported by it. The slot is freed either way.
      result = undefined
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      ;(result as Promise<void>).then(this.done, this.done)
    } else {
      this.done()
    }
  }

  private readonly done = (): void => {
    this.running--
    // A synchronous task ends inside `start`, inside the loop below: that loop picks up the freed slot. Recursing
    // instead would nest one pump per queued task and overflow the stack on a long queue, leaving it stuck.
    if (!this.pumping) this.pump()
  }

  private pump(): void {
    this.pumping = true
    try {
      while (this.running < this.concurrency && this.queued > 0) {
        const task = this.shift()!
        const waitedMs = this.now() - task.createdMs
        if (waitedMs >= this.queueWaitMsMax) {
          this.refuseExpired(task, waitedMs)
          continue
        }
        this.start(task)
      }
    } finally {
      this.pumping = false
    }
    if (this.queued === 0) this.stopSweeper()
  }

  private sweep(): void {
    if (this.busy?.()) {
      while (this.queued > 0) {
        const task = this.shift()!
        this.refusedCount++
        task.refuse(
          ResponseCode.SYSTEM_BUSY,
          `[PCBUSY_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: ${this.now() - task.createdMs}ms, size of queue: ${this.queued}`,
        )
      }
    }
    while (this.queued > 0) {
      const first = this.queue[this.head]!
      const waitedMs = this.now() - first.createdMs
      if (waitedMs < this.queueWaitMsMax) break
      this.shift()
      this.refuseExpired(first, waitedMs)
    }
    if (this.queued === 0) this.stopSweeper()
  }

  private refuseExpired(task: ExecutorTask, waitedMs: number): void {
    this.refusedCount++
    task.refuse(
      ResponseCode.SYSTEM_BUSY,
      `[TIMEOUT_CLEAN_QUEUE]broker busy, start flow control for a while, period in queue: ${waitedMs}ms, size of queue: ${this.queued}`,
    )
  }

  private shift(): ExecutorTask | undefined {
    const task = this.queue[this.head]
    if (task === undefined) return undefined
    this.queue[this.head] = undefined as unknown as ExecutorTask
    this.head++
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    return task
  }

  private stopSweeper(): void {
    if (this.sweeper !== null) {
      clearInterval(this.sweeper)
      this.sweeper = null
    }
    if (this.queued === 0 && this.head > 0) {
      this.queue = []
      this.head = 0
    }
  }
}
