/**
 * The client SDK against one name server and two brokers (broker-a, broker-b): producer failover and latency
 * fault tolerance (client.md §3.3–§3.7) with broker-b behind a proxy that can stop answering or die, and push
 * consumers rebalancing queues spread over both brokers (§4.3, §4.7, §4.8).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { allocateAveragely, sortMessageQueues } from '../../ts/client/allocate-strategy.js'
import { MQClientError } from '../../ts/client/client-error.js'
import { ConsumeConcurrentlyStatus, ConsumeOrderlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere, type PushConsumerOptions } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { javaHashCode, selectByHash } from '../../ts/client/message-queue-selector.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import type { SendResult } from '../../ts/client/send-result.js'
import { RemotingError } from '../../ts/common/errors.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { messageQueueKey, type MessageQueue } from '../../ts/remoting/protocol/message-queue.js'
import type { ProducerOptions } from '../../ts/client/client-config.js'
import { BROKER_A, BROKER_B, startTwoBrokers, type TwoBrokerCluster } from '../helpers/two-brokers.js'
import { waitFor } from '../helpers/wait-for.js'

const A = BROKER_A
const B = BROKER_B
/** An attempt that fails for the network isolates its broker this long (client.md §3.7). */
const ISOLATION_MS = 10_000
/** Per-attempt cap of the sync sends below, so a hanging broker costs one attempt, not the whole budget. */
const ATTEMPT_TIMEOUT_MS = 1000

