/**
 * The remoting TCP server (`NettyRemotingServer`): accepts connections, optionally upgrades them to TLS, turns
 * each into a `RemotingChannel` and dispatches its requests. Listens on one port; a broker runs two (the main
 * port and the VIP port, listenPort − 2) sharing one dispatcher.
 */
import net from 'node:net'
import tls from 'node:tls'

import { RemotingError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { RemotingChannel } from './remoting-channel.js'
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
  /** Close connections idle this long (`serverChannelMaxIdleTimeSeconds`, 120 s). */
  idleTimeMs?: number
  tls?: ServerTlsOptions
  logger: Logger
}

/** First byte of a TLS handshake record: no valid plaintext frame starts with it (protocol.md §1.1). */
const TLS_HANDSHAKE = 0x16

export class RemotingServer {
  private readonly server: net.Server
  private readonly channels = new Set<RemotingChannel>()
  private readonly listeners: ChannelEventListener[] = []
  private readonly secureContext: tls.SecureContext | null
  private readonly log: Logger
  private closing = false

  constructor(
    private readonly options: RemotingServerOptions,
    private readonly dispatcher: RequestDispatcher,
  ) {
    this.log = options.logger
    this.secureContext = options.tls?.secureContext ? tls.createSecureContext(options.tls.secureContext) : null
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
        reject(new RemotingError('RMQ_ERR_LISTEN', `cannot listen on ${this.options.host ?? '0.0.0.0'}:${this.options.port}: ${err.message}`, { cause: err }))
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

  /** Stops accepting connections. */
  stopAccepting(): Promise<void> {
    this.closing = true
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve()
      this.server.close(() => resolve())
    })
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    const stopped = this.stopAccepting()
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
      this.accept(socket)
      return
    }
    // Peek at the first byte: 0x16 starts a TLS handshake, anything else is a plaintext frame.
    socket.once('readable', () => {
      const first = socket.read(1) as Buffer | null
      if (first === null) {
        socket.destroy()
        return
      }
      socket.unshift(first)
      const remote = `${socket.remoteAddress}:${socket.remotePort}`
      if (first[0] === TLS_HANDSHAKE) {
        if (this.secureContext === null) {
          this.log.warn({ remote }, 'TLS handshake refused: no certificate configured')
          socket.destroy()
          return
        }
        const secure = new tls.TLSSocket(socket, {
          isServer: true,
          secureContext: this.secureContext,
          requestCert: this.options.tls?.requestCert ?? false,
          rejectUnauthorized: this.options.tls?.requestCert ?? false,
        })
        secure.once('secure', () => this.accept(secure))
        secure.once('error', (err) => {
          this.log.info({ remote, err: err.message }, 'TLS handshake failed')
          secure.destroy()
        })
        return
      }
      if (mode === 'enforcing') {
        this.log.info({ remote }, 'plaintext connection refused: tlsMode is enforcing')
        socket.destroy()
        return
      }
      this.accept(socket)
    })
    socket.on('error', () => socket.destroy())
  }

  private accept(socket: net.Socket): void {
    const channel = new RemotingChannel(socket, {
      frameBytesMax: this.options.frameBytesMax,
      idleTimeMs: this.options.idleTimeMs,
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
    for (const l of this.listeners) l.onChannelConnect?.(channel)
    socket.resume()
  }
}
