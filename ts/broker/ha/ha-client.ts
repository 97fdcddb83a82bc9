/**
 * The slave's side of replication (`DefaultHAClient`, store.md §11.4): connects to its master's HA port, reports
 * its commit-log max offset, and writes every transfer frame into its own store at the frame's offset. The store
 * dispatches the records to consume queues and index as they complete.
 */
import net from 'node:net'

import type { Logger } from '../../common/logger.js'
import type { MessageStore } from '../../store/message-store.js'
import { encodeReport, TransferFrameError, TransferReader } from './ha-frame.js'

/** Wait before connecting again after a failed connect (RocketMQ: 5 s). */
const RECONNECT_AFTER_FAILURE_MS = 5000
/** Wait before connecting again after the connection was dropped for a protocol problem. */
const RECONNECT_AFTER_DROP_MS = 1000
const TICK_MS = 1000

export interface HAClientOptions {
  store: MessageStore
  heartbeatIntervalMs: number
  housekeepingIntervalMs: number
  logger: Logger
  /** Called after frames were applied and records dispatched (wakes held pulls on the slave). */
  onReplicated?: () => void
}

export interface HAClientInfo {
  masterHaAddr: string | null
  connected: boolean
  /** The local commit-log max offset: what was last reported (or will be). */
  maxOffset: number
  /** Bytes received from the master since start. */
  receivedBytes: number
  lastFrameAt: number
}

export class HAClient {
  private readonly o: HAClientOptions
  private readonly log: Logger
  private masterAddr: string | null = null
  private socket: net.Socket | null = null
  private connected = false
  private reader = new TransferReader()
  /** Where the next frame must start: the local max offset plus frames still being written. */
  private expectedOffset = 0
  private lastReported = -1
  private lastReportAt = 0
  private lastReadAt = 0
  private lastFrameAt = 0
  private receivedBytes = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private readonly tickTimer: NodeJS.Timeout
  private stopped = false
  /** Bumped per connection, so that late completions of an old connection do nothing. */
  private generation = 0
  /** Frames handed to the store and not yet written. */
  private inflight = 0

  constructor(options: HAClientOptions) {
    this.o = options
    this.log = options.logger.child({ component: 'ha-client' })
    this.tickTimer = setInterval(() => this.tick(), TICK_MS)
    this.tickTimer.unref()
  }

  /** Sets (or changes) the master's HA address; connects at once when it changed. */
  updateMasterAddress(addr: string | null): void {
    if (this.stopped || addr === this.masterAddr) return
    this.log.info({ from: this.masterAddr, to: addr }, 'master HA address changed')
    this.masterAddr = addr
    this.drop('master address changed', 0)
  }

  info(): HAClientInfo {
    return {
      masterHaAddr: this.masterAddr,
      connected: this.connected,
      maxOffset: this.o.store.getMaxPhyOffset(),
      receivedBytes: this.receivedBytes,
      lastFrameAt: this.lastFrameAt,
    }
  }

  shutdown(): void {
    this.stopped = true
    clearInterval(this.tickTimer)
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    this.socket?.destroy()
    this.socket = null
    this.connected = false
  }

