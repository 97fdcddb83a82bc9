/**
 * Plain ACL over TCP: a `RemotingServer` whose dispatcher runs the broker's `AclRPCHook` before test processors
 * that answer SUCCESS (the real processors live elsewhere), and clients that sign with `AclClientRPCHook`, with
 * nothing, or as `ali-ons` signs (its own `Channel` code, JSON headers with number and boolean ext values).
 */
import net from 'node:net'
import { createRequire } from 'node:module'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { AclRPCHook, type AclFailureResponseCode } from '../../ts/broker/acl/acl-rpc-hook.js'
import { PlainAccessValidator } from '../../ts/broker/acl/plain-access-validator.js'
import { PlainPermissionManager } from '../../ts/broker/acl/plain-permission-manager.js'
import { noopLogger } from '../../ts/common/logger.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { AclClientRPCHook } from '../../ts/remoting/acl-client-rpc-hook.js'
import { encodeFrameToBuffer, FrameDecoder, decodeFrame } from '../../ts/remoting/frame-codec.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType } from '../../ts/remoting/remoting-command.js'
import { RemotingServer } from '../../ts/remoting/remoting-server.js'
import { RequestDispatcher, type RequestProcessor } from '../../ts/remoting/request-dispatcher.js'
import { RequestExecutor } from '../../ts/remoting/request-executor.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'
import { ACL_YAML, heartbeatBody, SECRET, writeAclFile } from '../unit/acl/acl-fixtures.js'

const TIMEOUT_MS = 5000
const ACL_EXCEPTION = 'org.apache.rocketmq.acl.common.AclException'
const { SEND_MESSAGE_V2, PULL_MESSAGE, HEART_BEAT, UPDATE_AND_CREATE_TOPIC } = RequestCode

/** The parts of ali-ons 3.12 the test drives; the package ships no types. */
interface OnsCommand {
  code: number
  remark?: string | null
  body: Buffer | null
  extFields: Record<string, unknown>
}
interface OnsChannel {
  ready(): Promise<void>
  invoke(command: OnsCommand, timeoutMs: number): Promise<OnsCommand>
  close(): void
}
const requireCjs = createRequire(import.meta.url)
const OnsChannelClass = requireCjs('ali-ons/lib/channel.js') as new (
  address: string,
  options: Record<string, unknown>,
) => OnsChannel
const OnsRemotingCommand = requireCjs('ali-ons/lib/protocol/command/remoting_command.js') as {
  createRequestCommand(code: number, customHeader: Record<string, unknown>): OnsCommand
}
const silentLogger = { info() {}, warn() {}, error() {}, debug() {} }

interface AclServer {
  addr: string
  port: number
  /** Requests that reached a processor, in order. */
  processed: RemotingCommand[]
  hook: AclRPCHook
  close(): Promise<void>
}

/** A server with the ACL hook in front of processors that record each request and answer SUCCESS. */
async function startAclServer(file: string, failureResponseCode?: AclFailureResponseCode): Promise<AclServer> {
  const hook = new AclRPCHook({
    validator: new PlainAccessValidator(new PlainPermissionManager({ file })),
    failureResponseCode,
  })
  const dispatcher = new RequestDispatcher(noopLogger)
  const executor = new RequestExecutor({
    name: 'acl-test',
    concurrency: 1,
    queueCapacity: 1000,
    queueWaitMsMax: Infinity,
  })
  const processed: RemotingCommand[] = []
  const echo: RequestProcessor = {
    processRequest: (_channel, request) => {
      processed.push(request)
      return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
    },
  }
  for (const code of [SEND_MESSAGE_V2, PULL_MESSAGE, HEART_BEAT, UPDATE_AND_CREATE_TOPIC]) {
    dispatcher.registerProcessor(code, echo, executor)
  }
  dispatcher.registerRPCHook(hook)
  const server = new RemotingServer({ port: 0, host: '127.0.0.1', logger: noopLogger }, dispatcher)
  const port = await server.listen()
  return { addr: `127.0.0.1:${port}`, port, processed, hook, close: () => server.close() }
}

function signingClient(accessKey: string, secretKey: string): RemotingClient {
  const client = new RemotingClient()
  client.registerRPCHook(new AclClientRPCHook({ accessKey, secretKey }))
  return client
}

const send = (topic: string, serializeType: SerializeType = SerializeType.JSON): RemotingCommand => {
  const request = RemotingCommand.createRequest(
    SEND_MESSAGE_V2,
    { a: 'PG', b: topic, c: 'TBW102', d: '4', e: '0' },
    Buffer.from('hi'),
  )
  request.serializeType = serializeType
  return request
}
const pull = (topic: string, group: string): RemotingCommand =>
  RemotingCommand.createRequest(PULL_MESSAGE, {
    consumerGroup: group,
    topic,
    queueId: '0',
    queueOffset: '0',
    maxMsgNums: '32',
  })
const heartbeat = (consumers: Record<string, string[]>): RemotingCommand =>
  RemotingCommand.createRequest(HEART_BEAT, null, heartbeatBody(consumers, ['PG']))

