/**
 * The remoting TCP server (`NettyRemotingServer`): accepts connections, optionally upgrades them to TLS, turns
 * each into a `RemotingChannel` and dispatches its requests. Listens on one port; a broker runs two (the main
 * port and the VIP port, listenPort − 2) sharing one dispatcher.
 */
import net from 'node:net'
import tls from 'node:tls'

import { ConfigError, RemotingError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { formatAddress, RemotingChannel } from './remoting-channel.js'
import type { RequestDispatcher } from './request-dispatcher.js'

/** `tlsMode` as RocketMQ spells it: plaintext only, either, or TLS only. */
export type TlsMode = 'disabled' | 'permissive' | 'enforcing'

export interface ServerTlsOptions {
  mode: TlsMode
  /** Key and certificate; without them a TLS handshake is refused (the connection is closed). */
  secureContext?: tls.SecureContextOptions
  /** Ask clients for a certificate and verify it against `secureContext.ca` (`tls.server.authClient`). */
  requestCert?: boolean
}

export interface ChannelEventListener {
  onChannelConnect?(channel: RemotingChannel): void
  /** The channel closed: by the peer, by an error, by idleness or by us. */
  onChannelClose?(channel: RemotingChannel, reason: string): void
}

export interface RemotingServerOptions {
  port: number
  host?: string
  frameBytesMax?: number
  /**
   * Close connections idle this long (`serverChannelMaxIdleTimeSeconds`, 120 s). Also bounds how long a new
   * connection may take to send its first byte and finish a TLS handshake (120 s when unset).
   */
  idleTimeMs?: number
  /** Stop reading a connection while this many response bytes wait for it (`CONNECTION_WRITE_BYTES_HIGH`). */
  writeBytesHigh?: number
  tls?: ServerTlsOptions
  logger: Logger
}

/** First byte of a TLS handshake record: no valid plaintext frame starts with it (protocol.md §1.1). */
const TLS_HANDSHAKE = 0x16
/** Time allowed to a connection before it becomes a channel when no idle time is configured (Netty's idle default). */
const HANDSHAKE_TIMEOUT_MS_DEFAULT = 120_000

export class RemotingServer {
  private readonly server: net.Server
  /** Performs TLS handshakes for connections whose first byte is 0x16; never listens itself. */
  private readonly tlsServer: tls.Server | null
  private readonly channels = new Set<RemotingChannel>()
  /** Connections that are not channels yet (first byte or TLS handshake pending), by `address|port`. */
  private readonly handshaking = new Map<string, net.Socket>()
  private readonly listeners: ChannelEventListener[] = []
  private readonly log: Logger
  private readonly handshakeTimeoutMs: number
  private closing = false

  constructor(
    private readonly options: RemotingServerOptions,
    private readonly dispatcher: RequestDispatcher,
  ) {
    this.log = options.logger
    const tlsOptions = options.tls
    const mode = tlsOptions?.mode ?? 'disabled'
    if (mode === 'enforcing' && tlsOptions?.secureContext === undefined) {
      throw new ConfigError('RMQ_ERR_CONFIG', 'tls mode "enforcing" needs a secureContext with a key and a certificate')
    }
    this.handshakeTimeoutMs =
      options.idleTimeMs && options.idleTimeMs > 0 ? options.idleTimeMs : HANDSHAKE_TIMEOUT_MS_DEFAULT
    // A `tls.Server` rather than a bare `TLSSocket`: only the server's own connection handling rejects a client
    // certificate that fails verification (a bare server-side TLSSocket accepts one from any CA) and enforces a
    // handshake timeout.
    this.tlsServer =
      mode !== 'disabled' && tlsOptions?.secureContext !== undefined
        ? tls.createServer(
            {
              ...tlsOptions.secureContext,
              requestCert: tlsOptions.requestCert ?? false,
              rejectUnauthorized: tlsOptions.requestCert ?? false,
              handshakeTimeout: this.handshakeTimeoutMs,
            },
            (secure) => this.onSecureConnection(secure),
          )
        : null
    this.tlsServer?.on('tlsClientError', (err, secure) => {
      this.log.info(
        { remote: formatAddress(secure.remoteAddress, secure.remotePort), err: err.message },
        'TLS handshake failed',
      )
      // Node reports a handshake timeout here and leaves the socket open: closing it is ours to do.
      secure.destroy()
    })
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.onConnection(socket))
    this.server.on('error', (err) => this.log.error({ err }, 'server error'))
  }

  addChannelEventListener(listener: ChannelEventListener): void {
    this.listeners.push(listener)
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new RemotingError(
            'RMQ_ERR_LISTEN',
            `cannot listen on ${this.options.host ?? '0.0.0.0'}:${this.options.port}: ${err.message}`,
            { cause: err },
          ),
        )
      }
      this.server.once('error', onError)
      this.server.listen({ port: this.options.port, host: this.options.host }, () => {
        this.server.off('error', onError)
        resolve(this.port())
      })
    })
  }

  port(): number {
    const a = this.server.address()
    return typeof a === 'object' && a !== null ? a.port : 0
  }

  activeChannels(): ReadonlySet<RemotingChannel> {
    return this.channels
  }

  /** Connections accepted that are not channels yet: waiting for their first byte or in a TLS handshake. */
  pendingConnectionCount(): number {
    return this.handshaking.size
  }

  /** Stops accepting connections. */
  stopAccepting(): Promise<void> {
    this.closing = true
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve()
      this.server.close(() => resolve())
    })
  }

  /** Stops accepting and closes every connection, including those still in a handshake. */
  async close(): Promise<void> {
    const stopped = this.stopAccepting()
    // `net.Server#close` waits for every connection it accepted, so none may be left behind.
    for (const socket of [...this.handshaking.values()]) socket.destroy()
    this.handshaking.clear()
    for (const ch of [...this.channels]) ch.close('server shutting down')
    await stopped
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy()
      return
    }
    const mode = this.options.tls?.mode ?? 'disabled'
    if (mode === 'disabled') {
      // No peek: a TLS ClientHello read as a frame has a length near 0x16030100, far above the frame limit, so the
      // decoder closes the connection as Java's server does in this mode.
      this.accept(socket)
      return
    }
    const remote = formatAddress(socket.remoteAddress, socket.remotePort)
    const key = `${socket.remoteAddress}|${socket.remotePort}`
    this.handshaking.set(key, socket)
    const forget = (): void => {
      if (this.handshaking.get(key) === socket) this.handshaking.delete(key)
    }
    socket.once('close', forget)
    const onError = (err: Error): void => {
      // Until a channel owns the socket nobody else reports its errors; the socket closes itself after one.
      this.log.debug({ remote, err: err.message }, 'connection error before handshake')
    }
    socket.on('error', onError)
    const onSilent = (): void => {
      this.log.info({ remote }, 'closing connection that sent nothing')
      socket.destroy()
    }
    socket.setTimeout(this.handshakeTimeoutMs)
    socket.once('timeout', onSilent)
    // Peek at the first byte: 0x16 starts a TLS handshake, anything else is a plaintext frame.
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null
      if (first === null) {
        socket.destroy()
        return
      }
      socket.unshift(first)
      socket.setTimeout(0)
      socket.off('timeout', onSilent)
      if (first[0] === TLS_HANDSHAKE) {
        if (this.tlsServer === null) {
          this.log.warn({ remote }, 'TLS handshake refused: no certificate configured')
          socket.destroy()
          return
        }
        // The TLS socket takes over the socket's handle and first replays what is buffered, the unshifted byte
        // included; the handshake timeout now runs in the TLS server.
        this.tlsServer.emit('connection', socket)
        return
      }
      if (mode === 'enforcing') {
        this.log.info({ remote }, 'plaintext connection refused: tlsMode is enforcing')
        socket.destroy()
        return
      }
      forget()
      socket.off('error', onError)
      this.accept(socket)
    })
  }

  private onSecureConnection(secure: tls.TLSSocket): void {
    // The TLS socket reads its peer's address from the handle it took over, so the key is the raw socket's.
    this.handshaking.delete(`${secure.remoteAddress}|${secure.remotePort}`)
    if (this.closing) {
      secure.destroy()
      return
    }
    this.accept(secure)
  }

  private accept(socket: net.Socket): void {
    const channel = new RemotingChannel(socket, {
      frameBytesMax: this.options.frameBytesMax,
      idleTimeMs: this.options.idleTimeMs,
      writeBytesHigh: this.options.writeBytesHigh,
      logger: this.log,
      onRequest: (ch, request) => this.dispatcher.dispatch(ch, request),
      onClose: (ch, reason) => {
        this.channels.delete(ch)
        for (const l of this.listeners) {
          try {
            l.onChannelClose?.(ch, reason)
          } catch (err) {
            // Listeners clean up tables; one failing must not stop the others from cleaning theirs.
            this.log.error({ err, remote: ch.remoteAddress }, 'channel close listener failed')
          }
        }
      },
    })
    this.channels.add(channel)
    for (const l of this.listeners) {
      try {
        l.onChannelConnect?.(channel)
      } catch (err) {
        // This runs in the socket's event handler, where a throw would end the process; the channel stays usable.
        this.log.error({ err, remote: channel.remoteAddress }, 'channel connect listener failed')
      }
    }
    if (channel.isActive() && !channel.isReadPaused()) socket.resume()
  }
}
