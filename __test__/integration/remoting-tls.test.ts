/**
 * TLS on the remoting port (protocol.md §1.1): the server peeks at the first byte of a connection, 0x16 starting a
 * TLS handshake; `permissive` serves both kinds, `enforcing` only TLS, `disabled` only plaintext.
 *
 * Ports of Apache RocketMQ 4.9.8 `TlsTest` where they apply: basicClientServerIntegrationTest,
 * serverNotNeedClientAuth, serverAcceptsUnAuthClient, serverRejectsSSLClient, serverRejectsUntrustedClientCert,
 * noClientAuthFailure, clientRejectsUntrustedServerCert, clientAcceptsUntrustedServerCert. Certificates are made
 * per run by `helpers/tls-cert.ts`.
 */
import { X509Certificate } from 'node:crypto'
import net from 'node:net'
import { Duplex } from 'node:stream'
import tls from 'node:tls'

import { afterEach, beforeAll, describe, expect, it } from 'vitest'

import { ConfigError, RemotingError } from '../../ts/common/errors.js'
import { noopLogger, type Logger } from '../../ts/common/logger.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { decodeFrame, encodeFrameToBuffer, FrameDecoder } from '../../ts/remoting/frame-codec.js'
import type { RemotingChannel } from '../../ts/remoting/remoting-channel.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { RemotingServer, type RemotingServerOptions, type ServerTlsOptions } from '../../ts/remoting/remoting-server.js'
import { RequestDispatcher } from '../../ts/remoting/request-dispatcher.js'
import { RequestExecutor } from '../../ts/remoting/request-executor.js'
import { createTestPki, publicKeyOf, type TestPki } from '../helpers/tls-cert.js'
import { waitFor } from '../helpers/wait-for.js'

const ECHO = 1

let pki: TestPki

beforeAll(() => {
  pki = createTestPki()
})

const cleanups: Array<() => unknown> = []

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

interface Harness {
  server: RemotingServer
  addr: string
  port: number
  connected: RemotingChannel[]
  closed: Array<{ channel: RemotingChannel; reason: string }>
  processed: string[]
  logged: string[]
}

/** A logger that keeps only the messages, so tests can look for one. */
function recordingLogger(logged: string[]): Logger {
  const record = (_obj: object, msg?: string): void => {
    logged.push(msg ?? '')
  }
  const logger: Logger = { debug: record, info: record, warn: record, error: record, child: () => logger }
  return logger
}

async function startServer(
  tlsOptions: ServerTlsOptions | undefined,
  extra: Partial<RemotingServerOptions> = {},
): Promise<Harness> {
  const logged: string[] = []
  const logger = recordingLogger(logged)
  const dispatcher = new RequestDispatcher(logger)
  const processed: string[] = []
  dispatcher.registerProcessor(
    ECHO,
    {
      processRequest: (_ch, req) => {
        processed.push(req.ext('id') ?? '')
        const response = RemotingCommand.createResponse(ResponseCode.SUCCESS, `echo ${req.ext('id')}`)
        response.putExt('id', req.ext('id') ?? '')
        return response
      },
    },
    new RequestExecutor({ name: 'test', concurrency: 4, queueCapacity: 64, queueWaitMsMax: Infinity }),
  )
  const server = new RemotingServer({ port: 0, host: '127.0.0.1', logger, tls: tlsOptions, ...extra }, dispatcher)
  const connected: RemotingChannel[] = []
  const closed: Array<{ channel: RemotingChannel; reason: string }> = []
  server.addChannelEventListener({
    onChannelConnect: (channel) => connected.push(channel),
    onChannelClose: (channel, reason) => closed.push({ channel, reason }),
  })
  const port = await server.listen()
  cleanups.push(() => server.close())
  return { server, addr: `127.0.0.1:${port}`, port, connected, closed, processed, logged }
}

function serverTls(mode: ServerTlsOptions['mode'], requestCert = false): ServerTlsOptions {
  return { mode, requestCert, secureContext: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert } }
}

function client(tlsOptions?: tls.ConnectionOptions): RemotingClient {
  const c = new RemotingClient({ tls: tlsOptions, connectTimeoutMs: 5000 })
  cleanups.push(() => c.shutdown())
  return c
}