describe('client: producer failover and latency fault tolerance over two brokers', () => {
  const TOPIC = 'FailoverT'
  let c: TwoBrokerCluster | undefined
  const producers: Producer[] = []
  /** The producer's clock: real time plus `skew`, moved forward to end an isolation without waiting 10 s. */
  let skew = 0
  const now = (): number => Date.now() + skew
  /** Broker (by published address) of every SEND_MESSAGE_V2 request the producers made, in order. */
  let sendTargets: string[] = []

  beforeEach(async () => {
    skew = 0
    sendTargets = []
    c = await startTwoBrokers({ proxyB: true })
    await c.createTopic(TOPIC, 4)
  })
  afterEach(async () => {
    for (const p of producers.splice(0)) await p.shutdown()
    await c?.stop()
    c = undefined
  })

  function cluster(): TwoBrokerCluster {
    return c!
  }

  function brokerAt(addr: string): string {
    const cl = cluster()
    if (addr === cl.publishedAddr[A]) return A
    if (addr === cl.publishedAddr[B]) return B
    return `unknown ${addr}`
  }

  /** Sets the producer's clock to `t`. */
  function setClock(t: number): void {
    skew = t - Date.now()
  }

  function producer(extra: Partial<ProducerOptions> = {}): Producer {
    const p = new Producer({
      producerGroup: 'PG',
      namesrvAddr: cluster().namesrvAddr,
      sendLatencyEnable: true,
      sendMsgTimeout: 5000,
      sendMsgMaxTimeoutPerRequest: ATTEMPT_TIMEOUT_MS,
      now,
      rpcHooks: [
        {
          doBeforeRequest: (addr, req) => {
            if (req.code === RequestCode.SEND_MESSAGE_V2) sendTargets.push(brokerAt(addr))
          },
          doAfterResponse: () => {},
        },
      ],
      ...extra,
    })
    producers.push(p)
    return p
  }

  let bodies = 0
  function msg(): Message {
    return new Message({ topic: TOPIC, body: `m${bodies++}` })
  }

  interface Call<T> {
    result: T | undefined
    error: unknown
    /** Brokers the call's requests went to, in order. */
    tried: string[]
    /** Connections to broker-b the proxy reset during the call (an attempt whose connect already failed). */
    resets: number
    start: number
    end: number
  }

  /** Runs one send (never two at once) and reports where its attempts went. */
  async function call<T>(send: () => Promise<T>): Promise<Call<T>> {
    const from = sendTargets.length
    const resets = cluster().proxyB!.resets
    const start = now()
    let result: T | undefined
    let error: unknown
    try {
      result = await send()
    } catch (err) {
      error = err
    }
    return {
      result,
      error,
      tried: sendTargets.slice(from),
      resets: cluster().proxyB!.resets - resets,
      start,
      end: now(),
    }
  }

  /** The brokers `n` sequential sends landed on. */
  async function brokersOf(n: number, send: () => Promise<SendResult>): Promise<string[]> {
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push((await send()).messageQueue.brokerName)
    return out
  }

  /** Round robin over a b a a a b b b b (4 + 4 queues): 8 sends reach both brokers. */
  async function expectBothUsed(send: () => Promise<SendResult>): Promise<void> {
    expect(new Set(await brokersOf(8, send))).toEqual(new Set([A, B]))
  }

  function storedOn(broker: string): number {
    let n = 0
    for (let q = 0; q < 4; q++) n += cluster().brokers[broker as typeof A].store.getMaxOffsetInQueue(TOPIC, q)
    return n
  }

  it('sync: a broker that stops answering costs one capped attempt, the send succeeds on the other broker, and the broker is isolated until 10 s after the failure', async () => {
    const cl = cluster()
    const p = producer()
    await p.start()
    const mqs = await p.fetchPublishMessageQueues(TOPIC)
    expect(mqs.map((q) => `${q.brokerName}:${q.queueId}`)).toEqual([
      ...[0, 1, 2, 3].map((q) => `${A}:${q}`),
      ...[0, 1, 2, 3].map((q) => `${B}:${q}`),
    ])
    await expectBothUsed(() => p.send(msg()))

    cl.proxyB!.pause()
    // Round robin reaches broker-b within five sends; the ones before it go to broker-a directly.
    let failover: Call<SendResult> | undefined
    for (let i = 0; i < 8 && failover === undefined; i++) {
      const s = await call(() => p.send(msg()))
      expect(s.error).toBeUndefined()
      expect(s.result!.messageQueue.brokerName).toBe(A)
      if (s.tried[0] === B) failover = s
      else expect(s.tried).toEqual([A])
    }
    expect(failover, 'no send picked broker-b first').toBeDefined()
    // One attempt to broker-b timed out after the per-attempt cap, the retry went to broker-a and succeeded.
    expect(failover!.tried).toEqual([B, A])
    expect(failover!.end - failover!.start).toBeGreaterThanOrEqual(ATTEMPT_TIMEOUT_MS - 5)
    expect(failover!.end - failover!.start).toBeLessThan(5000)

    // Isolated: every send goes straight to broker-a, none is even tried on broker-b.
    for (let i = 0; i < 12; i++) {
      const s = await call(() => p.send(msg()))
      expect(s.result?.messageQueue.brokerName).toBe(A)
      expect(s.tried).toEqual([A])
    }

    cl.proxyB!.resume()
    // broker-b answers again: a send to one of its queues (no queue selection involved) succeeds...
    const direct = await p.send(
      msg(),
      mqs.find((q) => q.brokerName === B)!,
    )
    expect(direct.messageQueue.brokerName).toBe(B)
    // ...but selection keeps avoiding it while the isolation lasts: 8 s after the failure it still does.
    setClock(failover!.start + ISOLATION_MS - 2000)
    for (let i = 0; i < 12; i++) {
      const s = await call(() => p.send(msg()))
      expect(s.tried).toEqual([A])
    }
    // Once the isolation is over, round robin uses both brokers again.
    setClock(failover!.end + ISOLATION_MS)
    const before = sendTargets.length
    await expectBothUsed(() => p.send(msg()))
    expect(sendTargets.length - before).toBe(8)
  }, 20_000)

  it('async and oneway: a hanging broker takes the whole budget of that async send (no time left to retry); then async and oneway sends avoid it until the isolation ends', async () => {
    const cl = cluster()
    const p = producer()
    await p.start()
    await expectBothUsed(() => p.sendAsync(msg()))

    cl.proxyB!.pause()
    const budget = 1500
    let failed: Call<SendResult> | undefined
    for (let i = 0; i < 8 && failed === undefined; i++) {
      const s = await call(() => p.sendAsync(msg(), { timeout: budget }))
      if (s.tried[0] === B) failed = s
      else expect(s.result?.messageQueue.brokerName).toBe(A)
    }
    expect(failed, 'no async send picked broker-b first').toBeDefined()
    // The attempt ran out the call's budget, so there was no retry (client.md §3.4: retried only with time left).
    expect(failed!.tried).toEqual([B])
    expect(failed!.error).toBeInstanceOf(MQClientError)
    expect((failed!.error as Error).message).toMatch(/async send failed after 1 attempts/)
    expect(((failed!.error as Error).cause as RemotingError).code).toBe('RMQ_ERR_TIMEOUT')
    expect(failed!.end - failed!.start).toBeGreaterThanOrEqual(budget - 5)

    // Isolated: concurrent async sends all go to broker-a.
    let from = sendTargets.length
    const rs = await Promise.all(Array.from({ length: 10 }, () => p.sendAsync(msg())))
    expect(rs.map((r) => r.messageQueue.brokerName)).toEqual(Array(10).fill(A))
    expect(sendTargets.slice(from)).toEqual(Array(10).fill(A))
    // Oneway sends too (one attempt, no answer awaited): all ten reach broker-a.
    const storedA = storedOn(A)
    from = sendTargets.length
    for (let i = 0; i < 10; i++) await p.sendOneway(msg())
    expect(sendTargets.slice(from)).toEqual(Array(10).fill(A))
    await waitFor(() => storedOn(A) === storedA + 10, { what: 'the oneway messages on broker-a' })

    cl.proxyB!.resume()
    setClock(failed!.end + ISOLATION_MS)
    await expectBothUsed(() => p.sendAsync(msg()))
  }, 20_000)

  it('a broker that dies (connections reset): async and sync sends fail over to the other broker at once, oneway sends avoid it, and it is used again once back and re-admitted', async () => {
    const cl = cluster()
    const p = producer()
    await p.start()
    await expectBothUsed(() => p.send(msg()))
    cl.proxyB!.kill()

    /** Sends until one tries broker-b first; every send succeeds, on broker-a. */
    const failOver = async (send: () => Promise<SendResult>): Promise<Call<SendResult>> => {
      for (let i = 0; i < 8; i++) {
        const s = await call(send)
        expect(s.error).toBeUndefined()
        expect(s.result!.messageQueue.brokerName).toBe(A)
        // A request written to a reset connection shows in `tried`; a connect that failed only in `resets`.
        if (s.tried[0] === B || s.resets > 0) {
          expect(s.tried.filter((b) => b === A)).toEqual([A])
          expect(s.tried.at(-1)).toBe(A)
          // No timeout involved: the failure is seen at once.
          expect(s.end - s.start).toBeLessThan(ATTEMPT_TIMEOUT_MS)
          return s
        }
        expect(s.tried).toEqual([A])
      }
      throw new Error('no send tried broker-b first')
    }

    const asyncFailover = await failOver(() => p.sendAsync(msg()))
    // Isolated now: sync sends go to broker-a only.
    for (let i = 0; i < 6; i++) expect((await call(() => p.send(msg()))).tried).toEqual([A])
    // Isolation over, broker-b still dead: the next sync send that picks it fails over as well.
    setClock(asyncFailover.end + ISOLATION_MS)
    const syncFailover = await failOver(() => p.send(msg()))
    // Oneway sends keep away from the isolated broker.
    const from = sendTargets.length
    for (let i = 0; i < 8; i++) await p.sendOneway(msg())
    expect(sendTargets.slice(from)).toEqual(Array(8).fill(A))

    cl.proxyB!.resume()
    setClock(syncFailover.end + ISOLATION_MS)
    await expectBothUsed(() => p.send(msg()))
  }, 20_000)
})

