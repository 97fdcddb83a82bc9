/**
 * ali-ons 3.12 consumer offsets in ferrymq: a consumer closed cleanly commits the next offset to consume on every
 * queue (`UPDATE_CONSUMER_OFFSET`, then `UNREGISTER_CLIENT`), and a new consumer of the same group, in another
 * process, resumes there: it gets only what was produced since, also when the broker restarted in between
 * (real-clients.md §2.4, §2.6).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { queueOffsets, testMessage, waitForOffsetsCommitted, type TestMessage } from './helpers/ali-ons-cluster.js'
import { AliOnsChild, stopAllAliOnsChildren } from './helpers/ali-ons-process.js'
import type { SendResult } from './helpers/ali-ons-protocol.js'

const TOPIC = 'OnsOffsets'
const GROUP = 'CG_offsets'
const FIRST = 12
const SECOND = 6

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

  async function sendAll(p: AliOnsChild, messages: TestMessage[]): Promise<SendResult[]> {
    const results: SendResult[] = []
    for (const m of messages) results.push(await p.send(m.spec))
    return results
  }

  function batch(prefix: string, n: number): TestMessage[] {
    return Array.from({ length: n }, (_, i) =>
      testMessage(TOPIC, `${prefix}-${i}`, { tags: 'TagO', keys: [`${prefix}-${i}`] }),
    )
  }

  /** Consumes `messages` in a new process, closes the consumer cleanly and checks what it committed. */
  async function consumeAndClose(name: string, messages: SendResult[]): Promise<void> {
    const c = AliOnsChild.start(cluster.namesrvAddr, name)
    await c.startConsumer({ consumerGroup: GROUP }, [{ topic: TOPIC, expression: '*' }])
    await c.waitForMessages(messages.length)
    await c.closeConsumer()

    expect(
      c
        .messages()
        .map((m) => m.msgId)
        .sort(),
    ).toEqual(messages.map((m) => m.msgId).sort())
    // close() committed every queue (oneway-style, yet answered) and unregistered, which must succeed.
    expect(c.rpcs(RequestCode.UPDATE_CONSUMER_OFFSET).length).toBeGreaterThan(0)
    const unregister = c.rpcs(RequestCode.UNREGISTER_CLIENT)
    expect(unregister.map((r) => [r.ext.consumerGroup, r.responseCode])).toEqual([[GROUP, ResponseCode.SUCCESS]])
    // The committed offset is the next one to consume: the queue's max offset, on every queue.
    const offsets = await waitForOffsetsCommitted(cluster, GROUP, TOPIC, 10_000)
    expect(offsets.reduce((n, q) => n + q.maxOffset, 0)).toBe(FIRST)
    await c.stop()
    expect(c.groupAlive()).toBe(false)
  }

  /** A new consumer process of the same group gets exactly `fresh`, nothing consumed before. */
  async function resumeAndReceiveOnly(name: string, p: AliOnsChild, fresh: TestMessage[]): Promise<void> {
    const c = AliOnsChild.start(cluster.namesrvAddr, name)
    await c.startConsumer({ consumerGroup: GROUP }, [{ topic: TOPIC, expression: '*' }])
    const sent = await sendAll(p, fresh)
    await c.waitForMessages(fresh.length)
    await waitForOffsetsCommitted(cluster, GROUP, TOPIC)

    const got = c.messages()
    expect(got.map((m) => m.msgId).sort()).toEqual(sent.map((s) => s.msgId).sort())
    expect(got.map((m) => m.bodySha256).sort()).toEqual(fresh.map((m) => m.sha256).sort())
    await c.stop()
    expect(c.groupAlive()).toBe(false)
  }

  it('resumes a restarted consumer at the offsets it committed on close, without redelivery', async () => {
    const p = AliOnsChild.start(cluster.namesrvAddr, 'producer PG_offsets')
    await p.startProducer({ producerGroup: 'PG_offsets' })
    const first = await sendAll(p, batch('first', FIRST))
    await consumeAndClose('consumer 1', first)
    await resumeAndReceiveOnly('consumer 2', p, batch('second', SECOND))
    await p.stop()
    expect(p.groupAlive()).toBe(false)
  })

  it('resumes at the committed offsets after the broker restarted, without redelivery', async () => {
    const p = AliOnsChild.start(cluster.namesrvAddr, 'producer PG_offsets')
    await p.startProducer({ producerGroup: 'PG_offsets' })
    const first = await sendAll(p, batch('first', FIRST))
    await consumeAndClose('consumer 1', first)

    await cluster.stopBroker()
    await cluster.restartBroker()
    // The broker persisted the offsets and reads them back.
    const offsets = await queueOffsets(cluster, GROUP, TOPIC)
    expect(offsets.map((q) => q.consumerOffset)).toEqual(offsets.map((q) => q.maxOffset))
    expect(offsets.reduce((n, q) => n + q.maxOffset, 0)).toBe(FIRST)

    // The same producer process reconnects to the restarted broker.
    await resumeAndReceiveOnly('consumer 2', p, batch('second', SECOND))
    await p.stop()
    expect(p.groupAlive()).toBe(false)
  })
})
