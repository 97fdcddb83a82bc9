/**
 * The SDK's admin client against a real name server and broker (and, for bad answers, a fake broker registered with
 * the name server): every method, and the error each failure becomes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { AdminClient } from '../../ts/client/admin-client.js'
import { uniqIdTimestampMs } from '../../ts/client/admin-model.js'
import { MQClientError } from '../../ts/client/client-error.js'
import { Message } from '../../ts/client/message.js'
import { MessageClientIdGenerator } from '../../ts/client/message-client-id.js'
import { Producer } from '../../ts/client/producer.js'
import type { SendResult } from '../../ts/client/send-result.js'
import { BrokerResponseError, ProtocolError, RemotingError } from '../../ts/common/errors.js'
import { createMessageIdFromPrefix } from '../../ts/common/message/message-id.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'
import type { QueueData } from '../../ts/remoting/protocol/route.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { heartbeat, request } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { startFakeBroker } from '../helpers/fake-broker.js'
import { waitFor } from '../helpers/wait-for.js'

/** The error a promise rejects with (fails the test when it resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a failure, got a result')
}

describe('client: AdminClient against a real name server and broker', () => {
  let c: TestCluster
  let admin: AdminClient
  let producer: Producer
  const stops: (() => Promise<void>)[] = []

  beforeEach(async () => {
    c = await startCluster()
    admin = new AdminClient({ namesrvAddr: c.namesrvAddr, timeoutMs: 3000 })
    await admin.start()
    producer = new Producer({ producerGroup: 'AdminPG', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop()
    await producer.shutdown()
    await admin.shutdown()
    await c.stop()
  })

  /** Polls the route until `check` holds: the broker registers a topic change with the name server asynchronously. */
  async function routeWhere(topic: string, check: (q: QueueData) => boolean): Promise<void> {
    await waitFor(
      async () => {
        const route = await admin.topicRoute(topic).catch(() => null)
        const qd = route?.queueDatas[0]
        return qd !== undefined && check(qd)
      },
      { what: `the route of ${topic}` },
    )
  }

  async function sendTo(topic: string, queueId: number, init: Partial<ConstructorParameters<typeof Message>[0]> = {}) {
    const msg = new Message({ topic, body: 'payload', ...init })
    return producer.send(msg, { topic, brokerName: 'broker-a', queueId })
  }

  it('lists clusters with broker addresses and reads broker runtime info', async () => {
    expect(await admin.clusterList()).toEqual([
      { clusterName: 'DefaultCluster', brokerName: 'broker-a', brokerId: 0, addr: c.brokerAddr },
    ])
    const info = await admin.clusterInfo()
    expect([...info.clusterAddrTable.get('DefaultCluster')!]).toEqual(['broker-a'])
    const runtime = await admin.examineBrokerRuntimeInfo(c.brokerAddr)
    expect(runtime.brokerVersionDesc).toBe('V4_9_8')
    expect(runtime.putTps!.split(' ')).toHaveLength(3)
    expect(Object.keys(runtime)).toEqual([...Object.keys(runtime)].sort())
  })

  it('creates a topic on every master of the cluster, routes and lists it, updates it, and deletes it', async () => {
    const created = await admin.createTopic('AdmT', { readQueueNums: 3, writeQueueNums: 2 })
    expect(created.brokers).toEqual([
      {
        brokerName: 'broker-a',
        addr: c.brokerAddr,
        topicConfig: newTopicConfig('AdmT', { readQueueNums: 3, writeQueueNums: 2 }),
      },
    ])
    expect(created.orderTopicConf).toBeNull()
    expect(c.broker.topicConfigManager.selectTopicConfig('AdmT')?.writeQueueNums).toBe(2)
    await routeWhere('AdmT', (q) => q.perm === 6 && q.readQueueNums === 3)
    expect(await admin.topicList()).toContain('AdmT')
    const route = await admin.topicRoute('AdmT')
    expect(route.brokerDatas[0]!.brokerAddrs.get(0)).toBe(c.brokerAddr)

    // Unset values keep what the broker has: only perm changes.
    const updated = await admin.updateTopic('AdmT', { perm: 4 })
    expect(updated.brokers[0]!.topicConfig).toMatchObject({ readQueueNums: 3, writeQueueNums: 2, perm: 4 })
    await routeWhere('AdmT', (q) => q.perm === 4)

    // By cluster name and by broker name, the same single master.
    expect((await admin.createTopic('AdmT', { clusterName: 'DefaultCluster', queueNums: 5 })).brokers).toHaveLength(1)
    expect(c.broker.topicConfigManager.selectTopicConfig('AdmT')?.readQueueNums).toBe(5)
    // Read back from the broker itself: the change just made counts even if the route is behind.
    const byName = await admin.updateTopic('AdmT', { brokerNames: ['broker-a'], writeQueueNums: 1 })
    expect(byName.brokers[0]!.topicConfig).toMatchObject({ readQueueNums: 5, writeQueueNums: 1 })
    // Each change reaches the name server before the next step: a registration still under way when the topic is
    // deleted would bring its route back.
    await routeWhere('AdmT', (q) => q.readQueueNums === 5 && q.writeQueueNums === 1)

    const deleted = await admin.deleteTopic('AdmT')
    expect(deleted).toEqual({ topic: 'AdmT', brokerAddrs: [c.brokerAddr], namesrvAddrs: [c.namesrvAddr] })
    expect(c.broker.topicConfigManager.selectTopicConfig('AdmT')).toBeUndefined()
    const gone = await failure(admin.topicRoute('AdmT'))
    expect(gone).toBeInstanceOf(BrokerResponseError)
    expect((gone as BrokerResponseError).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST)
    expect(await admin.topicList()).not.toContain('AdmT')
  })

  it('publishes an ordered topic to the name servers and removes it with the topic', async () => {
    const r = await admin.createTopic('OrdT', { queueNums: 2, order: true })
    expect(r.orderTopicConf).toBe('broker-a:2')
    const kv = (): Promise<RemotingCommand> =>
      request(c.client, c.namesrvAddr, RequestCode.GET_KV_CONFIG, { namespace: 'ORDER_TOPIC_CONFIG', key: 'OrdT' })
    expect((await kv()).ext('value')).toBe('broker-a:2')
    await routeWhere('OrdT', () => true)
    // Named brokers merge into the existing entry.
    expect((await admin.updateTopic('OrdT', { brokerNames: ['broker-a'], writeQueueNums: 3 })).orderTopicConf).toBe(
      'broker-a:3',
    )
    await routeWhere('OrdT', (q) => q.writeQueueNums === 3)
    await admin.deleteTopic('OrdT', 'DefaultCluster')
    expect((await kv()).code).toBe(ResponseCode.QUERY_NOT_FOUND)
  })

  it('refuses bad topic changes: the client checks first, the broker answers the rest', async () => {
    const illegal = await failure(admin.createTopic('a/b'))
    expect(illegal).toBeInstanceOf(MQClientError)
    expect((illegal as MQClientError).code).toBe('RMQ_ERR_ILLEGAL_ARGUMENT')
    expect(((await failure(admin.createTopic('T', { queueNums: -1 }))) as MQClientError).code).toBe(
      'RMQ_ERR_ILLEGAL_ARGUMENT',
    )
    const noCluster = await failure(admin.createTopic('T', { clusterName: 'NoSuchCluster' }))
    expect((noCluster as MQClientError).code).toBe('RMQ_ERR_CLUSTER_NOT_FOUND')
    const noBroker = await failure(admin.createTopic('T', { brokerNames: ['broker-z'] }))
    expect((noBroker as MQClientError).code).toBe('RMQ_ERR_BROKER_NOT_FOUND')

    // The broker refuses a system topic: its code and remark come back as they are.
    const system = await failure(admin.createTopic('TBW102'))
    expect(system).toBeInstanceOf(BrokerResponseError)
    expect((system as BrokerResponseError).responseCode).toBe(ResponseCode.SYSTEM_ERROR)
    expect((system as BrokerResponseError).remark).toContain('conflict with system topic')

    for (const op of [() => admin.updateTopic('NoSuchTopic', { perm: 6 }), () => admin.deleteTopic('NoSuchTopic')]) {
      const err = await failure(op())
      expect(err).toBeInstanceOf(BrokerResponseError)
      expect((err as BrokerResponseError).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST)
    }
    expect(c.broker.topicConfigManager.selectTopicConfig('T')).toBeUndefined()
  })

  it('reports per-queue min/max offsets and last update times of a topic', async () => {
    await admin.createTopic('StatT', { queueNums: 3 })
    await routeWhere('StatT', () => true)
    for (let i = 0; i < 3; i++) await sendTo('StatT', 0)
    const last = await sendTo('StatT', 2)
    const stats = await admin.topicStats('StatT')
    expect(stats.queues.map((q) => [q.queueId, q.minOffset, q.maxOffset])).toEqual([
      [0, 0, 3],
      [1, 0, 0],
      [2, 0, 1],
    ])
    expect(stats.queues[1]!.lastUpdateTimestamp).toBe(0)
    expect(stats.queues[2]!.lastUpdateTimestamp).toBeGreaterThan(0)
    expect(await admin.maxOffset(last.messageQueue)).toBe(1)
    expect(await admin.minOffset(last.messageQueue)).toBe(0)

    const unknown = await failure(admin.topicStats('NoSuchTopic'))
    expect((unknown as BrokerResponseError).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST)
    const noBroker = await failure(admin.maxOffset({ topic: 'StatT', brokerName: 'broker-z', queueId: 0 }))
    expect((noBroker as MQClientError).code).toBe('RMQ_ERR_BROKER_NOT_FOUND')
  })

  it('reports consumer progress: broker and consumer offsets, lag and totals per queue', async () => {
    await admin.createTopic('ProgT', { queueNums: 2 })
    await routeWhere('ProgT', () => true)
    for (let i = 0; i < 5; i++) await sendTo('ProgT', 0)
    await sendTo('ProgT', 1)
    // A consumer of CG says hello (the broker creates %RETRY%CG) and commits offset 2 of queue 0.
    expect((await heartbeat(c.client, c.brokerAddr, 'client-1', [{ group: 'CG', topics: { ProgT: '*' } }])).code).toBe(
      0,
    )
    const commit = await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: 'CG',
      topic: 'ProgT',
      queueId: 0,
      commitOffset: 2,
    })
    expect(commit.code).toBe(0)
    await routeWhere('%RETRY%CG', () => true)

    for (const topic of ['ProgT', undefined]) {
      const p = await admin.consumerProgress('CG', topic)
      expect(p.topic).toBe(topic ?? null)
      expect(p.queues.map((q) => [q.topic, q.queueId, q.brokerOffset, q.consumerOffset, q.lag])).toEqual([
        ['ProgT', 0, 5, 2, 3],
        ['ProgT', 1, 1, 0, 1],
      ])
      expect(p.queues[0]!.lastTimestamp).toBeGreaterThan(0)
      expect(p.queues[1]!.lastTimestamp).toBe(0)
      expect([p.brokerOffsetTotal, p.consumerOffsetTotal, p.lagTotal]).toEqual([6, 2, 4])
      expect(p.consumeTps).toBeGreaterThanOrEqual(0)
    }
    expect(await admin.consumerOffset('CG', { topic: 'ProgT', brokerName: 'broker-a', queueId: 0 })).toBe(2)

    const unknown = await failure(admin.consumerProgress('NoSuchGroup'))
    expect(unknown).toBeInstanceOf(MQClientError)
    expect((unknown as MQClientError).code).toBe('RMQ_ERR_NO_CONSUME_STATS')
    // The broker knows the group but has nothing for this topic: the merged table is empty.
    const nothing = await failure(admin.consumerProgress('CG', 'NoSuchTopic'))
    expect((nothing as MQClientError).responseCode).toBe(ResponseCode.CONSUMER_NOT_ONLINE)
    expect(((await failure(admin.consumerProgress('bad/group'))) as MQClientError).code).toBe(
      'RMQ_ERR_ILLEGAL_ARGUMENT',
    )
  })

  it('lists the connections and subscriptions of an online consumer group', async () => {
    const hb = await heartbeat(c.client, c.brokerAddr, 'client-1@1', [
      { group: 'ConnG', topics: { ConnT: 'TagA || TagB' } },
    ])
    expect(hb.code).toBe(0)
    const conn = await admin.consumerConnections('ConnG')
    expect(conn.group).toBe('ConnG')
    expect(conn.connections).toHaveLength(1)
    expect(conn.connections[0]).toMatchObject({ clientId: 'client-1@1', language: 'JAVA' })
    expect(conn.connections[0]!.clientAddr).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(conn.subscriptions.map((s) => [s.topic, s.subString])).toEqual([['ConnT', 'TagA || TagB']])
    expect([conn.consumeType, conn.messageModel, conn.consumeFromWhere]).toEqual([
      'CONSUME_PASSIVELY',
      'CLUSTERING',
      'CONSUME_FROM_FIRST_OFFSET',
    ])

    const offline = await failure(admin.consumerConnections('NoSuchGroup'))
    expect(offline).toBeInstanceOf(BrokerResponseError)
    expect((offline as BrokerResponseError).responseCode).toBe(ResponseCode.CONSUMER_NOT_ONLINE)
  })

  it('finds a message by offset id, and by unique key through the topic', async () => {
    const sent: SendResult = await producer.send(
      new Message({ topic: 'IdT', body: 'find me', keys: 'k-1', tags: 'TagA' }),
    )
    const byOffset = await admin.queryMessageById(sent.offsetMsgId)
    expect(byOffset.body.toString()).toBe('find me')
    expect(byOffset.msgId).toBe(sent.offsetMsgId)
    expect(byOffset.properties.get('UNIQ_KEY')).toBe(sent.msgId)

    const byUniqKey = await waitFor(() => admin.queryMessageById(sent.msgId, { topic: 'IdT' }).catch(() => undefined), {
      what: 'the unique key in the index',
    })
    expect(byUniqKey.commitLogOffset).toBe(byOffset.commitLogOffset)

    // An offset id of this broker past its commit log: the broker's SYSTEM_ERROR and remark.
    const missing = createMessageIdFromPrefix(sent.offsetMsgId.slice(0, 16), 2 ** 40)
    const err = await failure(admin.queryMessageById(missing))
    expect(err).toBeInstanceOf(BrokerResponseError)
    expect((err as BrokerResponseError).responseCode).toBe(ResponseCode.SYSTEM_ERROR)
    expect((err as BrokerResponseError).remark).toContain('can not find message')

    // A unique key nobody sent: looked up through the topic, not found.
    const unknownKey = new MessageClientIdGenerator({ ip: Buffer.from([127, 0, 0, 1]), pid: 1 }).next()
    const notFound = await failure(admin.queryMessageById(unknownKey, { topic: 'IdT' }))
    expect(notFound).toBeInstanceOf(MQClientError)
    expect((notFound as MQClientError).responseCode).toBe(ResponseCode.NO_MESSAGE)
    // Without a topic a unique key is tried as an offset id only: its "address" is no broker.
    expect(await failure(admin.queryMessageById(sent.msgId))).toBeInstanceOf(RemotingError)
    expect(((await failure(admin.queryMessageById('not-an-id'))) as MQClientError).code).toBe(
      'RMQ_ERR_ILLEGAL_ARGUMENT',
    )
    const noTopic = await failure(admin.queryMessageById(unknownKey, { topic: 'NoSuchTopic' }))
    expect((noTopic as BrokerResponseError).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST)
  })

  it('queries messages by key on every broker of the topic, re-checking the keys', async () => {
    const first = await producer.send(new Message({ topic: 'KeyT', body: 'a', keys: ['order-1'] }))
    await producer.send(new Message({ topic: 'KeyT', body: 'b', keys: ['x', 'order-1'] }))
    await producer.send(new Message({ topic: 'KeyT', body: 'c', keys: 'order-2' }))
    const r = await waitFor(
      async () => {
        const q = await admin.queryMessageByKey('KeyT', 'order-1')
        return q.messages.length === 2 && q
      },
      { what: 'both keyed messages in the index' },
    )
    expect(r.messages.map((m) => m.body.toString())).toEqual(['a', 'b'])
    expect(r.messages[0]!.msgId).toBe(first.offsetMsgId)
    expect(r.indexLastUpdateTimestamp).toBeGreaterThanOrEqual(0)
    expect((await admin.queryMessageByKey('KeyT', 'order-1', 1)).messages).toHaveLength(1)
    expect((await admin.queryMessageByKey('KeyT', 'no-such-key')).messages).toEqual([])
    // A window that ends before the messages were stored.
    expect((await admin.queryMessageByKey('KeyT', 'order-1', 64, 0, 1)).messages).toEqual([])
    const unknown = await failure(admin.queryMessageByKey('NoSuchTopic', 'order-1'))
    expect((unknown as BrokerResponseError).responseCode).toBe(ResponseCode.TOPIC_NOT_EXIST)
  })

  it('turns a bad broker answer into a typed error', async () => {
    // A fake broker: runtime info refused with a remark, topic stats answered with a body that is not JSON,
    // message queries refused; registered with the name server as broker-bad of cluster BadCluster, serving BadT.
    const fake = await startFakeBroker({
      namesrvAddr: c.namesrvAddr,
      client: c.client,
      brokerName: 'broker-bad',
      clusterName: 'BadCluster',
      topics: { BadT: 1 },
      handle(req) {
        if (req.code === RequestCode.GET_TOPIC_STATS_INFO) {
          const r = RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
          r.body = Buffer.from('<html>not json</html>')
          return r
        }
        return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, `fake broker refuses ${req.code}`)
      },
    })
    const fakeAddr = fake.addr
    stops.push(() => fake.close())

    const refused = await failure(admin.examineBrokerRuntimeInfo(fakeAddr))
    expect(refused).toBeInstanceOf(BrokerResponseError)
    expect((refused as BrokerResponseError).responseCode).toBe(ResponseCode.SYSTEM_ERROR)
    expect((refused as BrokerResponseError).remark).toBe(`fake broker refuses ${RequestCode.GET_BROKER_RUNTIME_INFO}`)
    const garbled = await failure(admin.topicStats('BadT'))
    expect(garbled).toBeInstanceOf(ProtocolError)
    expect((garbled as ProtocolError).code).toBe('RMQ_ERR_BODY')
    const query = await failure(admin.queryMessageByKey('BadT', 'k'))
    expect((query as BrokerResponseError).remark).toBe(`fake broker refuses ${RequestCode.QUERY_MESSAGE}`)
    // Two clusters now: a topic needs a named target, and the cluster list shows both.
    expect(((await failure(admin.createTopic('AnyT'))) as MQClientError).code).toBe('RMQ_ERR_ILLEGAL_ARGUMENT')
    expect((await admin.clusterList()).map((b) => b.clusterName)).toEqual(['BadCluster', 'DefaultCluster'])
    // A broker that is down: the transport error, not a response code.
    await fake.close()
    expect(await failure(admin.examineBrokerRuntimeInfo(fakeAddr))).toBeInstanceOf(RemotingError)
  })

  it('fails over between name servers and says when none answers', async () => {
    const failover = new AdminClient({ namesrvAddr: `127.0.0.1:1;${c.namesrvAddr}`, timeoutMs: 3000 })
    await failover.start()
    stops.push(() => failover.shutdown())
    expect(await failover.topicList()).toContain('TBW102')

    const dead = new AdminClient({ namesrvAddr: '127.0.0.1:1', timeoutMs: 3000 })
    await dead.start()
    stops.push(() => dead.shutdown())
    const err = await failure(dead.clusterList())
    expect((err as MQClientError).code).toBe('RMQ_ERR_NAMESRV_UNAVAILABLE')
    expect((err as MQClientError).cause).toBeInstanceOf(RemotingError)
  })

  it('refuses to run before start, after shutdown, or without a name server', async () => {
    const fresh = new AdminClient({ namesrvAddr: c.namesrvAddr })
    expect(((await failure(fresh.topicList())) as MQClientError).code).toBe('RMQ_ERR_ADMIN_STATE')
    await fresh.start()
    expect(((await failure(fresh.start())) as MQClientError).code).toBe('RMQ_ERR_ADMIN_STATE')
    await fresh.shutdown()
    expect(((await failure(fresh.clusterList())) as MQClientError).code).toBe('RMQ_ERR_ADMIN_STATE')
    const saved = process.env.NAMESRV_ADDR
    delete process.env.NAMESRV_ADDR
    try {
      expect(((await failure(new AdminClient().start())) as MQClientError).code).toBe('RMQ_ERR_ADMIN_CONFIG')
    } finally {
      if (saved !== undefined) process.env.NAMESRV_ADDR = saved
    }
  })
})

describe('client: uniqIdTimestampMs', () => {
  it('reads back the time a client unique id was made, as MessageClientIDSetter#getNearlyTimeFromID does', () => {
    const made = new Date(2024, 4, 20, 13, 14, 15, 678).getTime()
    const id = new MessageClientIdGenerator({ ip: Buffer.from([10, 0, 0, 1]), pid: 7, now: () => made }).next()
    expect(uniqIdTimestampMs(id, made + 60_000)).toBe(made)
    // Read in the next month, the offset is still taken from the month it was made in.
    expect(uniqIdTimestampMs(id, new Date(2024, 5, 2).getTime())).toBe(made)
    expect(uniqIdTimestampMs('not-hex', made)).toBeNull()
  })
})
