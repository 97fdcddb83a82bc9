import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { LitePullConsumer, type LitePullConsumerOptions } from '../../ts/client/lite-pull-consumer.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import type { MessageQueue } from '../../ts/remoting/protocol/message-queue.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { request } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

describe('client: lite pull consumer against a real broker', () => {
  let c: TestCluster
  let producer: Producer
  const consumers: LitePullConsumer[] = []

  beforeEach(async () => {
    c = await startCluster({ broker: { defaultTopicQueueNums: 2 } })
    producer = new Producer({ producerGroup: 'PG', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    for (const k of consumers.splice(0)) await k.shutdown()
    await producer.shutdown()
    await c.stop()
  })

  function consumer(group: string, extra: Partial<LitePullConsumerOptions> = {}): LitePullConsumer {
    const k = new LitePullConsumer({
      consumerGroup: group,
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      pollTimeoutMillis: 200,
      ...extra,
    })
    consumers.push(k)
    return k
  }

  /** Sends `n` messages to queue 0 of `topic`; their bodies are `prefix0`, `prefix1`, … */
  async function produceToQueue(
    topic: string,
    n: number,
    prefix = 'm',
    tags?: (i: number) => string,
  ): Promise<MessageQueue> {
    const [mq] = await producer.fetchPublishMessageQueues(topic)
    const q0 = { ...mq!, queueId: 0 }
    for (let i = 0; i < n; i++) {
      await producer.send(new Message({ topic, body: `${prefix}${i}`, tags: tags?.(i) }), q0)
    }
    return q0
  }

  async function pollUntil(k: LitePullConsumer, n: number): Promise<ReceivedMessage[]> {
    const got: ReceivedMessage[] = []
    await waitFor(
      async () => {
        got.push(...(await k.poll(100)))
        return got.length >= n
      },
      { what: `${n} messages polled` },
    )
    return got
  }

  it('subscribe: polls every message of the topic once, in queue order', async () => {
    await producer.send(new Message({ topic: 'LpA', body: 'warm' }))
    const q0 = await produceToQueue('LpA', 20)
    const k = consumer('LG1')
    k.subscribe('LpA', '*')
    await k.start()
    const got = await pollUntil(k, 21)
    expect(got.length).toBe(21)
    const q0Bodies = got.filter((m) => m.queueId === q0.queueId).map((m) => m.body.toString())
    expect(q0Bodies.filter((b) => b !== 'warm')).toEqual([...Array(20).keys()].map((i) => `m${i}`))
    await waitFor(() => k.assignment().length === 2, { what: 'both queues assigned' })
  })

  it('assign + tag expression: only the matching tags arrive', async () => {
    const q0 = await produceToQueue('LpT', 12, 'm', (i) => (i % 2 === 0 ? 'Even' : 'Odd'))
    const k = consumer('LG2')
    k.setSubExpressionForAssign('LpT', 'Even')
    k.assign([q0])
    await k.start()
    const got = await pollUntil(k, 6)
    expect(got.map((m) => m.tags)).toEqual(Array(6).fill('Even'))
    expect(got.map((m) => m.body.toString())).toEqual(['m0', 'm2', 'm4', 'm6', 'm8', 'm10'])
  })

  it('seek moves the position and drops what was buffered; out-of-range seeks are refused', async () => {
    const q0 = await produceToQueue('LpS', 10)
    const k = consumer('LG3', { autoCommit: false })
    k.assign([q0])
    await k.start()
    const first = await pollUntil(k, 10)
    expect(first.map((m) => m.queueOffset)).toEqual([...Array(10).keys()])
    await k.seek(q0, 7)
    const again = await pollUntil(k, 3)
    expect(again.map((m) => m.queueOffset)).toEqual([7, 8, 9])
    await k.seekToBegin(q0)
    expect((await pollUntil(k, 10)).map((m) => m.queueOffset)).toEqual([...Array(10).keys()])
    await expect(k.seek(q0, 11)).rejects.toThrow(/seek offset illegal/)
    await expect(k.seek({ ...q0, queueId: 1 }, 0)).rejects.toThrow(/not in assigned list/)
  })

  it('commit with persist stores the offset at the broker; committed() reads it back, and a new consumer resumes there', async () => {
    const q0 = await produceToQueue('LpC', 8)
    const k = consumer('LG4', { autoCommit: false })
    k.assign([q0])
    await k.start()
    await pollUntil(k, 8)
    await k.commit([q0], true)
    expect(await k.committed(q0)).toBe(8)
    await waitFor(() => c.broker.consumerOffsetManager.queryOffset('LG4', 'LpC', 0) === 8, {
      what: 'offset 8 at the broker',
    })
    await k.commit(new Map([[q0, 5]]), true)
    await waitFor(() => c.broker.consumerOffsetManager.queryOffset('LG4', 'LpC', 0) === 5, {
      what: 'offset 5 at the broker',
    })
    await k.shutdown()
    consumers.splice(consumers.indexOf(k), 1)
    const next = consumer('LG4', { autoCommit: false })
    next.assign([q0])
    await next.start()
    const resumed = await pollUntil(next, 3)
    expect(resumed.map((m) => m.queueOffset)).toEqual([5, 6, 7])
  })

  it('auto commit during poll, pause/resume, and async iteration', async () => {
    const q0 = await produceToQueue('LpP', 5)
    const k = consumer('LG5', { autoCommitIntervalMillis: 1000 })
    k.assign([q0])
    await k.start()
    const seen: number[] = []
    for await (const m of k) {
      seen.push(m.queueOffset)
      if (seen.length === 5) break
    }
    expect(seen).toEqual([0, 1, 2, 3, 4])
    // A later poll past the auto-commit deadline commits in memory; the 5 s task or shutdown persists it.
    await waitFor(async () => (await k.poll(50), (await k.committed(q0)) === 5), {
      what: 'auto commit of offset 5',
    })
    // A pull the broker already holds still delivers once; after it the paused task stops pulling.
    k.pause([q0])
    await producer.send(new Message({ topic: 'LpP', body: 'in-flight' }), q0)
    expect((await pollUntil(k, 1))[0]!.body.toString()).toBe('in-flight')
    await producer.send(new Message({ topic: 'LpP', body: 'later' }), q0)
    expect(await k.poll(300)).toEqual([])
    k.resume([q0])
    const later = await pollUntil(k, 1)
    expect(later[0]!.body.toString()).toBe('later')
  })

  it('tells a topic listener the queue set, and again when it changes', async () => {
    await produceToQueue('LpQ', 1)
    const seen: number[] = []
    const k = consumer('LG7', { topicMetadataCheckIntervalMillis: 50 })
    k.registerTopicMessageQueueChangeListener('LpQ', (_topic, queues) => void seen.push(queues.length))
    k.assign([{ ...(await producer.fetchPublishMessageQueues('LpQ'))[0]!, queueId: 0 }])
    await k.start()
    await waitFor(() => seen.length === 1, { what: 'the first queue set' })
    expect(seen).toEqual([2])
    // Four queues now: the next check reports the change.
    const r = await request(c.client, c.brokerAddr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: 'LpQ',
      readQueueNums: 4,
      writeQueueNums: 4,
      perm: 6,
    })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    await waitFor(() => seen.length === 2, { what: 'the changed queue set' })
    expect(seen).toEqual([2, 4])
  })

  it('subscribe and assign exclude each other; offsetForTimestamp and fetchMessageQueues answer', async () => {
    const q0 = await produceToQueue('LpX', 3)
    const k = consumer('LG6')
    k.subscribe('LpX')
    expect(() => k.assign([q0])).toThrow(/mutually exclusive/)
    await k.start()
    expect((await k.fetchMessageQueues('LpX')).length).toBe(2)
    expect(await k.offsetForTimestamp(q0, 0)).toBe(0)
    expect(await k.offsetForTimestamp(q0, Date.now() + 60_000)).toBe(3)
  })
})
