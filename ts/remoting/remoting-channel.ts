/**
 * One TCP (or TLS) connection speaking remoting, on either side. It splits the byte stream into commands, hands
 * requests to its owner and matches responses to the requests it sent by opaque. Frames written in the same tick
 * are encoded one after the other into an output chunk and go out as one socket write on the next tick (a frame
 * with a large body goes out on its own, its body never copied). Reading stops while too many response bytes wait
 * for a slow reader, so a client that stops reading cannot grow our memory without bound: the frames already read
 * when that happens wait, undecoded, until the backlog drains.
 */
import type { Socket } from 'node:net'

import { ProtocolError, RemotingError } from '../common/errors.js'
import { CLIENT_PENDING_REQUESTS_MAX, CONNECTION_WRITE_BYTES_HIGH, FRAME_BYTES_MAX } from '../common/limits.js'
import type { Logger } from '../common/logger.js'
import { decodeFrame, FrameDecoder, INLINE_BODY_BYTES_MAX, measureFrame, writeFrame } from './frame-codec.js'
import { RemotingCommand } from './remoting-command.js'

export interface RemotingChannelOptions {
  frameBytesMax?: number
  /**
   * Close after this long without a sign of life from the peer: nothing read from it, and nothing it took off our
   * write backlog; 0 for never.
   */
  idleTimeMs?: number
  /** Stop reading while more than this many bytes wait to be written (`CONNECTION_WRITE_BYTES_HIGH`). */
  writeBytesHigh?: number
  logger: Logger
  onRequest(channel: RemotingChannel, request: RemotingCommand): void
  onClose(channel: RemotingChannel, reason: string): void
}

interface PendingRequest {
  resolve(response: RemotingCommand): void
  reject(err: Error): void
  deadlineMs: number
  code: number
}

const PENDING_SCAN_INTERVAL_MS = 100
/** Size of the chunks frames are encoded into; a chunk is used until less than a small frame's room is left. */
const OUTPUT_CHUNK_BYTES = 64 * 1024
const OUTPUT_CHUNK_ROOM_MIN = 1024
let lastChannelId = 0

/** `ip:port` as RocketMQ prints a peer (`RemotingHelper.parseChannelRemoteAddr`); IPv4-mapped IPv6 as IPv4. */
export function formatAddress(host: string | undefined, port: number | undefined): string {
  let h = host ?? 'unknown'
  if (h.startsWith('::ffff:') && h.includes('.')) h = h.slice(7)
  return h.includes(':') ? `[${h}]:${port ?? 0}` : `${h}:${port ?? 0}`
}

export class RemotingChannel {
  readonly id = ++lastChannelId
  readonly remoteHost: string
  readonly remotePort: number
  readonly remoteAddress: string
  readonly localPort: number
  readonly createdMs = Date.now()
  /** Free-form state of the owner (the broker keeps client identity here). */
  readonly attributes = new Map<string, unknown>()
  private readonly socket: Socket
  private readonly decoder: FrameDecoder
  private readonly log: Logger
  private readonly options: RemotingChannelOptions
  private readonly pending = new Map<number, PendingRequest>()
  private pendingScan: NodeJS.Timeout | null = null
  private readonly writeBytesHigh: number
  /** Frames read but not yet handled because reading is paused; at most one chunk's worth. */
  private deferredFrames: Buffer[] = []
  /** The chunk frames are being encoded into; bytes `[outStart, outEnd)` are encoded and not yet written. */
  private out: Buffer | null = null
  private outStart = 0
  private outEnd = 0
  private flushScheduled = false
  private readPaused = false
  private idleTimeMs = 0
  private idleTimer: NodeJS.Timeout | null = null
  /** When the peer last showed life: bytes read from it, or bytes of ours it took (see `checkIdle`). */
  private peerActiveMs = performance.now()
  private idleBacklogBytes = 0
  private closed = false
  private closeReason = ''

