/**
 * Op markers ("this half message is done"), buffered per half queue and written in batches
 * (`TransactionalMessageServiceImpl#deletePrepareMessage`, `TransactionalOpBatchService`, store.md §10.4). A queue's
 * buffer is written once it holds `transactionOpMsgMaxSize` bytes or its oldest marker has waited
 * `transactionOpBatchInterval`; a full buffer lets the marker through on its own at once.
 */
import type { Logger } from '../../common/logger.js'
import { OFFSET_SEPARATOR } from './transactional-message-util.js'

/** Markers one queue may buffer (`MessageQueueOpContext` queue length). */
export const OP_BUFFER_ENTRIES_MAX = 20_000

export interface TransactionalOpBatchOptions {
  opMsgMaxSizeBytes: number
  batchIntervalMs: number
  /** Stores one op message for the half queue; resolves false when the put failed. */
  writeOp(queueId: number, body: string): Promise<boolean>
  logger: Logger
}

interface QueueBuffer {
  entries: string[]
  bytes: number
  /** When this queue last wrote (or, for a new buffer, was created). */
  lastWriteMs: number
}

export class TransactionalOpBatch {
  private readonly queues = new Map<number, QueueBuffer>()
  private timer: NodeJS.Timeout | null = null
  private stopped = true
  /** The write under way, so shutdown can wait for it. */
  private writing: Promise<void> = Promise.resolve()

  constructor(private readonly options: TransactionalOpBatchOptions) {}

  start(): void {
    this.stopped = false
    this.arm(this.options.batchIntervalMs)
  }

  /** Stops the timer and writes everything buffered: markers lost here would make a restart check them again. */
  async shutdown(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.writing
    await this.flush()
  }

  /** Buffers "half offset done" for the queue; a full buffer writes the marker alone (store.md §10.4). */
  async add(queueId: number, halfOffset: number): Promise<boolean> {
    const data = String(halfOffset) + OFFSET_SEPARATOR
    let q = this.queues.get(queueId)
    if (q === undefined) {
      q = { entries: [], bytes: 0, lastWriteMs: Date.now() }
      this.queues.set(queueId, q)
    }
    if (this.stopped || q.entries.length >= OP_BUFFER_ENTRIES_MAX) {
      this.options.logger.warn({ queueId, halfOffset }, 'op buffer not accepting, writing the op marker alone')
      return this.options.writeOp(queueId, data)
    }
    q.entries.push(data)
    q.bytes += data.length
    if (q.bytes > this.options.opMsgMaxSizeBytes) this.arm(0)
    return true
  }

  /** Writes every buffered marker of `queueId` (all queues when omitted) now, whatever its age. */
  async flush(queueId?: number): Promise<void> {
    const ids = queueId === undefined ? [...this.queues.keys()] : [queueId]
    for (const id of ids) {
      const q = this.queues.get(id)
      while (q !== undefined && q.entries.length > 0) await this.writeSome(id, q)
    }
  }

  /** Buffered marker bytes of a queue (tests and stats). */
  bufferedBytes(queueId: number): number {
    return this.queues.get(queueId)?.bytes ?? 0
  }

  private arm(delayMs: number): void {
    if (this.stopped) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = null
      this.writing = this.runBatch().then(
        (next) => this.arm(next),
        (err: unknown) => {
          // Markers stay buffered and the next round retries them.
          this.options.logger.error({ err }, 'writing op markers failed')
          this.arm(this.options.batchIntervalMs)
        },
      )
    }, delayMs)
    this.timer.unref()
  }

  /** One round of `batchSendOpMessage`; resolves with the delay until the next round. */
  private async runBatch(): Promise<number> {
    const { batchIntervalMs, opMsgMaxSizeBytes } = this.options
    const start = Date.now()
    let first = start
    for (const [id, q] of this.queues) {
      if (q.entries.length === 0) continue
      if (q.bytes < opMsgMaxSizeBytes && start - q.lastWriteMs < batchIntervalMs) {
        first = Math.min(first, q.lastWriteMs)
        continue
      }
      await this.writeSome(id, q)
      if (q.entries.length > 0) first = 0
    }
    return Math.max(0, first + batchIntervalMs - Date.now())
  }

  /** Writes up to `transactionOpMsgMaxSize` bytes of the queue's markers as one op message (`getOpMessage`). */
  private async writeSome(queueId: number, q: QueueBuffer): Promise<void> {
    let body = ''
    let n = 0
    while (n < q.entries.length && body.length < this.options.opMsgMaxSizeBytes) body += q.entries[n++]
    q.entries.splice(0, n)
    q.bytes -= body.length
    q.lastWriteMs = Date.now()
    if (!(await this.options.writeOp(queueId, body))) {
      this.options.logger.error({ queueId, body }, 'op message write failed')
    }
  }
}
