/**
 * The master's side of replication (`DefaultHAService`, `DefaultHAConnection`, `GroupTransferService`; store.md
 * §11.3, §11.5): the HA port, one connection per slave streaming the commit log from where the slave is, and the
 * `SYNC_MASTER` wait for a slave's acknowledgement.
 */
import net from 'node:net'

import type { Logger } from '../../common/logger.js'
import type { MessageStore } from '../../store/message-store.js'
import { encodeTransferHeader, ReportReader } from './ha-frame.js'

/** How long a writer with nothing to send sleeps before looking again (a new append wakes it earlier). */
const IDLE_POLL_MS = 100
/** How often the `SYNC_MASTER` waiters are checked against their deadline. */
const WAIT_CHECK_MS = 20
/** Samples of (master offset, time) kept for the replication lag in time. */
const OFFSET_SAMPLES_MAX = 4096
const OFFSET_SAMPLE_MS = 10

export interface HAServiceOptions {
  store: MessageStore
  /** Commit-log segment size: an empty slave starts at the master's last segment. */
  commitLogFileSize: number
  port: number
  host?: string
  heartbeatIntervalMs: number
  housekeepingIntervalMs: number
  transferBatchBytes: number
  maxGapNotInSync: number
  /** The `SYNC_MASTER` wait (4.x: `syncFlushTimeout`). */
  syncTimeoutMs: number
  logger: Logger
}

export type ReplicaWaitResult = 'PUT_OK' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE'

/** One connected slave, for the admin API. */
export interface SlaveConnectionInfo {
  addr: string
  /** What the slave last reported having (-1 before its first report). */
  ackOffset: number
  /** Where the master sends from next. */
  transferOffset: number
  lagBytes: number
  /** How long ago the master wrote the oldest byte this slave has not acknowledged; 0 when caught up. */
  lagMs: number
  connectedAt: number
  lastReportAt: number
}

interface Waiter {
  nextOffset: number
  deadline: number
  resolve: (r: ReplicaWaitResult) => void
}

export class HAService {
  private readonly o: HAServiceOptions
  private readonly log: Logger
  private readonly server: net.Server
  private readonly connections = new Set<HAConnection>()
  /** The highest offset any slave has acknowledged (`push2SlaveMaxOffset`); never goes back. */
  private ackedMax = 0
  private waiters: Waiter[] = []
  private waitTimer: NodeJS.Timeout | null = null
  private readonly samples: { offset: number; at: number }[] = []
  private boundPort = 0
  private stopped = false

