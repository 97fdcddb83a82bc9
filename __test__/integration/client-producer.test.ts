import { inflateSync } from 'node:zlib'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { MQClientError } from '../../ts/client/client-error.js'
import type { MQFaultStrategy } from '../../ts/client/latency-fault-tolerance.js'
import { Message } from '../../ts/client/message.js'
import { selectByHash, selectByMachineRoom } from '../../ts/client/message-queue-selector.js'
import { Producer } from '../../ts/client/producer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import type { MessageExt } from '../../ts/common/message/message-ext.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import type { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { pull } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

describe('client: producer against a real broker', () => {
  let c: TestCluster
  let producer: Producer
  let requests: RemotingCommand[]

  beforeEach(async () => {
    c = await startCluster()
    requests = []
    producer = new Producer({
      producerGroup: 'PG',
      namesrvAddr: c.namesrvAddr,
      rpcHooks: [{ doBeforeRequest: (_addr, req) => void requests.push(req), doAfterResponse: () => {} }],
    })
    await producer.start()
  })
  afterEach(async () => {
    await producer.shutdown()
    await c.stop()
  })

  /** Pulls one stored message back (raw body unless `decompress`). */
  async function fetch(topic: string, queueId: number, offset: number, decompress = true): Promise<MessageExt[]> {
    const r = await pull(c.client, c.brokerAddr, { group: 'G', topic, queueId, offset })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    return decodeMessages(r.body!, { decompressBody: decompress })
  }

  it('sends sync to a topic that does not exist yet; the broker auto-creates it and stores the message', async () => {
    expect(c.broker.topicConfigManager.selectTopicConfig('FreshTopic')).toBeFalsy()
    const msg = new Message({ topic: 'FreshTopic', body: 'hello', tags: 'TagA', keys: ['k1', 'k2'] })
    msg.putUserProperty('color', 'red')
    const r = await producer.send(msg)
    expect(r.sendStatus).toBe(SendStatus.SEND_OK)
    expect(r.msgId).toMatch(/^[0-9A-F]{32}$/)
    expect(r.msgId).toBe(msg.uniqKey)
    expect(r.offsetMsgId).toMatch(/^7F000001[0-9A-F]{24}$/)
    expect(r.queueOffset).toBe(0)
    expect(r.messageQueue.topic).toBe('FreshTopic')
    expect(c.broker.topicConfigManager.selectTopicConfig('FreshTopic')).toBeTruthy()
    expect(requests.some((q) => q.code === 310)).toBe(true)
    const [m] = await fetch('FreshTopic', r.messageQueue.queueId, 0)
    expect(m!.body.toString()).toBe('hello')
    expect(m!.properties.get('UNIQ_KEY')).toBe(r.msgId)
    expect(m!.properties.get('TAGS')).toBe('TagA')
    expect(m!.properties.get('KEYS')).toBe('k1 k2')
    expect(m!.properties.get('color')).toBe('red')
    expect(m!.msgId).toBe(r.offsetMsgId)
  })

  it('round robins sync sends over the publish queues', async () => {
    const queues = await producer.fetchPublishMessageQueues('RR')
    expect(queues.length).toBeGreaterThan(1)
    const used = new Set<number>()
    for (let i = 0; i < queues.length; i++)
      used.add((await producer.send(new Message({ topic: 'RR', body: `m${i}` }))).messageQueue.queueId)
    expect(used.size).toBe(queues.length)
  })

  it('sends async, and concurrently', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => producer.sendAsync(new Message({ topic: 'AsyncT', body: `a${i}` }))),
    )
    expect(results.every((r) => r.sendStatus === SendStatus.SEND_OK)).toBe(true)
    let total = 0
    for (const q of new Set(results.map((r) => r.messageQueue.queueId)))
      total += c.broker.store.getMaxOffsetInQueue('AsyncT', q)
    expect(total).toBe(20)
    const bodies = new Set<string>()
    for (const r of results) {
      const [m] = await fetch('AsyncT', r.messageQueue.queueId, r.queueOffset)
      bodies.add(m!.body.toString())
      expect(m!.properties.get('UNIQ_KEY')).toBe(r.msgId)
    }
    expect(bodies.size).toBe(20)
  })

  it('sends async with back-pressure enabled', async () => {
    const p = new Producer({
      producerGroup: 'PG2',
      namesrvAddr: c.namesrvAddr,
      enableBackpressureForAsyncMode: true,
      backPressureForAsyncSendNum: 10,
    })
    await p.start()
    try {
      const rs = await Promise.all(
        Array.from({ length: 30 }, (_, i) => p.sendAsync(new Message({ topic: 'BP', body: `b${i}` }))),
      )
      expect(new Set(rs.map((r) => r.msgId)).size).toBe(30)
      let total = 0
      for (const q of new Set(rs.map((r) => r.messageQueue.queueId)))
        total += c.broker.store.getMaxOffsetInQueue('BP', q)
      expect(total).toBe(30)
    } finally {
      await p.shutdown()
    }
  })

  it('sends oneway; the message arrives without a response', async () => {
    const queues = await producer.fetchPublishMessageQueues('OneT')
    await producer.sendOneway(new Message({ topic: 'OneT', body: 'fire' }))
    const q = await waitFor(() => queues.find((mq) => c.broker.store.getMaxOffsetInQueue('OneT', mq.queueId) > 0), {
      what: 'the oneway message',
    })
    const [m] = await fetch('OneT', q.queueId, 0)
    expect(m!.body.toString()).toBe('fire')
  })

  it('sends a batch with SEND_BATCH_MESSAGE; every message is stored in order with its own UNIQ_KEY', async () => {
    const msgs = ['x', 'y', 'z'].map((b) => new Message({ topic: 'BatchT', body: b, tags: b.toUpperCase() }))
    const r = await producer.send(msgs)
    expect(r.sendStatus).toBe(SendStatus.SEND_OK)
    expect(requests.filter((q) => q.code === 320)).toHaveLength(1)
    const ids = msgs.map((m) => m.uniqKey!)
    expect(r.msgId).toBe(ids.join(','))
    expect(new Set(ids).size).toBe(3)
    expect(r.offsetMsgId.split(',')).toHaveLength(3)
    const stored = await fetch('BatchT', r.messageQueue.queueId, r.queueOffset)
    expect(stored.map((m) => [m.body.toString(), m.properties.get('TAGS'), m.properties.get('UNIQ_KEY')])).toEqual([
      ['x', 'X', ids[0]],
      ['y', 'Y', ids[1]],
      ['z', 'Z', ids[2]],
    ])
    await expect(
      producer.send([new Message({ topic: 'BatchT', body: 'a' }), new Message({ topic: 'Other', body: 'b' })]),
    ).rejects.toThrow(/should be the same/)
  })

  it('sends through a hash selector: equal keys land on the same queue, in order; and to a given queue', async () => {
    const rs = []
    for (let i = 0; i < 6; i++)
      rs.push(await producer.send(new Message({ topic: 'OrderT', body: `o${i}` }), selectByHash, 'order-42'))
    const queueIds = new Set(rs.map((r) => r.messageQueue.queueId))
    expect(queueIds.size).toBe(1)
    const queues = await producer.fetchPublishMessageQueues('OrderT')
    const expected = queues[Math.abs(96354 % queues.length)]!
    expect(
      (await producer.send(new Message({ topic: 'OrderT', body: 'h' }), selectByHash, 'abc')).messageQueue.queueId,
    ).toBe(expected.queueId)
    const stored = await fetch('OrderT', rs[0]!.messageQueue.queueId, 0)
    expect(stored.slice(0, 6).map((m) => m.body.toString())).toEqual(['o0', 'o1', 'o2', 'o3', 'o4', 'o5'])
    const target = queues[queues.length - 1]!
    const direct = await producer.send(new Message({ topic: 'OrderT', body: 'direct' }), target)
    expect(direct.messageQueue.queueId).toBe(target.queueId)
  })

  it('fails an orderly send through the machine-room selector, which picks no queue as in RocketMQ', async () => {
    await producer.send(new Message({ topic: 'RoomT', body: 'warm-up' }))
    const sendsBefore = requests.filter((q) => q.code === 310).length
    const selector = selectByMachineRoom(['idc-a', 'idc-b'])
    expect([...selector.consumeridcs]).toEqual(['idc-a', 'idc-b'])
    const err = await producer.send(new Message({ topic: 'RoomT', body: 'x' }), selector, 'k').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MQClientError)
    expect((err as MQClientError).code).toBe('RMQ_ERR_SELECTOR')
    expect((err as Error).message).toMatch(/select message queue return null/)
    expect(requests.filter((q) => q.code === 310).length).toBe(sendsBefore)
  })

  it.each([
    ['LZ4', 0x101, 0x184d2204],
    ['ZSTD', 0x201, 0xfd2fb528],
  ])(
    'compresses a body over 4 KiB under compressType %s; a consumer-side decode restores it',
    async (type, flag, magic) => {
      const typed = new Producer({ producerGroup: `PG_${type}`, namesrvAddr: c.namesrvAddr, compressType: type })
      await typed.start()
      try {
        const body = Buffer.from(`ferrymq ${type} `.repeat(1000))
        const topic = `Comp${type}T`
        const r = await typed.send(new Message({ topic, body }))
        const [raw] = await fetch(topic, r.messageQueue.queueId, r.queueOffset, false)
        expect(raw!.sysFlag & 0x701).toBe(flag)
        expect(raw!.body.readUInt32LE(0)).toBe(magic)
        expect(raw!.body.length).toBeLessThan(body.length)
        const [decoded] = await fetch(topic, r.messageQueue.queueId, r.queueOffset, true)
        expect(decoded!.body.equals(body)).toBe(true)
        expect(decoded!.sysFlag & 0x1).toBe(0)
      } finally {
        await typed.shutdown()
      }
    },
  )

  it('detector on: probes an unreachable broker with GET_MAX_OFFSET on queue 0 and re-admits it; stops at shutdown', async () => {
    const probes: RemotingCommand[] = []
    const p = new Producer({
      producerGroup: 'PG_DETECT',
      namesrvAddr: c.namesrvAddr,
      sendLatencyEnable: true,
      startDetectorEnable: true,
      rpcHooks: [
        { doBeforeRequest: (_addr, req) => void (req.code === 30 && probes.push(req)), doAfterResponse: () => {} },
      ],
    })
    await p.start()
    try {
      const r = await p.send(new Message({ topic: 'DetectT', body: 'x' }))
      const brokerName = r.messageQueue.brokerName
      const fault = (p as unknown as { fault: MQFaultStrategy }).fault
      // As after a network failure with the detector on: isolated and unreachable.
      fault.updateFaultItem(brokerName, 10, true, false)
      fault.faultTolerance.updateFaultItem('GoneBroker', 10, 30_000, false)
      expect(fault.faultTolerance.isReachable(brokerName)).toBe(false)
      await waitFor(() => fault.faultTolerance.isReachable(brokerName), { timeoutMs: 15_000, what: 'detector probe' })
      expect(fault.faultTolerance.isAvailable(brokerName)).toBe(false) // the isolation runs its time
      expect(fault.faultTolerance.item('GoneBroker')).toBeUndefined()
      expect(probes.length).toBeGreaterThan(0)
      expect(probes[0]!.ext('topic')).toBe('DetectT')
      expect(probes[0]!.ext('queueId')).toBe('0')
    } finally {
      await p.shutdown()
    }
    const fault = (p as unknown as { fault: { detectTimer: unknown } }).fault
    expect(fault.detectTimer).toBeUndefined()
  })

  it('compresses a body over 4 KiB with COMPRESSED | ZLIB, and it decompresses to the original', async () => {
    const body = Buffer.from('ferrymq '.repeat(1000))
    const msg = new Message({ topic: 'ZipT', body })
    const r = await producer.send(msg)
    expect(msg.body.equals(body)).toBe(true)
    const [raw] = await fetch('ZipT', r.messageQueue.queueId, r.queueOffset, false)
    expect(raw!.sysFlag & 0x701).toBe(0x301)
    expect(raw!.body.length).toBeLessThan(body.length)
    expect(inflateSync(raw!.body).equals(body)).toBe(true)
    const [decoded] = await fetch('ZipT', r.messageQueue.queueId, r.queueOffset, true)
    expect(decoded!.body.equals(body)).toBe(true)
    const small = await producer.send(new Message({ topic: 'ZipT', body: Buffer.alloc(4095, 1) }))
    const [plain] = await fetch('ZipT', small.messageQueue.queueId, small.queueOffset, false)
    expect(plain!.sysFlag & 0x1).toBe(0)
  })

  it('refuses an oversized body before any network call', async () => {
    const err = await producer
      .send(new Message({ topic: 'BigT', body: Buffer.alloc(4 * 1024 * 1024 + 1) }))
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MQClientError)
    expect((err as MQClientError).responseCode).toBe(ResponseCode.MESSAGE_ILLEGAL)
    await expect(
      producer.sendAsync(new Message({ topic: 'BigT', body: Buffer.alloc(4 * 1024 * 1024 + 1) })),
    ).rejects.toThrow(/over max value/)
    expect(requests).toHaveLength(0)
  })

  it('fails after all retries with a clear error when the broker is stopped', async () => {
    await producer.send(new Message({ topic: 'DownT', body: 'before' }))
    await c.stopBroker()
    const sends = requests.length
    const err = await producer.send(new Message({ topic: 'DownT', body: 'after' })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MQClientError)
    expect((err as MQClientError).code).toBe('RMQ_ERR_SEND_FAILED')
    expect((err as Error).message).toMatch(/^Send \[3\] times, still failed/)
    expect((err as Error).message).toContain('DownT')
    expect(((err as Error).cause as { code: string }).code).toMatch(/^RMQ_ERR_(CONNECT|CONNECTION_CLOSED)/)
    expect(requests.length - sends).toBeLessThanOrEqual(3)
    await expect(producer.sendAsync(new Message({ topic: 'DownT', body: 'after' }))).rejects.toThrow(
      /async send failed after 3 attempts/,
    )
  })

  it('refuses to send before start and after shutdown', async () => {
    const p = new Producer({ producerGroup: 'PG3', namesrvAddr: c.namesrvAddr })
    await expect(p.send(new Message({ topic: 'T', body: 'x' }))).rejects.toThrow(/not running/)
    await p.start()
    await p.shutdown()
    await expect(p.send(new Message({ topic: 'T', body: 'x' }))).rejects.toThrow(/not running/)
  })

  it('heartbeats its group to the brokers it knows, and unregisters it at shutdown', async () => {
    await producer.send(new Message({ topic: 'HeartbeatTopic', body: 'x' }))
    const channels = await waitFor(() => c.broker.producerManager.getGroup('PG'), {
      timeoutMs: 5000,
      what: 'the producer group at the broker',
    })
    const info = [...channels.values()][0]!
    expect(info.clientId).toBe(producer.clientId)
    await producer.shutdown()
    await waitFor(() => (c.broker.producerManager.getGroup('PG')?.size ?? 0) === 0, { what: 'unregistered' })
  })
})
