import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { MQVersion } from '../../../ts/common/mq-version.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import { newTopicConfig, type TopicConfig } from '../../../ts/common/topic-config.js'
import { DefaultRequestProcessor } from '../../../ts/namesrv/default-request-processor.js'
import { KVConfigManager } from '../../../ts/namesrv/kv-config-manager.js'
import { RouteInfoManager, type BrokerChannel } from '../../../ts/namesrv/route-info-manager.js'
import {
  bodyCrc32,
  decodeDataVersion,
  decodeKVTable,
  encodeDataVersion,
  encodeRegisterBrokerBody,
  registerBrokerRequestExt,
  topicConfigSerializeWrapperToJson,
} from '../../../ts/remoting/protocol/namesrv.js'
import { decodeTopicRouteData } from '../../../ts/remoting/protocol/route.js'
import { RemotingCommand, type ExtFields } from '../../../ts/remoting/remoting-command.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'

const channel: BrokerChannel = { remoteAddress: '10.0.0.1:50000', close: () => {} }
const BROKER = { brokerName: 'broker-a', brokerAddr: '10.0.0.1:10911', clusterName: 'DefaultCluster', brokerId: 0 }

function wrapper(counter: number, ...configs: TopicConfig[]) {
  return { dataVersion: { timestamp: 1000, counter }, topicConfigTable: new Map(configs.map((c) => [c.topicName, c])) }
}

