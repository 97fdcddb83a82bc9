/**
 * RemotingServer and RemotingClient over loopback: request dispatch and its generic answers (protocol.md §1.10),
 * oneway and server-initiated requests (§1.5), timeouts, connection housekeeping (§8), and back-pressure.
 *
 * The invoke-sync / invoke-oneway shapes follow Apache RocketMQ 4.9.8 `RemotingServerTest` and
 * `NettyRemotingAbstractTest`; the rest has no upstream counterpart.
 */
import net from 'node:net'

import { afterEach, describe, expect, it } from 'vitest'

import { RemotingError } from '../../ts/common/errors.js'
import type { Logger } from '../../ts/common/logger.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { decodeFrame, encodeFrameToBuffer, FrameDecoder } from '../../ts/remoting/frame-codec.js'
import type { RemotingChannel } from '../../ts/remoting/remoting-channel.js'
import { RemotingClient, type RemotingClientOptions } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType } from '../../ts/remoting/remoting-command.js'
import { RemotingServer, type RemotingServerOptions } from '../../ts/remoting/remoting-server.js'
import { REJECT_REQUEST_REMARK, RequestDispatcher } from '../../ts/remoting/request-dispatcher.js'
import { OVERLOAD_REMARK, RequestExecutor, type RequestExecutorOptions } from '../../ts/remoting/request-executor.js'
import { waitFor } from '../helpers/wait-for.js'

const ECHO = 1
const SLOW = 2
const THROWS = 3
const REJECTS = 4
const BUSY = 5
const BLOCKED = 6
const NEVER_ANSWERED = 7

interface LogEntry {
  level: string
  obj: object
  msg: string | undefined
}

/** A logger that keeps what it is told, so tests can look for a message. */
function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = []
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj, msg })
    }
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  }
  return { logger, entries }
}

interface Gate {
  promise: Promise<void>
  open(): void
}

function gate(): Gate {
  let open = (): void => {}
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

function echo(request: RemotingCommand): RemotingCommand {
  const response = RemotingCommand.createResponse(ResponseCode.SUCCESS, `echo ${request.ext('id') ?? ''}`)
  response.putExt('id', request.ext('id') ?? '')
  return response
}

const cleanups: Array<() => unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function executor(options: Partial<RequestExecutorOptions> = {}): RequestExecutor {
  return new RequestExecutor({
    name: 'test',
    concurrency: 16,
    queueCapacity: 1024,
    queueWaitMsMax: Infinity,
    ...options,
  })
}

interface Harness {
  server: RemotingServer
  dispatcher: RequestDispatcher
  port: number
  addr: string
  connected: RemotingChannel[]
  closed: Array<{ channel: RemotingChannel; reason: string }>
  entries: LogEntry[]
}

async function startServer(options: Partial<RemotingServerOptions> = {}): Promise<Harness> {
  const { logger, entries } = recordingLogger()
  const dispatcher = new RequestDispatcher(logger)
  dispatcher.registerProcessor(ECHO, { processRequest: (_ch, request) => echo(request) }, executor())
  const server = new RemotingServer({ port: 0, host: '127.0.0.1', logger, ...options }, dispatcher)
  const connected: RemotingChannel[] = []
  const closed: Array<{ channel: RemotingChannel; reason: string }> = []
  server.addChannelEventListener({
    onChannelConnect: (channel) => connected.push(channel),
    onChannelClose: (channel, reason) => closed.push({ channel, reason }),
  })
  const port = await server.listen()
  cleanups.push(() => server.close())
  return { server, dispatcher, port, addr: `127.0.0.1:${port}`, connected, closed, entries }
}

function client(options: RemotingClientOptions = {}): RemotingClient {
  const c = new RemotingClient(options)
  cleanups.push(() => c.shutdown())
  return c
}

function request(code: number, id: string, serializeType: SerializeType = SerializeType.JSON): RemotingCommand {
  const cmd = RemotingCommand.createRequest(code, { id })
  cmd.serializeType = serializeType
  return cmd
}

/** A bare TCP peer that speaks frames by hand, for what RemotingClient would never send or must not read. */
class RawPeer {
  readonly frames: RemotingCommand[] = []
  closed = false
  private readonly decoder = new FrameDecoder()

  constructor(readonly socket: net.Socket) {
    socket.on('close', () => {
      this.closed = true
    })
    socket.on('error', () => {
      // The server closing on us is what several tests provoke; `closed` records it.
    })
  }

  static async connect(port: number, { reading = true } = {}): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port })
    cleanups.push(() => socket.destroy())
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const peer = new RawPeer(socket)
    if (reading) peer.startReading()
    return peer
  }

  startReading(): void {
    this.socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, (frame) => this.frames.push(decodeFrame(frame))))
  }

  send(...cmds: RemotingCommand[]): void {
    this.socket.write(Buffer.concat(cmds.map((c) => encodeFrameToBuffer(c))))
  }

  async responseTo(cmd: RemotingCommand): Promise<RemotingCommand> {
    return waitFor(() => this.frames.find((f) => f.opaque === cmd.opaque), { what: `response to opaque ${cmd.opaque}` })
  }
}