const trustingClient = (extra: tls.ConnectionOptions = {}): RemotingClient => client({ ca: pki.ca.cert, ...extra })

async function echoVia(c: RemotingClient, addr: string, id: string): Promise<RemotingCommand> {
  return c.invoke(addr, RemotingCommand.createRequest(ECHO, { id }), 5000)
}

async function refusal(promise: Promise<unknown>): Promise<RemotingError> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(RemotingError)
    return err as RemotingError
  }
  throw new Error('expected the request to fail')
}

async function rawConnect(port: number): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port })
  cleanups.push(() => socket.destroy())
  let closed = false
  socket.on('close', () => {
    closed = true
  })
  socket.on('error', () => {
    // Refused connections are what these tests provoke; `closed` records it.
  })
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  return { socket, closed: () => closed }
}

describe('test PKI', () => {
  it('issues a server certificate for 127.0.0.1 and localhost, signed by the CA', () => {
    const cert = new X509Certificate(pki.server.cert)
    expect(cert.verify(publicKeyOf(pki.ca))).toBe(true)
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1')
    expect(cert.checkHost('localhost')).toBe('localhost')
    expect(new X509Certificate(pki.ca.cert).ca).toBe(true)
    expect(new X509Certificate(pki.untrustedClient.cert).verify(publicKeyOf(pki.ca))).toBe(false)
  })
})

