import { readFileSync } from 'node:fs'

import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { lz4FrameCompress } from '../../ts/common/compression/lz4.js'
import { parseJson } from '../../ts/common/fastjson.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { sampleText } from '../fixtures/compression/sample-text.js'
import { request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const GROUP = 'CG_ADMIN'
const TOPIC = 'AdminT'

describe('client: admin requests relayed by the broker, and compressed bodies from other producers', () => {
  let c: TestCluster
  let producer: Producer
  let consumer: PushConsumer
  const received: ReceivedMessage[] = []
  const direct: ReceivedMessage[] = []

  beforeAll(async () => {
    c = await startCluster({ broker: { defaultTopicQueueNums: 4 } })
    producer = new Producer({ producerGroup: 'PG_ADMIN', namesrvAddr: c.namesrvAddr })
    await producer.start()
    // Topics exist before the consumer starts, so its first rebalance already owns their queues.
    await producer.send(new Message({ topic: TOPIC, body: 'first' }))
    await producer.send(new Message({ topic: 'CompT', body: 'plain' }))
    consumer = new PushConsumer({
      consumerGroup: GROUP,
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    })
    consumer.subscribe(TOPIC)
    consumer.subscribe('CompT')
    consumer.registerMessageListener((msgs) => {
      for (const m of msgs) {
        if (m.topic === 'DirectT') {
          direct.push(m)
          const body = m.body.toString()
          if (body === 'boom') throw new Error('listener failed on purpose')
          if (body === 'later') return ConsumeConcurrentlyStatus.RECONSUME_LATER
          if (body === 'null') return null
        } else {
          received.push(m)
        }
      }
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await consumer.start()
    await waitFor(() => received.some((m) => m.body.toString() === 'first'), { what: 'first message consumed' })
  })

  afterAll(async () => {
    await consumer?.shutdown()
    await producer?.shutdown()
    await c?.stop()
  })

  it('GET_CONSUMER_RUNNING_INFO through the broker: properties, subscriptions, queues, status, as fastjson writes them', async () => {
    const r = await request(c.client, c.brokerAddr, RequestCode.GET_CONSUMER_RUNNING_INFO, {
      consumerGroup: GROUP,
      clientId: consumer.clientId,
      jstackEnable: true,
    })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    const text = r.body!.toString()
    // MessageQueue keys are objects, unquoted, as admin tools parse them into HashMap<MessageQueue, …>.
    expect(text.startsWith('{"mqPopTable":{},"mqTable":{{"brokerName":')).toBe(true)
    const info = parseJson(text) as {
      properties: Record<string, string>
      subscriptionSet: { topic: string; subString: string }[]
      mqTable: Record<string, Record<string, unknown>>
      statusTable: Record<string, Record<string, number>>
      jstack?: string
    }
    const p = info.properties
    expect(p.PROP_CONSUME_TYPE).toBe('CONSUME_PASSIVELY')
    expect(p.PROP_CONSUMEORDERLY).toBe('false')
    expect(p.PROP_THREADPOOL_CORE_SIZE).toBe('20')
    expect(Number(p.PROP_CONSUMER_START_TIMESTAMP)).toBeGreaterThan(Date.now() - 120_000)
    expect(p.PROP_CLIENT_VERSION).toBe('V4_9_8')
    expect(p.PROP_NAMESERVER_ADDR).toBe(`${c.namesrvAddr};`)
    expect(p.consumerGroup).toBe(GROUP)
    expect(p.messageModel).toBe('CLUSTERING')
    expect(info.jstack).toBeUndefined()
    expect(info.subscriptionSet.map((s) => s.topic).sort()).toEqual(['%RETRY%CG_ADMIN', TOPIC, 'CompT'].sort())
    const queues = Object.entries(info.mqTable).map(([k, v]) => [JSON.parse(k) as { topic: string }, v] as const)
    const adminQueues = queues.filter(([mq]) => mq.topic === TOPIC)
    expect(adminQueues).toHaveLength(4)
    const withFirst = adminQueues.find(
      ([, v]) => (v.commitOffset as number) >= 1 || (v.lastConsumeTimestamp as number) > 0,
    )
    expect(withFirst).toBeDefined()
    for (const [, v] of adminQueues) {
      expect(Object.keys(v)).toEqual([
        'cachedMsgCount',
        'cachedMsgMaxOffset',
        'cachedMsgMinOffset',
        'cachedMsgSizeInMiB',
        'commitOffset',
        'droped',
        'lastConsumeTimestamp',
        'lastLockTimestamp',
        'lastPullTimestamp',
        'locked',
        'transactionMsgCount',
        'transactionMsgMaxOffset',
        'transactionMsgMinOffset',
        'tryUnlockTimes',
      ])
      expect(v.droped).toBe(false)
    }
    expect(Object.keys(info.statusTable).sort()).toEqual(['%RETRY%CG_ADMIN', TOPIC, 'CompT'].sort())
    expect(Object.keys(info.statusTable[TOPIC]!).sort()).toEqual(
      ['consumeFailedMsgs', 'consumeFailedTPS', 'consumeOKTPS', 'consumeRT', 'pullRT', 'pullTPS'].sort(),
    )
    // 'first' was pulled and consumed within the last minute.
    expect(info.statusTable[TOPIC]!.pullTPS).toBeGreaterThan(0)
    expect(info.statusTable[TOPIC]!.consumeOKTPS).toBeGreaterThan(0)
    expect(info.statusTable[TOPIC]!.consumeFailedMsgs).toBe(0)
  })

  it('GET_CONSUMER_RUNNING_INFO for a client that is not online: SYSTEM_ERROR from the broker', async () => {
    const r = await request(c.client, c.brokerAddr, RequestCode.GET_CONSUMER_RUNNING_INFO, {
      consumerGroup: GROUP,
      clientId: '10.0.0.1@nobody',
    })
    expect(r.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(r.remark).toBe(`The Consumer <${GROUP}> <10.0.0.1@nobody> not online`)
  })

  it('CONSUME_MESSAGE_DIRECTLY through the broker runs the listener on the stored message and reports CMResult', async () => {
    const cases: [string, string][] = [
      ['ok', 'CR_SUCCESS'],
      ['later', 'CR_LATER'],
      ['null', 'CR_RETURN_NULL'],
      ['boom', 'CR_THROW_EXCEPTION'],
    ]
    for (const [body, expected] of cases) {
      const sent = await producer.send(new Message({ topic: 'DirectT', body, tags: 'T1' }))
      const r = await request(c.client, c.brokerAddr, RequestCode.CONSUME_MESSAGE_DIRECTLY, {
        consumerGroup: GROUP,
        clientId: consumer.clientId,
        msgId: sent.offsetMsgId,
        topic: 'DirectT',
      })
      expect(r.code).toBe(ResponseCode.SUCCESS)
      const result = parseJson(r.body!.toString()) as Record<string, unknown>
      expect(result.consumeResult).toBe(expected)
      expect(result.order).toBe(false)
      expect(result.autoCommit).toBe(true)
      expect(typeof result.spentTimeMills).toBe('number')
      if (expected === 'CR_THROW_EXCEPTION') expect(result.remark).toMatch(/listener failed on purpose/)
      else expect(result.remark).toBeUndefined()
      const m = direct.at(-1)!
      expect(m.body.toString()).toBe(body)
      expect(m.msgId).toBe(sent.msgId)
      expect(m.offsetMsgId).toBe(sent.offsetMsgId)
      expect(m.tags).toBe('T1')
      expect(m.brokerName).toBe(c.broker.brokerConfig.brokerName)
    }
  })

  it('consumes bodies a 5.x producer compressed with LZ4 and ZSTD; an undecodable one arrives as stored', async () => {
    const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/compression/${name}`, import.meta.url))
    const sample = sampleText()
    const bodies: [string, number, Buffer][] = [
      ['lz4', 0x101, lz4FrameCompress(sample)],
      ['lz4-cli', 0x101, fixture('sample.l9.lz4')],
      ['zstd-jni', 0x201, fixture('sample.zstd-jni-l5.zst')],
      ['zstd-cli', 0x201, fixture('sample.l19.zst')],
      ['corrupt', 0x201, Buffer.from('this is not a zstd frame')],
    ]
    for (const [name, sysFlag, body] of bodies) {
      const r = await send(c.client, c.brokerAddr, {
        topic: 'CompT',
        body,
        sysFlag,
        properties: { KEYS: name, WAIT: 'true' },
      })
      expect(r.code).toBe(ResponseCode.SUCCESS)
    }
    const byKey = (key: string): ReceivedMessage | undefined => received.find((m) => m.properties.get('KEYS') === key)
    await waitFor(() => bodies.every(([name]) => byKey(name) !== undefined), { what: 'compressed messages consumed' })
    for (const name of ['lz4', 'lz4-cli', 'zstd-jni', 'zstd-cli']) {
      const m = byKey(name)!
      expect(m.body.equals(sample)).toBe(true)
      expect(m.sysFlag & 0x1).toBe(0)
    }
    const corrupt = byKey('corrupt')!
    expect(corrupt.body.toString()).toBe('this is not a zstd frame')
    expect(corrupt.sysFlag & 0x701).toBe(0x201)
  })
})