async function rejection(promise: Promise<unknown>): Promise<RemotingError> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(RemotingError)
    return err as RemotingError
  }
  throw new Error('expected the promise to reject')
}

describe('RemotingServer and RemotingClient', () => {
  it('answers a request (RemotingServerTest#testInvokeSync)', async () => {
    const h = await startServer()
    const response = await client().invoke(h.addr, request(ECHO, 'a'), 3000)
    expect(response.code).toBe(ResponseCode.SUCCESS)
    expect(response.remark).toBe('echo a')
    expect(response.ext('id')).toBe('a')
    expect(response.isResponse()).toBe(true)
    expect(response.language).toBe('JAVA')
    expect(response.version).toBe(409)
  })

  it('answers requests on one connection out of order: a slow processor does not hold up a fast one', async () => {
    const h = await startServer()
    const slowGate = gate()
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: async (_ch, req) => {
          await slowGate.promise
          return echo(req)
        },
      },
      executor(),
    )
    const c = client()
    let slowSettled = false
    const slow = c.invoke(h.addr, request(SLOW, 'slow'), 10_000).finally(() => {
      slowSettled = true
    })
    const fast = await c.invoke(h.addr, request(ECHO, 'fast'), 10_000)
    expect(fast.remark).toBe('echo fast')
    expect(slowSettled).toBe(false)
    expect(h.connected).toHaveLength(1)
    slowGate.open()
    expect((await slow).remark).toBe('echo slow')
  })

  it('matches many concurrent responses to their requests by opaque', async () => {
    const h = await startServer()
    const gates = new Map<string, Gate>()
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: async (_ch, req) => {
          await gates.get(req.ext('id')!)!.promise
          return echo(req)
        },
      },
      executor({ concurrency: 256 }),
    )
    const ids = Array.from({ length: 200 }, (_, i) => `r${i}`)
    for (const id of ids) gates.set(id, gate())
    const c = client()
    const pending = ids.map((id) => c.invoke(h.addr, request(SLOW, id), 10_000))
    await waitFor(async () => (await c.channel(h.addr)).pendingRequestCount() === 200, { what: 'all requests sent' })
    // Answer in reverse, then odd ones before even ones.
    for (const id of [...ids].reverse()) if (Number(id.slice(1)) % 2 === 1) gates.get(id)!.open()
    for (const id of [...ids].reverse()) gates.get(id)!.open()
    const responses = await Promise.all(pending)
    expect(responses.map((r) => r.ext('id'))).toEqual(ids)
    expect(h.connected).toHaveLength(1)
  })

  describe.each([
    ['JSON', SerializeType.JSON],
    ['ROCKETMQ', SerializeType.ROCKETMQ],
  ] as const)('answers a %s request in its serialization', (_name, type) => {
    async function serverWithFailures(): Promise<{ h: Harness; blocker: Gate }> {
      const h = await startServer()
      h.dispatcher.registerProcessor(
        THROWS,
        {
          processRequest: () => {
            throw new Error('boom')
          },
        },
        executor(),
      )
      h.dispatcher.registerProcessor(
        REJECTS,
        { processRequest: () => Promise.reject(new TypeError('async boom')) },
        executor(),
      )
      h.dispatcher.registerProcessor(
        BUSY,
        { processRequest: (_ch, req) => echo(req), rejectRequest: () => true },
        executor(),
      )
      const blocker = gate()
      h.dispatcher.registerProcessor(
        BLOCKED,
        {
          processRequest: async (_ch, req) => {
            await blocker.promise
            return echo(req)
          },
        },
        executor({ concurrency: 1, queueCapacity: 0 }),
      )
      return { h, blocker }
    }
    it('on success', async () => {
      const h = await startServer()
      const response = await client().invoke(h.addr, request(ECHO, 'x', type), 3000)
      expect(response.serializeType).toBe(type)
      expect(response.code).toBe(ResponseCode.SUCCESS)
      expect(response.ext('id')).toBe('x')
    })

    it('with REQUEST_CODE_NOT_SUPPORTED for a code without a processor', async () => {
      const h = await startServer()
      const response = await client().invoke(h.addr, request(999, 'x', type), 3000)
      expect(response.serializeType).toBe(type)
      expect(response.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED)
      expect(response.remark).toBe(' request type 999 not supported')
    })

    it('with SYSTEM_ERROR when a processor throws or rejects', async () => {
      const { h } = await serverWithFailures()
      const c = client()
      const thrown = await c.invoke(h.addr, request(THROWS, 'x', type), 3000)
      expect(thrown.serializeType).toBe(type)
      expect(thrown.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(thrown.remark).toBe('Error: boom')
      const rejected = await c.invoke(h.addr, request(REJECTS, 'x', type), 3000)
      expect(rejected.serializeType).toBe(type)
      expect(rejected.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(rejected.remark).toBe('TypeError: async boom')
    })

    it('with [REJECTREQUEST] when the processor refuses requests', async () => {
      const { h } = await serverWithFailures()
      const response = await client().invoke(h.addr, request(BUSY, 'x', type), 3000)
      expect(response.serializeType).toBe(type)
      expect(response.code).toBe(ResponseCode.SYSTEM_BUSY)
      expect(response.remark).toBe(REJECT_REQUEST_REMARK)
    })

    it('with [OVERLOAD] when the executor is full', async () => {
      const { h, blocker } = await serverWithFailures()
      const c = client()
      const first = c.invoke(h.addr, request(BLOCKED, 'first', type), 10_000)
      const overloaded = await c.invoke(h.addr, request(BLOCKED, 'second', type), 3000)
      expect(overloaded.serializeType).toBe(type)
      expect(overloaded.code).toBe(ResponseCode.SYSTEM_BUSY)
      expect(overloaded.remark).toBe(OVERLOAD_REMARK)
      blocker.open()
      expect((await first).ext('id')).toBe('first')
    })
  })

  it('never answers a oneway request, not even to refuse it', async () => {
    const h = await startServer()
    let rejected = false
    h.dispatcher.registerProcessor(
      THROWS,
      {
        processRequest: () => {
          throw new Error('boom')
        },
      },
      executor(),
    )
    h.dispatcher.registerProcessor(
      REJECTS,
      {
        processRequest: () => {
          rejected = true
          return Promise.reject(new Error('async boom'))
        },
      },
      executor(),
    )
    h.dispatcher.registerProcessor(
      BUSY,
      { processRequest: (_ch, req) => echo(req), rejectRequest: () => true },
      executor(),
    )
    const blocker = gate()
    let blockedRuns = 0
    h.dispatcher.registerProcessor(
      BLOCKED,
      {
        processRequest: async (_ch, req) => {
          blockedRuns++
          await blocker.promise
          return echo(req)
        },
      },
      executor({ concurrency: 1, queueCapacity: 0 }),
    )
    const peer = await RawPeer.connect(h.port)
    const oneways = [999, THROWS, REJECTS, BUSY, ECHO, BLOCKED, BLOCKED].map((code) =>
      request(code, `ow${code}`).markOneway(),
    )
    peer.send(...oneways)
    await waitFor(() => rejected && blockedRuns === 1, { what: 'oneway requests processed' })
    blocker.open()
    const probe = request(ECHO, 'probe')
    peer.send(probe)
    expect((await peer.responseTo(probe)).ext('id')).toBe('probe')
    // Frames on one connection arrive in the order they were written: anything answered above came first.
    expect(peer.frames.map((f) => f.opaque)).toEqual([probe.opaque])
  })

  it('answers a oneway request through RemotingClient#invokeOneway with nothing (RemotingServerTest#testInvokeOneway)', async () => {
    const h = await startServer()
    const seen: string[] = []
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: (_ch, req) => {
          seen.push(req.ext('id')!)
          return echo(req)
        },
      },
      executor(),
    )
    const c = client()
    await c.invokeOneway(h.addr, request(SLOW, 'one'))
    await waitFor(() => seen.length === 1, { what: 'the oneway request' })
    expect(seen).toEqual(['one'])
    expect((await c.channel(h.addr)).pendingRequestCount()).toBe(0)
    expect(h.entries.filter((e) => e.msg === 'response for no pending request')).toEqual([])
  })

  it('rejects with RMQ_ERR_TIMEOUT when the answer is late, and drops the late answer', async () => {
    const h = await startServer()
    const late = gate()
    let lateAnswered = false
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: async (_ch, req) => {
          await late.promise
          lateAnswered = true
          return echo(req)
        },
      },
      executor(),
    )
    const c = client({ closeSocketIfTimeout: false })
    const err = await rejection(c.invoke(h.addr, request(SLOW, 'late'), 150))
    expect(err.code).toBe('RMQ_ERR_TIMEOUT')
    const channel = await c.channel(h.addr)
    expect(channel.pendingRequestCount()).toBe(0)
    late.open()
    await waitFor(() => lateAnswered, { what: 'the late answer' })
    // Written after the late answer on the same connection, so it arrives after it.
    const next = await c.invoke(h.addr, request(ECHO, 'next'), 3000)
    expect(next.ext('id')).toBe('next')
    expect(await c.channel(h.addr)).toBe(channel)
    expect(channel.isActive()).toBe(true)
    expect(channel.pendingRequestCount()).toBe(0)
  })

  it('closes the connection after a timeout by default (clientCloseSocketIfTimeout)', async () => {
    const h = await startServer()
    h.dispatcher.registerProcessor(NEVER_ANSWERED, { processRequest: () => null }, executor())
    const c = client()
    const channel = await c.channel(h.addr)
    const err = await rejection(c.invoke(h.addr, request(NEVER_ANSWERED, 'x'), 150))
    expect(err.code).toBe('RMQ_ERR_TIMEOUT')
    expect(channel.isActive()).toBe(false)
    await waitFor(() => h.closed.length === 1, { what: 'the server to see the close' })
  })

  it('lets the server send requests to the client, sync and oneway', async () => {
    const h = await startServer()
    const c = client()
    const notified: string[] = []
    c.registerProcessor(307, {
      processRequest: (_ch, req) => {
        const response = RemotingCommand.createResponse(ResponseCode.SUCCESS)
        response.putExt('consumerGroup', req.ext('consumerGroup')!)
        response.body = Buffer.from('running info')
        return response
      },
    })
    c.registerProcessor(40, {
      processRequest: (_ch, req) => {
        notified.push(req.ext('consumerGroup')!)
        // A processor may return a response even for a oneway request; it must not be sent.
        return RemotingCommand.createResponse(ResponseCode.SUCCESS)
      },
    })
    await c.invoke(h.addr, request(ECHO, 'hello'), 3000)
    const channel = h.connected[0]!
    const response = await channel.invoke(RemotingCommand.createRequest(307, { consumerGroup: 'g1' }), 3000)
    expect(response.code).toBe(ResponseCode.SUCCESS)
    expect(response.ext('consumerGroup')).toBe('g1')
    expect(response.body?.toString()).toBe('running info')
    expect(channel.invokeOneway(RemotingCommand.createRequest(40, { consumerGroup: 'g2' }))).toBe(true)
    await waitFor(() => notified.length === 1, { what: 'the notification' })
    expect(notified).toEqual(['g2'])
    const unsupported = await channel.invoke(RemotingCommand.createRequest(221), 3000)
    expect(unsupported.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED)
    expect(h.entries.filter((e) => e.msg === 'response for no pending request')).toEqual([])
  })

  it.each([
    ['a frame length below 4', Buffer.from('00000002abcd', 'hex')],
    ['an unparsable JSON header', Buffer.from('0000000800000004{{{{', 'latin1')],
    ['an unknown serialize type', Buffer.from('0000000a0500000200007b7d0000', 'hex')],
    ['a frame over the limit', Buffer.from('7fffffff00', 'hex')],
  ])('closes only the connection that sent %s', async (_what, bytes) => {
    const h = await startServer()
    const good = client()
    expect((await good.invoke(h.addr, request(ECHO, 'before'), 3000)).ext('id')).toBe('before')
    const bad = await RawPeer.connect(h.port)
    await waitFor(() => h.connected.length === 2, { what: 'the bad connection' })
    bad.socket.write(bytes)
    await waitFor(() => bad.closed, { what: 'the bad connection to close' })
    expect(bad.frames).toEqual([])
    await waitFor(() => h.closed.length === 1, { what: 'the close event' })
    expect(h.closed[0]!.channel).toBe(h.connected[1])
    expect(h.closed[0]!.reason).toMatch(/^bad frame: /)
    expect((await good.invoke(h.addr, request(ECHO, 'after'), 3000)).ext('id')).toBe('after')
    expect(h.server.activeChannels().size).toBe(1)
  })

  it('closes an idle connection after idleTimeMs and reports it', async () => {
    const h = await startServer({ idleTimeMs: 250 })
    const c = client()
    await c.invoke(h.addr, request(ECHO, 'once'), 3000)
    const channel = await c.channel(h.addr)
    await waitFor(() => h.closed.length === 1, { what: 'the idle close' })
    expect(h.closed[0]!.reason).toBe('idle')
    expect(h.closed[0]!.channel).toBe(h.connected[0])
    await waitFor(() => !channel.isActive(), { what: 'the client to see the close' })
    // The client reconnects on the next request.
    expect((await c.invoke(h.addr, request(ECHO, 'again'), 3000)).ext('id')).toBe('again')
  })

  it('runs RPC hooks around each request on both sides, and a server hook answering refuses the request', async () => {
    const h = await startServer()
    const processed: string[] = []
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: (_ch, req) => {
          processed.push(req.ext('id')!)
          return echo(req)
        },
      },
      executor(),
    )
    const serverCalls: string[] = []
    h.dispatcher.registerRPCHook({
      doBeforeRequest: (remote, req) => {
        serverCalls.push(`before ${req.ext('id')} ${req.ext('AccessKey')} ${remote}`)
        if (req.ext('AccessKey') === 'bad') return RemotingCommand.createResponse(ResponseCode.NO_PERMISSION, 'denied')
        if (req.ext('AccessKey') === 'throw') throw new Error('hook failed')
        return null
      },
      doAfterResponse: (_remote, req, response) => {
        serverCalls.push(`after ${req.ext('id')} ${response?.code}`)
      },
    })
    let accessKey = 'good'
    const clientCalls: string[] = []
    const c = client()
    c.registerRPCHook({
      doBeforeRequest: (addr, req) => {
        req.putExt('AccessKey', accessKey)
        clientCalls.push(`before ${req.ext('id')} ${addr}`)
      },
      doAfterResponse: (_addr, req, response) => {
        clientCalls.push(`after ${req.ext('id')} ${response?.code}`)
      },
    })
    const ok = await c.invoke(h.addr, request(SLOW, 'ok'), 3000)
    expect(ok.code).toBe(ResponseCode.SUCCESS)
    accessKey = 'bad'
    const denied = await c.invoke(h.addr, request(SLOW, 'denied'), 3000)
    expect(denied.code).toBe(ResponseCode.NO_PERMISSION)
    expect(denied.remark).toBe('denied')
    accessKey = 'throw'
    const failed = await c.invoke(h.addr, request(SLOW, 'failed'), 3000)
    expect(failed.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(failed.remark).toBe('Error: hook failed')
    expect(processed).toEqual(['ok'])
    const remote = h.connected[0]!.remoteAddress
    expect(remote).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(serverCalls).toEqual([
      `before ok good ${remote}`,
      'after ok 0',
      `before denied bad ${remote}`,
      'after denied 16',
      `before failed throw ${remote}`,
      'after failed 1',
    ])
    expect(clientCalls).toEqual([
      `before ok ${h.addr}`,
      'after ok 0',
      `before denied ${h.addr}`,
      'after denied 16',
      `before failed ${h.addr}`,
      'after failed 1',
    ])
  })

  it('rejects pending requests when the connection closes', async () => {
    const h = await startServer()
    h.dispatcher.registerProcessor(NEVER_ANSWERED, { processRequest: () => null }, executor())
    const c = client()
    const channel = await c.channel(h.addr)
    const pending = [1, 2, 3].map((i) => c.invoke(h.addr, request(NEVER_ANSWERED, `p${i}`), 30_000))
    await waitFor(() => channel.pendingRequestCount() === 3, { what: 'the requests to be pending' })
    await waitFor(() => h.connected.length === 1, { what: 'the server channel' })
    h.connected[0]!.close('test closes it')
    for (const p of pending) expect((await rejection(p)).code).toBe('RMQ_ERR_CONNECTION_CLOSED')
    expect(channel.pendingRequestCount()).toBe(0)
    await waitFor(() => h.closed.length === 1, { what: 'the close event' })
    expect(h.closed[0]!.reason).toBe('test closes it')
  })

  it('rejects pending requests when the client closes the connection itself', async () => {
    const h = await startServer()
    h.dispatcher.registerProcessor(NEVER_ANSWERED, { processRequest: () => null }, executor())
    const c = client()
    const pending = c.invoke(h.addr, request(NEVER_ANSWERED, 'p'), 30_000)
    await waitFor(async () => (await c.channel(h.addr)).pendingRequestCount() === 1, { what: 'the request' })
    c.closeChannel(h.addr)
    expect((await rejection(pending)).code).toBe('RMQ_ERR_CONNECTION_CLOSED')
  })

  it('keeps serving when a connect listener throws (regression: the throw ended the process)', async () => {
    const h = await startServer()
    h.server.addChannelEventListener({
      onChannelConnect: () => {
        throw new Error('listener bug')
      },
    })
    const response = await client().invoke(h.addr, request(ECHO, 'x'), 3000)
    expect(response.ext('id')).toBe('x')
    expect(h.entries.some((e) => e.level === 'error' && e.msg === 'channel connect listener failed')).toBe(true)
  })

  it('answers SYSTEM_ERROR when a response cannot be framed', async () => {
    const h = await startServer({ frameBytesMax: 64 * 1024 })
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: () => {
          const response = RemotingCommand.createResponse(ResponseCode.SUCCESS)
          response.body = Buffer.alloc(100 * 1024)
          return response
        },
      },
      executor(),
    )
    const response = await client().invoke(h.addr, request(SLOW, 'big'), 3000)
    expect(response.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(response.remark).toMatch(/^response too large: /)
  })

  it('answers SYSTEM_ERROR when a binary response has an oversized ext key (regression: left unanswered)', async () => {
    const h = await startServer()
    h.dispatcher.registerProcessor(
      SLOW,
      { processRequest: () => RemotingCommand.createResponse(ResponseCode.SUCCESS).putExt('k'.repeat(40_000), 'v') },
      executor(),
    )
    const response = await client().invoke(h.addr, request(SLOW, 'x', SerializeType.ROCKETMQ), 3000)
    expect(response.serializeType).toBe(SerializeType.ROCKETMQ)
    expect(response.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(response.remark).toMatch(/^response too large: ext key of 40000 bytes/)
  })

  it('fails to connect to a port nobody listens on with RMQ_ERR_CONNECT', async () => {
    const probe = net.createServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const err = await rejection(client().invoke(`127.0.0.1:${port}`, request(ECHO, 'x'), 3000))
    expect(err.code).toBe('RMQ_ERR_CONNECT')
  })

  it('closes every connection on close() and then refuses new ones', async () => {
    const h = await startServer()
    const c = client()
    const channel = await c.channel(h.addr)
    await c.invoke(h.addr, request(ECHO, 'x'), 3000)
    await h.server.close()
    expect(h.closed.map((e) => e.reason)).toEqual(['server shutting down'])
    await waitFor(() => !channel.isActive(), { what: 'the client to see the close' })
    const err = await rejection(c.invoke(h.addr, request(ECHO, 'y'), 3000))
    expect(['RMQ_ERR_CONNECT', 'RMQ_ERR_CONNECTION_CLOSED']).toContain(err.code)
  })
})

