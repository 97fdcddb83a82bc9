/**
 * A TCP proxy on a loopback port chosen by the OS, for tests and the torture harness: clients connect to it, it
 * connects to the target, and the caller decides what happens to the bytes in between.
 *
 * - `forward`: bytes pass both ways.
 * - `paused`: bytes are held both ways (requests hang), connections stay open; `resume()` delivers them.
 * - `blackhole`: bytes are dropped both ways, connections stay open: to each end the other has gone silent without
 *   closing, as a peer behind a dead link or a frozen host looks (a half-open connection).
 * - `reset`: every open connection and every new one is reset, as a dead host's would be.
 *
 * Either side closing ends its link: the proxy closes the other side too.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

/** How the proxy treats traffic. */
export type ProxyMode = 'forward' | 'paused' | 'blackhole' | 'reset'

interface Link {
  client: Socket
  upstream: Socket
  /** Bytes read while paused, per direction, delivered on `resume()`. */
  toUpstream: Buffer[]
  toClient: Buffer[]
}

/**
 * A TCP proxy forwarding to `target`. It keeps listening in every mode, so a client always connects; what happens
 * to the bytes depends on the mode.
 */
export class TcpProxy {
  private readonly links = new Set<Link>()
  private modeValue: ProxyMode = 'forward'
  private closed = false
  /** Connections accepted so far, in any mode. */
  accepted = 0
  /** Connections reset on arrival because the proxy was in `reset` mode. */
  resets = 0
  /** Links ended because the target closed its side. */
  closedByUpstream = 0
  /** Bytes dropped in `blackhole` mode, both directions. */
  droppedBytes = 0

  private constructor(
    private readonly server: Server,
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}

  static async start(targetAddr: string): Promise<TcpProxy> {
    const i = targetAddr.lastIndexOf(':')
    const target = { host: targetAddr.slice(0, i), port: Number(targetAddr.slice(i + 1)) }
    const server = createServer({ noDelay: true })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port: 0, host: '127.0.0.1' }, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const port = (server.address() as { port: number }).port
    const proxy = new TcpProxy(server, target, port)
    server.on('connection', (socket) => proxy.accept(socket))
    return proxy
  }

  /** The address clients use. */
  get addr(): string {
    return `127.0.0.1:${this.port}`
  }

  get mode(): ProxyMode {
    return this.modeValue
  }

  /** Open client connections. */
  get connections(): number {
    return this.links.size
  }

  /** Stops forwarding in both directions: the bytes are held (requests hang), connections stay open. */
  pause(): void {
    this.modeValue = 'paused'
  }

  /** Drops every byte in both directions from now on; connections stay open (half-open to both ends). */
  blackhole(): void {
    this.modeValue = 'blackhole'
  }

  /** Forwards again, starting with what was held while paused. */
  resume(): void {
    this.modeValue = 'forward'
    for (const link of this.links) this.flush(link)
  }

  /** Makes the target look dead: every open connection and every new one is reset. */
  kill(): void {
    this.modeValue = 'reset'
    for (const link of [...this.links]) this.drop(link, true)
  }

  /** Resets every connection and stops listening. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.modeValue = 'reset'
    for (const link of [...this.links]) this.drop(link, true)
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept(client: Socket): void {
    this.accepted++
    client.on('error', () => {})
    if (this.modeValue === 'reset' || this.closed) {
      this.resets++
      client.resetAndDestroy()
      return
    }
    const upstream = connect({ host: this.target.host, port: this.target.port, noDelay: true })
    upstream.on('error', () => {})
    const link: Link = { client, upstream, toUpstream: [], toClient: [] }
    this.links.add(link)
    client.on('data', (d: Buffer) => this.carry(link, d, 'toUpstream'))
    upstream.on('data', (d: Buffer) => this.carry(link, d, 'toClient'))
    // Either side going away ends the link; bytes held for it are lost, as with a real connection.
    client.on('close', () => this.drop(link, false))
    upstream.on('close', () => {
      if (this.links.has(link)) this.closedByUpstream++
      this.drop(link, false)
    })
  }

  private carry(link: Link, data: Buffer, direction: 'toUpstream' | 'toClient'): void {
    if (!this.links.has(link)) return
    if (this.modeValue === 'blackhole') {
      this.droppedBytes += data.length
      return
    }
    if (this.modeValue === 'paused') {
      link[direction].push(data)
      return
    }
    ;(direction === 'toUpstream' ? link.upstream : link.client).write(data)
  }

  private flush(link: Link): void {
    for (const d of link.toUpstream.splice(0)) link.upstream.write(d)
    for (const d of link.toClient.splice(0)) link.client.write(d)
  }

  private drop(link: Link, reset: boolean): void {
    if (!this.links.delete(link)) return
    link.toUpstream.length = 0
    link.toClient.length = 0
    for (const s of [link.client, link.upstream]) {
      if (s.destroyed) continue
      try {
        if (reset && s.readyState === 'open') s.resetAndDestroy()
        else s.destroy()
      } catch {
        s.destroy()
      }
    }
  }
}
