/**
 * Clients across a broker restart: the restarted broker has forgotten the consumer's subscription, and the
 * consumer must not stand still until its next periodic heartbeat (30 s) — found by the torture crash loop.
 */
import { afterEach, describe, expect, it } from 'vitest'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

let c: TestCluster | null = null
const closers: (() => Promise<void>)[] = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await c?.stop()
  c = null
})

describe('client: broker restart', () => {
  it('a push consumer resumes within seconds after its broker restarts, well before the next heartbeat period', async () => {
    c = await startCluster()
    const cluster = c
    const producer = new Producer({
      producerGroup: 'RestartPG',
      namesrvAddr: cluster.namesrvAddr,
      pollNameServerInterval: 500,
    })
    await producer.start()
    closers.push(() => producer.shutdown())
    const seen = new Set<string>()
    const consumer = new PushConsumer({
      consumerGroup: 'RestartCG',
      namesrvAddr: cluster.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      // Its routes stay as they were (refreshed every 30 s): only the failed pulls tell it the broker restarted.
    })
    consumer.subscribe('RestartT', '*')
    consumer.registerMessageListener((msgs) => {
      for (const m of msgs) seen.add(m.body.toString())
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await producer.send(new Message({ topic: 'RestartT', body: 'before' }))
    const startedAt = Date.now()
    await consumer.start()
    closers.push(() => consumer.shutdown())
    await waitFor(() => seen.has('before'), { timeoutMs: 20_000, what: 'the first message' })
    // The consumer's early heartbeats (at start, after its first rebalance, and the first periodic one a second
    // later) are behind it: the next is 30 s away.
    const group = (): number =>
      cluster.broker.consumerManager.getConsumerGroupInfo('RestartCG')?.lastUpdateTimestamp ?? 0
    await waitFor(() => group() >= startedAt + 1000, { timeoutMs: 10_000, what: 'the first periodic heartbeat' })
    await cluster.stopBroker()
    await cluster.restartBroker()
    await waitFor(
      async () => {
        try {
          await producer.send(new Message({ topic: 'RestartT', body: 'after' }))
          return true
        } catch {
          return false
        }
      },
      { timeoutMs: 10_000, what: 'a send to the restarted broker' },
    )
    // The periodic heartbeat is 30 s away: within this deadline only the one the failed pull asked for can help.
    await waitFor(() => seen.has('after'), { timeoutMs: 15_000, what: 'the message sent after the restart' })
    expect(seen.has('after')).toBe(true)
  })
})
