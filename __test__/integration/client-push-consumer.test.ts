import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { allocateAveragely } from '../../ts/client/allocate-strategy.js'
import {
  ConsumeConcurrentlyStatus,
  ConsumeOrderlyStatus,
  type MessageListenerConcurrently,
} from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { selectByHash } from '../../ts/client/message-queue-selector.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { MessageConst } from '../../ts/common/message/message-const.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { messageQueueKey } from '../../ts/remoting/protocol/message-queue.js'
import { SerializeType, type RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { request } from '../helpers/broker-requests.js'
import { recordingLogger } from '../helpers/open-store.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { tempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

describe('client: push consumer against a real broker', () => {
  let c: TestCluster
  let producer: Producer
  const consumers: PushConsumer[] = []

  beforeEach(async () => {
    c = await startCluster({ broker: { defaultTopicQueueNums: 4 } })
    producer = new Producer({ producerGroup: 'PG', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    for (const k of consumers.splice(0)) await k.shutdown()
    await producer.shutdown()
    await c.stop()
  })

  function consumer(
    group: string,
    topic: string,
    expr = '*',
    extra: Partial<ConstructorParameters<typeof PushConsumer>[0]> = {},
  ): PushConsumer {
    const k = new PushConsumer({
      consumerGroup: group,
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      ...extra,
    })
    k.subscribe(topic, expr)
    consumers.push(k)
    return k
  }

  async function produce(
    topic: string,
    n: number,
    init: (i: number) => Partial<ConstructorParameters<typeof Message>[0]> = () => ({}),
  ): Promise<string[]> {
    const ids: string[] = []
    for (let i = 0; i < n; i++) {
      const r = await producer.send(new Message({ topic, body: `m${i}`, ...init(i) }))
      ids.push(r.msgId)
    }
    return ids
  }

  it('consumes every message once with a concurrent listener, and commits the offsets to the broker', async () => {
    const ids = await produce('TopicA', 40)
    const got = new Map<string, ReceivedMessage>()
    const k = consumer('GA', 'TopicA')
    k.registerMessageListener((msgs) => {
      for (const m of msgs) got.set(m.msgId, m)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    await waitFor(() => got.size === 40, { what: '40 messages' })
    expect([...got.keys()].sort()).toEqual([...ids].sort())
    const m = got.get(ids[0]!)!
    expect(m.topic).toBe('TopicA')
    expect(m.body.toString()).toBe('m0')
    expect(m.brokerName).toBe(c.broker.brokerConfig.brokerName)
    expect(m.offsetMsgId).toMatch(/^[0-9A-F]{32}$/)
    expect(m.properties.get(MessageConst.PROPERTY_MAX_OFFSET)).toBeDefined()
    // Offsets reach the broker (persisted every 5 s, and at shutdown).
    await k.shutdown()
    const committed = await Promise.all(
      [0, 1, 2, 3].map((queueId) => c.broker.consumerOffsetManager.queryOffset('GA', 'TopicA', queueId)),
    )
    expect(committed.reduce((a, b) => a + b, 0)).toBe(40)
  })

  it('filters by tag on the broker and exactly on the client', async () => {
    await produce('TopicT', 30, (i) => ({ tags: ['TagA', 'TagB', 'TagC'][i % 3] }))
    const tags: string[] = []
    const k = consumer('GT', 'TopicT', 'TagA || TagC')
    k.registerMessageListener((msgs) => {
      for (const m of msgs) tags.push(m.tags!)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    await waitFor(() => tags.length === 20, { what: '20 tagged messages' })
    expect(new Set(tags)).toEqual(new Set(['TagA', 'TagC']))
  })

  it('retries a failed message through the retry topic with its original topic and a growing reconsumeTimes', async () => {
    const [id] = await produce('TopicR', 1)
    const attempts: ReceivedMessage[] = []
    const k = consumer('GR', 'TopicR')
    // Level 1 (1 s) keeps the test short; the broker otherwise picks 3 + reconsumeTimes (10 s first).
    const listener: MessageListenerConcurrently = (msgs, ctx) => {
      attempts.push(...msgs)
      ctx.delayLevelWhenNextConsume = 1
      return attempts.length < 3 ? ConsumeConcurrentlyStatus.RECONSUME_LATER : ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    }
    k.registerMessageListener(listener)
    await k.start()
    await waitFor(() => attempts.length >= 3, { timeoutMs: 20_000, what: 'three deliveries' })
    expect(attempts.map((m) => m.msgId)).toEqual([id, id, id])
    expect(attempts.map((m) => m.topic)).toEqual(['TopicR', 'TopicR', 'TopicR'])
    expect(attempts.map((m) => m.reconsumeTimes)).toEqual([0, 1, 2])
  }, 30_000)

  it('sends a message to the DLQ after maxReconsumeTimes', async () => {
    await produce('TopicD', 1)
    let attempts = 0
    const k = consumer('GD', 'TopicD', '*', { maxReconsumeTimes: 1 })
    k.registerMessageListener((_msgs, ctx) => {
      attempts++
      ctx.delayLevelWhenNextConsume = 1
      return ConsumeConcurrentlyStatus.RECONSUME_LATER
    })
    await k.start()
    await waitFor(() => c.broker.store.getMaxOffsetInQueue('%DLQ%GD', 0) > 0, {
      timeoutMs: 20_000,
      what: 'a message in %DLQ%GD',
    })
    expect(attempts).toBe(2)
    expect(c.broker.store.getMaxOffsetInQueue('%DLQ%GD', 0)).toBe(1)
  }, 30_000)

  it('three consumers of a group share the queues and take over when one leaves', async () => {
    const ks = [1, 2, 3].map((i) => consumer('G3', 'Topic3', '*', { instanceName: `c${i}` }))
    const seen = new Map<string, number>()
    for (const k of ks) {
      k.registerMessageListener((msgs) => {
        for (const m of msgs) seen.set(m.msgId, (seen.get(m.msgId) ?? 0) + 1)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
      })
      await k.start()
    }
    // 4 queues over 3 clients: 2/1/1, disjoint, all covered.
    await waitFor(
      () => {
        const sizes = ks.map((k) => k.assignment().filter((q) => q.topic === 'Topic3').length)
        return sizes.reduce((a, b) => a + b, 0) === 4 && sizes.every((s) => s >= 1)
      },
      { timeoutMs: 15_000, what: 'queues spread over three consumers' },
    )
    const all = ks.flatMap((k) =>
      k
        .assignment()
        .filter((q) => q.topic === 'Topic3')
        .map(messageQueueKey),
    )
    expect(new Set(all).size).toBe(4)
    const ids = await produce('Topic3', 20)
    await waitFor(() => ids.every((id) => seen.has(id)), { what: 'every message consumed' })
    // One leaves: the other two own all four queues.
    const gone = ks[0]!
    await gone.shutdown()
    consumers.splice(consumers.indexOf(gone), 1)
    await waitFor(
      () => ks.slice(1).reduce((n, k) => n + k.assignment().filter((q) => q.topic === 'Topic3').length, 0) === 4,
      { timeoutMs: 15_000, what: 'the remaining consumers taking over' },
    )
    const more = await produce('Topic3', 20)
    await waitFor(() => more.every((id) => seen.has(id)), { what: 'messages after the takeover' })
  }, 40_000)

  it('broadcasting delivers every message to every consumer and keeps offsets in a local file', async () => {
    const dir = tempDir('ferrymq-offsets-')
    try {
      const counts = [new Set<string>(), new Set<string>()]
      const ks = [0, 1].map((i) =>
        consumer('GB', 'TopicB', '*', {
          messageModel: 'BROADCASTING',
          instanceName: `b${i}`,
          localOffsetStoreDir: dir.path,
        }),
      )
      for (const [i, k] of ks.entries()) {
        k.registerMessageListener((msgs) => {
          for (const m of msgs) counts[i]!.add(m.msgId)
          return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
        })
        await k.start()
      }
      await waitFor(() => ks.every((k) => k.assignment().length === 4), { what: 'every queue everywhere' })
      const ids = await produce('TopicB', 12)
      await waitFor(() => counts.every((s) => ids.every((id) => s.has(id))), { what: 'both consumers got all' })
      await ks[0]!.shutdown()
      const table = ks[0]!.offsetStore.cloneOffsetTable('TopicB')
      expect([...table.values()].reduce((a, e) => a + e.offset, 0)).toBe(12)
    } finally {
      dir.remove()
    }
  })

  it('orderly listener sees each queue in send order, with retries in place', async () => {
    const k = consumer('GO', 'TopicO')
    const perKey = new Map<string, number[]>()
    let failedOnce = false
    k.registerMessageListenerOrderly((msgs) => {
      for (const m of msgs) {
        const [key, seq] = m.body.toString().split(':') as [string, string]
        // Fail once in the middle: the same message comes back before anything after it.
        if (key === 'k1' && seq === '5' && !failedOnce) {
          failedOnce = true
          return ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
        }
        const list = perKey.get(key) ?? []
        list.push(Number(seq))
        perKey.set(key, list)
      }
      return ConsumeOrderlyStatus.SUCCESS
    })
    await k.start()
    for (let i = 0; i < 20; i++) {
      for (const key of ['k1', 'k2', 'k3']) {
        await producer.send(new Message({ topic: 'TopicO', body: `${key}:${i}` }), selectByHash, key)
      }
    }
    await waitFor(() => ['k1', 'k2', 'k3'].every((key) => perKey.get(key)?.length === 20), {
      timeoutMs: 15_000,
      what: 'every key in order',
    })
    for (const key of ['k1', 'k2', 'k3']) expect(perKey.get(key)).toEqual([...Array(20).keys()])
    expect(failedOnce).toBe(true)
  }, 30_000)

  it('orderly broadcasting consumes without broker locks', async () => {
    const dir = tempDir('ferrymq-offsets-')
    try {
      const k = consumer('GOB', 'TopicOB', '*', { messageModel: 'BROADCASTING', localOffsetStoreDir: dir.path })
      const bodies: string[] = []
      k.registerMessageListenerOrderly((msgs) => {
        for (const m of msgs) bodies.push(m.body.toString())
        return ConsumeOrderlyStatus.SUCCESS
      })
      await k.start()
      await waitFor(() => k.assignment().length === 4, { what: 'every queue' })
      for (let i = 0; i < 10; i++) {
        await producer.send(new Message({ topic: 'TopicOB', body: `o${i}` }), selectByHash, 'one-key')
      }
      await waitFor(() => bodies.length === 10, { what: 'ten messages' })
      expect(bodies).toEqual([...Array(10).keys()].map((i) => `o${i}`))
    } finally {
      dir.remove()
    }
  })

  it('consumeFromWhere LAST_OFFSET: a new group starts at the head of a young topic', async () => {
    await produce('TopicW', 4)
    const last: string[] = []
    const k = consumer('GW1', 'TopicW', '*', { consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET })
    k.registerMessageListener((msgs) => {
      for (const m of msgs) last.push(m.body.toString())
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    // The broker answers offset 0 for a queue whose first message is still in memory (client.md §4.11).
    await waitFor(() => last.length === 4, { what: 'the four earlier messages' })
  })

  it('corrects an offset past the end of the queue (OFFSET_MOVED) and goes on consuming', async () => {
    await produce('TopicM', 8)
    // A stored offset far beyond each queue's max, as after the queue was recreated.
    for (const queueId of [0, 1, 2, 3])
      c.broker.consumerOffsetManager.commitOffset('test', 'GM', 'TopicM', queueId, 1000)
    const got: string[] = []
    const k = consumer('GM', 'TopicM')
    k.registerMessageListener((msgs) => {
      for (const m of msgs) got.push(m.body.toString())
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    // Moved to each queue's max (2 messages per queue): the next pulls start there.
    await waitFor(
      () => [0, 1, 2, 3].every((q) => c.broker.consumerOffsetManager.queryOffset('GM', 'TopicM', q) === 2),
      { timeoutMs: 15_000, what: 'offsets corrected to the queue max' },
    )
    const ids = await produce('TopicM', 4, (i) => ({ body: `after${i}` }))
    await waitFor(() => got.length === 4, { timeoutMs: 15_000, what: 'messages after the correction' })
    expect(got.sort()).toEqual(ids.map((_, i) => `after${i}`).sort())
  }, 30_000)

  it('picks up a topic subscribed while running', async () => {
    const got: string[] = []
    const k = consumer('GL', 'TopicL1')
    k.registerMessageListener((msgs) => {
      for (const m of msgs) got.push(`${m.topic}:${m.body.toString()}`)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    await produce('TopicL2', 2)
    k.subscribe('TopicL2', '*')
    await waitFor(() => got.length === 2, { timeoutMs: 15_000, what: 'messages of the new subscription' })
    expect(got.sort()).toEqual(['TopicL2:m0', 'TopicL2:m1'])
  })

  it('follows a broker-initiated offset reset (RESET_CONSUMER_CLIENT_OFFSET) and consumes again from there', async () => {
    await produce('TopicZ', 6)
    const bodies: string[] = []
    const k = consumer('GZ', 'TopicZ')
    k.registerMessageListener((msgs) => {
      for (const m of msgs) bodies.push(m.body.toString())
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    await waitFor(() => bodies.length === 6, { what: 'the first six' })
    await k.persistConsumerOffset()
    // Reset to the start of time, forced: every queue goes back to its min offset (0).
    const r = await request(c.client, c.brokerAddr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, {
      topic: 'TopicZ',
      group: 'GZ',
      timestamp: 0,
      isForce: true,
    })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    // The client waits 10 s (as RocketMQ does) before it applies the new offsets and pulls again.
    await waitFor(() => bodies.length === 12, { timeoutMs: 25_000, what: 'the six again after the reset' })
    expect(bodies.slice(6).sort()).toEqual(bodies.slice(0, 6).sort())
  }, 40_000)

  it('works end to end with ROCKETMQ binary headers', async () => {
    const seen = new Set<number>()
    const hook = {
      doBeforeRequest: (_a: string, r: RemotingCommand) => void seen.add(r.serializeType),
      doAfterResponse: () => {},
    }
    const p = new Producer({
      producerGroup: 'PGB',
      namesrvAddr: c.namesrvAddr,
      serializeType: 'ROCKETMQ',
      rpcHooks: [hook],
    })
    await p.start()
    try {
      const ids: string[] = []
      for (let i = 0; i < 5; i++)
        ids.push((await p.send(new Message({ topic: 'TopicBin', body: `b${i}`, tags: 'T' }))).msgId)
      const got: string[] = []
      const k = consumer('GBIN', 'TopicBin', 'T', { serializeType: 'ROCKETMQ', rpcHooks: [hook] })
      k.registerMessageListener((msgs) => {
        for (const m of msgs) got.push(m.msgId)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
      })
      await k.start()
      await waitFor(() => got.length === 5, { what: 'five messages over binary headers' })
      expect(got.sort()).toEqual(ids.sort())
      expect([...seen]).toEqual([SerializeType.ROCKETMQ])
    } finally {
      await p.shutdown()
    }
  })

  it('stops pulling a queue while it caches more than pullThresholdForQueue messages (flow control)', async () => {
    const [mq] = await producer.fetchPublishMessageQueues('TopicF')
    const q0 = { ...mq!, queueId: 0 }
    for (let i = 0; i < 40; i++) await producer.send(new Message({ topic: 'TopicF', body: `f${i}` }), q0)
    const logger = recordingLogger()
    let pulledTo = 0
    const hook = {
      doBeforeRequest: () => {},
      doAfterResponse: (_a: string, req: RemotingCommand, res: RemotingCommand) => {
        if (req.code === RequestCode.PULL_MESSAGE && req.ext('queueId') === '0' && res.code === ResponseCode.SUCCESS) {
          pulledTo = Math.max(pulledTo, Number(res.ext('nextBeginOffset')))
        }
      },
    }
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let consumed = 0
    const k = consumer('GF', 'TopicF', '*', {
      pullThresholdForQueue: 5,
      pullBatchSize: 2,
      consumeThreadMin: 1,
      consumeThreadMax: 1,
      logger,
      rpcHooks: [hook],
    })
    k.registerMessageListener(async (msgs) => {
      await gate
      consumed += msgs.length
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    const warned = await waitFor(() => logger.lines.find((l) => l.msg === 'flow control: too much cached'), {
      what: 'flow control to start',
    })
    // Pulls of 2 stop once more than 5 are cached: 6 here, and nothing pulled past them.
    expect((warned.obj as { cached: number }).cached).toBe(6)
    expect(pulledTo).toBe(6)
    release()
    await waitFor(() => consumed === 40, { what: 'all forty once the listener is free' })
    expect(pulledTo).toBe(40)
  })

  it('is an async iterable with back-pressure', async () => {
    const ids = await produce('TopicI', 10)
    const k = consumer('GI', 'TopicI', '*', { consumeThreadMin: 2, consumeThreadMax: 2 })
    await k.start()
    const got: string[] = []
    for await (const m of k) {
      got.push(m.msgId)
      if (got.length === 10) break
    }
    expect(got.sort()).toEqual([...ids].sort())
    expect(k.isRunning()).toBe(false)
    consumers.splice(consumers.indexOf(k), 1)
  })

  it('uses the configured strategy and refuses a second consumer of the same group in one runtime', async () => {
    const k = consumer('GS', 'TopicS', '*', { allocateMessageQueueStrategy: allocateAveragely, instanceName: 'same' })
    k.registerMessageListener(() => ConsumeConcurrentlyStatus.CONSUME_SUCCESS)
    await k.start()
    const twin = consumer('GS', 'TopicS', '*', { instanceName: 'same' })
    twin.registerMessageListener(() => ConsumeConcurrentlyStatus.CONSUME_SUCCESS)
    await expect(twin.start()).rejects.toThrow(/has been created before/)
  })
})