  constructor(options: HAServiceOptions) {
    this.o = options
    this.log = options.logger.child({ component: 'ha' })
    this.server = net.createServer((socket) => this.accept(socket))
    options.store.onAppended(() => this.onAppended())
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ port: this.o.port, host: this.o.host }, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    this.boundPort = (this.server.address() as net.AddressInfo).port
    this.log.info({ port: this.boundPort }, 'HA service listening')
    return this.boundPort
  }

  get port(): number {
    return this.boundPort
  }

  /** `push2SlaveMaxOffset`. */
  get slaveAckOffset(): number {
    return this.ackedMax
  }

  slaves(): SlaveConnectionInfo[] {
    const max = this.o.store.getMaxPhyOffset()
    return [...this.connections].map((c) => c.info(max))
  }

  /**
   * `SYNC_MASTER` (4.x): resolves once a slave has acknowledged `nextOffset` (the end of the put), with
   * `FLUSH_SLAVE_TIMEOUT` after `syncTimeoutMs`; `SLAVE_NOT_AVAILABLE` at once when no slave is connected or the
   * slaves are more than `haMaxGapNotInSync` behind.
   */
  waitForReplica(nextOffset: number): Promise<ReplicaWaitResult> | ReplicaWaitResult {
    if (!this.isSlaveOK(nextOffset)) return 'SLAVE_NOT_AVAILABLE'
    if (this.ackedMax >= nextOffset) return 'PUT_OK'
    return new Promise((resolve) => {
      this.waiters.push({ nextOffset, deadline: Date.now() + this.o.syncTimeoutMs, resolve })
      if (this.waitTimer === null) {
        this.waitTimer = setInterval(() => this.expireWaiters(), WAIT_CHECK_MS)
        this.waitTimer.unref()
      }
    })
  }

  /** `HAService#isSlaveOK`: a connected slave, and the acknowledged offset within the gap of `masterPutWhere`. */
  isSlaveOK(masterPutWhere: number): boolean {
    let reported = false
    for (const c of this.connections) if (c.hasReported) reported = true
    return reported && masterPutWhere - this.ackedMax < this.o.maxGapNotInSync
  }

  /** How long ago the master wrote the first byte past `offset` (0 when `offset` is at the end). */
  lagMsAt(offset: number, masterMax: number): number {
    if (offset >= masterMax) return 0
    const first = this.samples.find((s) => s.offset > offset)
    return first === undefined ? 0 : Math.max(0, Date.now() - first.at)
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.waitTimer !== null) clearInterval(this.waitTimer)
    this.waitTimer = null
    for (const w of this.waiters) w.resolve('FLUSH_SLAVE_TIMEOUT')
    this.waiters = []
    for (const c of this.connections) c.close('master shutting down')
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  // ---- for connections -------------------------------------------------------------------------------------------

  get options(): HAServiceOptions {
    return this.o
  }

  onSlaveAck(offset: number): void {
    if (offset <= this.ackedMax) return
    this.ackedMax = offset
    let done = 0
    while (done < this.waiters.length && this.waiters[done]!.nextOffset <= offset)
      this.waiters[done++]!.resolve('PUT_OK')
    if (done > 0) this.waiters = this.waiters.slice(done)
    // Waiters are in put order; a batch that completed out of order is picked up by a later ack.
    this.trimSamples()
  }

  removeConnection(c: HAConnection): void {
    this.connections.delete(c)
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  private accept(socket: net.Socket): void {
    if (this.stopped) {
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    const c = new HAConnection(this, socket, this.log)
    this.connections.add(c)
    this.log.info({ slave: c.addr }, 'slave connected')
  }

  private onAppended(): void {
    const now = Date.now()
    const last = this.samples[this.samples.length - 1]
    if (this.connections.size === 0) return
    if (last === undefined || now - last.at >= OFFSET_SAMPLE_MS) {
      this.samples.push({ offset: this.o.store.getMaxPhyOffset(), at: now })
      if (this.samples.length > OFFSET_SAMPLES_MAX) this.samples.splice(0, this.samples.length - OFFSET_SAMPLES_MAX)
    }
    for (const c of this.connections) c.wake()
  }

  private trimSamples(): void {
    let min = Infinity
    for (const c of this.connections) min = Math.min(min, c.ackOffset)
    let drop = 0
    // Keep the last sample at or below the slowest slave's ack: the next one says when its lag began.
    while (drop + 1 < this.samples.length && this.samples[drop + 1]!.offset <= min) drop++
    if (drop > 0) this.samples.splice(0, drop)
  }

  private expireWaiters(): void {
    const now = Date.now()
    const keep: Waiter[] = []
    for (const w of this.waiters) {
      if (w.deadline <= now) w.resolve('FLUSH_SLAVE_TIMEOUT')
      else keep.push(w)
    }
    this.waiters = keep
    if (this.waiters.length === 0 && this.waitTimer !== null) {
      clearInterval(this.waitTimer)
      this.waitTimer = null
    }
  }
}

/** One slave: reads its reports, streams the commit log to it. */
class HAConnection {
  readonly addr: string
  readonly connectedAt = Date.now()
  ackOffset = -1
  hasReported = false
  private transferFrom = -1
  private lastReadAt = Date.now()
  private lastReportAt = 0
  private lastWriteAt = Date.now()
  private readonly reports = new ReportReader()
  private pumping = false
  private waitingDrain = false
  private closed = false
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly service: HAService,
    private readonly socket: net.Socket,
    private readonly log: Logger,
  ) {
    // An IPv4 peer of a dual-stack socket reads `::ffff:a.b.c.d`: show it as RocketMQ does, `a.b.c.d:port`.
    this.addr = `${(socket.remoteAddress ?? '').replace(/^::ffff:/, '')}:${socket.remotePort}`
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('drain', () => {
      this.waitingDrain = false
      this.wake()
    })
    socket.on('error', (err) => this.close(`socket error: ${err.message}`))
    socket.on('close', () => this.close('slave closed the connection'))
    // Housekeeping, heartbeats and the idle poll in one timer.
    this.timer = setInterval(() => this.tick(), IDLE_POLL_MS)
    this.timer.unref()
  }

  info(masterMax: number): SlaveConnectionInfo {
    const ack = Math.max(this.ackOffset, 0)
    return {
      addr: this.addr,
      ackOffset: this.ackOffset,
      transferOffset: this.transferFrom,
      lagBytes: Math.max(0, masterMax - ack),
      lagMs: this.service.lagMsAt(ack, masterMax),
      connectedAt: this.connectedAt,
      lastReportAt: this.lastReportAt,
    }
  }

  close(reason: string): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    this.socket.destroy()
    this.service.removeConnection(this)
    this.log.info({ slave: this.addr, reason, ackOffset: this.ackOffset }, 'slave connection closed')
  }

  /** New data may be readable: send it. */
  wake(): void {
    if (!this.closed && this.transferFrom >= 0 && !this.pumping && !this.waitingDrain) void this.pump()
  }

  private onData(chunk: Buffer): void {
    this.lastReadAt = Date.now()
    const offset = this.reports.push(chunk)
    if (offset === null) return
    if (offset < 0) {
      this.close(`slave reported a negative offset ${offset}`)
      return
    }
    this.ackOffset = offset
    this.lastReportAt = this.lastReadAt
    if (!this.hasReported) {
      this.hasReported = true
      const o = this.service.options
      const max = o.store.getMaxPhyOffset()
      // An empty slave starts at the master's last segment; otherwise where it is (§11.3).
      this.transferFrom = offset === 0 ? max - (max % o.commitLogFileSize) : offset
      this.log.info(
        { slave: this.addr, slaveOffset: offset, transferFrom: this.transferFrom },
        'slave reported; transfer starts',
      )
      this.wake()
    }
    this.service.onSlaveAck(offset)
  }

  private tick(): void {
    const now = Date.now()
    const o = this.service.options
    if (now - this.lastReadAt > o.housekeepingIntervalMs) {
      this.close(`nothing read for ${o.housekeepingIntervalMs} ms`)
      return
    }
    if (this.transferFrom < 0) return
    if (!this.waitingDrain && now - this.lastWriteAt >= o.heartbeatIntervalMs) {
      this.write(encodeTransferHeader(this.transferFrom, 0), null)
    }
    this.wake()
  }

  /** Sends what the commit log has from `transferFrom`, until it has no more or the socket pushes back. */
  private async pump(): Promise<void> {
    this.pumping = true
    const o = this.service.options
    try {
      while (!this.closed && !this.waitingDrain) {
        let read = o.store.readCommitLog(this.transferFrom, o.transferBatchBytes)
        if (read instanceof Promise) read = await read
        if (this.closed) return
        if (!Buffer.isBuffer(read)) {
          this.log.error(
            { slave: this.addr, wanted: this.transferFrom, commitLogStartsAt: read.deletedBelow },
            'the slave needs commit-log data that retention already deleted; it cannot catch up from this master',
          )
          this.close('slave too far behind')
          return
        }
        if (read.length === 0) return
        this.write(encodeTransferHeader(this.transferFrom, read.length), read)
        this.transferFrom += read.length
      }
    } catch (err) {
      this.log.error({ err, slave: this.addr }, 'reading the commit log for a slave failed')
      this.close('read failed')
    } finally {
      this.pumping = false
    }
  }

  private write(header: Buffer, body: Buffer | null): void {
    this.lastWriteAt = Date.now()
    this.socket.cork()
    let more = this.socket.write(header)
    if (body !== null) more = this.socket.write(body) && more
    this.socket.uncork()
    if (!more) this.waitingDrain = true
  }
}
