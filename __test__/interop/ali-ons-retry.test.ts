/**
 * ali-ons 3.12 retry through ferrymq: a handler that throws makes ali-ons send the message back
 * (`CONSUMER_SEND_MSG_BACK`), the broker stores it delayed into `%RETRY%<group>`, and ali-ons consumes it from there
 * and calls the handler again (real-clients.md §2.5). The client-side fallback (a plain send to the retry topic by
 * the hidden inner producer) must not be what makes this work.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { getRetryTopic } from '../../ts/common/mix-all.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { FAST_DELAY_LEVELS, testMessage, waitForOffsetsCommitted } from './helpers/ali-ons-cluster.js'
import { AliOnsChild, stopAllAliOnsChildren } from './helpers/ali-ons-process.js'
import type { ChildEvent, MessageEvent } from './helpers/ali-ons-protocol.js'

describe('ali-ons interop', () => {
  let cluster: TestCluster

  beforeEach(async () => {
    cluster = await startCluster({ store: { messageDelayLevel: FAST_DELAY_LEVELS } })
  })
  afterEach(async () => {
    const leaked = await stopAllAliOnsChildren()
    await cluster.stop()
    expect(leaked, 'ali-ons children whose processes outlived the test').toEqual([])
  })

  it('redelivers a message whose handler threw through %RETRY%<group> after CONSUMER_SEND_MSG_BACK', async () => {
    const topic = 'OnsRetry'
    const group = 'CG_retry'
    const retryTopic = getRetryTopic(group)
    const p = AliOnsChild.start(cluster.namesrvAddr, 'producer PG_retry')
    await p.startProducer({ producerGroup: 'PG_retry' })
    const failing = testMessage(topic, 'fail-once', { tags: 'TagR', keys: ['retry-key'], padBytes: 64 })
    const fine = [testMessage(topic, 'fine-1', { tags: 'TagR' }), testMessage(topic, 'fine-2', { tags: 'TagR' })]
    const sentFine1 = await p.send(fine[0]!.spec)
    const sentFailing = await p.send(failing.spec)
    const sentFine2 = await p.send(fine[1]!.spec)

    const c = AliOnsChild.start(cluster.namesrvAddr, `consumer ${group}`)
    await c.startConsumer({ consumerGroup: group }, [
      { topic, expression: '*', throwOnFirstDeliveryOfBodiesStartingWith: 'fail-' },
    ])
    const isRedelivery = (e: ChildEvent): e is MessageEvent =>
      e.type === 'message' && e.bodySha256 === failing.sha256 && e.reconsumeTimes >= 1
    const again = await c.waitForEvent(isRedelivery, {
      timeoutMs: 120_000,
      what: 'the redelivery of the failing message',
    })
    await waitForOffsetsCommitted(cluster, group, topic)
    await waitForOffsetsCommitted(cluster, group, retryTopic)

    const first = c.messages().filter((m) => m.bodySha256 === failing.sha256 && m.reconsumeTimes === 0)
    expect(first).toHaveLength(1)
    expect([first[0]!.msgId, first[0]!.threw]).toEqual([sentFailing.msgId, true])
    // The handler sees the same message again: original topic, body, tag and keys, one more reconsume.
    expect(again).toMatchObject({
      topic,
      tags: 'TagR',
      keys: 'retry-key',
      bodySha256: failing.sha256,
      bodyLength: failing.body.length,
      reconsumeTimes: 1,
      retryTopic: topic,
      originMessageId: sentFailing.msgId,
      threw: false,
    })
    expect(again.msgId).not.toBe(sentFailing.msgId)
    // It came from %RETRY%<group>.
    const retryPulls = c.pulls().filter((e) => e.topic === retryTopic)
    expect(retryPulls.flatMap((e) => e.messages.map((m) => m.msgId))).toEqual([again.msgId])

    // ali-ons sent it back once and the broker answered SUCCESS; the inner producer's fallback send never ran.
    const sendBacks = c.rpcs(RequestCode.CONSUMER_SEND_MSG_BACK)
    expect(
      sendBacks.map((r) => [r.ext.group, r.ext.originMsgId, r.ext.originTopic, Number(r.ext.offset), r.responseCode]),
    ).toEqual([[group, sentFailing.msgId, topic, first[0]!.commitLogOffset, ResponseCode.SUCCESS]])
    expect(c.rpcs(RequestCode.SEND_MESSAGE_V2)).toEqual([])
    expect(cluster.broker.stats.sendBackMessages).toBe(1)
    expect(cluster.broker.store.getMaxOffsetInQueue(retryTopic, 0)).toBe(1)

    // Everything else exactly once, and nothing more.
    const bodies = c.messages().map((m) => `${m.msgId}:${m.reconsumeTimes}`)
    expect(bodies.sort()).toEqual(
      [`${sentFine1.msgId}:0`, `${sentFine2.msgId}:0`, `${sentFailing.msgId}:0`, `${again.msgId}:1`].sort(),
    )
    await Promise.all([p.stop(), c.stop()])
    expect([p.groupAlive(), c.groupAlive()]).toEqual([false, false])
  })
})