describe('plain ACL over TCP', () => {
  let dir: TempDir
  let server: AclServer | null = null
  const clients: RemotingClient[] = []
  const onsChannels: OnsChannel[] = []
  const sockets: net.Socket[] = []

  beforeEach(() => {
    dir = tempDir('ferrymq-acl-it-')
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.shutdown()
    for (const c of onsChannels.splice(0)) c.close()
    for (const s of sockets.splice(0)) s.destroy()
    await server?.close()
    server = null
    dir.remove()
  })

  async function start(yaml = ACL_YAML, failureResponseCode?: AclFailureResponseCode): Promise<AclServer> {
    server = await startAclServer(writeAclFile(dir.path, yaml), failureResponseCode)
    return server
  }

  function client(accessKey?: string, secretKey = SECRET): RemotingClient {
    const c = accessKey === undefined ? new RemotingClient() : signingClient(accessKey, secretKey)
    clients.push(c)
    return c
  }

  it('passes requests signed with the right keys, with JSON and ROCKETMQ headers', async () => {
    const s = await start()
    const c = client('RocketMQ')
    for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
      const responses = await Promise.all([
        c.invoke(s.addr, send('topicB', type), TIMEOUT_MS),
        c.invoke(s.addr, Object.assign(pull('topicC', 'groupC'), { serializeType: type }), TIMEOUT_MS),
        c.invoke(s.addr, Object.assign(heartbeat({ groupC: ['topicC'] }), { serializeType: type }), TIMEOUT_MS),
      ])
      expect(responses.map((r) => [r.code, r.remark])).toEqual([
        [0, null],
        [0, null],
        [0, null],
      ])
      expect(responses.every((r) => r.serializeType === type)).toBe(true)
    }
    expect(s.processed.map((r) => r.code)).toEqual([310, 11, 34, 310, 11, 34])
    expect(s.processed[0]!.ext('AccessKey')).toBe('RocketMQ')
  })

  it('refuses a wrong secret, an unknown key and a missing signature with SYSTEM_ERROR naming the reason', async () => {
    const s = await start()
    const wrong = await client('RocketMQ', 'not-the-secret').invoke(s.addr, send('topicB'), TIMEOUT_MS)
    expect([wrong.code, wrong.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      `${ACL_EXCEPTION}: signature check failed for AccessKey RocketMQ`,
    ])
    expect(wrong.remark).not.toContain('not-the-secret')
    const unknown = await client('nobody12').invoke(s.addr, send('topicB'), TIMEOUT_MS)
    expect([unknown.code, unknown.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      `${ACL_EXCEPTION}: no ACL account for AccessKey nobody12`,
    ])
    const unsigned = send('topicB').putExt('AccessKey', 'RocketMQ')
    const missing = await client().invoke(s.addr, unsigned, TIMEOUT_MS)
    expect([missing.code, missing.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      `${ACL_EXCEPTION}: signature check failed for AccessKey RocketMQ`,
    ])
    const anonymous = await client().invoke(s.addr, send('topicB'), TIMEOUT_MS)
    expect(anonymous.remark).toBe(`${ACL_EXCEPTION}: the request has no AccessKey`)
    expect(s.processed).toEqual([])
    expect(s.hook.refusedCount).toBe(4)
  })

  it('refuses what the account may not do: topic and group permissions, admin codes', async () => {
    const s = await start()
    const c = client('RocketMQ')
    const remarks = await Promise.all(
      [send('topicC'), pull('topicA', 'groupC'), heartbeat({ groupA: ['topicC'] })].map(async (r) => {
        const response = await c.invoke(s.addr, r, TIMEOUT_MS)
        expect(response.code).toBe(ResponseCode.SYSTEM_ERROR)
        return response.remark
      }),
    )
    expect(remarks).toEqual([
      `${ACL_EXCEPTION}: AccessKey RocketMQ has no PUB permission on topic topicC (its permission is SUB)`,
      `${ACL_EXCEPTION}: AccessKey RocketMQ has no SUB permission on topic topicA (its permission is DENY)`,
      `${ACL_EXCEPTION}: AccessKey RocketMQ has no SUB permission on group groupA (its permission is DENY)`,
    ])
    const createTopic = (): RemotingCommand =>
      RemotingCommand.createRequest(UPDATE_AND_CREATE_TOPIC, { topic: 'newTopic' })
    const refused = await c.invoke(s.addr, createTopic(), TIMEOUT_MS)
    expect(refused.remark).toBe(
      `${ACL_EXCEPTION}: request code 17 (UPDATE_AND_CREATE_TOPIC) needs an admin account; ` +
        'AccessKey RocketMQ is not admin',
    )
    const admin = await client('rocketmq2').invoke(s.addr, createTopic(), TIMEOUT_MS)
    expect(admin.code).toBe(ResponseCode.SUCCESS)
    expect(s.processed.map((r) => r.code)).toEqual([UPDATE_AND_CREATE_TOPIC])
  })

  it('answers NO_PERMISSION with the bare reason when configured', async () => {
    const s = await start(ACL_YAML, ResponseCode.NO_PERMISSION)
    const response = await client('RocketMQ').invoke(s.addr, send('topicA'), TIMEOUT_MS)
    expect([response.code, response.remark]).toEqual([
      ResponseCode.NO_PERMISSION,
      'AccessKey RocketMQ has no PUB permission on topic topicA (its permission is DENY)',
    ])
  })

  it('gives a refused oneway request no reply and does not process it', async () => {
    const s = await start()
    const socket = net.connect({ host: '127.0.0.1', port: s.port })
    sockets.push(socket)
    const frames: RemotingCommand[] = []
    const decoder = new FrameDecoder(1024 * 1024)
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, (frame) => frames.push(decodeFrame(frame))))
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const hook = new AclClientRPCHook({ accessKey: 'RocketMQ', secretKey: SECRET })
    const refusedOneway = send('topicA').markOneway()
    const allowedOneway = send('topicB').markOneway()
    const allowedSync = send('topicD')
    for (const r of [refusedOneway, allowedOneway, allowedSync]) {
      hook.doBeforeRequest(s.addr, r)
      socket.write(encodeFrameToBuffer(r))
    }
    await waitFor(() => frames.length >= 1, { what: 'the sync response' })
    expect(frames.map((f) => [f.opaque, f.code])).toEqual([[allowedSync.opaque, ResponseCode.SUCCESS]])
    expect(s.processed.map((r) => r.opaque)).toEqual([allowedOneway.opaque, allowedSync.opaque])
    expect(s.hook.refusedCount).toBe(1)
  })

  it('passes unsigned requests from the global white list, and only from it', async () => {
    const yaml = ACL_YAML.replace('  - 10.10.103.*\n', '  - 127.0.0.1\n')
    const s = await start(yaml)
    const response = await client().invoke(s.addr, send('topicA'), TIMEOUT_MS)
    expect(response.code).toBe(ResponseCode.SUCCESS)
    expect(s.processed.map((r) => r.ext('b'))).toEqual(['topicA'])

    await server!.close()
    const other = await start()
    const refused = await client().invoke(other.addr, send('topicA'), TIMEOUT_MS)
    expect(refused.remark).toBe(`${ACL_EXCEPTION}: the request has no AccessKey`)
  })

  it('passes requests ali-ons signs (OnsChannel in the signed set, numbers and booleans as text)', async () => {
    const s = await start()
    const channel = new OnsChannelClass(s.addr, { accessKey: 'RocketMQ', secretKey: SECRET, logger: silentLogger })
    onsChannels.push(channel)
    await channel.ready()
    const header = {
      a: 'PG',
      b: 'topicB',
      c: 'TBW102',
      d: 4,
      e: 1,
      f: 0,
      g: 1_700_000_000_000,
      h: 0,
      i: 'TAGS\u0001t\u0002',
      j: 0,
      k: false,
      l: 16,
    }
    const sendCommand = OnsRemotingCommand.createRequestCommand(SEND_MESSAGE_V2, header)
    sendCommand.body = Buffer.from('from ali-ons')
    const sent = await channel.invoke(sendCommand, TIMEOUT_MS)
    expect([sent.code, sent.remark ?? null]).toEqual([ResponseCode.SUCCESS, null])
    const pulled = await channel.invoke(
      OnsRemotingCommand.createRequestCommand(PULL_MESSAGE, {
        consumerGroup: 'groupC',
        topic: 'topicC',
        queueId: 0,
        queueOffset: 0,
        maxMsgNums: 32,
        sysFlag: 2,
        commitOffset: 0,
        suspendTimeoutMillis: 15000,
        subscription: '*',
        subVersion: 0,
      }),
      TIMEOUT_MS,
    )
    expect(pulled.code).toBe(ResponseCode.SUCCESS)
    const seen = s.processed[0]!
    expect([seen.ext('OnsChannel'), seen.ext('d'), seen.ext('g'), seen.ext('k')]).toEqual([
      'ALIYUN',
      '4',
      '1700000000000',
      'false',
    ])

    const forbidden = OnsRemotingCommand.createRequestCommand(SEND_MESSAGE_V2, { ...header, b: 'topicC' })
    const refused = await channel.invoke(forbidden, TIMEOUT_MS)
    expect([refused.code, refused.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      `${ACL_EXCEPTION}: AccessKey RocketMQ has no PUB permission on topic topicC (its permission is SUB)`,
    ])
  })

  it('refuses ali-ons requests signed with the wrong secret', async () => {
    const s = await start()
    const channel = new OnsChannelClass(s.addr, {
      accessKey: 'RocketMQ',
      secretKey: 'wrong-secret',
      logger: silentLogger,
    })
    onsChannels.push(channel)
    await channel.ready()
    const command = OnsRemotingCommand.createRequestCommand(SEND_MESSAGE_V2, { a: 'PG', b: 'topicB', d: 4, k: false })
    const refused = await channel.invoke(command, TIMEOUT_MS)
    expect([refused.code, refused.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      `${ACL_EXCEPTION}: signature check failed for AccessKey RocketMQ`,
    ])
    expect(s.processed).toEqual([])
  })
})
