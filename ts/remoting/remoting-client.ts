/**
 * The remoting client (`NettyRemotingClient`): one connection per address, opened on first use and shared by
 * every request to that address; sync, async (both a promise here) and oneway requests; RPC hooks before each
 * request; requests the server sends us (broker → client) dispatched to registered processors.
 */
import net from 'node:net'
import tls from 'node:tls'

import { RemotingError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { RemotingChannel } from './remoting-channel.js'
import type { RemotingCommand, SerializeType } from './remoting-command.js'
import { RequestDispatcher, type RequestProcessor } from './request-dispatcher.js'
import { RequestExecutor } from './request-executor.js'
import type { RPCHook } from './rpc-hook.js'

export interface RemotingClientOptions {
  connectTimeoutMs?: number
  frameBytesMax?: number
  /** Close connections idle this long (`clientChannelMaxIdleTimeSeconds`, 120 s); 0 for never. */
  idleTimeMs?: number
  /** Connect with TLS using these options (`tls.enable`). */
  tls?: tls.ConnectionOptions
  /** Close a connection when a request on it times out, as the Java client does (`clientCloseSocketIfTimeout`). */
  closeSocketIfTimeout?: boolean
  /**
   * Header serialization of every request sent (`rocketmq.serialize.type`); the server answers in the same one.
   * Unset: each request keeps its own (JSON unless its creator chose otherwise).
   */
  serializeType?: SerializeType
  logger?: Logger
}

const CONNECT_TIMEOUT_MS_DEFAULT = 3000

/** `host:port` → [host, port]; IPv6 hosts in brackets. */
export function parseAddress(addr: string): [string, number] {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr)
  if (!m) throw new RemotingError('RMQ_ERR_BAD_ADDRESS', `not a host:port address: ${JSON.stringify(addr)}`)
  const port = Number(m[2])
  if (port < 1 || port > 65535) throw new RemotingError('RMQ_ERR_BAD_ADDRESS', `port out of range in ${addr}`)
  return [m[1]!, port]
}

export class RemotingClient {
  private readonly channels = new Map<string, RemotingChannel>()
  private readonly connecting = new Map<string, Promise<RemotingChannel>>()
  private readonly hooks: RPCHook[] = []
  private readonly dispatcher: RequestDispatcher
  private readonly executor: RequestExecutor
  private readonly log: Logger
  private closed = false

  constructor(private readonly options: RemotingClientOptions = {}) {
    this.log = (options.logger ?? noopLogger).child({ component: 'remoting-client' })
    this.dispatcher = new RequestDispatcher(this.log)
    this.executor = new RequestExecutor({
      name: 'client',
      concurrency: 64,
      queueCapacity: 10_000,
      queueWaitMsMax: Infinity,
    })
  }

  registerRPCHook(hook: RPCHook): void {
    this.hooks.push(hook)
  }

  /** Handles requests a server sends us with this code. */
  registerProcessor(code: number, processor: RequestProcessor): void {
    this.dispatcher.registerProcessor(code, processor, this.executor)
  }

  /** Sends a request and waits for the response. */
  async invoke(addr: string, request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    // Connected already (the usual case): no connect step, so no await and no clock reads before the send.
    let channel = this.closed ? undefined : this.channels.get(addr)
    let left = timeoutMs
    if (channel === undefined || !channel.isActive()) {
      const started = Date.now()
      channel = await this.channel(
        addr,
        Math.min(timeoutMs, this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT),
      )
      left = timeoutMs - (Date.now() - started)
      if (left <= 0)
        throw new RemotingError('RMQ_ERR_TIMEOUT', `request ${request.code} to ${addr} timed out while connecting`)
    }
    this.beforeRequest(addr, request)
    try {
      const response = await channel.invoke(request, left)
      this.afterResponse(addr, request, response)
      return response
    } catch (err) {
      if ((err as RemotingError).code === 'RMQ_ERR_TIMEOUT' && this.options.closeSocketIfTimeout !== false) {
        channel.close('request timed out')
      }
      throw err
    }
  }

  /** Sends a request without waiting for any response. */
  async invokeOneway(addr: string, request: RemotingCommand, connectTimeoutMs?: number): Promise<void> {
    const channel = await this.channel(
      addr,
      connectTimeoutMs ?? this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT,
    )
    this.beforeRequest(addr, request)
    if (!channel.invokeOneway(request)) {
      throw new RemotingError('RMQ_ERR_CONNECTION_CLOSED', `connection to ${addr} closed before the request was sent`)
    }
  }

  /** The open connection to `addr`, connecting if there is none. */
  channel(
    addr: string,
    connectTimeoutMs = this.options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT,
  ): Promise<RemotingChannel> {
    if (this.closed) return Promise.reject(new RemotingError('RMQ_ERR_CLIENT_CLOSED', 'remoting client is shut down'))
    const open = this.channels.get(addr)
    if (open?.isActive()) return Promise.resolve(open)
    let pending = this.connecting.get(addr)
    if (pending === undefined) {
      pending = this.connect(addr, connectTimeoutMs).finally(() => this.connecting.delete(addr))
      this.connecting.set(addr, pending)
    }
    return pending
  }

  /** Closes the connection to `addr`, if any. */
  closeChannel(addr: string): void {
    this.channels.get(addr)?.close('closed by client')
  }

  shutdown(): void {
    this.closed = true
    for (const ch of [...this.channels.values()]) ch.close('client shutting down')
    this.channels.clear()
  }

  private connect(addr: string, timeoutMs: number): Promise<RemotingChannel> {
    return new Promise((resolve, reject) => {
      // Inside the executor, a bad address rejects the promise instead of throwing from `channel()`.
      const [host, port] = parseAddress(addr)
      const socket: net.Socket = this.options.tls
        ? tls.connect({
            ...this.options.tls,
            host,
            port,
            servername: this.options.tls.servername ?? (net.isIP(host) ? undefined : host),
          })
        : net.connect({ host, port, noDelay: true })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new RemotingError('RMQ_ERR_CONNECT_TIMEOUT', `connecting to ${addr} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      const onError = (err: Error): void => {
        clearTimeout(timer)
        reject(new RemotingError('RMQ_ERR_CONNECT', `cannot connect to ${addr}: ${err.message}`, { cause: err }))
      }
      socket.once('error', onError)
      socket.once(this.options.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        socket.off('error', onError)
        if (this.closed) {
          socket.destroy()
          reject(new RemotingError('RMQ_ERR_CLIENT_CLOSED', 'remoting client is shut down'))
          return
        }
        const channel = new RemotingChannel(socket, {
          frameBytesMax: this.options.frameBytesMax,
          idleTimeMs: this.options.idleTimeMs ?? 0,
          logger: this.log,
          onRequest: (ch, req) => this.dispatcher.dispatch(ch, req),
          onClose: (ch) => {
            if (this.channels.get(addr) === ch) this.channels.delete(addr)
          },
        })
        this.channels.set(addr, channel)
        resolve(channel)
      })
    })
  }

  private beforeRequest(addr: string, request: RemotingCommand): void {
    const serializeType = this.options.serializeType
    if (serializeType !== undefined) request.serializeType = serializeType
    for (const hook of this.hooks) hook.doBeforeRequest(addr, request)
  }

  private afterResponse(addr: string, request: RemotingCommand, response: RemotingCommand): void {
    for (const hook of this.hooks) hook.doAfterResponse(addr, request, response)
  }
}
