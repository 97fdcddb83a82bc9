/**
 * Unmodified ali-ons 3.12 (npm) producing to and consuming from ferrymq: topic auto-creation through the name
 * server's TBW102 route, offset msgIds, broker-side tag filtering, and zlib-compressed bodies
 * (real-clients.md §1–§2). ali-ons runs in child processes (`helpers/ali-ons-process.ts`).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { testMessage, waitForOffsetsCommitted, type TestMessage } from './helpers/ali-ons-cluster.js'
import { AliOnsChild, stopAllAliOnsChildren } from './helpers/ali-ons-process.js'
import type { MessageEvent, SendResult } from './helpers/ali-ons-protocol.js'

/** Offset message id: store IPv4 + store port + commit-log offset, upper-case hex (real-clients.md §2.2). */
const OFFSET_MSG_ID = /^[0-9A-F]{32}$/

describe('ali-ons interop', () => {
  let cluster: TestCluster

  beforeEach(async () => {
    cluster = await startCluster()
  })
  afterEach(async () => {
    const leaked = await stopAllAliOnsChildren()
    await cluster.stop()
    expect(leaked, 'ali-ons children whose processes outlived the test').toEqual([])
  })

  async function producer(group: string): Promise<AliOnsChild> {
    const p = AliOnsChild.start(cluster.namesrvAddr, `producer ${group}`)
    await p.startProducer({ producerGroup: group })
    return p
  }

  async function sendAll(p: AliOnsChild, messages: TestMessage[]): Promise<SendResult[]> {
    const results: SendResult[] = []
    for (const m of messages) results.push(await p.send(m.spec))
    return results
  }

  async function stopAll(...children: AliOnsChild[]): Promise<void> {
    await Promise.all(children.map((c) => c.stop()))
    for (const c of children) expect(c.groupAlive(), `${c.name} left processes behind`).toBe(false)
  }

  it('auto-creates a topic on the first send and returns the offset msgId the consumer computes', async () => {
    const topic = 'OnsAutoCreated'
    expect(cluster.broker.topicConfigManager.selectTopicConfig(topic)).toBeUndefined()
    const p = await producer('PG_auto')
    const messages = Array.from({ length: 8 }, (_, i) =>
      testMessage(topic, `auto-${i}`, { tags: 'TagA', keys: [`auto-key-${i}`] }),
    )
    const sent = await sendAll(p, messages)

    expect(sent.map((r) => r.sendStatus)).toEqual(messages.map(() => 'SEND_OK'))
    for (const r of sent) expect(r.msgId).toMatch(OFFSET_MSG_ID)
    expect(new Set(sent.map((r) => r.msgId)).size).toBe(messages.length)
    // The name server answered the unknown topic with the TBW102 route, and the broker created it from TBW102.
    const routes = p.rpcs(RequestCode.GET_ROUTEINFO_BY_TOPIC).filter((r) => r.ext.topic === topic)
    expect(routes.map((r) => r.responseCode)).toEqual([ResponseCode.SUCCESS])
    expect(p.rpcs(RequestCode.SEND_MESSAGE_V2).map((r) => [r.ext.c, r.responseCode])).toEqual(
      messages.map(() => ['TBW102', ResponseCode.SUCCESS]),
    )
    const tc = cluster.broker.topicConfigManager.selectTopicConfig(topic)
    expect(tc?.writeQueueNums).toBe(4)
    for (const r of sent) expect(r.queueId).toBeLessThan(4)

    const c = AliOnsChild.start(cluster.namesrvAddr, 'consumer CG_auto')
    // The default CONSUME_FROM_LAST_OFFSET: a new group on a queue still in memory starts at 0, as with Java.
    await c.startConsumer({ consumerGroup: 'CG_auto' }, [{ topic, expression: '*' }])
    const got = await c.waitForMessages(messages.length)
    await waitForOffsetsCommitted(cluster, 'CG_auto', topic)

    expect(got).toHaveLength(messages.length)
    const bySha = new Map(got.map((m) => [m.bodySha256, m]))
    messages.forEach((m, i) => {
      const received = bySha.get(m.sha256)
      expect(received, `message ${i}`).toBeDefined()
      expect(received!.msgId).toBe(sent[i]!.msgId)
      expect([received!.queueId, received!.queueOffset]).toEqual([sent[i]!.queueId, sent[i]!.queueOffset])
      expect(received!.storeHost).toBe(cluster.brokerAddr)
    })
    // With nameSrv given, ali-ons never fetches a name-server list over HTTP.
    expect([...p.events, ...c.events].filter((e) => e.type === 'http')).toEqual([])
    await stopAll(p, c)
  })

  it('delivers only the tags of the subscription, each message once and intact, filtered by the broker', async () => {
    const topic = 'OnsTagged'
    const group = 'CG_tags'
    const p = await producer('PG_tags')
    const tags = ['TagA', 'TagB', 'TagC']
    const messages = Array.from({ length: 15 }, (_, i) =>
      testMessage(topic, `tagged-${i}-${tags[i % 3]}`, { tags: tags[i % 3]!, keys: [`key-${i}`, 'shared'] }),
    )
    const sent = await sendAll(p, messages)
    const wanted = messages.map((m, i) => ({ m, sent: sent[i]! })).filter(({ m }) => m.spec.tags !== 'TagB')

    const c = AliOnsChild.start(cluster.namesrvAddr, `consumer ${group}`)
    await c.startConsumer({ consumerGroup: group }, [{ topic, expression: 'TagA || TagC' }])
    await c.waitForMessages(wanted.length)
    // Every queue consumed to its end (TagB messages included, skipped): nothing more can arrive.
    await waitForOffsetsCommitted(cluster, group, topic)

    const got = c.messages()
    expect(got.map((m) => m.msgId).sort()).toEqual(wanted.map((w) => w.sent.msgId).sort())
    const byId = new Map<string, MessageEvent>(got.map((m) => [m.msgId, m]))
    for (const { m, sent: s } of wanted) {
      const r = byId.get(s.msgId)!
      expect([r.topic, r.tags, r.keys, r.bodySha256, r.reconsumeTimes]).toEqual([
        topic,
        m.spec.tags,
        m.spec.keys!.join(' '),
        m.sha256,
        0,
      ])
    }
    // The broker filtered: no TagB message crossed the wire, and it counted only the matching ones as got.
    const pulledTags = c
      .pulls()
      .filter((e) => e.topic === topic)
      .flatMap((e) => e.messages.map((m) => m.tags))
    expect(pulledTags.sort()).toEqual(wanted.map((w) => w.m.spec.tags).sort())
    expect(cluster.broker.stats.groupGets.get(`${group}@${topic}`)).toBe(wanted.length)
    // The pulls carried the raw expression.
    expect(
      new Set(
        c
          .rpcs(RequestCode.PULL_MESSAGE)
          .filter((r) => r.ext.topic === topic)
          .map((r) => r.ext.subscription),
      ),
    ).toEqual(new Set(['TagA || TagC']))
    await stopAll(p, c)
  })

  it('delivers bodies over 4 KiB, which ali-ons zlib-compresses, intact', async () => {
    const topic = 'OnsLargeBodies'
    const group = 'CG_large'
    const p = await producer('PG_large')
    // 4095 bytes stay as they are; from 4096 bytes on ali-ons deflates the body and sets sysFlag bit 0.
    const sizes = [100, 4095, 4096, 5 * 1024, 100 * 1024, 64 * 1024]
    const messages = sizes.map((size, i) => {
      const text = `large-${i}-`
      return testMessage(topic, text, { tags: 'TagL', padBytes: size - text.length })
    })
    const sent = await sendAll(p, messages)
    const sends = p.rpcs(RequestCode.SEND_MESSAGE_V2)
    expect(sends.map((r) => [Number(r.ext.f) & 1, r.responseCode])).toEqual(
      sizes.map((s) => [s >= 4096 ? 1 : 0, ResponseCode.SUCCESS]),
    )

    const c = AliOnsChild.start(cluster.namesrvAddr, `consumer ${group}`)
    await c.startConsumer({ consumerGroup: group }, [{ topic, expression: '*' }])
    await c.waitForMessages(messages.length)
    await waitForOffsetsCommitted(cluster, group, topic)

    const got = c.messages()
    expect(got).toHaveLength(messages.length)
    const byId = new Map(got.map((m) => [m.msgId, m]))
    messages.forEach((m, i) => {
      const r = byId.get(sent[i]!.msgId)
      expect(r, `message of ${sizes[i]} bytes`).toBeDefined()
      expect([r!.bodyLength, r!.bodySha256, r!.sysFlag & 1]).toEqual([
        m.body.length,
        m.sha256,
        sizes[i]! >= 4096 ? 1 : 0,
      ])
    })
    await stopAll(p, c)
  })
})
