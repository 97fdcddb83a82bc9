import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { buildAdminApp } from '../../ts/admin/build-admin-app.js'
import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { checkedAdminApp, type CheckedAdminApp } from '../helpers/admin-app.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

describe('admin API over a running broker (inject, schemas checked)', () => {
  let c: TestCluster
  let admin: CheckedAdminApp
  let producer: Producer
  const consumers: PushConsumer[] = []

  beforeAll(async () => {
    c = await startCluster({ broker: { defaultTopicQueueNums: 4 } })
    admin = checkedAdminApp(c.broker)
    await admin.app.ready()
    producer = new Producer({ producerGroup: 'PG_ADMIN', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    for (const k of consumers.splice(0)) await k.shutdown()
  })
  afterAll(async () => {
    await producer?.shutdown()
    await admin?.app.close()
    await c?.stop()
  })

  async function createTopic(topic: string, queues = 4): Promise<void> {
    const r = await admin.call({
      method: 'POST',
      url: '/api/topics',
      payload: { topic, readQueueNums: queues, writeQueueNums: queues },
    })
    expect(r.statusCode).toBe(201)
  }

  async function produce(
    topic: string,
    n: number,
    init: (i: number) => { keys?: string; tags?: string; body?: Buffer | string } = () => ({}),
  ) {
    const out = []
    for (let i = 0; i < n; i++) out.push(await producer.send(new Message({ topic, body: `m${i}`, ...init(i) })))
    return out
  }

  function consume(group: string, topic: string, onMessage: () => void = () => {}): PushConsumer {
    const k = new PushConsumer({
      consumerGroup: group,
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    })
    k.subscribe(topic, '*')
    k.registerMessageListener((msgs) => {
      for (let i = 0; i < msgs.length; i++) onMessage()
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    consumers.push(k)
    return k
  }

  it('answers health and readiness, and serves an OpenAPI document naming every route', async () => {
    expect((await admin.call({ url: '/healthz' })).json()).toEqual({ status: 'ok' })
    expect((await admin.call({ url: '/readyz' })).json()).toEqual({ ready: true })
    const doc = (await admin.call({ url: '/docs/json' })).json() as { openapi: string; paths: Record<string, object> }
    expect(doc.openapi).toMatch(/^3\./)
    for (const p of [
      '/api/store',
      '/api/topics',
      '/api/topics/{topic}',
      '/api/groups',
      '/api/groups/{group}',
      '/api/groups/{group}/reset-offset',
      '/api/messages',
      '/api/messages/{msgId}',
      '/api/cluster',
      '/api/replication',
      '/metrics',
      '/healthz',
      '/readyz',
    ]) {
      expect(doc.paths, p).toHaveProperty([p])
    }
    expect(Object.keys(doc.paths['/api/topics']!).sort()).toEqual(['get', 'post'])
    expect(Object.keys(doc.paths['/api/topics/{topic}']!).sort()).toEqual(['delete', 'get', 'put'])
  })

  it('shows store figures that move with puts', async () => {
    const before = (await admin.call({ url: '/api/store' })).json()
    expect(before.brokerName).toBe(c.broker.brokerConfig.brokerName)
    expect(before.brokerRole).toBe('ASYNC_MASTER')
    expect(before.flushDiskType).toBe('ASYNC_FLUSH')
    expect(before.diskTotalBytes).toBeGreaterThan(0)
    await createTopic('AdminStoreTopic')
    await produce('AdminStoreTopic', 20)
    const after = (await admin.call({ url: '/api/store' })).json()
    expect(after.putMessages - before.putMessages).toBe(20)
    expect(after.commitLogMaxOffset).toBeGreaterThan(before.commitLogMaxOffset)
    expect(after.putLatency.maxUs).toBeGreaterThan(0)
    // The 1 s and 1 min rates come from once-a-second samples: within a few seconds the 1 min rate shows the puts.
    await waitFor(async () => (await admin.call({ url: '/api/store' })).json().putTps.last1m > 0, {
      what: 'a put rate',
      intervalMs: 200,
    })
  })

  it('creates, lists, shows, changes and deletes a topic, and the name server follows', async () => {
    await createTopic('AdminTopicCrud', 2)
    const route = async () => {
      const r = await admin.call({ url: '/api/cluster' })
      expect(r.statusCode).toBe(200)
      return c.namesrv
    }
    await route()
    const ids = await produce('AdminTopicCrud', 6)
    const list = (await admin.call({ url: '/api/topics' })).json().topics as {
      topic: string
      messages: number
      system: boolean
    }[]
    const row = list.find((t) => t.topic === 'AdminTopicCrud')!
    expect(row).toMatchObject({ messages: 6, system: false })
    expect(list.some((t) => t.system)).toBe(true)

    const detail = (await admin.call({ url: '/api/topics/AdminTopicCrud' })).json()
    expect(detail.queues).toHaveLength(2)
    expect(detail.queues.reduce((n: number, q: { messages: number }) => n + q.messages, 0)).toBe(6)
    const last = ids.at(-1)!
    const q = detail.queues.find((x: { queueId: number }) => x.queueId === last.messageQueue.queueId)
    expect(q.lastStoreTimestamp).toBeGreaterThan(0)
    expect(detail.putMessages).toBe(6)

    const put = await admin.call({
      method: 'PUT',
      url: '/api/topics/AdminTopicCrud',
      payload: { writeQueueNums: 3, readQueueNums: 3, perm: 4 },
    })
    expect(put.statusCode).toBe(200)
    expect(put.json()).toMatchObject({ readQueueNums: 3, writeQueueNums: 3, perm: 4 })
    expect(c.broker.topicConfigManager.selectTopicConfig('AdminTopicCrud')).toMatchObject({
      writeQueueNums: 3,
      perm: 4,
    })
    const routeData = c.namesrv.routeInfoManager.pickupTopicRouteData('AdminTopicCrud')
    expect(routeData?.queueDatas[0]).toMatchObject({ writeQueueNums: 3, perm: 4 })

    const del = await admin.call({ method: 'DELETE', url: '/api/topics/AdminTopicCrud' })
    expect(del.json()).toEqual({ topic: 'AdminTopicCrud', deleted: true })
    expect(c.broker.topicConfigManager.selectTopicConfig('AdminTopicCrud')).toBeUndefined()
    expect(c.namesrv.routeInfoManager.pickupTopicRouteData('AdminTopicCrud')).toBeNull()
    expect((await admin.call({ url: '/api/topics/AdminTopicCrud' })).statusCode).toBe(404)
    const again = await admin.call({ method: 'DELETE', url: '/api/topics/AdminTopicCrud' })
    expect(again.statusCode).toBe(404)
    expect(again.json()).toMatchObject({ code: 'TOPIC_NOT_EXIST', responseCode: 17 })
  })

  it('refuses bad input with 400 naming the field, and changes nothing', async () => {
    const before = c.broker.topicConfigManager.selectTopicConfig('AdminBad')
    expect(before).toBeUndefined()
    const cases: [object, RegExp][] = [
      [{ topic: 'AdminBad', readQueueNums: 70000 }, /readQueueNums/],
      [{ topic: 'AdminBad', perm: 'rw' }, /perm/],
      [{ topic: 'AdminBad', colour: 'red' }, /colour|additional/],
      [{ readQueueNums: 1 }, /topic/],
      [{ topic: 'bad topic!' }, /topic/i],
      [{ topic: 'SCHEDULE_TOPIC_XXXX' }, /system topic/],
      [{ topic: c.broker.brokerConfig.brokerClusterName }, /cluster name/],
    ]
    for (const [payload, message] of cases) {
      const r = await admin.call({ method: 'POST', url: '/api/topics', payload })
      expect(r.statusCode, JSON.stringify(payload)).toBe(400)
      expect(r.json().code).toBe('BAD_REQUEST')
      expect(r.json().message).toMatch(message)
    }
    expect(c.broker.topicConfigManager.selectTopicConfig('AdminBad')).toBeUndefined()
    const notJson = await admin.call({
      method: 'POST',
      url: '/api/topics',
      payload: '{',
      headers: { 'content-type': 'application/json' },
    })
    expect(notJson.statusCode).toBe(400)
    expect((await admin.call({ method: 'PUT', url: '/api/topics/NoSuchTopic', payload: { perm: 6 } })).statusCode).toBe(
      404,
    )
    expect((await admin.call({ method: 'PUT', url: '/api/topics/NoSuchTopic', payload: {} })).statusCode).toBe(400)
    expect((await admin.call({ url: '/api/messages?topic=x' })).json().message).toMatch(/key/)
    const unknown = await admin.call({ url: '/api/nothing' })
    expect(unknown.statusCode).toBe(404)
    expect(unknown.json().code).toBe('NOT_FOUND')
  })

  it('shows a group with offsets, lag and its connected consumers, and lag falls as it consumes', async () => {
    await createTopic('AdminGroupTopic')
    await produce('AdminGroupTopic', 30)
    let got = 0
    const k = consume('AdminGroupA', 'AdminGroupTopic', () => got++)
    await k.start()
    await waitFor(() => got >= 30, { what: '30 messages consumed' })
    // Offsets reach the broker every 5 s; ask it to persist now by shutting the consumer down later. Meanwhile the
    // connection and subscription are visible.
    const online = (await admin.call({ url: '/api/groups/AdminGroupA' })).json()
    expect(online.online).toBe(true)
    expect(online.consumers).toBe(1)
    expect(online.connections[0]).toMatchObject({ language: 'JAVA' })
    expect(online.connections[0].clientId).toContain('@')
    expect(online.connections[0].version).toMatch(/^V\d/)
    expect(online.subscriptions).toContainEqual({ topic: 'AdminGroupTopic', expressionType: 'TAG', expression: '*' })
    expect(online.messageModel).toBe('CLUSTERING')
    await k.shutdown()
    consumers.splice(consumers.indexOf(k), 1)
    const detail = (await admin.call({ url: '/api/groups/AdminGroupA' })).json()
    const t = detail.offsets.find((o: { topic: string }) => o.topic === 'AdminGroupTopic')
    expect(t.lag).toBe(0)
    expect(t.queues.reduce((n: number, q: { consumerOffset: number }) => n + q.consumerOffset, 0)).toBe(30)
    expect(
      t.queues.every(
        (q: { lastConsumeTimestamp: number; consumerOffset: number }) =>
          q.consumerOffset === 0 || q.lastConsumeTimestamp > 0,
      ),
    ).toBe(true)
    await produce('AdminGroupTopic', 7)
    const groups = (await admin.call({ url: '/api/groups' })).json().groups as {
      group: string
      lag: number
      online: boolean
    }[]
    expect(groups.find((g) => g.group === 'AdminGroupA')).toMatchObject({ lag: 7, online: false })
    expect((await admin.call({ url: '/api/groups/NoSuchGroup' })).statusCode).toBe(404)
  })

  it('resets offsets of an offline group by offset and by time', async () => {
    await createTopic('AdminResetTopic', 2)
    await produce('AdminResetTopic', 10)
    // Every message of the first ten is stored before t0, every one of the next ten after it.
    const t0 = Date.now() + 1
    await waitFor(() => Date.now() > t0, { what: 'the clock to move' })
    await produce('AdminResetTopic', 10)
    for (const q of [0, 1])
      c.broker.consumerOffsetManager.commitOffset(
        'test',
        'AdminResetG',
        'AdminResetTopic',
        q,
        c.broker.store.getMaxOffsetInQueue('AdminResetTopic', q),
      )
    const byOffset = await admin.call({
      method: 'POST',
      url: '/api/groups/AdminResetG/reset-offset',
      payload: { topic: 'AdminResetTopic', offset: 0 },
    })
    expect(byOffset.statusCode).toBe(200)
    expect(byOffset.json()).toMatchObject({ group: 'AdminResetG', topic: 'AdminResetTopic', notifiedClients: 0 })
    expect(byOffset.json().queues.map((q: { offset: number }) => q.offset)).toEqual([0, 0])
    expect(c.broker.consumerOffsetManager.queryOffset('AdminResetG', 'AdminResetTopic', 0)).toBe(0)
    const byTime = await admin.call({
      method: 'POST',
      url: '/api/groups/AdminResetG/reset-offset',
      payload: { topic: 'AdminResetTopic', timestamp: t0 },
    })
    const total = byTime.json().queues.reduce((n: number, q: { offset: number }) => n + q.offset, 0)
    expect(total).toBe(10)
    const toEnd = await admin.call({
      method: 'POST',
      url: '/api/groups/AdminResetG/reset-offset',
      payload: { topic: 'AdminResetTopic', timestamp: -1, queueId: 1 },
    })
    expect(toEnd.json().queues).toEqual([
      {
        queueId: 1,
        previousOffset: expect.any(Number),
        offset: c.broker.store.getMaxOffsetInQueue('AdminResetTopic', 1),
      },
    ])
    const both = await admin.call({
      method: 'POST',
      url: '/api/groups/AdminResetG/reset-offset',
      payload: { topic: 'AdminResetTopic', timestamp: 1, offset: 1 },
    })
    expect(both.statusCode).toBe(400)
    const badQueue = await admin.call({
      method: 'POST',
      url: '/api/groups/AdminResetG/reset-offset',
      payload: { topic: 'AdminResetTopic', offset: 1, queueId: 9 },
    })
    expect(badQueue.statusCode).toBe(400)
    expect(badQueue.json().message).toMatch(/queueId/)
    const unknownGroup = await admin.call({
      method: 'POST',
      url: '/api/groups/NobodyG/reset-offset',
      payload: { topic: 'AdminResetTopic', offset: 0 },
    })
    expect(unknownGroup.statusCode).toBe(404)
    expect(unknownGroup.json().responseCode).toBe(26)
    const unknownTopic = await admin.call({
      method: 'POST',
      url: '/api/groups/AdminResetG/reset-offset',
      payload: { topic: 'NoSuchTopicR', offset: 0 },
    })
    expect(unknownTopic.statusCode).toBe(404)
  })

  it(
    'resets an online group: its consumer is told and consumes again from the reset point',
    { timeout: 40_000 },
    async () => {
      await createTopic('AdminResetOnline', 2)
      await produce('AdminResetOnline', 12)
      let got = 0
      const k = consume('AdminResetOnlineG', 'AdminResetOnline', () => got++)
      await k.start()
      await waitFor(() => got >= 12, { what: '12 messages' })
      const r = await admin.call({
        method: 'POST',
        url: '/api/groups/AdminResetOnlineG/reset-offset',
        payload: { topic: 'AdminResetOnline', offset: 0 },
      })
      expect(r.json().notifiedClients).toBe(1)
      // The consumer waits 10 s before it moves, as Java's resetOffset does.
      await waitFor(() => got >= 24, {
        what: 'the 12 messages again after the reset',
        timeoutMs: 30_000,
        intervalMs: 50,
      })
    },
  )

  it('finds a message by offset id, by unique key and by key, with the groups it was delivered to', async () => {
    await createTopic('AdminMsgTopic', 1)
    const [sent] = await produce('AdminMsgTopic', 1, () => ({ keys: 'order-42', tags: 'TagA', body: 'hello admin' }))
    const binary = (
      await produce('AdminMsgTopic', 1, () => ({ keys: 'bin-1', body: Buffer.from([0, 1, 2, 255, 254]) }))
    )[0]!
    const byOffset = await admin.call({ url: `/api/messages/${sent!.offsetMsgId}` })
    expect(byOffset.statusCode).toBe(200)
    const m = byOffset.json()
    expect(m).toMatchObject({
      topic: 'AdminMsgTopic',
      tags: 'TagA',
      keys: 'order-42',
      uniqKey: sent!.msgId,
      msgId: sent!.offsetMsgId,
    })
    expect(m.body).toEqual({ encoding: 'utf8', data: 'hello admin', truncated: false })
    expect(m.properties.TAGS).toBe('TagA')
    expect(m.deliveries).toEqual([])

    const byUniq = await admin.call({ url: `/api/messages/${sent!.msgId}` })
    expect(byUniq.json().msgId).toBe(sent!.offsetMsgId)
    expect((await admin.call({ url: `/api/messages/${sent!.msgId}?topic=AdminMsgTopic` })).statusCode).toBe(200)
    expect((await admin.call({ url: `/api/messages/${sent!.msgId}?topic=AdminStoreTopic` })).statusCode).toBe(404)

    const bin = (await admin.call({ url: `/api/messages/${binary.offsetMsgId}` })).json()
    expect(bin.body.encoding).toBe('base64')
    expect(Buffer.from(bin.body.data, 'base64')).toEqual(Buffer.from([0, 1, 2, 255, 254]))

    const byKey = (await admin.call({ url: '/api/messages?topic=AdminMsgTopic&key=order-42' })).json()
    expect(byKey.messages.map((x: { msgId: string }) => x.msgId)).toEqual([sent!.offsetMsgId])
    expect((await admin.call({ url: '/api/messages?topic=AdminMsgTopic&key=nope' })).json().messages).toEqual([])

    let got = 0
    const k = consume('AdminMsgG', 'AdminMsgTopic', () => got++)
    await k.start()
    await waitFor(() => got >= 2, { what: 'both messages consumed' })
    await k.shutdown()
    consumers.splice(consumers.indexOf(k), 1)
    const delivered = (await admin.call({ url: `/api/messages/${sent!.offsetMsgId}` })).json()
    expect(delivered.deliveries).toEqual([{ group: 'AdminMsgG', status: 'CONSUMED', online: false }])
    expect(delivered.deliveredTo).toEqual(['AdminMsgG'])

    const missing = await admin.call({ url: '/api/messages/0A0000010000FFFF00000000DEADBEEF' })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ code: 'QUERY_NOT_FOUND', responseCode: 22 })
  })

  it('shows a master without slaves: its role and HA port, no slave', async () => {
    const r = (await admin.call({ url: '/api/replication' })).json()
    expect(r).toEqual({
      brokerRole: 'ASYNC_MASTER',
      brokerId: 0,
      maxOffset: c.broker.store.getMaxPhyOffset(),
      haPort: expect.any(Number),
      slaveAckOffset: 0,
      slaves: [],
      master: null,
    })
  })

  it('shows the cluster as the name server knows it', async () => {
    const r = (await admin.call({ url: '/api/cluster' })).json()
    expect(r.self).toBe(c.brokerAddr)
    expect(r.namesrvAddrs).toEqual([c.namesrvAddr])
    expect(r.clusters).toEqual([
      {
        cluster: 'DefaultCluster',
        brokers: [
          {
            brokerName: c.broker.brokerConfig.brokerName,
            brokerId: 0,
            addr: c.brokerAddr,
            role: 'MASTER',
            brokerRole: 'ASYNC_MASTER',
            slaves: 0,
            slaveLagBytes: null,
            slaveLagMs: null,
            version: expect.stringMatching(/^V4_/),
            putTps: expect.any(Number),
            getTps: expect.any(Number),
          },
        ],
      },
    ])
  })

  it('serves Prometheus metrics that follow real activity', async () => {
    await createTopic('AdminMetricsTopic', 2)
    await produce('AdminMetricsTopic', 9)
    for (const q of [0, 1])
      c.broker.consumerOffsetManager.commitOffset('test', 'AdminMetricsG', 'AdminMetricsTopic', q, 0)
    const res = await admin.call({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const samples = parsePrometheus(res.body)
    const base = { broker: c.broker.brokerConfig.brokerName, cluster: 'DefaultCluster' }
    const get = (m: Map<string, number>, name: string, labels: Record<string, string> = {}) =>
      m.get(sampleKey(name, { ...base, ...labels }))
    expect(get(samples, 'ferrymq_topic_messages', { topic: 'AdminMetricsTopic' })).toBe(9)
    expect(get(samples, 'ferrymq_topic_put_messages_total', { topic: 'AdminMetricsTopic' })).toBe(9)
    expect(get(samples, 'ferrymq_group_lag_messages', { group: 'AdminMetricsG', topic: 'AdminMetricsTopic' })).toBe(9)
    expect(get(samples, 'ferrymq_put_messages_total')).toBe(c.broker.stats.putMessages)
    expect(get(samples, 'ferrymq_commitlog_offset_bytes', { kind: 'max' })).toBe(c.broker.store.getMaxPhyOffset())
    expect(get(samples, 'ferrymq_store_put_latency_seconds', { quantile: '0.99' })).toBeGreaterThan(0)
    // AdminGroupA consumed AdminGroupTopic in an earlier test of this file.
    const delivered = get(samples, 'ferrymq_group_get_messages_total', {
      group: 'AdminGroupA',
      topic: 'AdminGroupTopic',
    })
    expect(delivered).toBeGreaterThanOrEqual(30)
    expect(delivered).toBe(c.broker.stats.groupGets.get('AdminGroupA@AdminGroupTopic'))
    expect(
      [...samples.keys()].some((k) => k.startsWith('ferrymq_broker_info{') && k.includes(`addr="${c.brokerAddr}"`)),
    ).toBe(true)
    expect(res.body).toMatch(/^# TYPE ferrymq_put_messages_total counter$/m)
    expect(res.body).toMatch(/^ferrymq_process_cpu_seconds_total/m)
    await produce('AdminMetricsTopic', 1)
    const after = parsePrometheus((await admin.call({ url: '/metrics' })).body)
    expect(get(after, 'ferrymq_group_lag_messages', { group: 'AdminMetricsG', topic: 'AdminMetricsTopic' })).toBe(10)
    expect(get(after, 'ferrymq_topic_put_messages_total', { topic: 'AdminMetricsTopic' })).toBe(10)
  })

  it('serves the dashboard page', async () => {
    const r = await admin.call({ url: '/' })
    expect(r.statusCode).toBe(200)
    expect(r.headers['content-type']).toMatch(/^text\/html/)
    expect(r.body).toContain('<title>ferrymq</title>')
  })
})

describe('admin API auth and readiness', () => {
  let c: TestCluster
  beforeAll(async () => {
    c = await startCluster()
  })
  afterAll(async () => {
    await c?.stop()
  })

  it('with a token, refuses requests without it (401) before anything is applied, and opens probes and the page', async () => {
    const admin = checkedAdminApp(c.broker, 's3cret')
    try {
      const create = (authorization?: string) =>
        admin.call({
          method: 'POST',
          url: '/api/topics',
          payload: { topic: 'AuthTopic' },
          headers: authorization ? { authorization } : {},
        })
      const refused = await create()
      expect(refused.statusCode).toBe(401)
      expect(refused.headers['www-authenticate']).toMatch(/^Bearer/)
      expect(c.broker.topicConfigManager.selectTopicConfig('AuthTopic')).toBeUndefined()
      const wrong = await create('Bearer s3creT')
      expect(wrong.statusCode).toBe(401)
      // A bad body with no token is still a 401: auth comes first.
      expect((await admin.call({ method: 'POST', url: '/api/topics', payload: { nope: 1 } })).statusCode).toBe(401)
      expect((await admin.call({ url: '/metrics' })).statusCode).toBe(401)
      for (const open of ['/healthz', '/readyz', '/', '/docs/json'])
        expect((await admin.call({ url: open })).statusCode, open).toBe(200)
      const ok = await create('Bearer s3cret')
      expect(ok.statusCode).toBe(201)
      expect(c.broker.topicConfigManager.selectTopicConfig('AuthTopic')).toBeDefined()
    } finally {
      await admin.app.close()
    }
  })

  it('answers 503 until the broker is ready', async () => {
    let ready = false
    const broker = Object.create(c.broker, { isReady: { value: () => ready } })
    const admin = checkedAdminApp(broker)
    try {
      expect((await admin.call({ url: '/readyz' })).statusCode).toBe(503)
      const r = await admin.call({ url: '/api/store' })
      expect(r.statusCode).toBe(503)
      expect(r.json().code).toBe('NOT_READY')
      expect((await admin.call({ url: '/healthz' })).statusCode).toBe(200)
      ready = true
      expect((await admin.call({ url: '/api/store' })).statusCode).toBe(200)
    } finally {
      await admin.app.close()
    }
  })

  it('is not ready while no name server has taken a registration, yet its API answers', async () => {
    const lonely = await startCluster({ broker: { namesrvAddr: '127.0.0.1:1' } })
    const admin = checkedAdminApp(lonely.broker)
    try {
      expect(lonely.broker.isReady()).toBe(true)
      expect((await admin.call({ url: '/readyz' })).json()).toEqual({ ready: false })
      expect((await admin.call({ url: '/api/store' })).statusCode).toBe(200)
    } finally {
      await admin.app.close()
      await lonely.stop()
    }
    expect(c.broker.hasRegistered()).toBe(true)
  })

  it('serves the same API over a real socket', async () => {
    const app = buildAdminApp({ broker: c.broker })
    try {
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      const r = await fetch(`${url}/api/topics`)
      expect(r.status).toBe(200)
      expect(((await r.json()) as { topics: unknown[] }).topics.length).toBeGreaterThan(0)
      const bad = await fetch(`${url}/api/topics`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"topic":""}',
      })
      expect(bad.status).toBe(400)
    } finally {
      await app.close()
    }
  })
})

/** `name{a="x",b="y"}` with the labels sorted, as `parsePrometheus` keys its samples. */
function sampleKey(name: string, labels: Record<string, string>): string {
  const parts = Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
  return `${name}{${parts.join(',')}}`
}

/** The samples of a Prometheus text exposition, keyed by `sampleKey`; fails on a malformed line. */
function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]?Inf)$/.exec(line)
    expect(m, `malformed metrics line: ${line}`).not.toBeNull()
    const labels: Record<string, string> = {}
    for (const l of (m![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.set(sampleKey(m![1]!, labels), Number(m![3]))
  }
  return out
}
