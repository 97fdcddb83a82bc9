/**
 * Our SDK and the unmodified npm client ali-ons 3.12 on one ferrymq cluster: what our `Producer` sends, ali-ons'
 * `Consumer` consumes, and what ali-ons' `Producer` sends, our `PushConsumer` and `LitePullConsumer` consume.
 * Bodies (zlib-compressed from 4 KiB on by both producers), tags and the broker's tag filter, keys, user
 * properties, message ids, one delivery per message, and a retry of an ali-ons message by our consumer.
 *
 * Message ids differ by design between the two clients (real-clients.md §2.3.4, client.md §2.3):
 * - our `SendResult.msgId` is the message's `UNIQ_KEY`; ali-ons' consumer always reports the *offset* message id
 *   (store host + commit-log offset) as `msg.msgId`, which is our `SendResult.offsetMsgId`, and finds `UNIQ_KEY`
 *   in `msg.properties`;
 * - ali-ons sends no `UNIQ_KEY` and returns the offset message id from `send()`; our consumers fall back to that
 *   id, so `ReceivedMessage.msgId` equals what ali-ons' `send()` returned.
 *
 * ali-ons runs in child processes (`helpers/ali-ons-process.ts`): it cannot be stopped inside a process (its hidden
 * inner producer keeps timers alive), so each child ends with `process.exit`.
 */
import { createHash, randomBytes } from 'node:crypto'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { LitePullConsumer } from '../../ts/client/lite-pull-consumer.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import type { SendResult } from '../../ts/client/send-result.js'
import { MessageConst } from '../../ts/common/message/message-const.js'
import { getRetryTopic } from '../../ts/common/mix-all.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'
import { queueOffsets } from './helpers/ali-ons-cluster.js'
import { AliOnsChild, stopAllAliOnsChildren } from './helpers/ali-ons-process.js'
import type { SendResult as OnsSendResult } from './helpers/ali-ons-protocol.js'

// ---- test messages --------------------------------------------------------------------------------------------

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex')
}

interface TestMessage {
  tags: string
  keys: string[]
  properties: Record<string, string>
  body: Buffer
  sha256: string
}

/**
 * Sizes around the 4 KiB compression threshold of both producers (4095 stays raw, 4096 is deflated) and beyond;
 * tags cycle TagA, TagB, TagC, so the subscriptions `TagA || TagB` want sizes 32, 4096, 4095, 100 KiB, 5 KiB, 64.
 */
const SIZES = [32, 4096, 200, 4095, 100 * 1024, 5000, 5 * 1024, 64, 8 * 1024]
const TAGS = ['TagA', 'TagB', 'TagC']
const EXPRESSION = 'TagA || TagB'
const COMPRESS_OVER = 4096

function testMessages(prefix: string): TestMessage[] {
  return SIZES.map((size, i) => {
    const head = Buffer.from(`${prefix}-${i}-`, 'latin1')
    const body = Buffer.concat([head, randomBytes(size - head.length)])
    return {
      tags: TAGS[i % TAGS.length]!,
      keys: [`${prefix}-key-${i}`, `${prefix}-shared`],
      properties: { seq: String(i), origin: prefix, note: 'café ☕ ü' },
      body,
      sha256: sha256(body),
    }
  })
}

function wantedByExpression<T extends { m: TestMessage }>(all: T[]): T[] {
  return all.filter(({ m }) => m.tags !== 'TagC')
}

function userProperties(m: TestMessage, get: (name: string) => string | null | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.keys(m.properties).map((k) => [k, get(k)]))
}

/** Where a message was stored: its queue and its offset there. */
interface Stored {
  queueId: number
  queueOffset: number
}

/**
 * Waits until `group` has committed, on each queue, an offset past every message of `stored`: each was consumed and
 * will not come again. (Committing the queue's max offset can take a held pull, 15 s, longer when the last messages
 * of a queue are filtered out: both clients commit up to the last message they consumed, and move past filtered
 * messages only when a pull answers "no new message", as RocketMQ's Java client does.) `persist` pushes our
 * consumer's offsets to the broker at once: its runtime first persists them only 10 s after start, as Java's does.
 */