describe('RemotingChannel back-pressure', () => {
  it('stops reading while the write backlog is above the high-water mark and resumes on drain', async () => {
    const writeBytesHigh = 256 * 1024
    const h = await startServer({ writeBytesHigh })
    const responseBody = Buffer.alloc(32 * 1024, 0x61)
    let processed = 0
    let backlogAtProcessingMax = 0
    h.dispatcher.registerProcessor(
      SLOW,
      {
        processRequest: (channel, req) => {
          processed++
          backlogAtProcessingMax = Math.max(backlogAtProcessingMax, channel.writeBacklogBytes())
          const response = echo(req)
          response.body = responseBody
          return response
        },
      },
      executor(),
    )
    // A client that sends many requests and does not read: each answer is 32 KiB, 32 MiB in all, far more than the
    // loopback socket buffers hold.
    const peer = await RawPeer.connect(h.port, { reading: false })
    const requests = Array.from({ length: 1000 }, (_, i) => request(SLOW, `r${i}`))
    peer.send(...requests)
    await waitFor(() => h.connected[0]?.isReadPaused() && processed < requests.length, { what: 'reading to pause' })
    const channel = h.connected[0]!
    const responseFrameBytes = encodeFrameToBuffer(Object.assign(echo(requests[0]!), { body: responseBody })).length
    expect(channel.writeBacklogBytes()).toBeLessThanOrEqual(writeBytesHigh + responseFrameBytes)
    // Requests are only processed while the backlog is at most the high-water mark, including those that arrived in
    // the same chunk as the one that crossed it.
    expect(backlogAtProcessingMax).toBeLessThanOrEqual(writeBytesHigh)
    peer.startReading()
    await waitFor(() => peer.frames.length === requests.length, { what: 'every answer', timeoutMs: 60_000 })
    expect(processed).toBe(requests.length)
    expect(backlogAtProcessingMax).toBeLessThanOrEqual(writeBytesHigh)
    expect(peer.frames.map((f) => f.ext('id'))).toEqual(requests.map((r) => r.ext('id')))
    expect(channel.isReadPaused()).toBe(false)
    expect(channel.isActive()).toBe(true)
  })
})
