/**
 * The name server over TCP: a fake broker registers through `BrokerOuterAPI`, clients query with JSON and ROCKETMQ
 * headers through `RemotingClient` and, for the golden vectors of protocol.md §1.11, through a raw socket.
 */
import net from 'node:net'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { MQVersion } from '../../ts/common/mq-version.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { newTopicConfig, type DataVersion } from '../../ts/common/topic-config.js'
import { BrokerOuterAPI, type RegisterBrokerAllRequest } from '../../ts/broker/broker-outer-api.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import type { NamesrvConfig } from '../../ts/namesrv/namesrv-config.js'
import { decodeKVTable } from '../../ts/remoting/protocol/namesrv.js'
import { decodeClusterInfo, decodeTopicList, decodeTopicRouteData } from '../../ts/remoting/protocol/route.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType, type ExtFields } from '../../ts/remoting/remoting-command.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

/** protocol.md §1.11.1: GET_ROUTEINFO_BY_TOPIC for TopicTest, JSON header, opaque 1, version 409. */
const GOLDEN_JSON_REQUEST =
  '00000087 00000083 ' +
  Buffer.from(
    '{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":1,' +
      '"serializeTypeCurrentRPC":"JSON","version":409}',
  ).toString('hex')
/** protocol.md §1.11.2: the response header (95 bytes). */
const GOLDEN_JSON_RESPONSE_HEADER =
  '{"code":0,"flag":1,"language":"JAVA","opaque":1,"serializeTypeCurrentRPC":"JSON","version":409}'
/** protocol.md §1.11.3: the same request with a ROCKETMQ header (49 bytes). */
const GOLDEN_BINARY_REQUEST =
  '0000002d 01000029 0069 00 0199 00000001 00000000 00000000 00000014 0005 746f706963 00000009 546f70696354657374'
/** protocol.md §1.11.3: the binary response header (21 bytes). */
const GOLDEN_BINARY_RESPONSE_HEADER = '0000 00 0199 00000001 00000001 00000000 00000000'
/** protocol.md §1.11.2 body, plus the `topicSynFlag` ferrymq writes by default (§7.4). */
const ROUTE_BODY =
  '{"brokerDatas":[{"brokerAddrs":{"0":"192.168.0.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],' +
  '"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,' +
  '"topicSysFlag":0,"writeQueueNums":4}]}'

const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex')

const TOPIC_TEST = newTopicConfig('TopicTest', { readQueueNums: 4, writeQueueNums: 4 })
const TBW102 = newTopicConfig('TBW102', { readQueueNums: 8, writeQueueNums: 8, perm: 7 })

function brokerA(overrides: Partial<RegisterBrokerAllRequest> = {}): RegisterBrokerAllRequest {
  return {
    clusterName: 'DefaultCluster',
    brokerAddr: '192.168.0.10:10911',
    brokerName: 'broker-a',
    brokerId: 0,
    haServerAddr: '192.168.0.10:10912',
    topicConfigWrapper: {
      topicConfigTable: new Map([
        [TOPIC_TEST.topicName, TOPIC_TEST],
        [TBW102.topicName, TBW102],
      ]),
      dataVersion: { timestamp: 1_700_000_000_000, counter: 1 },
    },
    oneway: false,
    timeoutMs: 3000,
    compressed: false,
    ...overrides,
  }
}

/** Sends one frame on a fresh socket and reads back exactly one frame. */
async function exchange(port: number, frame: Buffer): Promise<Buffer> {
  const socket = net.connect({ host: '127.0.0.1', port })
  try {
    socket.write(frame)
    let data = Buffer.alloc(0)
    for await (const chunk of socket) {
      data = Buffer.concat([data, chunk as Buffer])
      if (data.length >= 4 && data.length >= 4 + data.readInt32BE(0)) break
    }
    return data
  } finally {
    socket.destroy()
  }
}

