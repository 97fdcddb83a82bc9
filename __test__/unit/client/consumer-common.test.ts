import { describe, expect, it } from 'vitest'

import type { MQClientInstance } from '../../../ts/client/client-instance.js'
import { buildSubscriptionData, computePullFromWhere } from '../../../ts/client/consumer-common.js'
import {
  ConsumeFromWhere,
  formatConsumeTimestamp,
  parseConsumeTimestamp,
  resolveConsumerConfig,
  resolvePushConsumerConfig,
} from '../../../ts/client/consumer-config.js'
import type { OffsetStore } from '../../../ts/client/offset-store.js'
import type { MessageQueue } from '../../../ts/remoting/protocol/message-queue.js'

const mq: MessageQueue = { topic: 'T', brokerName: 'b', queueId: 1 }
const retryMq: MessageQueue = { topic: '%RETRY%G', brokerName: 'b', queueId: 0 }

/** A store answering `stored` to every read, and a runtime whose broker knows max 500 and finds 120 by time. */
function fakes(stored: number): { store: OffsetStore; instance: MQClientInstance; calls: string[] } {
  const calls: string[] = []
  const store = { readOffset: async () => stored } as unknown as OffsetStore
  const instance = {
    config: { mqClientApiTimeout: 1000 },
    findMasterOrRefresh: async () => 'addr:1',
    api: {
      getQueueOffset: async (_addr: string, q: MessageQueue, which: string) => {
        calls.push(`${which}:${q.topic}`)
        return 500
      },
      searchOffset: async (_addr: string, q: MessageQueue, ts: number) => {
        calls.push(`ts:${q.topic}:${ts}`)
        return 120
      },
    },
  } as unknown as MQClientInstance
  return { store, instance, calls }
}

function config(from: ConsumeFromWhere, ts = '20260101120000') {
  return resolveConsumerConfig({ consumerGroup: 'G', namesrvAddr: 'h:1', consumeFromWhere: from, consumeTimestamp: ts })
}

describe('computePullFromWhere (client.md §4.11)', () => {
  it('uses a stored offset whatever consumeFromWhere says', async () => {
    for (const from of Object.values(ConsumeFromWhere)) {
      const { store, instance, calls } = fakes(42)
      expect(await computePullFromWhere(mq, store, config(from), instance)).toBe(42)
      expect(calls).toEqual([])
    }
  })

  it('LAST_OFFSET without a stored offset: the broker max, 0 for a retry topic', async () => {
    const f = fakes(-1)
    expect(await computePullFromWhere(mq, f.store, config('CONSUME_FROM_LAST_OFFSET'), f.instance)).toBe(500)
    expect(await computePullFromWhere(retryMq, f.store, config('CONSUME_FROM_LAST_OFFSET'), f.instance)).toBe(0)
    expect(f.calls).toEqual(['max:T'])
  })

  it('FIRST_OFFSET without a stored offset: 0', async () => {
    const f = fakes(-1)
    expect(await computePullFromWhere(mq, f.store, config('CONSUME_FROM_FIRST_OFFSET'), f.instance)).toBe(0)
    expect(f.calls).toEqual([])
  })

  it('TIMESTAMP without a stored offset: searched by consumeTimestamp; the max for a retry topic', async () => {
    const f = fakes(-1)
    const c = config('CONSUME_FROM_TIMESTAMP', '20260101120000')
    expect(await computePullFromWhere(mq, f.store, c, f.instance)).toBe(120)
    expect(await computePullFromWhere(retryMq, f.store, c, f.instance)).toBe(500)
    expect(f.calls).toEqual([`ts:T:${new Date(2026, 0, 1, 12, 0, 0).getTime()}`, 'max:%RETRY%G'])
  })

  it('an unreadable store (−2) is an error: the queue waits for the next rebalance', async () => {
    const f = fakes(-2)
    await expect(computePullFromWhere(mq, f.store, config('CONSUME_FROM_FIRST_OFFSET'), f.instance)).rejects.toThrow(
      /cannot read the offset/,
    )
  })
})

describe('consumer configuration', () => {
  it('parses and formats consumeTimestamp in local time, refusing impossible dates', () => {
    const ms = new Date(2026, 10, 21, 8, 5, 9).getTime()
    expect(formatConsumeTimestamp(ms)).toBe('20261121080509')
    expect(parseConsumeTimestamp('20261121080509')).toBe(ms)
    expect(parseConsumeTimestamp('20261321080509')).toBeNaN()
    expect(parseConsumeTimestamp('2026112108050')).toBeNaN()
    expect(() =>
      resolveConsumerConfig({ consumerGroup: 'G', namesrvAddr: 'h:1', consumeTimestamp: 'yesterday' }),
    ).toThrow(/yyyyMMddHHmmss/)
  })

  it('refuses DEFAULT_CONSUMER, bad groups and out-of-range push settings', () => {
    expect(() => resolveConsumerConfig({ consumerGroup: 'DEFAULT_CONSUMER', namesrvAddr: 'h:1' })).toThrow(
      /DEFAULT_CONSUMER/,
    )
    expect(() => resolveConsumerConfig({ consumerGroup: 'a b', namesrvAddr: 'h:1' })).toThrow(/illegal characters/)
    const base = { consumerGroup: 'G', namesrvAddr: 'h:1' }
    expect(() => resolvePushConsumerConfig({ ...base, pullBatchSize: 1025 })).toThrow(/pullBatchSize/)
    expect(() => resolvePushConsumerConfig({ ...base, consumeThreadMin: 30, consumeThreadMax: 10 })).toThrow(
      /consumeThreadMin/,
    )
    expect(() => resolvePushConsumerConfig({ ...base, consumeConcurrentlyMaxSpan: 0 })).toThrow(
      /consumeConcurrentlyMaxSpan/,
    )
    const d = resolvePushConsumerConfig(base)
    expect([d.consumeThreadMin, d.pullBatchSize, d.pullThresholdForQueue, d.consumeMessageBatchMaxSize]).toEqual([
      20, 32, 1000, 1,
    ])
    expect(d.consumeTimeoutMs).toBe(15 * 60_000)
    expect([d.consumeConcurrentlyMaxSpan, d.pullThresholdSizeForQueue]).toEqual([2000, 100])
    // Fractions of a minute are accepted (Java's field is a whole number of minutes); zero and negatives are not.
    expect(resolvePushConsumerConfig({ ...base, consumeTimeout: 0.02 }).consumeTimeoutMs).toBe(1200)
    expect(() => resolvePushConsumerConfig({ ...base, consumeTimeout: 0 })).toThrow(/consumeTimeout/)
    expect(() => resolvePushConsumerConfig({ ...base, consumeTimeout: -1 })).toThrow(/consumeTimeout/)
  })

  it('builds tag subscriptions as FilterAPI does, and requires an SQL92 expression', () => {
    const s = buildSubscriptionData('T', ' TagA || TagB ||  ')
    expect([s.subString, s.tagsSet, s.expressionType]).toEqual([' TagA || TagB ||  '.trim(), ['TagA', 'TagB'], 'TAG'])
    expect(buildSubscriptionData('T', '*').tagsSet).toEqual([])
    expect(() => buildSubscriptionData('T', ' ', 'SQL92')).toThrow(/needs an expression/)
  })
})
