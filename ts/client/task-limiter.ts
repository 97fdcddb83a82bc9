/**
 * At most N tasks at once, the rest queued in arrival order: the consumer's listener "thread pool"
 * (`consumeThreadMin` workers with an unbounded queue, client.md §4.1).
 */
export class TaskLimiter {
  private running = 0
  private readonly queue: (() => Promise<void>)[] = []
  private idleWaiters: (() => void)[] = []

  constructor(private readonly concurrency: number) {}

  /** Tasks running or waiting. */
  get pending(): number {
    return this.running + this.queue.length
  }

  /** Queues `task`; its errors are the task's own business (it must catch them). */
  submit(task: () => Promise<void>): void {
    this.queue.push(task)
    this.pump()
  }

  /** Resolves when nothing runs or waits, or after `timeoutMs`; true when idle. */
  async whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.pending === 0) return true
    let timer: NodeJS.Timeout | undefined
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)))
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    try {
      return await Promise.race([idle, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Drops the queued (not yet started) tasks. */
  clear(): void {
    this.queue.length = 0
    this.notifyIdle()
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const task = this.queue.shift()!
      this.running++
      void task().finally(() => {
        this.running--
        this.pump()
        this.notifyIdle()
      })
    }
  }

  private notifyIdle(): void {
    if (this.pending !== 0 || this.idleWaiters.length === 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}
