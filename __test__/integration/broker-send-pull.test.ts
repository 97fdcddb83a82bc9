import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { decodeMessages } from '../../ts/common/message/message-record.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'
import { encodeBatchBody } from '../../ts/remoting/protocol/batch-message-codec.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { SerializeType } from '../../ts/remoting/remoting-command.js'
import { pull, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'

describe('broker: send and pull', () => {
  let c: TestCluster
  beforeEach(async () => {
    c = await startCluster()
  })
  afterEach(async () => {
    await c.stop()
  })

  it('auto-creates a topic from TBW102 on the first send and serves it back by pull', async () => {
    const r = await send(c.client, c.brokerAddr, {
      topic: 'NewTopic',
      body: Buffer.from('one'),
      properties: { TAGS: 'A', KEYS: 'k1' },
    })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(r.ext('queueId')).toBe('0')
    expect(r.ext('queueOffset')).toBe('0')
    expect(r.ext('msgId')).toMatch(/^7F000001[0-9A-F]{24}$/)
    expect(r.ext('MSG_REGION')).toBe('DefaultRegion')
    const tc = c.broker.topicConfigManager.selectTopicConfig('NewTopic')!
    expect([tc.readQueueNums, tc.writeQueueNums, tc.perm]).toEqual([4, 4, 6])
    const p = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'NewTopic', offset: 0 })
    expect(p.code).toBe(ResponseCode.SUCCESS)
    expect(p.ext('nextBeginOffset')).toBe('1')
    const [m] = decodeMessages(p.body!)
    expect(m!.body.toString()).toBe('one')
    expect(m!.msgId).toBe(r.ext('msgId'))
    expect(m!.properties.get('CLUSTER')).toBe('DefaultCluster')
    expect(m!.properties.get('TAGS')).toBe('A')
  })

  it('answers a ROCKETMQ binary request in binary', async () => {
    const r = await send(c.client, c.brokerAddr, { topic: 'BinTopic', serializeType: SerializeType.ROCKETMQ })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(r.serializeType).toBe(SerializeType.ROCKETMQ)
  })

  it('refuses illegal and forbidden topics with RocketMQ codes', async () => {
    const bad = await send(c.client, c.brokerAddr, { topic: '../etc' })
    expect(bad.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(bad.remark).toContain('illegal characters')
    const sched = await send(c.client, c.brokerAddr, { topic: 'SCHEDULE_TOPIC_XXXX' })
    expect(sched.code).toBe(ResponseCode.NO_PERMISSION)
    const q = await send(c.client, c.brokerAddr, { topic: 'QTopic', queueId: 99 })
    expect(q.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(q.remark).toContain('queueId[99] is illegal')
  })

  it('stores a send without a queue (queueId -1) in a random writable queue, and refuses it when none is writable', async () => {
    const queues = new Set<string>()
    for (let i = 0; i < 40; i++) {
      const r = await send(c.client, c.brokerAddr, { topic: 'AnyQueue', queueId: -1 })
      expect(r.code).toBe(ResponseCode.SUCCESS)
      queues.add(r.ext('queueId')!)
    }
    const writable = c.broker.topicConfigManager.selectTopicConfig('AnyQueue')!.writeQueueNums
    expect([...queues].every((q) => Number(q) >= 0 && Number(q) < writable)).toBe(true)
    expect(queues.size).toBeGreaterThan(1)
    c.broker.topicConfigManager.updateTopicConfig(
      newTopicConfig('ReadOnlyQueues', { readQueueNums: 4, writeQueueNums: 0 }),
    )
    for (const code of [RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE]) {
      const body =
        code === RequestCode.SEND_BATCH_MESSAGE
          ? encodeBatchBody([{ flag: 0, body: Buffer.from('x'), properties: '' }])
          : undefined
      const r = await send(c.client, c.brokerAddr, {
        topic: 'ReadOnlyQueues',
        queueId: -1,
        code,
        body,
        batch: code === RequestCode.SEND_BATCH_MESSAGE,
      })
      expect(r.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(r.remark).toContain('has no writable queue')
    }
  })

  it('pulls every outcome with the right next offset', async () => {
    for (let i = 0; i < 3; i++)
      await send(c.client, c.brokerAddr, { topic: 'P', properties: { TAGS: i === 1 ? 'B' : 'A' } })
    const empty = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'P', queueId: 1, offset: 0 })
    expect([empty.code, empty.ext('nextBeginOffset')]).toEqual([ResponseCode.PULL_NOT_FOUND, '0'])
    const moved = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'P', queueId: 1, offset: 5 })
    expect([moved.code, moved.ext('nextBeginOffset')]).toEqual([ResponseCode.PULL_OFFSET_MOVED, '0'])
    const overflow = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'P', offset: 9 })
    expect([overflow.code, overflow.ext('nextBeginOffset')]).toEqual([ResponseCode.PULL_OFFSET_MOVED, '3'])
    const atEnd = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'P', offset: 3 })
    expect([atEnd.code, atEnd.ext('nextBeginOffset')]).toEqual([ResponseCode.PULL_NOT_FOUND, '3'])
    const tagB = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'P', offset: 0, subscription: 'B' })
    expect(tagB.code).toBe(ResponseCode.SUCCESS)
    expect(decodeMessages(tagB.body!).map((m) => m.queueOffset)).toEqual([1])
    const none = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'P', offset: 0, subscription: 'C' })
    expect([none.code, none.ext('nextBeginOffset')]).toEqual([ResponseCode.PULL_RETRY_IMMEDIATELY, '3'])
    for (const r of [empty, moved, overflow, atEnd, tagB, none]) {
      expect(r.ext('minOffset')).toBeDefined()
      expect(r.ext('maxOffset')).toBeDefined()
      expect(r.ext('suggestWhichBrokerId')).toBe('0')
    }
  })

  it('holds a pull until a message arrives (long polling), and answers it with that message', async () => {
    await send(c.client, c.brokerAddr, { topic: 'LP' })
    const held = pull(
      c.client,
      c.brokerAddr,
      { group: 'G', topic: 'LP', offset: 1, sysFlag: 0x6, suspendTimeoutMillis: 15_000 },
      30_000,
    )
    let answered = false
    void held.then(() => (answered = true))
    // The held pull must not block other requests on the same connection.
    const other = await send(c.client, c.brokerAddr, { topic: 'Other' })
    expect(other.code).toBe(ResponseCode.SUCCESS)
    expect(answered).toBe(false)
    await send(c.client, c.brokerAddr, { topic: 'LP', body: Buffer.from('late') })
    const r = await held
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(decodeMessages(r.body!)[0]!.body.toString()).toBe('late')
  })

  it('answers a held pull with PULL_NOT_FOUND when its suspend time runs out', async () => {
    await send(c.client, c.brokerAddr, { topic: 'LP2' })
    const r = await pull(
      c.client,
      c.brokerAddr,
      { group: 'G', topic: 'LP2', offset: 1, sysFlag: 0x6, suspendTimeoutMillis: 300 },
      10_000,
    )
    expect([r.code, r.ext('nextBeginOffset')]).toEqual([ResponseCode.PULL_NOT_FOUND, '1'])
  })

  it('sends a batch to one queue with consecutive offsets and comma-joined ids', async () => {
    const { encodeBatchBody } = await import('../../ts/remoting/protocol/batch-message-codec.js')
    const body = encodeBatchBody(
      [0, 1, 2].map((i) => ({ flag: 0, body: Buffer.from(`b${i}`), properties: `KEYS\u0001k${i}\u0002` })),
    )
    const r = await send(c.client, c.brokerAddr, {
      topic: 'Batch',
      code: RequestCode.SEND_BATCH_MESSAGE,
      body,
      batch: true,
      queueId: 2,
    })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(r.ext('msgId')!.split(',')).toHaveLength(3)
    const p = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'Batch', queueId: 2, offset: 0 })
    expect(
      decodeMessages(p.body!).map((m) => [m.body.toString(), m.properties.get('KEYS'), m.properties.get('CLUSTER')]),
    ).toEqual([
      ['b0', 'k0', 'DefaultCluster'],
      ['b1', 'k1', 'DefaultCluster'],
      ['b2', 'k2', 'DefaultCluster'],
    ])
  })
})
