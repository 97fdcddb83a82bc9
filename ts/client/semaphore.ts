/**
 * A counting semaphore whose acquisitions give up after a deadline (`Semaphore#tryAcquire(n, timeout)`), for the
 * async send back-pressure of client.md §3.4. Waiters are served in arrival order.
 */
interface Waiter {
  n: number
  resolve: (ok: boolean) => void
  timer: NodeJS.Timeout
}

export class TimedSemaphore {
  private waiters: Waiter[] = []

  constructor(private available: number) {}

  get availablePermits(): number {
    return this.available
  }

  /** Takes `n` permits, waiting at most `timeoutMs`; resolves false when they did not come in time. */
  tryAcquire(n: number, timeoutMs: number): Promise<boolean> {
    if (this.waiters.length === 0 && this.available >= n) {
      this.available -= n
      return Promise.resolve(true)
    }
    if (timeoutMs <= 0) return Promise.resolve(false)
    return new Promise((resolve) => {
      const waiter: Waiter = {
        n,
        resolve,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter)
          resolve(false)
          // The head may have been blocking smaller requests behind it.
          this.drain()
        }, timeoutMs),
      }
      this.waiters.push(waiter)
    })
  }

  release(n: number): void {
    this.available += n
    this.drain()
  }

  private drain(): void {
    while (this.waiters.length > 0 && this.available >= this.waiters[0]!.n) {
      const w = this.waiters.shift()!
      clearTimeout(w.timer)
      this.available -= w.n
      w.resolve(true)
    }
  }
}