describe('client: push consumers rebalancing queues over two brokers', () => {
  let c: TwoBrokerCluster | undefined
  let producer: Producer | undefined
  const consumers: PushConsumer[] = []
  const stops: (() => Promise<void> | void)[] = []

  beforeEach(async () => {
    c = await startTwoBrokers()
    producer = new Producer({ producerGroup: 'PG', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    for (const s of stops.splice(0)) await s()
    for (const k of consumers.splice(0)) await k.shutdown()
    await producer?.shutdown()
    await c?.stop()
    c = undefined
  })

  function consumer(group: string, topic: string, instanceName: string, extra: Partial<PushConsumerOptions> = {}) {
    const k = new PushConsumer({
      consumerGroup: group,
      namesrvAddr: c!.namesrvAddr,
      instanceName,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      ...extra,
    })
    k.subscribe(topic, '*')
    consumers.push(k)
    return k
  }

  async function leave(k: PushConsumer): Promise<void> {
    await k.shutdown()
    consumers.splice(consumers.indexOf(k), 1)
  }

  function owned(k: PushConsumer, topic: string): string[] {
    return k
      .assignment()
      .filter((q) => q.topic === topic)
      .map(messageQueueKey)
      .sort()
  }

  /** Two keys per queue of `mqs`, so that hash selection gives every queue traffic. */
  function keysCovering(mqs: readonly MessageQueue[], perQueue: number): Map<string, string> {
    const keyQueue = new Map<string, string>()
    const count = new Map<string, number>()
    for (let i = 0; keyQueue.size < mqs.length * perQueue; i++) {
      const key = `key-${i}`
      const q = messageQueueKey(mqs[Math.abs(javaHashCode(key) % mqs.length)]!)
      if ((count.get(q) ?? 0) >= perQueue) continue
      count.set(q, (count.get(q) ?? 0) + 1)
      keyQueue.set(key, q)
    }
    return keyQueue
  }

  it('orderly: per-queue order holds while a second consumer joins and leaves under continuous keyed sends; nothing is lost, duplicates only start a new ownership', async () => {
    const TOPIC = 'OrderlyT'
    const GROUP = 'GOrderly'
    await c!.createTopic(TOPIC, 4)
    const p = producer!
    const mqs = await p.fetchPublishMessageQueues(TOPIC)
    expect(new Set(mqs.map((q) => q.brokerName))).toEqual(new Set([A, B]))
    expect(mqs).toHaveLength(8)
    const keyQueue = keysCovering(mqs, 2)
    const keys = [...keyQueue.keys()]

    // Ownership stretches: each time a consumer gains a queue (seen by a 5 ms sampler, and by the listener before it
    // records anything), a new stretch of that consumer on that queue begins.
    const running = new Map<string, PushConsumer>()
    const ownedNow = new Map<string, Set<string>>()
    const epochs = new Map<string, number>()
    const look = (name: string): void => {
      const k = running.get(name)
      const nowOwned = new Set(k === undefined ? [] : owned(k, TOPIC))
      const before = ownedNow.get(name) ?? new Set<string>()
      for (const q of nowOwned) {
        if (!before.has(q)) epochs.set(`${name} ${q}`, (epochs.get(`${name} ${q}`) ?? 0) + 1)
      }
      ownedNow.set(name, nowOwned)
    }
    const sampler = setInterval(() => {
      for (const name of running.keys()) look(name)
    }, 5)
    stops.push(() => clearInterval(sampler))

    interface Consumed {
      consumer: string
      queue: string
      offset: number
      key: string
      seq: number
      stretch: string
    }
    const events: Consumed[] = []
    const consumedIds = new Set<string>()
    const orderly = (name: string): PushConsumer => {
      const k = consumer(GROUP, TOPIC, name)
      k.registerMessageListenerOrderly((msgs, ctx) => {
        look(name)
        const queue = messageQueueKey(ctx.messageQueue)
        const stretch = `${name} ${queue} #${epochs.get(`${name} ${queue}`) ?? 0}`
        for (const m of msgs) {
          const [key, seq] = m.body.toString().split(':') as [string, string]
          events.push({ consumer: name, queue, offset: m.queueOffset, key, seq: Number(seq), stretch })
          consumedIds.add(`${key}:${seq}`)
        }
        return ConsumeOrderlyStatus.SUCCESS
      })
      running.set(name, k)
      return k
    }
    const consumedBy = (name: string): number => events.filter((e) => e.consumer === name).length

    const k1 = orderly('c1')
    await k1.start()
    await waitFor(() => owned(k1, TOPIC).length === 8, { timeoutMs: 15_000, what: 'c1 owning all 8 queues' })

    // Keyed sends, paced, until told to stop.
    const sentPerKey = new Map<string, number>(keys.map((k) => [k, 0]))
    let producing = true
    const sending = (async () => {
      for (let i = 0; producing; i++) {
        const key = keys[i % keys.length]!
        const seq = sentPerKey.get(key)!
        const r = await p.send(new Message({ topic: TOPIC, body: `${key}:${seq}` }), selectByHash, key)
        expect(messageQueueKey(r.messageQueue)).toBe(keyQueue.get(key))
        sentPerKey.set(key, seq + 1)
        await new Promise((resolve) => setTimeout(resolve, 3))
      }
    })()
    // Marked handled here; `stopSending` still rethrows a failed send.
    sending.catch(() => {})
    const stopSending = async (): Promise<void> => {
      producing = false
      await sending
    }
    stops.push(() => stopSending().catch(() => {}))
    await waitFor(() => consumedBy('c1') >= 100, { timeoutMs: 10_000, what: 'c1 consuming' })

    // A second consumer joins: 4 + 4, disjoint, and it consumes from each of its queues.
    const k2 = orderly('c2')
    await k2.start()
    await waitFor(
      () => {
        const a = owned(k1, TOPIC)
        const b = owned(k2, TOPIC)
        return a.length === 4 && b.length === 4 && new Set([...a, ...b]).size === 8
      },
      { timeoutMs: 15_000, what: 'the queues split 4 + 4 between c1 and c2' },
    )
    const c2Queues = owned(k2, TOPIC)
    await waitFor(() => c2Queues.every((q) => events.some((e) => e.consumer === 'c2' && e.queue === q)), {
      timeoutMs: 15_000,
      what: 'c2 consuming from each of its queues',
    })
    await waitFor(() => consumedBy('c2') >= 100, { timeoutMs: 10_000, what: 'c2 consuming more' })

    // It leaves: c1 takes every queue back and consumes from each.
    running.delete('c2')
    await leave(k2)
    look('c2')
    const mark = events.length
    await waitFor(() => owned(k1, TOPIC).length === 8, { timeoutMs: 15_000, what: 'c1 owning all 8 queues again' })
    await waitFor(
      () => {
        const after = new Set(events.slice(mark).map((e) => e.queue))
        return mqs.every((q) => after.has(messageQueueKey(q)))
      },
      { timeoutMs: 15_000, what: 'c1 consuming from every queue again' },
    )

    await stopSending()
    const sentIds: string[] = []
    for (const [key, n] of sentPerKey) for (let s = 0; s < n; s++) sentIds.push(`${key}:${s}`)
    // Nothing lost: every message sent is consumed at least once.
    await waitFor(() => sentIds.every((id) => consumedIds.has(id)), {
      timeoutMs: 15_000,
      what: `all ${sentIds.length} messages consumed`,
    })

    const problems: string[] = []
    const byQueue = new Map<string, Consumed[]>()
    for (const e of events) {
      if (keyQueue.get(e.key) !== e.queue) problems.push(`${e.key}:${e.seq} consumed from ${e.queue}`)
      const list = byQueue.get(e.queue) ?? []
      list.push(e)
      byQueue.set(e.queue, list)
    }
    let duplicates = 0
    for (const [queue, list] of byQueue) {
      // One queue is consumed by one stretch at a time: stretches never interleave.
      const blocks: Consumed[][] = []
      const ended = new Set<string>()
      for (const e of list) {
        const last = blocks.at(-1)
        if (last !== undefined && last[0]!.stretch === e.stretch) {
          last.push(e)
          continue
        }
        if (ended.has(e.stretch)) problems.push(`${queue}: ${e.stretch} consumed again after another stretch`)
        if (last !== undefined) ended.add(last[0]!.stretch)
        blocks.push([e])
      }
      const seen = new Set<string>()
      let highest = -1
      for (const block of blocks) {
        // A new stretch starts at the committed offset: no gap, possibly some already consumed messages...
        if (block[0]!.offset > highest + 1) problems.push(`${block[0]!.stretch}: starts at ${block[0]!.offset}, gap`)
        let redelivering = true
        const lastSeq = new Map<string, number>()
        for (const [i, e] of block.entries()) {
          // ...then strictly in order, offset by offset, and each key's sequence increasing.
          if (i > 0 && e.offset !== block[i - 1]!.offset + 1) {
            problems.push(`${e.stretch}: offset ${e.offset} after ${block[i - 1]!.offset}`)
          }
          if ((lastSeq.get(e.key) ?? -1) >= e.seq) {
            problems.push(`${e.stretch}: ${e.key} seq ${e.seq} after ${lastSeq.get(e.key)}`)
          }
          lastSeq.set(e.key, e.seq)
          const id = `${e.key}:${e.seq}`
          if (seen.has(id)) {
            duplicates++
            // Duplicates only as the prefix of a stretch: redelivery from the committed offset.
            if (!redelivering) problems.push(`${e.stretch}: duplicate ${id} in the middle of the stretch`)
          } else {
            redelivering = false
          }
          seen.add(id)
          highest = Math.max(highest, e.offset)
        }
      }
    }
    expect(problems).toEqual([])
    // The scenario happened: c2 consumed in its own stretches, and c1 consumed c2's queues before and after.
    for (const q of c2Queues) {
      const stretches = new Set(byQueue.get(q)!.map((e) => e.stretch))
      expect([...stretches].filter((s) => s.startsWith('c2 ')).length).toBeGreaterThanOrEqual(1)
      expect([...stretches].filter((s) => s.startsWith('c1 ')).length).toBeGreaterThanOrEqual(2)
    }
    expect(events.length - duplicates).toBe(sentIds.length)
  }, 45_000)

  it('three consumers share 4 + 4 queues of two brokers disjointly and completely; when one leaves the other two take its queues', async () => {
    const TOPIC = 'ShareT'
    const GROUP = 'GShare'
    const route = await c!.createTopic(TOPIC, 4)
    expect(route.queueDatas.map((q) => q.brokerName).sort()).toEqual([A, B])
    const all: MessageQueue[] = sortMessageQueues(
      [A, B].flatMap((brokerName) => [0, 1, 2, 3].map((queueId) => ({ topic: TOPIC, brokerName, queueId }))),
    )
    const ks = ['s1', 's2', 's3'].map((n) => consumer(GROUP, TOPIC, n))
    /** msgId → the consumers that consumed it, and whether each owned the message's queue at that time. */
    const consumed = new Map<string, { by: string; owner: boolean }[]>()
    for (const k of ks) {
      k.registerMessageListener((msgs) => {
        const mine = new Set(owned(k, TOPIC))
        for (const m of msgs) {
          const q = messageQueueKey({ topic: m.topic, brokerName: m.brokerName, queueId: m.queueId })
          const list = consumed.get(m.msgId) ?? []
          list.push({ by: k.clientId, owner: mine.has(q) })
          consumed.set(m.msgId, list)
        }
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
      })
      await k.start()
    }

    /** The assignment AVG gives `members`, and whether they all hold exactly that. */
    const balanced = (members: PushConsumer[]): boolean => {
      const cids = members.map((k) => k.clientId).sort()
      return members.every((k) => {
        const expected = allocateAveragely.allocate(GROUP, k.clientId, all, cids).map(messageQueueKey).sort()
        return JSON.stringify(owned(k, TOPIC)) === JSON.stringify(expected)
      })
    }
    const expectDisjointAndComplete = (members: PushConsumer[], sizes: number[]): void => {
      const lists = members.map((k) => owned(k, TOPIC))
      expect(lists.map((l) => l.length).sort()).toEqual(sizes)
      const union = lists.flat()
      expect(new Set(union).size).toBe(union.length)
      expect(new Set(union)).toEqual(new Set(all.map(messageQueueKey)))
    }
    const produce = async (n: number): Promise<string[]> => {
      const ids: string[] = []
      for (let i = 0; i < n; i++) ids.push((await producer!.send(new Message({ topic: TOPIC, body: `s${i}` }))).msgId)
      return ids
    }

    await waitFor(() => balanced(ks), { timeoutMs: 15_000, what: 'AVG assignment over three consumers' })
    // 8 queues over 3 consumers: 3 + 3 + 2, disjoint, covering both brokers.
    expectDisjointAndComplete(ks, [2, 3, 3])
    const first = await produce(24)
    await waitFor(() => first.every((id) => consumed.has(id)), { timeoutMs: 10_000, what: 'the first messages' })
    expect(first.every((id) => consumed.get(id)!.every((x) => x.owner))).toBe(true)

    // One leaves; the other two split all 8 queues, 4 + 4.
    await leave(ks[0]!)
    const rest = ks.slice(1)
    await waitFor(() => balanced(rest), { timeoutMs: 15_000, what: 'the two remaining consumers taking over' })
    expectDisjointAndComplete(rest, [4, 4])
    const second = await produce(24)
    await waitFor(() => second.every((id) => consumed.has(id)), {
      timeoutMs: 10_000,
      what: 'messages after the takeover',
    })
    const leftId = ks[0]!.clientId
    for (const id of second) {
      expect(consumed.get(id)!.every((x) => x.owner && x.by !== leftId)).toBe(true)
    }
  }, 30_000)
})