describe('DefaultRequestProcessor', () => {
  let dir: TempDir
  let rim: RouteInfoManager
  let kv: KVConfigManager
  let orderMessageEnable: boolean

  beforeEach(() => {
    dir = tempDir('ferrymq-nsproc-')
    rim = new RouteInfoManager()
    kv = new KVConfigManager({ kvConfigPath: join(dir.path, 'kvConfig.json'), itemsMax: 10 })
    orderMessageEnable = false
  })

  afterEach(() => dir.remove())

  async function call(code: number, ext: ExtFields | null = null, body: Buffer | null = null, version?: number) {
    const processor = new DefaultRequestProcessor({ routeInfoManager: rim, kvConfigManager: kv, orderMessageEnable })
    const request = RemotingCommand.createRequest(code, ext, body)
    if (version !== undefined) request.version = version
    return processor.processRequest(channel, request)
  }

  function register(body: Buffer | null, compressed = false, crc = bodyCrc32(body), version?: number) {
    const ext = registerBrokerRequestExt({ ...BROKER, haServerAddr: '10.0.0.1:10912', compressed, bodyCrc32: crc })
    return call(RequestCode.REGISTER_BROKER, ext, body, version)
  }

  const registration = (w = wrapper(1, newTopicConfig('T', { readQueueNums: 4, writeQueueNums: 4 }))) =>
    encodeRegisterBrokerBody({ topicConfigSerializeWrapper: w, filterServerList: [] }, false)

  it('covers the name server codes of protocol.md §2.3', () => {
    const processor = new DefaultRequestProcessor({ routeInfoManager: rim, kvConfigManager: kv, orderMessageEnable })
    expect(processor.codes().sort((a, b) => a - b)).toEqual([
      100, 101, 102, 103, 104, 105, 106, 205, 206, 216, 219, 224, 304, 322, 327,
    ])
  })

  it('answers an unknown code REQUEST_CODE_NOT_SUPPORTED', async () => {
    const response = await call(RequestCode.SEND_MESSAGE)
    expect(response.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED)
    expect(response.remark).toBe(' request type 10 not supported')
  })

  describe('REGISTER_BROKER', () => {
    it('registers from the JSON body and answers without a body while ORDER_TOPIC_CONFIG is empty', async () => {
      const response = await register(registration())
      expect(response.code).toBe(ResponseCode.SUCCESS)
      expect(response.body).toBeNull()
      expect(response.extFields).toBeNull()
      expect(rim.pickupTopicRouteData('T')!.queueDatas[0]!.writeQueueNums).toBe(4)
    })

    it('accepts the compressed body', async () => {
      const w = wrapper(1, newTopicConfig('Z', { readQueueNums: 2, writeQueueNums: 2 }))
      const body = encodeRegisterBrokerBody({ topicConfigSerializeWrapper: w, filterServerList: [] }, true)
      expect((await register(body, true)).code).toBe(ResponseCode.SUCCESS)
      expect(rim.pickupTopicRouteData('Z')!.queueDatas[0]!.readQueueNums).toBe(2)
    })

    it('accepts the bare wrapper of brokers before 3.0.11', async () => {
      const body = Buffer.from(topicConfigSerializeWrapperToJson(wrapper(1, newTopicConfig('Old'))))
      expect((await register(body, false, 0, MQVersion.V3_0_11 - 1)).code).toBe(ResponseCode.SUCCESS)
      expect(rim.pickupTopicRouteData('Old')).not.toBeNull()
    })

    it('registers a broker with no body as one with no topics at DataVersion {0, 0}', async () => {
      expect((await register(null)).code).toBe(ResponseCode.SUCCESS)
      expect(rim.queryBrokerTopicConfig(BROKER.brokerAddr)).toEqual({ timestamp: 0, counter: 0 })
      expect(rim.getAllClusterInfo().brokerAddrTable.has('broker-a')).toBe(true)
    })

    it('refuses a body whose CRC does not match, and skips the check when the CRC is 0', async () => {
      const body = registration()
      const refused = await register(body, false, (bodyCrc32(body) + 1) & 0x7fffffff)
      expect(refused.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(refused.remark).toBe('crc32 not match')
      expect(rim.pickupTopicRouteData('T')).toBeNull()
      expect((await register(body, false, 0)).code).toBe(ResponseCode.SUCCESS)
    })

    it('answers SYSTEM_ERROR for a body it cannot decode', async () => {
      const response = await register(Buffer.from('{"topicConfigSerializeWrapper":[]}'))
      expect(response.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(response.remark).toMatch(/^Failed to decode RegisterBrokerBody/)
    })

    it('replies with the ORDER_TOPIC_CONFIG table', async () => {
      kv.putKVConfig('ORDER_TOPIC_CONFIG', 'T', 'broker-a:4')
      const response = await register(registration())
      expect(decodeKVTable(response.body)).toEqual(new Map([['T', 'broker-a:4']]))
    })

    it('tells a slave where its master is', async () => {
      await register(registration())
      const ext = registerBrokerRequestExt({
        ...BROKER,
        brokerId: 1,
        brokerAddr: '10.0.0.2:10911',
        haServerAddr: '10.0.0.2:10912',
        compressed: false,
        bodyCrc32: 0,
      })
      const response = await call(RequestCode.REGISTER_BROKER, ext, registration())
      expect(response.extFields).toEqual({ haServerAddr: '10.0.0.1:10912', masterAddr: '10.0.0.1:10911' })
    })
  })

  describe('GET_ROUTEINFO_BY_TOPIC', () => {
    it('answers TOPIC_NOT_EXIST naming the topic', async () => {
      const response = await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'Nope' })
      expect(response.code).toBe(ResponseCode.TOPIC_NOT_EXIST)
      expect(response.remark).toBe(
        'No topic route info in name server for the topic: Nope\nSee http://rocketmq.apache.org/docs/faq/ for further details.',
      )
    })

    it('throws a ProtocolError naming the missing topic field (the dispatcher answers SYSTEM_ERROR)', async () => {
      await expect(call(RequestCode.GET_ROUTEINFO_BY_TOPIC, {})).rejects.toMatchObject({
        name: 'ProtocolError',
        message: expect.stringContaining('<topic>'),
      })
    })

    it('picks the JSON style from the request version and acceptStandardJsonOnly', async () => {
      await register(registration())
      const strict = await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' }, null, MQVersion.V4_9_4)
      expect(strict.body!.toString()).toContain('"brokerAddrs":{"0":"10.0.0.1:10911"}')
      const loose = await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' }, null, MQVersion.V3_4_9)
      expect(loose.body!.toString()).toContain('"brokerAddrs":{0:"10.0.0.1:10911"}')
      const asked = await call(
        RequestCode.GET_ROUTEINFO_BY_TOPIC,
        { topic: 'T', acceptStandardJsonOnly: 'true' },
        null,
        317,
      )
      expect(asked.body!.toString()).toContain('"brokerAddrs":{"0":"10.0.0.1:10911"}')
    })

    it('adds orderTopicConf only with orderMessageEnable', async () => {
      await register(registration())
      kv.putKVConfig('ORDER_TOPIC_CONFIG', 'T', 'broker-a:2')
      const off = await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' })
      expect(decodeTopicRouteData(off.body).orderTopicConf).toBeNull()
      orderMessageEnable = true
      const on = await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'T' })
      expect(decodeTopicRouteData(on.body).orderTopicConf).toBe('broker-a:2')
    })

    it('answers an unknown topic with the TBW102 route when a broker offers it', async () => {
      await register(
        registration(wrapper(1, newTopicConfig('TBW102', { readQueueNums: 8, writeQueueNums: 8, perm: 7 }))),
      )
      const response = await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'Fresh' })
      expect(response.code).toBe(ResponseCode.SUCCESS)
      expect(decodeTopicRouteData(response.body).queueDatas).toEqual([
        { brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6, topicSysFlag: 0 },
      ])
      expect((await call(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: '%RETRY%G' })).code).toBe(
        ResponseCode.TOPIC_NOT_EXIST,
      )
    })
  })

  describe('QUERY_DATA_VERSION', () => {
    it('says changed for an unknown broker and unchanged (with the stored version) after registration', async () => {
      const ext = { ...BROKER, brokerId: '0' }
      const before = await call(RequestCode.QUERY_DATA_VERSION, ext, encodeDataVersion({ timestamp: 1000, counter: 1 }))
      expect(before.extFields).toEqual({ changed: 'true' })
      expect(before.body).toBeNull()
      await register(registration())
      const same = await call(RequestCode.QUERY_DATA_VERSION, ext, encodeDataVersion({ timestamp: 1000, counter: 1 }))
      expect(same.extFields).toEqual({ changed: 'false' })
      expect(decodeDataVersion(same.body)).toEqual({ timestamp: 1000, counter: 1 })
      const newer = await call(RequestCode.QUERY_DATA_VERSION, ext, encodeDataVersion({ timestamp: 1000, counter: 2 }))
      expect(newer.extFields).toEqual({ changed: 'true' })
    })

    it('answers SYSTEM_ERROR without a DataVersion body', async () => {
      const response = await call(RequestCode.QUERY_DATA_VERSION, { ...BROKER, brokerId: '0' })
      expect(response.code).toBe(ResponseCode.SYSTEM_ERROR)
    })
  })

  describe('KV config', () => {
    it('puts, gets, lists and deletes, persisting each change', async () => {
      const ns = { namespace: 'ns' }
      expect((await call(RequestCode.PUT_KV_CONFIG, { ...ns, key: 'k', value: 'v' })).code).toBe(ResponseCode.SUCCESS)
      const got = await call(RequestCode.GET_KV_CONFIG, { ...ns, key: 'k' })
      expect(got.extFields).toEqual({ value: 'v' })
      const list = await call(RequestCode.GET_KVLIST_BY_NAMESPACE, ns)
      expect(decodeKVTable(list.body)).toEqual(new Map([['k', 'v']]))
      const reloaded = new KVConfigManager({ kvConfigPath: join(dir.path, 'kvConfig.json'), itemsMax: 10 })
      await reloaded.load()
      expect(reloaded.getKVConfig('ns', 'k')).toBe('v')
      expect((await call(RequestCode.DELETE_KV_CONFIG, { ...ns, key: 'k' })).code).toBe(ResponseCode.SUCCESS)
      const gone = await call(RequestCode.GET_KV_CONFIG, { ...ns, key: 'k' })
      expect(gone.code).toBe(ResponseCode.QUERY_NOT_FOUND)
      expect(gone.remark).toBe('No config item, Namespace: ns Key: k')
    })

    it('answers QUERY_NOT_FOUND for an unknown namespace', async () => {
      const response = await call(RequestCode.GET_KVLIST_BY_NAMESPACE, { namespace: 'nope' })
      expect(response.code).toBe(ResponseCode.QUERY_NOT_FOUND)
      expect(response.remark).toBe('No config item, Namespace: nope')
    })

    it('refuses a put beyond the item limit', async () => {
      for (let i = 0; i < 10; i++) kv.putKVConfig('ns', `k${i}`, 'v')
      const response = await call(RequestCode.PUT_KV_CONFIG, { namespace: 'ns', key: 'one-more', value: 'v' })
      expect(response.code).toBe(ResponseCode.SYSTEM_ERROR)
    })
  })

  describe('admin codes', () => {
    it('wipes and adds write permission, answering the topic counts', async () => {
      await register(registration(wrapper(1, newTopicConfig('A'), newTopicConfig('B'))))
      const wiped = await call(RequestCode.WIPE_WRITE_PERM_OF_BROKER, { brokerName: 'broker-a' })
      expect(wiped.extFields).toEqual({ wipeTopicCount: '2' })
      expect(rim.pickupTopicRouteData('A')!.queueDatas[0]!.perm).toBe(4)
      const added = await call(RequestCode.ADD_WRITE_PERM_OF_BROKER, { brokerName: 'broker-a' })
      expect(added.extFields).toEqual({ addTopicCount: '2' })
      expect(rim.pickupTopicRouteData('A')!.queueDatas[0]!.perm).toBe(6)
    })

    it('deletes a topic, everywhere or in one cluster', async () => {
      await register(registration(wrapper(1, newTopicConfig('A'), newTopicConfig('B'))))
      await call(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: 'A', clusterName: 'Elsewhere' })
      expect(rim.pickupTopicRouteData('A')).not.toBeNull()
      await call(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: 'A', clusterName: 'DefaultCluster' })
      expect(rim.pickupTopicRouteData('A')).toBeNull()
      await call(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: 'B' })
      expect(rim.getAllTopicList().topicList).toEqual([])
    })

    it('unregisters a broker', async () => {
      await register(registration())
      const response = await call(RequestCode.UNREGISTER_BROKER, { ...BROKER, brokerId: '0' })
      expect(response.code).toBe(ResponseCode.SUCCESS)
      expect(rim.pickupTopicRouteData('T')).toBeNull()
    })
  })
})