async function waitForCommittedPast(
  cluster: TestCluster,
  group: string,
  topic: string,
  stored: Stored[],
  persist: () => Promise<void> = async () => {},
): Promise<void> {
  let last: unknown
  try {
    await waitFor(
      async () => {
        await persist()
        const offsets = await queueOffsets(cluster, group, topic)
        last = offsets
        return stored.every((s) => offsets[s.queueId]!.consumerOffset > s.queueOffset)
      },
      { timeoutMs: 15_000, intervalMs: 100, what: `${group} to commit past every message of ${topic}` },
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`)
  }
}

/** Waits until our consumer has received every wanted message, then until the group has committed past them all. */
async function waitConsumedAndCommitted(
  cluster: TestCluster,
  received: () => number,
  wanted: readonly { r: Stored }[],
  group: string,
  topic: string,
  persist: () => Promise<void>,
): Promise<void> {
  await waitFor(() => received() >= wanted.length, {
    timeoutMs: 15_000,
    intervalMs: 20,
    what: `${wanted.length} messages (got ${received()})`,
  })
  await waitForCommittedPast(
    cluster,
    group,
    topic,
    wanted.map(({ r }) => r),
    persist,
  )
}

// ---------------------------------------------------------------------------------------------------------------

describe('SDK ⇄ ali-ons interop', () => {
  let cluster: TestCluster
  let stops: (() => Promise<void>)[] = []

  beforeEach(async () => {
    cluster = await startCluster()
  })
  afterEach(async () => {
    // Our clients first (newest first), then the ali-ons children, then the cluster; report failures after all.
    const stopping = stops.reverse()
    stops = []
    const failures: string[] = []
    for (const stop of stopping) await stop().catch((err: unknown) => failures.push(String(err)))
    const leaked = await stopAllAliOnsChildren()
    await cluster.stop()
    expect(failures, 'shutdowns of our producers and consumers that failed').toEqual([])
    expect(leaked, 'ali-ons children whose processes outlived the test').toEqual([])
  })

  async function onsProducer(group: string): Promise<AliOnsChild> {
    const p = AliOnsChild.start(cluster.namesrvAddr, `producer ${group}`)
    await p.startProducer({ producerGroup: group })
    return p
  }

  async function onsSendAll(p: AliOnsChild, topic: string, messages: TestMessage[]): Promise<OnsSendResult[]> {
    const results: OnsSendResult[] = []
    for (const m of messages) {
      const { tags, keys, properties } = m
      results.push(await p.send({ topic, tags, keys, properties, bodyBase64: m.body.toString('base64') }))
    }
    return results
  }

  async function sdkProducer(group: string): Promise<Producer> {
    const p = new Producer({ producerGroup: group, namesrvAddr: cluster.namesrvAddr })
    await p.start()
    stops.push(() => p.shutdown())
    return p
  }

  function pushConsumer(
    group: string,
    topic: string,
    expression: string,
    listener: Parameters<PushConsumer['registerMessageListener']>[0],
  ): PushConsumer {
    const k = new PushConsumer({
      consumerGroup: group,
      namesrvAddr: cluster.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      persistConsumerOffsetInterval: 500,
    })
    k.subscribe(topic, expression)
    k.registerMessageListener(listener)
    stops.push(() => k.shutdown())
    return k
  }

  /** What our consumers must see of an ali-ons message: its fields, its properties, its body. */
  /** Every wanted message arrived exactly once, each intact (`expectFromOns`). */
  function expectEachOnceFromOns(
    got: ReceivedMessage[],
    wanted: { m: TestMessage; r: OnsSendResult }[],
    topic: string,
  ): void {
    expect(got.map((d) => d.msgId).sort()).toEqual(wanted.map(({ r }) => r.msgId).sort())
    const byId = new Map(got.map((d) => [d.msgId, d]))
    for (const { m, r } of wanted) expectFromOns(byId.get(r.msgId), topic, m, r)
  }

  function expectFromOns(got: ReceivedMessage | undefined, topic: string, m: TestMessage, sent: OnsSendResult): void {
    expect(got, `the message sent as ${sent.msgId}`).toBeDefined()
    const r = got!
    expect({
      topic: r.topic,
      msgId: r.msgId,
      offsetMsgId: r.offsetMsgId,
      uniqKey: r.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
      queue: [r.queueId, r.queueOffset],
      tags: r.tags,
      keys: r.properties.get(MessageConst.PROPERTY_KEYS),
      user: userProperties(m, (k) => r.properties.get(k)),
      body: [r.body.length, sha256(r.body)],
      compressed: r.sysFlag & 1,
      reconsumeTimes: r.reconsumeTimes,
    }).toEqual({
      topic,
      // ali-ons sends no UNIQ_KEY: the id is the offset message id, the one ali-ons' send() returned.
      msgId: sent.msgId,
      offsetMsgId: sent.msgId,
      uniqKey: undefined,
      queue: [sent.queueId, sent.queueOffset],
      tags: m.tags,
      keys: m.keys.join(' '),
      user: m.properties,
      body: [m.body.length, m.sha256],
      // Decompressed, and the flag cleared with it, as the 5.x Java client's MessageDecoder does (4.9 left it set).
      compressed: 0,
      reconsumeTimes: 0,
    })
  }

  it('ali-ons consumes what our Producer sends: bodies (deflated over 4 KiB), tags, keys, properties, ids, once each', async () => {
    const topic = 'SdkToOns'
    const group = 'CG_ons_from_sdk'
    const producer = await sdkProducer('PG_sdk_to_ons')
    const messages = testMessages('sdk')
    const sent: { m: TestMessage; r: SendResult }[] = []
    for (const m of messages) {
      const msg = new Message({ topic, body: m.body, tags: m.tags, keys: m.keys, properties: m.properties })
      sent.push({ m, r: await producer.send(msg) })
    }
    expect(sent.map(({ r }) => r.sendStatus)).toEqual(messages.map(() => 'SEND_OK'))
    const wanted = wantedByExpression(sent)

    const c = AliOnsChild.start(cluster.namesrvAddr, `consumer ${group}`)
    await c.startConsumer(
      { consumerGroup: group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', persistConsumerOffsetInterval: 500 },
      [{ topic, expression: EXPRESSION }],
    )
    await c.waitForMessages(wanted.length, { timeoutMs: 15_000 })
    await waitForCommittedPast(
      cluster,
      group,
      topic,
      wanted.map(({ r }) => ({ queueId: r.messageQueue.queueId, queueOffset: r.queueOffset })),
    )

    const got = c.messages()
    expect(got.map((e) => e.properties[MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX]).sort()).toEqual(
      wanted.map(({ r }) => r.msgId).sort(),
    )
    const byOffsetId = new Map(got.map((e) => [e.msgId, e]))
    for (const { m, r } of wanted) {
      const e = byOffsetId.get(r.offsetMsgId)
      expect(e, `the message sent as ${r.msgId} / ${r.offsetMsgId}`).toBeDefined()
      expect({
        topic: e!.topic,
        msgId: e!.msgId,
        uniqKey: e!.properties[MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX],
        queue: [e!.queueId, e!.queueOffset],
        tags: e!.tags,
        keys: e!.keys,
        user: userProperties(m, (k) => e!.properties[k]),
        body: [e!.bodyLength, e!.bodySha256],
        compressed: e!.sysFlag & 1,
        reconsumeTimes: e!.reconsumeTimes,
        storeHost: e!.storeHost,
      }).toEqual({
        topic,
        // ali-ons' msgId is always the offset message id; our SendResult.msgId (UNIQ_KEY) is in the properties.
        msgId: r.offsetMsgId,
        uniqKey: r.msgId,
        queue: [r.messageQueue.queueId, r.queueOffset],
        tags: m.tags,
        keys: m.keys.join(' '),
        user: m.properties,
        body: [m.body.length, m.sha256],
        compressed: m.body.length >= COMPRESS_OVER ? 1 : 0,
        reconsumeTimes: 0,
        storeHost: cluster.brokerAddr,
      })
      expect(e!.msgId).not.toBe(r.msgId)
    }
    // The broker filtered: no TagC message crossed the wire.
    expect(
      c
        .pulls(topic)
        .flatMap((p) => p.messages.map((m) => m.tags))
        .sort(),
    ).toEqual(wanted.map(({ m }) => m.tags).sort())
    // The only errors: the route of %RETRY%<group>, looked up before the first heartbeat created it (§2.3.1).
    const retryRouteMissing = `No topic route info in name server for the topic: ${getRetryTopic(group)}`
    expect(
      c.events.filter((e) => e.type === 'error' && !e.error.message.includes(retryRouteMissing)),
      c.diagnostics(),
    ).toEqual([])
  }, 30_000)

  it('our PushConsumer consumes what ali-ons sends: bodies (deflated over 4 KiB), tags, keys, properties, ids, once each', async () => {
    const topic = 'OnsToSdkPush'
    const group = 'CG_push_from_ons'
    const p = await onsProducer('PG_ons_to_push')
    const messages = testMessages('ons-push')
    const results = await onsSendAll(p, topic, messages)
    expect(results.map((r) => r.sendStatus)).toEqual(messages.map(() => 'SEND_OK'))
    const wanted = wantedByExpression(messages.map((m, i) => ({ m, r: results[i]! })))

    const deliveries: ReceivedMessage[] = []
    const k = pushConsumer(group, topic, EXPRESSION, (msgs) => {
      deliveries.push(...msgs)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    await waitConsumedAndCommitted(
      cluster,
      () => deliveries.length,
      wanted,
      group,
      topic,
      () => k.persistConsumerOffset(),
    )

    expectEachOnceFromOns(deliveries, wanted, topic)
    // The broker filtered by tag: it handed the group only the matching messages.
    expect(cluster.broker.stats.groupGets.get(`${group}@${topic}`)).toBe(wanted.length)
  }, 30_000)

  it('our LitePullConsumer consumes what ali-ons sends: bodies, tags, keys, properties, ids, once each', async () => {
    const topic = 'OnsToSdkLite'
    const group = 'CG_lite_from_ons'
    const p = await onsProducer('PG_ons_to_lite')
    const messages = testMessages('ons-lite')
    const results = await onsSendAll(p, topic, messages)
    const wanted = wantedByExpression(messages.map((m, i) => ({ m, r: results[i]! })))

    const k = new LitePullConsumer({
      consumerGroup: group,
      namesrvAddr: cluster.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      persistConsumerOffsetInterval: 500,
      autoCommitIntervalMillis: 1000,
    })
    k.subscribe(topic, EXPRESSION)
    stops.push(() => k.shutdown())
    await k.start()
    const polled: ReceivedMessage[] = []
    let polling = true
    const loop = (async () => {
      while (polling && k.isRunning()) polled.push(...(await k.poll(100)))
    })()
    try {
      // poll() commits what it handed out; the runtime persists it to the broker.
      await waitConsumedAndCommitted(
        cluster,
        () => polled.length,
        wanted,
        group,
        topic,
        () => k.persistConsumerOffset(),
      )
    } finally {
      polling = false
      await loop
    }

    expectEachOnceFromOns(polled, wanted, topic)
  }, 30_000)

  it('retries an ali-ons message our PushConsumer refused once: back with reconsumeTimes 1, intact', async () => {
    const topic = 'OnsToSdkRetry'
    const group = 'CG_push_retry'
    const retryTopic = getRetryTopic(group)
    const p = await onsProducer('PG_ons_retry')
    // The refused message is over 4 KiB: ali-ons deflated it, and the send-back must keep it so.
    const [fine1, fine2, failing] = testMessages('retry').filter((m) => m.tags === 'TagA')
    const [sentFine1, sentFailing, sentFine2] = await onsSendAll(p, topic, [fine1!, failing!, fine2!])
    expect(failing!.body.length).toBeGreaterThanOrEqual(COMPRESS_OVER)

    const deliveries: ReceivedMessage[] = []
    const k = pushConsumer(group, topic, EXPRESSION, (msgs, ctx) => {
      deliveries.push(...msgs)
      if (msgs.some((m) => m.msgId === sentFailing!.msgId && m.reconsumeTimes === 0)) {
        // Level 1 (1 s) keeps the test short; the broker otherwise picks 3 + reconsumeTimes (10 s).
        ctx.delayLevelWhenNextConsume = 1
        return ConsumeConcurrentlyStatus.RECONSUME_LATER
      }
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    const isRedelivery = (d: ReceivedMessage): boolean => d.reconsumeTimes >= 1 && sha256(d.body) === failing!.sha256
    const again = await waitFor(() => deliveries.find(isRedelivery), {
      timeoutMs: 20_000,
      intervalMs: 20,
      what: `the redelivery of ${sentFailing!.msgId} (deliveries: ${deliveries.length})`,
    })
    const persist = (): Promise<void> => k.persistConsumerOffset()
    await waitForCommittedPast(cluster, group, topic, [sentFine1!, sentFailing!, sentFine2!], persist)
    await waitForCommittedPast(cluster, group, retryTopic, [again], persist)

    // The first delivery was the original, as ali-ons sent it.
    const first = deliveries.filter((d) => d.msgId === sentFailing!.msgId)
    expect(first).toHaveLength(1)
    expectFromOns(first[0], topic, failing!, sentFailing!)
    // The redelivery: the original topic again, intact, one more reconsume, its origin recorded.
    expect({
      topic: again.topic,
      reconsumeTimes: again.reconsumeTimes,
      tags: again.tags,
      keys: again.properties.get(MessageConst.PROPERTY_KEYS),
      user: userProperties(failing!, (name) => again.properties.get(name)),
      body: [again.body.length, sha256(again.body)],
      compressed: again.sysFlag & 1,
      retryTopic: again.properties.get(MessageConst.PROPERTY_RETRY_TOPIC),
      originMessageId: again.properties.get(MessageConst.PROPERTY_ORIGIN_MESSAGE_ID),
      uniqKey: again.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX),
    }).toEqual({
      topic,
      reconsumeTimes: 1,
      tags: failing!.tags,
      keys: failing!.keys.join(' '),
      user: failing!.properties,
      body: [failing!.body.length, failing!.sha256],
      compressed: 0,
      retryTopic: topic,
      originMessageId: sentFailing!.msgId,
      uniqKey: undefined,
    })
    // Without a UNIQ_KEY the id is the offset id of the copy in %RETRY%<group>, as with a Java consumer.
    expect(again.msgId).not.toBe(sentFailing!.msgId)
    expect(again.msgId).toBe(again.offsetMsgId)

    // Each message delivered once, the refused one twice; the broker did the send-back (no fallback send).
    const count = (id: string): number => deliveries.filter((d) => d.msgId === id).length
    expect([count(sentFine1!.msgId), count(sentFine2!.msgId), count(again.msgId)]).toEqual([1, 1, 1])
    expect(deliveries).toHaveLength(4)
    expect(cluster.broker.stats.sendBackMessages).toBe(1)
    expect(cluster.broker.store.getMaxOffsetInQueue(retryTopic, 0)).toBe(1)
  }, 30_000)
})
