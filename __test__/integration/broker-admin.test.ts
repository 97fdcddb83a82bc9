import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest'

import { BrokerOuterAPI, type RegisterBrokerAllRequest } from '../../ts/broker/broker-outer-api.js'
import { parseJson } from '../../ts/common/fastjson.js'
import { decodeMessageId } from '../../ts/common/message/message-id.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { heartbeat, request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const body = (r: { body: Buffer | null }): Record<string, unknown> => parseJson(r.body!.toString()) as Record<string, unknown>

describe('broker: admin requests', () => {
  let c: TestCluster
  beforeEach(async () => {
    c = await startCluster()
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await c.stop()
  })

  it('creates, changes, lists and deletes a topic, and its queues go with it', async () => {
    const create = (read: number, write: number): ReturnType<typeof request> =>
      request(c.client, c.brokerAddr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
        topic: 'AdminT', defaultTopic: 'TBW102', readQueueNums: read, writeQueueNums: write, perm: 6, topicFilterType: 'SINGLE_TAG', order: false,
      })
    expect((await create(2, 2)).code).toBe(0)
    expect((await create(3, 3)).code).toBe(0)
    const all = body(await request(c.client, c.brokerAddr, RequestCode.GET_ALL_TOPIC_CONFIG))
    expect((all.topicConfigTable as Record<string, { readQueueNums: number }>).AdminT!.readQueueNums).toBe(3)
    await send(c.client, c.brokerAddr, { topic: 'AdminT', queueId: 2 })
    const stats = await request(c.client, c.brokerAddr, RequestCode.GET_TOPIC_STATS_INFO, { topic: 'AdminT' })
    // MessageQueue keys in fastjson's object-key form, as the Java admin tools parse them.
    expect(stats.body!.toString()).toContain('{"brokerName":"broker-a","queueId":2,"topic":"AdminT"}:{"lastUpdateTimestamp":')
    expect((await request(c.client, c.brokerAddr, RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'AdminT' })).code).toBe(0)
    expect(c.broker.topicConfigManager.selectTopicConfig('AdminT')).toBeUndefined()
    expect(c.broker.store.getMaxOffsetInQueue('AdminT', 2)).toBe(0)
    const sys = await request(c.client, c.brokerAddr, RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'TBW102' })
    expect(sys.code).toBe(ResponseCode.SYSTEM_ERROR)
    const bad = await request(c.client, c.brokerAddr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: 'a/b', defaultTopic: 'TBW102', readQueueNums: 1, writeQueueNums: 1, perm: 6, topicFilterType: 'SINGLE_TAG', order: false,
    })
    expect(bad.code).toBe(ResponseCode.SYSTEM_ERROR)
  })

  describe('keeps the name server in step with topic changes', () => {
    /** Every registration reaches the name servers this much later, as over a slow link. */
    const LINK_DELAY_MS = 100

    function slowRegistrations(): MockInstance<BrokerOuterAPI['registerBrokerAll']> {
      const register = BrokerOuterAPI.prototype.registerBrokerAll
      const slow = async function (this: BrokerOuterAPI, req: RegisterBrokerAllRequest): ReturnType<typeof register> {
        await new Promise((r) => setTimeout(r, LINK_DELAY_MS))
        return register.call(this, req)
      }
      return vi.spyOn(BrokerOuterAPI.prototype, 'registerBrokerAll').mockImplementation(slow)
    }

    const createTopic = (topic: string, read: number, write: number): ReturnType<typeof request> =>
      request(c.client, c.brokerAddr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
        topic,
        defaultTopic: 'TBW102',
        readQueueNums: read,
        writeQueueNums: write,
        perm: 6,
        topicFilterType: 'SINGLE_TAG',
        order: false,
      })

    /** The name server's queue data of `topic`; an unknown topic gets the TBW102-based route (4 queues). */
    async function queueDatas(topic: string): Promise<unknown[]> {
      const r = await request(c.client, c.namesrvAddr, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })
      return r.code === ResponseCode.SUCCESS ? (body(r).queueDatas as unknown[]) : []
    }

    const queues = (read: number, write: number): unknown[] => [
      expect.objectContaining({ brokerName: 'broker-a', readQueueNums: read, writeQueueNums: write, perm: 6 }),
    ]

    async function namesrvTopics(): Promise<string[]> {
      const r = await request(c.client, c.namesrvAddr, RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
      return body(r).topicList as string[]
    }

    it('answers a create or update only once the name server routes the new queues', async () => {
      const spy = slowRegistrations()
      expect((await createTopic('RouteT', 3, 5)).code).toBe(0)
      expect(await queueDatas('RouteT')).toEqual(queues(3, 5))
      expect((await createTopic('RouteT', 6, 2)).code).toBe(0)
      expect(await queueDatas('RouteT')).toEqual(queues(6, 2))

      // A create arriving while the registration of another is under way waits for a registration of its own.
      const before = spy.mock.calls.length
      const first = createTopic('RouteA', 2, 3)
      await waitFor(() => spy.mock.calls.length > before, { what: 'the registration of RouteA to start' })
      const second = createTopic('RouteB', 5, 1)
      expect((await first).code).toBe(0)
      expect(await queueDatas('RouteA')).toEqual(queues(2, 3))
      expect((await second).code).toBe(0)
      expect(await queueDatas('RouteB')).toEqual(queues(5, 1))
    })

    it('does not bring back a topic deleted in the broker and then in the name server', async () => {
      slowRegistrations()
      expect((await createTopic('GoneT', 3, 5)).code).toBe(0)
      const gone = { topic: 'GoneT' }
      expect((await request(c.client, c.brokerAddr, RequestCode.DELETE_TOPIC_IN_BROKER, gone)).code).toBe(0)
      expect((await request(c.client, c.namesrvAddr, RequestCode.DELETE_TOPIC_IN_NAMESRV, gone)).code).toBe(0)
      // Longer than any registration sent before the delete needs to arrive.
      const deadline = Date.now() + 3 * LINK_DELAY_MS
      while (Date.now() < deadline) {
        expect(await namesrvTopics()).not.toContain('GoneT')
        await new Promise((r) => setImmediate(r))
      }
      await c.broker.registerBrokerAll(false)
      expect(await namesrvTopics()).not.toContain('GoneT')
      expect(await queueDatas('GoneT')).not.toEqual(queues(3, 5))
    })
  })

  it('reports runtime info with every key mqadmin reads', async () => {
    await send(c.client, c.brokerAddr, { topic: 'RI' })
    const r = await request(c.client, c.brokerAddr, RequestCode.GET_BROKER_RUNTIME_INFO)
    const table = body(r).table as Record<string, string>
    for (const key of [
      'brokerVersionDesc', 'brokerVersion', 'msgPutTotalYesterdayMorning', 'msgPutTotalTodayMorning', 'msgPutTotalTodayNow',
      'msgGetTotalYesterdayMorning', 'msgGetTotalTodayMorning', 'msgGetTotalTodayNow', 'sendThreadPoolQueueSize',
      'sendThreadPoolQueueCapacity', 'pullThreadPoolQueueSize', 'pullThreadPoolQueueCapacity', 'sendThreadPoolQueueHeadWaitTimeMills',
      'pullThreadPoolQueueHeadWaitTimeMills', 'pageCacheLockTimeMills', 'earliestMessageTimeStamp', 'commitLogDiskRatio',
      'commitLogMinOffset', 'commitLogMaxOffset', 'putTps', 'getTransferedTps', 'bootTimestamp', 'runtime', 'dispatchBehindBytes',
    ]) {
      expect(table[key], key).toBeTypeOf('string')
    }
    expect(table.brokerVersionDesc).toBe('V4_9_8')
    expect(table.msgPutTotalTodayNow).toBe('1')
    expect(table.putTps!.split(' ')).toHaveLength(3)
    expect(Number(table.earliestMessageTimeStamp)).toBeGreaterThan(0)
  })

  it('reports consume stats and connections of a group, and who consumes a topic', async () => {
    for (let i = 0; i < 4; i++) await send(c.client, c.brokerAddr, { topic: 'CS' })
    await heartbeat(c.client, c.brokerAddr, 'cid-1', [{ group: 'CSG', topics: { CS: '*' } }])
    await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'CSG', topic: 'CS', queueId: 0, commitOffset: 1 })
    const stats = await request(c.client, c.brokerAddr, RequestCode.GET_CONSUME_STATS, { consumerGroup: 'CSG', topic: 'CS' })
    expect(stats.body!.toString()).toContain('{"brokerName":"broker-a","queueId":0,"topic":"CS"}:{"brokerOffset":4,"consumerOffset":1,"lastTimestamp":')
    const conns = body(await request(c.client, c.brokerAddr, RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: 'CSG' }))
    expect(conns).toMatchObject({ consumeType: 'CONSUME_PASSIVELY', messageModel: 'CLUSTERING' })
    expect((conns.connectionSet as { clientId: string }[])[0]!.clientId).toBe('cid-1')
    const offline = await request(c.client, c.brokerAddr, RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: 'Nobody' })
    expect(offline.code).toBe(ResponseCode.CONSUMER_NOT_ONLINE)
    const who = body(await request(c.client, c.brokerAddr, RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic: 'CS' }))
    expect(who.groupList).toEqual(['CSG'])
  })

  it('finds messages by key, unique key and offset id, and offsets by time', async () => {
    const before = Date.now()
    const r = await send(c.client, c.brokerAddr, { topic: 'QM', body: Buffer.from('find me'), properties: { KEYS: 'order-1 order-2', UNIQ_KEY: 'U-1' } })
    await send(c.client, c.brokerAddr, { topic: 'QM', body: Buffer.from('other'), properties: { KEYS: 'order-3' } })
    const q = (key: string, unique = false): ReturnType<typeof request> =>
      request(c.client, c.brokerAddr, RequestCode.QUERY_MESSAGE, {
        topic: 'QM', key, maxNum: 32, beginTimestamp: 0, endTimestamp: Date.now() + 1000, ...(unique ? { _UNIQUE_KEY_QUERY: true } : {}),
      })
    const byKey = await q('order-2')
    expect(byKey.code).toBe(0)
    expect(decodeMessages(byKey.body!).map((m) => m.body.toString())).toEqual(['find me'])
    expect(byKey.ext('indexLastUpdatePhyoffset')).toBeDefined()
    expect(decodeMessages((await q('U-1', true)).body!).map((m) => m.body.toString())).toEqual(['find me'])
    expect((await q('absent')).code).toBe(ResponseCode.QUERY_NOT_FOUND)
    const { commitLogOffset } = decodeMessageId(r.ext('msgId')!)!
    const view = await request(c.client, c.brokerAddr, RequestCode.VIEW_MESSAGE_BY_ID, { offset: commitLogOffset })
    expect(decodeMessages(view.body!)[0]!.body.toString()).toBe('find me')
    const search = await request(c.client, c.brokerAddr, RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { topic: 'QM', queueId: 0, timestamp: before - 60_000 })
    expect(search.ext('offset')).toBe('0')
    const earliest = await request(c.client, c.brokerAddr, RequestCode.GET_EARLIEST_MSG_STORETIME, { topic: 'QM', queueId: 0 })
    expect(Number(earliest.ext('timestamp'))).toBeGreaterThanOrEqual(before)
  })

  it('creates, lists and deletes subscription groups, with their offsets on request', async () => {
    const group = { groupName: 'SG', consumeEnable: false, retryMaxTimes: 3 }
    expect((await request(c.client, c.brokerAddr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, {}, group)).code).toBe(0)
    const all = body(await request(c.client, c.brokerAddr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG))
    expect((all.subscriptionGroupTable as Record<string, unknown>).SG).toMatchObject({ consumeEnable: false, retryMaxTimes: 3, retryQueueNums: 1 })
    await send(c.client, c.brokerAddr, { topic: 'SGT' })
    const refused = await request(c.client, c.brokerAddr, RequestCode.PULL_MESSAGE, {
      consumerGroup: 'SG', topic: 'SGT', queueId: 0, queueOffset: 0, maxMsgNums: 1, sysFlag: 4, commitOffset: 0, suspendTimeoutMillis: 0, subscription: '*', subVersion: 0,
    })
    expect(refused.code).toBe(ResponseCode.NO_PERMISSION)
    await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'SG', topic: 'SGT', queueId: 0, commitOffset: 1 })
    expect((await request(c.client, c.brokerAddr, RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName: 'SG', removeOffset: true })).code).toBe(0)
    expect(c.broker.subscriptionGroupManager.get('SG')).toBeUndefined()
    expect(c.broker.consumerOffsetManager.queryOffset('SG', 'SGT', 0)).toBe(-1)
  })

  it('answers unknown codes with REQUEST_CODE_NOT_SUPPORTED', async () => {
    const r = await request(c.client, c.brokerAddr, 9999)
    expect(r.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED)
    expect(r.remark).toBe(' request type 9999 not supported')
  })
})