describe('RemotingServer TLS', () => {
  it('serves TLS and plaintext clients side by side in permissive mode', async () => {
    const h = await startServer(serverTls('permissive'))
    expect((await echoVia(trustingClient(), h.addr, 'tls')).remark).toBe('echo tls')
    expect((await echoVia(client(), h.addr, 'plain')).remark).toBe('echo plain')
    expect(h.processed).toEqual(['tls', 'plain'])
    expect(h.connected.map((ch) => ch.remoteAddress)).toEqual([
      expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    ])
  })

  it('serves many requests and a large body over TLS (TlsTest#basicClientServerIntegrationTest)', async () => {
    const h = await startServer(serverTls('enforcing'))
    const c = trustingClient({ servername: 'localhost' })
    const ids = Array.from({ length: 50 }, (_, i) => `r${i}`)
    const responses = await Promise.all(ids.map((id) => echoVia(c, h.addr, id)))
    expect(responses.map((r) => r.ext('id'))).toEqual(ids)
    const big = RemotingCommand.createRequest(ECHO, { id: 'big' }, Buffer.alloc(1024 * 1024, 7))
    expect((await c.invoke(h.addr, big, 5000)).ext('id')).toBe('big')
    expect(h.connected).toHaveLength(1)
  })

  it('serves a plaintext client whose first frame arrives a byte at a time in permissive mode', async () => {
    const h = await startServer(serverTls('permissive'))
    const { socket } = await rawConnect(h.port)
    const frames: RemotingCommand[] = []
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => frames.push(decodeFrame(f))))
    const bytes = encodeFrameToBuffer(RemotingCommand.createRequest(ECHO, { id: 'slowly' }))
    for (const byte of bytes) await new Promise<void>((resolve) => socket.write(Buffer.from([byte]), () => resolve()))
    const response = await waitFor(() => frames[0], { what: 'the response' })
    expect(response.ext('id')).toBe('slowly')
  })

  it('serves a TLS client whose ClientHello is split after its first byte', async () => {
    const h = await startServer(serverTls('enforcing'))
    const raw = await rawConnect(h.port)
    // A duplex between the TLS client and the TCP socket that sends the first byte of the ClientHello alone.
    let first = true
    const relay = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        if (!first) return raw.socket.write(chunk, () => callback())
        first = false
        raw.socket.write(chunk.subarray(0, 1), () =>
          setImmediate(() => raw.socket.write(chunk.subarray(1), () => callback())),
        )
      },
    })
    raw.socket.on('data', (chunk: Buffer) => relay.push(chunk))
    raw.socket.on('close', () => relay.push(null))
    const secure = tls.connect({ socket: relay, ca: pki.ca.cert, servername: 'localhost' })
    cleanups.push(() => secure.destroy())
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve)
      secure.once('error', reject)
    })
    const frames: RemotingCommand[] = []
    const decoder = new FrameDecoder()
    secure.on('data', (chunk: Buffer) => decoder.push(chunk, (f) => frames.push(decodeFrame(f))))
    secure.write(encodeFrameToBuffer(RemotingCommand.createRequest(ECHO, { id: 'split' })))
    const response = await waitFor(() => frames[0], { what: 'the response' })
    expect(response.ext('id')).toBe('split')
  })

  it('closes plaintext connections in enforcing mode', async () => {
    const h = await startServer(serverTls('enforcing'))
    const err = await refusal(echoVia(client(), h.addr, 'plain'))
    expect(err.code).toBe('RMQ_ERR_CONNECTION_CLOSED')
    expect(h.processed).toEqual([])
    expect(h.connected).toEqual([])
    expect((await echoVia(trustingClient(), h.addr, 'tls')).remark).toBe('echo tls')
  })

  it('closes TLS connections in disabled mode (TlsTest#serverRejectsSSLClient)', async () => {
    const h = await startServer(serverTls('disabled'))
    const err = await refusal(echoVia(trustingClient(), h.addr, 'tls'))
    expect(err.code).toBe('RMQ_ERR_CONNECT')
    expect(h.processed).toEqual([])
    expect((await echoVia(client(), h.addr, 'plain')).remark).toBe('echo plain')
  })

  it('closes TLS connections without a TLS option at all', async () => {
    const h = await startServer(undefined)
    expect((await refusal(echoVia(trustingClient(), h.addr, 'tls'))).code).toBe('RMQ_ERR_CONNECT')
    expect((await echoVia(client(), h.addr, 'plain')).remark).toBe('echo plain')
  })

  it('refuses TLS handshakes in permissive mode without a certificate, and still serves plaintext', async () => {
    const h = await startServer({ mode: 'permissive' })
    expect((await refusal(echoVia(trustingClient(), h.addr, 'tls'))).code).toBe('RMQ_ERR_CONNECT')
    expect((await echoVia(client(), h.addr, 'plain')).remark).toBe('echo plain')
  })

  it('refuses to start in enforcing mode without a certificate', () => {
    const start = (): RemotingServer =>
      new RemotingServer({ port: 0, logger: noopLogger, tls: { mode: 'enforcing' } }, new RequestDispatcher(noopLogger))
    expect(start).toThrow(ConfigError)
  })

  it('serves a client without a certificate when none is requested (TlsTest#serverNotNeedClientAuth)', async () => {
    const h = await startServer(serverTls('enforcing', false))
    expect((await echoVia(trustingClient(), h.addr, 'no cert')).remark).toBe('echo no cert')
  })

  it('serves a client whose certificate the CA signed when one is requested', async () => {
    const h = await startServer(serverTls('enforcing', true))
    const c = trustingClient({ key: pki.client.key, cert: pki.client.cert })
    expect((await echoVia(c, h.addr, 'with cert')).remark).toBe('echo with cert')
  })

  it('refuses a client without a certificate when one is requested (TlsTest#noClientAuthFailure)', async () => {
    const h = await startServer(serverTls('enforcing', true))
    const err = await refusal(echoVia(trustingClient(), h.addr, 'no cert'))
    expect(['RMQ_ERR_CONNECT', 'RMQ_ERR_CONNECTION_CLOSED']).toContain(err.code)
    expect(h.processed).toEqual([])
    expect(h.connected).toEqual([])
  })

  it('refuses a client whose certificate another CA signed (TlsTest#serverRejectsUntrustedClientCert; regression: accepted)', async () => {
    const h = await startServer(serverTls('enforcing', true))
    const c = trustingClient({ key: pki.untrustedClient.key, cert: pki.untrustedClient.cert })
    const err = await refusal(echoVia(c, h.addr, 'untrusted'))
    expect(['RMQ_ERR_CONNECT', 'RMQ_ERR_CONNECTION_CLOSED']).toContain(err.code)
    expect(h.processed).toEqual([])
    expect(h.connected).toEqual([])
  })

  it('serves a certificate from another CA when client certificates are not requested (TlsTest#serverAcceptsUntrustedClientCert)', async () => {
    const h = await startServer(serverTls('enforcing', false))
    const c = trustingClient({ key: pki.untrustedClient.key, cert: pki.untrustedClient.cert })
    expect((await echoVia(c, h.addr, 'ok')).remark).toBe('echo ok')
  })

  it('fails when the client does not trust the server certificate (TlsTest#clientRejectsUntrustedServerCert)', async () => {
    const h = await startServer(serverTls('enforcing'))
    const err = await refusal(echoVia(client({ ca: pki.otherCa.cert }), h.addr, 'x'))
    expect(err.code).toBe('RMQ_ERR_CONNECT')
    expect(h.processed).toEqual([])
  })

  it('connects to an untrusted server when told not to verify it (TlsTest#clientAcceptsUntrustedServerCert)', async () => {
    const h = await startServer(serverTls('enforcing'))
    expect((await echoVia(client({ rejectUnauthorized: false }), h.addr, 'x')).remark).toBe('echo x')
  })

  it('lets the server send requests to a TLS client', async () => {
    const h = await startServer(serverTls('permissive'))
    const c = trustingClient()
    c.registerProcessor(307, {
      processRequest: (_ch, req) =>
        RemotingCommand.createResponse(ResponseCode.SUCCESS, `group ${req.ext('consumerGroup')}`),
    })
    await echoVia(c, h.addr, 'hello')
    const response = await h.connected[0]!.invoke(RemotingCommand.createRequest(307, { consumerGroup: 'g' }), 5000)
    expect(response.remark).toBe('group g')
  })

  it('closes connections still waiting for their first byte or handshake on close() (regression: close() never resolved)', async () => {
    const h = await startServer(serverTls('permissive'))
    const silent = await rawConnect(h.port)
    const midHandshake = await rawConnect(h.port)
    // The first bytes of a TLS record header, then nothing.
    midHandshake.socket.write(Buffer.from([0x16, 0x03, 0x01]))
    await waitFor(() => h.server.pendingConnectionCount() === 2, { what: 'both connections to be pending' })
    const tlsClient = trustingClient()
    await echoVia(tlsClient, h.addr, 'tls')
    await h.server.close()
    await waitFor(() => silent.closed() && midHandshake.closed(), { what: 'the pending connections to close' })
    expect(h.server.pendingConnectionCount()).toBe(0)
  })

  it('closes a connection that sends nothing within idleTimeMs (regression: held forever)', async () => {
    const h = await startServer(serverTls('permissive'), { idleTimeMs: 100 })
    const silent = await rawConnect(h.port)
    await waitFor(() => silent.closed(), { what: 'the silent connection to close' })
    expect(h.server.pendingConnectionCount()).toBe(0)
    expect(h.connected).toEqual([])
  })

  it('closes an idle plaintext channel as idle, not as a silent new connection (regression: stale timeout listener)', async () => {
    const h = await startServer(serverTls('permissive'), { idleTimeMs: 250 })
    const c = client()
    await echoVia(c, h.addr, 'once')
    await waitFor(() => h.closed.length === 1, { what: 'the idle close' })
    expect(h.closed[0]!.reason).toBe('idle')
    expect(h.logged).toContain('closing idle connection')
    expect(h.logged).not.toContain('closing connection that sent nothing')
  })

  it('closes an idle TLS channel after idleTimeMs', async () => {
    const h = await startServer(serverTls('enforcing'), { idleTimeMs: 250 })
    const c = trustingClient()
    await echoVia(c, h.addr, 'once')
    const channel = await c.channel(h.addr)
    await waitFor(() => h.closed.length === 1, { what: 'the idle close' })
    expect(h.closed[0]!.reason).toBe('idle')
    await waitFor(() => !channel.isActive(), { what: 'the client to see the close' })
  })

  it('closes a connection that stalls in its TLS handshake within idleTimeMs', async () => {
    const h = await startServer(serverTls('enforcing'), { idleTimeMs: 100 })
    const stalled = await rawConnect(h.port)
    stalled.socket.write(Buffer.from([0x16, 0x03, 0x01]))
    await waitFor(() => stalled.closed(), { what: 'the stalled handshake to close' })
    expect(h.server.pendingConnectionCount()).toBe(0)
  })
})