/** An address nothing listens on: bind a port, then free it. */
async function deadAddress(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

describe('name server (integration)', () => {
  let dir: TempDir
  let controllers: NamesrvController[]
  let apis: BrokerOuterAPI[]
  let client: RemotingClient

  beforeEach(() => {
    dir = tempDir('ferrymq-namesrv-')
    controllers = []
    apis = []
    client = new RemotingClient()
  })

  afterEach(async () => {
    client.shutdown()
    for (const api of apis) api.shutdown()
    for (const c of controllers) await c.shutdown()
    dir.remove()
  })

  async function startNamesrv(config: Partial<NamesrvConfig> = {}, now?: () => number): Promise<string> {
    const controller = await NamesrvController.start(
      {
        listenPort: 0,
        bindAddress: '127.0.0.1',
        kvConfigPath: join(dir.path, `kv-${controllers.length}.json`),
        ...config,
      },
      { now },
    )
    controllers.push(controller)
    return `127.0.0.1:${controller.port()}`
  }

  function brokerApi(...namesrvAddrs: string[]): BrokerOuterAPI {
    const api = new BrokerOuterAPI()
    api.updateNameServerAddressList(namesrvAddrs.join(';'))
    apis.push(api)
    return api
  }

  function invoke(
    addr: string,
    code: number,
    ext: ExtFields | null = null,
    version?: number,
  ): Promise<RemotingCommand> {
    const request = RemotingCommand.createRequest(code, ext)
    if (version !== undefined) request.version = version
    return client.invoke(addr, request, 3000)
  }

  const route = (addr: string, topic: string, version?: number) =>
    invoke(addr, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }, version)

  it('registers with every name server; each one then serves the route', async () => {
    const ns1 = await startNamesrv()
    const ns2 = await startNamesrv()
    const outcomes = await brokerApi(ns1, ns2).registerBrokerAll(brokerA())
    expect(outcomes).toEqual([
      { namesrvAddr: ns1, ok: true, result: { masterAddr: null, haServerAddr: null, kvTable: null } },
      { namesrvAddr: ns2, ok: true, result: { masterAddr: null, haServerAddr: null, kvTable: null } },
    ])
    for (const addr of [ns1, ns2]) {
      const response = await route(addr, 'TopicTest')
      expect(response.code).toBe(ResponseCode.SUCCESS)
      expect(response.body!.toString()).toBe(ROUTE_BODY)
    }
  })

  it('reports a name server that is down and still registers with the others', async () => {
    const ns1 = await startNamesrv()
    const dead = await deadAddress()
    const ns2 = await startNamesrv()
    const outcomes = await brokerApi(ns1, dead, ns2).registerBrokerAll(brokerA({ timeoutMs: 2000 }))
    expect(outcomes.map((o) => [o.namesrvAddr, o.ok])).toEqual([
      [ns1, true],
      [dead, false],
      [ns2, true],
    ])
    expect((await route(ns2, 'TopicTest')).code).toBe(ResponseCode.SUCCESS)
  })

  it('registers oneway and with the compressed body', async () => {
    const ns = await startNamesrv()
    const api = brokerApi(ns)
    const oneway = await api.registerBrokerAll(brokerA({ oneway: true }))
    expect(oneway).toEqual([{ namesrvAddr: ns, ok: true, result: null }])
    await waitFor(async () => (await route(ns, 'TopicTest')).code === ResponseCode.SUCCESS, {
      what: 'oneway registration',
    })
    const table = new Map([['Zipped', newTopicConfig('Zipped', { readQueueNums: 2, writeQueueNums: 2 })]])
    const dataVersion = { timestamp: 1_700_000_000_000, counter: 2 }
    const zipped = await api.registerBrokerAll(
      brokerA({ compressed: true, topicConfigWrapper: { topicConfigTable: table, dataVersion } }),
    )
    expect(zipped[0]!.ok).toBe(true)
    const response = await route(ns, 'Zipped')
    expect(decodeTopicRouteData(response.body).queueDatas[0]!.writeQueueNums).toBe(2)
  })

  it('answers the golden JSON request of protocol.md §1.11 with the golden header, in JSON', async () => {
    const ns = await startNamesrv()
    await brokerApi(ns).registerBrokerAll(brokerA())
    const frame = await exchange(controllers[0]!.port(), hex(GOLDEN_JSON_REQUEST))
    const header = Buffer.from(GOLDEN_JSON_RESPONSE_HEADER)
    const body = Buffer.from(ROUTE_BODY)
    const expected = Buffer.alloc(8)
    expected.writeInt32BE(4 + header.length + body.length, 0)
    expected.writeInt32BE(header.length, 4)
    expect(frame.toString('hex')).toBe(Buffer.concat([expected, header, body]).toString('hex'))
  })

  it('answers the golden ROCKETMQ request of protocol.md §1.11.3 with the golden binary header', async () => {
    const ns = await startNamesrv()
    await brokerApi(ns).registerBrokerAll(brokerA())
    const frame = await exchange(controllers[0]!.port(), hex(GOLDEN_BINARY_REQUEST))
    const header = hex(GOLDEN_BINARY_RESPONSE_HEADER)
    const body = Buffer.from(ROUTE_BODY)
    const expected = Buffer.alloc(8)
    expected.writeInt32BE(4 + header.length + body.length, 0)
    expected.writeUInt32BE((1 << 24) | header.length, 4)
    expect(frame.toString('hex')).toBe(Buffer.concat([expected, header, body]).toString('hex'))
  })

  it('answers each request in its own serialization', async () => {
    const ns = await startNamesrv()
    await brokerApi(ns).registerBrokerAll(brokerA())
    for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
      const request = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'TopicTest' })
      request.serializeType = type
      const response = await client.invoke(ns, request, 3000)
      expect(response.serializeType).toBe(type)
      expect(response.code).toBe(ResponseCode.SUCCESS)
      const failed = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: '%RETRY%G' })
      failed.serializeType = type
      const notFound = await client.invoke(ns, failed, 3000)
      expect([notFound.serializeType, notFound.code]).toEqual([type, ResponseCode.TOPIC_NOT_EXIST])
    }
  })

  it('writes unquoted broker ids for old clients unless they accept standard JSON only', async () => {
    const ns = await startNamesrv()
    await brokerApi(ns).registerBrokerAll(brokerA())
    const go = await route(ns, 'TopicTest', MQVersion.V4_5_2)
    expect(go.body!.toString()).toBe(ROUTE_BODY.replace('{"0":', '{0:'))
    const strict = await invoke(
      ns,
      RequestCode.GET_ROUTEINFO_BY_TOPIC,
      { topic: 'TopicTest', acceptStandardJsonOnly: 'true' },
      317,
    )
    expect(strict.body!.toString()).toBe(ROUTE_BODY)
  })

  it('answers TOPIC_NOT_EXIST without TBW102, and the TBW102 route once a broker offers it', async () => {
    const ns = await startNamesrv()
    const api = brokerApi(ns)
    const withoutTemplate = new Map([[TOPIC_TEST.topicName, TOPIC_TEST]])
    const dataVersion = { timestamp: 1, counter: 1 }
    await api.registerBrokerAll(brokerA({ topicConfigWrapper: { topicConfigTable: withoutTemplate, dataVersion } }))
    const missing = await route(ns, 'NewTopic')
    expect(missing.code).toBe(ResponseCode.TOPIC_NOT_EXIST)
    expect(missing.remark).toContain('NewTopic')
    await api.registerBrokerAll(brokerA())
    const fallback = await route(ns, 'NewTopic')
    expect(fallback.code).toBe(ResponseCode.SUCCESS)
    expect(decodeTopicRouteData(fallback.body)).toEqual({
      orderTopicConf: null,
      queueDatas: [{ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 }],
      brokerDatas: [
        { cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: new Map([[0, '192.168.0.10:10911']]) },
      ],
      filterServerTable: new Map(),
    })
    expect((await route(ns, 'bad topic!')).code).toBe(ResponseCode.TOPIC_NOT_EXIST)
  })

  it('keeps answering TOPIC_NOT_EXIST when the TBW102 fallback is switched off', async () => {
    const ns = await startNamesrv({ autoCreateTopicRouteEnable: false })
    await brokerApi(ns).registerBrokerAll(brokerA())
    expect((await route(ns, 'NewTopic')).code).toBe(ResponseCode.TOPIC_NOT_EXIST)
    expect((await route(ns, 'TBW102')).code).toBe(ResponseCode.SUCCESS)
  })

  it('serves cluster info and topic lists', async () => {
    const ns = await startNamesrv()
    await brokerApi(ns).registerBrokerAll(brokerA())
    const info = await invoke(ns, RequestCode.GET_BROKER_CLUSTER_INFO)
    expect(info.body!.toString()).toContain('"brokerAddrs":{0:"192.168.0.10:10911"}')
    expect(decodeClusterInfo(info.body)).toEqual({
      brokerAddrTable: new Map([
        [
          'broker-a',
          { cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: new Map([[0, '192.168.0.10:10911']]) },
        ],
      ]),
      clusterAddrTable: new Map([['DefaultCluster', new Set(['broker-a'])]]),
    })
    const all = decodeTopicList((await invoke(ns, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)).body)
    expect(all.topicList.sort()).toEqual(['TBW102', 'TopicTest'])
    const byCluster = await invoke(ns, RequestCode.GET_TOPICS_BY_CLUSTER, { cluster: 'DefaultCluster' })
    expect(decodeTopicList(byCluster.body).topicList.sort()).toEqual(['TBW102', 'TopicTest'])
    const system = decodeTopicList((await invoke(ns, RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS)).body)
    expect(system).toEqual({ topicList: ['DefaultCluster', 'broker-a'], brokerAddr: '192.168.0.10:10911' })
  })

  it('deletes topics and wipes and restores write permission', async () => {
    const ns = await startNamesrv()
    await brokerApi(ns).registerBrokerAll(brokerA())
    const wiped = await invoke(ns, RequestCode.WIPE_WRITE_PERM_OF_BROKER, { brokerName: 'broker-a' })
    expect(wiped.ext('wipeTopicCount')).toBe('2')
    expect(decodeTopicRouteData((await route(ns, 'TopicTest')).body).queueDatas[0]!.perm).toBe(4)
    const added = await invoke(ns, RequestCode.ADD_WRITE_PERM_OF_BROKER, { brokerName: 'broker-a' })
    expect(added.ext('addTopicCount')).toBe('2')
    expect((await invoke(ns, RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: 'TopicTest' })).code).toBe(
      ResponseCode.SUCCESS,
    )
    const gone = await invoke(ns, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
    expect(decodeTopicList(gone.body).topicList).toEqual(['TBW102'])
  })

  it('keeps KV config across a restart and hands ORDER_TOPIC_CONFIG to registering brokers', async () => {
    const ns = await startNamesrv()
    const put = { namespace: 'ORDER_TOPIC_CONFIG', key: 'TopicTest', value: 'broker-a:4' }
    expect((await invoke(ns, RequestCode.PUT_KV_CONFIG, put)).code).toBe(ResponseCode.SUCCESS)
    const [outcome] = await brokerApi(ns).registerBrokerAll(brokerA())
    expect(outcome).toMatchObject({ ok: true, result: { kvTable: new Map([['TopicTest', 'broker-a:4']]) } })

    await controllers[0]!.shutdown()
    const restarted = await startNamesrv({ kvConfigPath: join(dir.path, 'kv-0.json') })
    const got = await invoke(restarted, RequestCode.GET_KV_CONFIG, {
      namespace: 'ORDER_TOPIC_CONFIG',
      key: 'TopicTest',
    })
    expect([got.code, got.ext('value')]).toEqual([ResponseCode.SUCCESS, 'broker-a:4'])
    const list = await invoke(restarted, RequestCode.GET_KVLIST_BY_NAMESPACE, { namespace: 'ORDER_TOPIC_CONFIG' })
    expect(decodeKVTable(list.body)).toEqual(new Map([['TopicTest', 'broker-a:4']]))
    const del = { namespace: 'ORDER_TOPIC_CONFIG', key: 'TopicTest' }
    expect((await invoke(restarted, RequestCode.DELETE_KV_CONFIG, del)).code).toBe(ResponseCode.SUCCESS)
    expect((await invoke(restarted, RequestCode.GET_KV_CONFIG, del)).code).toBe(ResponseCode.QUERY_NOT_FOUND)
  })

  it('answers SYSTEM_ERROR for a missing required field and REQUEST_CODE_NOT_SUPPORTED for other codes', async () => {
    const ns = await startNamesrv()
    const missing = await invoke(ns, RequestCode.GET_KV_CONFIG, { namespace: 'x' })
    expect([missing.code, missing.remark]).toEqual([ResponseCode.SYSTEM_ERROR, expect.stringContaining('<key>')])
    const other = await invoke(ns, RequestCode.SEND_MESSAGE_V2)
    expect(other.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED)
  })

  it('tells a broker whether it needs to register (QUERY_DATA_VERSION)', async () => {
    const ns = await startNamesrv()
    const api = brokerApi(ns)
    const identity = {
      clusterName: 'DefaultCluster',
      brokerAddr: '192.168.0.10:10911',
      brokerName: 'broker-a',
      brokerId: 0,
    }
    const v1: DataVersion = { timestamp: 1_700_000_000_000, counter: 1 }
    expect(await api.needRegister(identity, v1, 3000)).toEqual([true])
    await api.registerBrokerAll(brokerA())
    expect(await api.needRegister(identity, v1, 3000)).toEqual([false])
    expect(await api.needRegister(identity, { ...v1, counter: 2 }, 3000)).toEqual([true])
  })

  it('removes a broker that unregisters from every name server', async () => {
    const ns1 = await startNamesrv()
    const ns2 = await startNamesrv()
    const api = brokerApi(ns1, ns2)
    await api.registerBrokerAll(brokerA())
    const outcomes = await api.unregisterBrokerAll({
      clusterName: 'DefaultCluster',
      brokerAddr: '192.168.0.10:10911',
      brokerName: 'broker-a',
      brokerId: 0,
    })
    expect(outcomes.map((o) => o.ok)).toEqual([true, true])
    // Through a connection of its own, so the broker's connection stays open and cannot be what removed it.
    for (const ns of [ns1, ns2]) expect((await route(ns, 'TopicTest')).code).toBe(ResponseCode.TOPIC_NOT_EXIST)
  })

  it("removes a broker's routes as soon as the connection it registered on closes", async () => {
    // No liveness scan during the test: only the close can remove the broker.
    const ns = await startNamesrv({ scanNotActiveBrokerDelayMs: 600_000 })
    const api = brokerApi(ns)
    await api.registerBrokerAll(brokerA())
    expect((await route(ns, 'TopicTest')).code).toBe(ResponseCode.SUCCESS)
    api.shutdown()
    await waitFor(async () => (await route(ns, 'TopicTest')).code === ResponseCode.TOPIC_NOT_EXIST, {
      what: 'routes removed after the broker connection closed',
    })
    expect(decodeClusterInfo((await invoke(ns, RequestCode.GET_BROKER_CLUSTER_INFO)).body).brokerAddrTable.size).toBe(0)
  })

  it('expires a broker that stops registering, on the periodic scan', async () => {
    let nowMs = Date.now()
    const ns = await startNamesrv({ scanNotActiveBrokerDelayMs: 0, scanNotActiveBrokerIntervalMs: 20 }, () => nowMs)
    await brokerApi(ns).registerBrokerAll(brokerA())
    expect((await route(ns, 'TopicTest')).code).toBe(ResponseCode.SUCCESS)
    nowMs += 120_001
    await waitFor(async () => (await route(ns, 'TopicTest')).code === ResponseCode.TOPIC_NOT_EXIST, {
      what: 'broker expiry',
    })
  })
})