  private connect(): void {
    this.reconnectTimer = null
    if (this.stopped || this.masterAddr === null || this.socket !== null) return
    if (this.inflight > 0) {
      // Frames of the last connection are still being written: the offset to report is not known yet.
      this.reconnectTimer = setTimeout(() => this.connect(), 10)
      this.reconnectTimer.unref()
      return
    }
    const [host, port] = splitHostPort(this.masterAddr)
    const generation = ++this.generation
    const socket = net.connect({ host, port })
    this.socket = socket
    socket.setNoDelay(true)
    socket.on('connect', () => {
      if (generation !== this.generation) return
      this.connected = true
      this.reader = new TransferReader()
      this.expectedOffset = this.o.store.getMaxPhyOffset()
      this.lastReadAt = Date.now()
      this.log.info({ master: this.masterAddr, maxOffset: this.expectedOffset }, 'connected to master')
      // Report at once: the master sends nothing before the first report.
      this.report(true)
    })
    socket.on('data', (chunk: Buffer) => {
      if (generation === this.generation) this.onData(chunk, generation)
    })
    socket.on('error', (err) => {
      if (generation !== this.generation) return
      const wasConnected = this.connected
      this.log.warn(
        { master: this.masterAddr, err: err.message },
        wasConnected ? 'master connection failed' : 'cannot connect to master',
      )
      this.drop(err.message, wasConnected ? RECONNECT_AFTER_DROP_MS : RECONNECT_AFTER_FAILURE_MS)
    })
    socket.on('close', () => {
      if (generation === this.generation) this.drop('master closed the connection', RECONNECT_AFTER_DROP_MS)
    })
  }

  /** Closes the connection (if any) and connects again after `delayMs`. */
  private drop(reason: string, delayMs: number): void {
    this.generation++
    if (this.socket !== null) {
      if (this.connected) this.log.info({ master: this.masterAddr, reason }, 'master connection closed')
      this.socket.destroy()
      this.socket = null
    }
    this.connected = false
    this.lastReported = -1
    if (this.stopped || this.masterAddr === null) return
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs)
    this.reconnectTimer.unref()
  }

  private onData(chunk: Buffer, generation: number): void {
    this.lastReadAt = Date.now()
    this.receivedBytes += chunk.length
    let frames
    try {
      frames = this.reader.push(chunk)
    } catch (err) {
      if (!(err instanceof TransferFrameError)) throw err
      this.log.error({ master: this.masterAddr, err: err.message }, 'bad frame from master')
      this.drop(err.message, RECONNECT_AFTER_DROP_MS)
      return
    }
    for (const frame of frames) {
      if (frame.body.length === 0) continue
      this.lastFrameAt = this.lastReadAt
      // A frame that does not continue the local log means master and slave disagree: start over (§11.4).
      if (this.o.store.getMaxPhyOffset() > 0 && frame.offset !== this.expectedOffset) {
        this.log.error(
          { master: this.masterAddr, frameOffset: frame.offset, expected: this.expectedOffset },
          'master sent data that does not continue the local commit log',
        )
        this.drop('offset mismatch', RECONNECT_AFTER_DROP_MS)
        return
      }
      this.expectedOffset = frame.offset + frame.body.length
      this.inflight++
      void this.o.store.appendReplica(frame.offset, frame.body).then((r) => {
        this.inflight--
        if (generation !== this.generation) return
        if (r.status !== 'OK') {
          this.log.error(
            { master: this.masterAddr, status: r.status, detail: r.detail, frameOffset: frame.offset },
            'could not apply replicated data',
          )
          this.drop(r.status, RECONNECT_AFTER_DROP_MS)
          return
        }
        if (r.records > 0) this.o.onReplicated?.()
        this.report(false)
      })
    }
  }

  /** Sends the local max offset when it grew (or when `force`). */
  private report(force: boolean): void {
    if (!this.connected || this.socket === null) return
    const max = this.o.store.getMaxPhyOffset()
    if (!force && max <= this.lastReported) return
    this.lastReported = max
    this.lastReportAt = Date.now()
    this.socket.write(encodeReport(max))
  }

  private tick(): void {
    if (!this.connected) return
    const now = Date.now()
    if (now - this.lastReadAt > this.o.housekeepingIntervalMs) {
      this.log.warn({ master: this.masterAddr }, `nothing from master for ${this.o.housekeepingIntervalMs} ms`)
      this.drop('housekeeping', 0)
      return
    }
    if (now - this.lastReportAt >= this.o.heartbeatIntervalMs) this.report(true)
  }
}

function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(':')
  return [addr.slice(0, i).replace(/^\[|\]$/g, ''), Number(addr.slice(i + 1))]
}