  constructor(socket: Socket, options: RemotingChannelOptions) {
    this.socket = socket
    this.options = options
    this.log = options.logger
    this.decoder = new FrameDecoder(options.frameBytesMax ?? FRAME_BYTES_MAX)
    this.writeBytesHigh = options.writeBytesHigh ?? CONNECTION_WRITE_BYTES_HIGH
    this.remoteHost = normalizeHost(socket.remoteAddress)
    this.remotePort = socket.remotePort ?? 0
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort)
    this.localPort = socket.localPort ?? 0
    socket.setNoDelay(true)
    if (options.idleTimeMs && options.idleTimeMs > 0) {
      this.idleTimeMs = options.idleTimeMs
      this.idleTimer = setTimeout(this.checkIdle, this.idleTimeMs / 2)
      this.idleTimer.unref()
    }
    socket.on('data', this.onData)
    socket.on('error', (err) => {
      this.log.debug({ remote: this.remoteAddress, err }, 'connection error')
      this.close(`error: ${err.message}`)
    })
    socket.on('close', () => this.close(this.closeReason || 'closed by peer'))
  }

  isActive(): boolean {
    return !this.closed
  }

  /** Response bytes queued for this connection and not yet written to the socket. */
  writeBacklogBytes(): number {
    return this.socket.writableLength
  }

  pendingRequestCount(): number {
    return this.pending.size
  }

  /** True while reading is paused because the write backlog is above the high-water mark. */
  isReadPaused(): boolean {
    return this.readPaused
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.idleTimer !== null) this.peerActiveMs = performance.now()
    try {
      this.decoder.push(chunk, this.onFrame)
    } catch (err) {
      this.closeAfterBadFrame(err)
    }
  }

  /**
   * Closes the connection once the peer has shown no life for `idleTimeMs`. Netty's `IdleStateHandler(0, 0, idle)`
   * (`NettyRemotingServer`) also counts our own writes, but a write to a peer that is gone completes all the same,
   * into the kernel's buffer: a broker telling a group's half-open consumers that one of them left kept the rest
   * alive, and reaped them one idle period at a time (found by the torture harness, network-faults). So only the
   * peer counts: what we read from it, and a write backlog that shrank, which (past the kernel's buffer) only its
   * reading makes room for.
   */
  private readonly checkIdle = (): void => {
    if (this.closed) return
    const now = performance.now()
    const backlog = this.socket.writableLength
    if (backlog < this.idleBacklogBytes) this.peerActiveMs = now
    this.idleBacklogBytes = backlog
    const idleForMs = now - this.peerActiveMs
    if (idleForMs >= this.idleTimeMs) {
      this.log.info({ remote: this.remoteAddress, idleMs: this.idleTimeMs }, 'closing idle connection')
      this.close('idle')
      return
    }
    // At least twice per period, so that a backlog shrinking before the deadline is seen before it.
    this.idleTimer = setTimeout(this.checkIdle, Math.min(this.idleTimeMs - idleForMs, this.idleTimeMs / 2))
    this.idleTimer.unref()
  }

  private closeAfterBadFrame(err: unknown): void {
    if (this.closed) return
    // The stream position can no longer be trusted: close without replying (`NettyDecoder`).
    this.log.warn({ remote: this.remoteAddress, err: (err as Error).message }, 'closing connection after a bad frame')
    this.close(`bad frame: ${(err as Error).message}`)
  }

  private readonly onFrame = (frame: Buffer): void => {
    if (this.closed) return
    // Pausing the socket stops further chunks, not the rest of this one: hold its frames until the backlog drains,
    // or every request in a chunk could add a response to a backlog that is already too large.
    if (this.readPaused) {
      this.deferredFrames.push(frame)
      return
    }
    this.handleFrame(frame)
  }

  private handleFrame(frame: Buffer): void {
    const cmd = decodeFrame(frame)
    if (cmd.isResponse()) {
      const waiting = this.pending.get(cmd.opaque)
      if (waiting === undefined) {
        this.log.debug(
          { remote: this.remoteAddress, opaque: cmd.opaque, code: cmd.code },
          'response for no pending request',
        )
        return
      }
      this.pending.delete(cmd.opaque)
      waiting.resolve(cmd)
      return
    }
    this.options.onRequest(this, cmd)
  }

  /** Writes a command; `false` when the connection is closed. Throws `ProtocolError` for an oversized command. */
  write(cmd: RemotingCommand): boolean {
    if (this.closed) return false
    const m = measureFrame(cmd, this.options.frameBytesMax ?? FRAME_BYTES_MAX)
    if (m.bodyBytes > INLINE_BODY_BYTES_MAX) {
      // A large body goes out as it is, after the frames encoded before it.
      this.flush()
      const head = Buffer.allocUnsafe(m.frameBytes - m.bodyBytes)
      writeFrame(cmd, m, head, 0, false)
      this.socket.write(head)
      this.socket.write(cmd.body!)
      this.checkBacklog()
      return true
    }
    let out = this.out
    if (out === null || out.length - this.outEnd < m.frameBytes) {
      this.flush()
      out = this.out = Buffer.allocUnsafeSlow(Math.max(OUTPUT_CHUNK_BYTES, m.frameBytes))
      this.outStart = this.outEnd = 0
    }
    this.outEnd = writeFrame(cmd, m, out, this.outEnd)
    if (!this.flushScheduled) {
      this.flushScheduled = true
      process.nextTick(this.onFlushTick)
    }
    return true
  }

  private readonly onFlushTick = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  /** Writes the frames encoded so far to the socket. */
  private flush(): void {
    if (this.outEnd === this.outStart || this.closed) return
    this.socket.write(this.out!.subarray(this.outStart, this.outEnd))
    this.outStart = this.outEnd
    // The written bytes belong to the socket now; a chunk with little room left is not kept for the next frames.
    if (this.out!.length - this.outEnd < OUTPUT_CHUNK_ROOM_MIN) this.out = null
    this.checkBacklog()
  }

  private checkBacklog(): void {
    if (!this.readPaused && this.socket.writableLength > this.writeBytesHigh) {
      this.readPaused = true
      this.socket.pause()
      this.socket.once('drain', this.onDrain)
    }
  }

  private readonly onDrain = (): void => {
    this.readPaused = false
    if (this.closed) return
    let handled = 0
    try {
      // Handling a deferred frame may pause reading again; the rest then waits for the next drain.
      while (handled < this.deferredFrames.length && !this.readPaused && !this.closed) {
        this.handleFrame(this.deferredFrames[handled++]!)
      }
    } catch (err) {
      this.closeAfterBadFrame(err)
      return
    }
    this.deferredFrames = handled === this.deferredFrames.length ? [] : this.deferredFrames.slice(handled)
    if (!this.readPaused && !this.closed) this.socket.resume()
  }

  /** Writes `response` as the answer to `request`: same opaque, same serialization; nothing for a oneway. */
  writeResponse(request: RemotingCommand, response: RemotingCommand): boolean {
    if (request.isOneway()) return false
    response.opaque = request.opaque
    response.serializeType = request.serializeType
    response.markResponse()
    try {
      return this.write(response)
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      // A response too large for a frame: tell the requester instead of dropping it silently.
      this.log.error({ remote: this.remoteAddress, code: request.code, err: err.message }, 'response too large')
      const fallback = RemotingCommand.createResponse(1, `response too large: ${err.message}`)
      fallback.opaque = request.opaque
      fallback.serializeType = request.serializeType
      return this.write(fallback)
    }
  }

  /** Sends a request and waits for its response (`invokeSync`). Rejects with `RemotingError` on timeout or close. */
  invoke(request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    if (this.closed) {
      return Promise.reject(
        new RemotingError(
          'RMQ_ERR_CONNECTION_CLOSED',
          `connection to ${this.remoteAddress} is closed (${this.closeReason})`,
        ),
      )
    }
    if (this.pending.size >= CLIENT_PENDING_REQUESTS_MAX) {
      return Promise.reject(
        new RemotingError(
          'RMQ_ERR_TOO_MANY_REQUESTS',
          `${this.pending.size} requests already pending on ${this.remoteAddress}`,
        ),
      )
    }
    return new Promise<RemotingCommand>((resolve, reject) => {
      this.pending.set(request.opaque, { resolve, reject, deadlineMs: Date.now() + timeoutMs, code: request.code })
      if (this.pendingScan === null) {
        this.pendingScan = setInterval(this.scanPending, PENDING_SCAN_INTERVAL_MS)
        this.pendingScan.unref()
      }
      try {
        this.write(request)
      } catch (err) {
        this.pending.delete(request.opaque)
        reject(err as Error)
      }
    })
  }

  /** Sends a request that gets no response. */
  invokeOneway(request: RemotingCommand): boolean {
    request.markOneway()
    return this.write(request)
  }

  private readonly scanPending = (): void => {
    const now = Date.now()
    for (const [opaque, p] of this.pending) {
      if (p.deadlineMs > now) continue
      this.pending.delete(opaque)
      p.reject(
        new RemotingError('RMQ_ERR_TIMEOUT', `request ${p.code} (opaque ${opaque}) to ${this.remoteAddress} timed out`),
      )
    }
    if (this.pending.size === 0) this.stopPendingScan()
  }

  private stopPendingScan(): void {
    if (this.pendingScan !== null) {
      clearInterval(this.pendingScan)
      this.pendingScan = null
    }
  }

  /** Closes the connection; pending requests fail with `RMQ_ERR_CONNECTION_CLOSED`. */
  close(reason = 'closed'): void {
    if (this.closed) return
    this.closed = true
    this.closeReason = reason
    this.out = null
    if (this.idleTimer !== null) clearTimeout(this.idleTimer)
    this.stopPendingScan()
    this.deferredFrames = []
    this.socket.destroy()
    const err = new RemotingError('RMQ_ERR_CONNECTION_CLOSED', `connection to ${this.remoteAddress} closed: ${reason}`)
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
    this.options.onClose(this, reason)
  }
}

function normalizeHost(host: string | undefined): string {
  if (host === undefined) return 'unknown'
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host
}
