import { inflateSync } from 'node:zlib'

import { describe, expect, it } from 'vitest'

import { ConfigError } from '../../../ts/common/errors.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import { resolveProducerConfig } from '../../../ts/client/client-config.js'
import { MQClientError } from '../../../ts/client/client-error.js'
import { computeNotAvailableDuration, MQFaultStrategy } from '../../../ts/client/latency-fault-tolerance.js'
import { checkMessage, Message } from '../../../ts/client/message.js'
import { MessageClientIdGenerator, startOfMonth } from '../../../ts/client/message-client-id.js'
import { javaHashCode, selectByHash, selectByMachineRoom } from '../../../ts/client/message-queue-selector.js'
import { buildSendRequest } from '../../../ts/client/mq-client-api.js'
import { compressBody, encodeMessageBatch } from '../../../ts/client/producer.js'
import { CompressionType } from '../../../ts/common/compression/compression-type.js'
import { lz4FrameDecompress } from '../../../ts/common/compression/lz4.js'
import { zstdDecompress } from '../../../ts/common/compression/zstd.js'
import { PublishRouteTable } from '../../../ts/client/publish-route-table.js'
import { processSendResponse, SendStatus } from '../../../ts/client/send-result.js'
import { TopicPublishInfo } from '../../../ts/client/topic-publish-info.js'
import type { TopicRouteData } from '../../../ts/remoting/protocol/route.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'
import { BrokerResponseError } from '../../../ts/common/errors.js'

function route(
  queues: [string, number, number][],
  brokers: [string, boolean][],
  orderTopicConf: string | null = null,
): TopicRouteData {
  return {
    orderTopicConf,
    queueDatas: queues.map(([brokerName, writeQueueNums, perm]) => ({
      brokerName,
      readQueueNums: writeQueueNums,
      writeQueueNums,
      perm,
      topicSysFlag: 0,
    })),
    brokerDatas: brokers.map(([brokerName, hasMaster]) => ({
      cluster: 'C',
      brokerName,
      brokerAddrs: new Map(
        hasMaster
          ? [
              [0, `${brokerName}:10911`],
              [1, `${brokerName}-s:10911`],
            ]
          : [[1, `${brokerName}-s:10911`]],
      ),
    })),
    filterServerTable: new Map(),
  }
}

const names = (info: TopicPublishInfo): string[] => info.messageQueues.map((q) => `${q.brokerName}/${q.queueId}`)

describe('client unique id', () => {
  it('is 32 upper-case hex chars for IPv4 with a fixed 12-byte prefix, the month time and a counter', () => {
    const now = new Date(2025, 2, 3, 4, 5, 6, 7).getTime()
    const g = new MessageClientIdGenerator({
      ip: Buffer.from([10, 1, 2, 3]),
      pid: 0x12345,
      salt: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      now: () => now,
    })
    const a = g.next()
    const b = g.next()
    expect(a).toMatch(/^[0-9A-F]{32}$/)
    expect(a.slice(0, 20)).toBe('0A0102032345DEADBEEF')
    const ms = now - startOfMonth(now)
    expect(ms).toBe(((2 * 24 + 4) * 3600 + 5 * 60 + 6) * 1000 + 7)
    expect(a.slice(20, 28)).toBe(ms.toString(16).toUpperCase().padStart(8, '0'))
    expect(a.slice(28)).toBe('0001')
    expect(b.slice(28)).toBe('0002')
    expect(b.slice(0, 28)).toBe(a.slice(0, 28))
    let last = b
    for (let i = 3; i <= 300; i++) last = g.next()
    expect(last.slice(28)).toBe('012C')
  })

  it('is 56 hex chars for IPv6', () => {
    const g = new MessageClientIdGenerator({ ip: Buffer.alloc(16, 0xab) })
    expect(g.next()).toMatch(/^(AB){16}[0-9A-F]{24}$/)
  })
})

describe('message validation', () => {
  it('refuses bad topics with a client error', () => {
    for (const topic of ['', '   ', 'a b', 'x'.repeat(128), 'SCHEDULE_TOPIC_XXXX', 'RMQ_SYS_TRANS_HALF_TOPIC']) {
      expect(() => checkMessage(new Message({ topic, body: 'x' }), 1024), topic).toThrow(MQClientError)
    }
    expect(() => checkMessage(new Message({ topic: 'Ok-topic_1|%', body: 'x' }), 1024)).not.toThrow()
  })

  it('refuses empty and oversized bodies with MESSAGE_ILLEGAL, measured before compression', () => {
    const empty = (() => {
      try {
        checkMessage(new Message({ topic: 'T', body: Buffer.alloc(0) }), 1024)
      } catch (e) {
        return e as MQClientError
      }
    })()
    expect(empty?.responseCode).toBe(ResponseCode.MESSAGE_ILLEGAL)
    expect(empty?.message).toContain('length is zero')
    // Highly compressible: it would fit after compression, but the check is on the raw body.
    expect(() => checkMessage(new Message({ topic: 'T', body: Buffer.alloc(1025) }), 1024)).toThrow(
      /over max value, MAX: 1024/,
    )
    expect(() => checkMessage(new Message({ topic: 'T', body: Buffer.alloc(1024) }), 1024)).not.toThrow()
  })

  it('refuses reserved and blank user properties, and keeps the helpers in properties', () => {
    const m = new Message({ topic: 'T', body: 'b', tags: 'TagA', keys: ['k1', 'k2'], delayTimeLevel: 3 })
    expect([...m.properties]).toEqual([
      ['TAGS', 'TagA'],
      ['KEYS', 'k1 k2'],
      ['DELAY', '3'],
      ['WAIT', 'true'],
    ])
    expect(m.keys).toEqual(['k1', 'k2'])
    m.waitStoreMsgOK = false
    expect(m.waitStoreMsgOK).toBe(false)
    expect(() => m.putUserProperty('UNIQ_KEY', 'x')).toThrow(/reserved/)
    expect(() => m.putUserProperty('TAGS', 'x')).toThrow(/reserved/)
    expect(() => m.putUserProperty(' ', 'x')).toThrow(/blank/)
    expect(() => m.putUserProperty('a', '')).toThrow(/blank/)
    m.putUserProperty('color', 'red')
    expect(m.getProperty('color')).toBe('red')
  })

  it('checks the producer group at start', () => {
    expect(() => resolveProducerConfig({ producerGroup: 'DEFAULT_PRODUCER', namesrvAddr: 'h:1' })).toThrow(ConfigError)
    expect(() => resolveProducerConfig({ producerGroup: 'a b', namesrvAddr: 'h:1' })).toThrow(/illegal characters/)
    expect(() => resolveProducerConfig({ producerGroup: 'g'.repeat(121), namesrvAddr: 'h:1' })).toThrow(/longer/)
    expect(resolveProducerConfig({ producerGroup: 'G', namesrvAddr: ' a:1 ; b:2;' }).runtime.namesrvAddrs).toEqual([
      'a:1',
      'b:2',
    ])
  })
})

describe('publish queue list', () => {
  it('sorts by broker name, keeps writable queues of brokers with a master', () => {
    const info = new TopicPublishInfo(
      'T',
      route(
        [
          ['b', 2, 6],
          ['a', 1, 6],
          ['ro', 3, 4],
          ['noMaster', 2, 6],
          ['wo', 1, 2],
        ],
        [
          ['a', true],
          ['b', true],
          ['ro', true],
          ['noMaster', false],
          ['wo', true],
        ],
      ),
    )
    expect(names(info)).toEqual(['a/0', 'b/0', 'b/1', 'wo/0'])
    expect(info.orderTopic).toBe(false)
    expect(info.messageQueues.every((q) => q.topic === 'T')).toBe(true)
    expect(info.brokerAddr('a')).toBe('a:10911')
    expect(info.brokerAddr('noMaster')).toBeUndefined()
  })

  it('uses orderTopicConf exactly, in its order', () => {
    const info = new TopicPublishInfo('T', route([['a', 8, 6]], [['a', true]], 'z:2;a:1'))
    expect(names(info)).toEqual(['z/0', 'z/1', 'a/0'])
    expect(info.orderTopic).toBe(true)
  })

  it('falls back to the default topic route with min(defaultTopicQueueNums, queues) per broker', async () => {
    const asked: string[] = []
    const table = new PublishRouteTable(
      async (topic) => {
        asked.push(topic)
        return topic === 'TBW102'
          ? route(
              [
                ['a', 8, 7],
                ['b', 2, 7],
              ],
              [
                ['a', true],
                ['b', true],
              ],
            )
          : null
      },
      'TBW102',
      4,
      noopLogger,
    )
    const info = await table.find('NewTopic')
    expect(asked).toEqual(['NewTopic', 'TBW102'])
    expect(names(info)).toEqual(['a/0', 'a/1', 'a/2', 'a/3', 'b/0', 'b/1'])
    expect(info.messageQueues[0]!.topic).toBe('NewTopic')
    await table.find('NewTopic')
    expect(asked).toHaveLength(2)
  })

  it('fails with "No route info" when neither the topic nor the default topic has a route', async () => {
    const table = new PublishRouteTable(async () => null, 'TBW102', 4, noopLogger)
    await expect(table.find('T')).rejects.toThrow(/No route info of this topic: T/)
  })
})

describe('latency fault tolerance', () => {
  it('maps latencies to not-available durations per the tables', () => {
    const cases: [number, number][] = [
      [0, 0],
      [49, 0],
      [50, 0],
      [100, 0],
      [549, 0],
      [550, 2000],
      [600, 2000],
      [1800, 5000],
      [3000, 6000],
      [5000, 10000],
      [10000, 10000],
      [15000, 30000],
      [99999, 30000],
    ]
    for (const [lat, d] of cases) expect(computeNotAvailableDuration(lat), String(lat)).toBe(d)
  })

  it('isolates a broker for 10 s, only extends isolation, and re-admits it afterwards', () => {
    let now = 1_000_000
    const s = new MQFaultStrategy(true, () => now)
    const ft = s.faultTolerance
    s.updateFaultItem('a', 5, true, false)
    expect(ft.item('a')).toEqual({ currentLatency: 5, startTimestamp: now + 10_000, reachable: false, checkStamp: 0 })
    expect(ft.isAvailable('a')).toBe(false)
    expect(ft.isReachable('a')).toBe(false)
    now += 5000
    s.updateFaultItem('a', 600, false, true) // 2 s from now is earlier than the current end: kept
    expect(ft.item('a')!.startTimestamp).toBe(1_010_000)
    expect(ft.isReachable('a')).toBe(true)
    now = 1_009_999
    expect(ft.isAvailable('a')).toBe(false)
    now = 1_010_000
    expect(ft.isAvailable('a')).toBe(true)
    expect(ft.isAvailable('unknown')).toBe(true)
  })

  it('does nothing when disabled', () => {
    const s = new MQFaultStrategy(false, () => 0)
    s.updateFaultItem('a', 5, true, false)
    expect(s.faultTolerance.item('a')).toBeUndefined()
  })
})

describe('queue selection', () => {
  const info = (): TopicPublishInfo =>
    new TopicPublishInfo(
      'T',
      route(
        [
          ['a', 2, 6],
          ['b', 2, 6],
        ],
        [
          ['a', true],
          ['b', true],
        ],
      ),
    )

  it('round robins over every queue', () => {
    const i = info()
    const s = new MQFaultStrategy(false)
    const seen = Array.from({ length: 8 }, () => s.selectOneMessageQueue(i, undefined, false))
    const keys = seen.map((q) => `${q.brokerName}/${q.queueId}`)
    expect(new Set(keys.slice(0, 4)).size).toBe(4)
    expect(keys.slice(4)).toEqual(keys.slice(0, 4))
  })

  it('skips the last broker when another exists, latency tolerance off', () => {
    const i = info()
    const s = new MQFaultStrategy(false)
    for (let n = 0; n < 20; n++) expect(s.selectOneMessageQueue(i, 'a', false).brokerName).toBe('b')
    const single = new TopicPublishInfo('T', route([['a', 2, 6]], [['a', true]]))
    expect(s.selectOneMessageQueue(single, 'a', false).brokerName).toBe('a')
  })

  it('with latency tolerance on, skips unavailable brokers, then unreachable ones, until re-admitted', () => {
    let now = 0
    const i = new TopicPublishInfo(
      'T',
      route(
        [
          ['a', 2, 6],
          ['b', 2, 6],
          ['c', 2, 6],
        ],
        [
          ['a', true],
          ['b', true],
          ['c', true],
        ],
      ),
    )
    const s = new MQFaultStrategy(true, () => now)
    s.updateFaultItem('a', 10, true, false) // unavailable and unreachable
    s.updateFaultItem('b', 600, false, true) // unavailable for 2 s, reachable
    for (let n = 0; n < 20; n++) expect(s.selectOneMessageQueue(i, undefined, n % 2 === 0).brokerName).toBe('c')
    // c is the last broker: nothing is available and not last, so the reachable one wins.
    for (let n = 0; n < 20; n++) expect(s.selectOneMessageQueue(i, 'c', true).brokerName).toBe('b')
    now = 2000
    const picked = new Set(Array.from({ length: 20 }, () => s.selectOneMessageQueue(i, 'c', false).brokerName))
    expect(picked).toEqual(new Set(['b']))
    now = 10_000
    const all = new Set(Array.from({ length: 30 }, () => s.selectOneMessageQueue(i, undefined, false).brokerName))
    expect(all).toEqual(new Set(['a', 'b', 'c']))
  })

  it('selects by Java hash code', () => {
    expect(javaHashCode('abc')).toBe(96354)
    expect(javaHashCode(-7)).toBe(-7)
    expect(javaHashCode(2 ** 40 + 3)).toBe((2 ** 8) ^ 3)
    const mqs = Array.from({ length: 5 }, (_, q) => ({ topic: 'T', brokerName: 'a', queueId: q }))
    const m = new Message({ topic: 'T', body: 'x' })
    expect(selectByHash(mqs, m, 'abc').queueId).toBe(96354 % 5)
    expect(selectByHash(mqs, m, -7).queueId).toBe(2)
    // "polygenelubricants" hashes to Integer.MIN_VALUE in Java.
    expect(javaHashCode('polygenelubricants')).toBe(-2147483648)
    expect(selectByHash(mqs, m, 'polygenelubricants').queueId).toBe(3)
  })

  it('selects no queue by machine room, as SelectMessageQueueByMachineRoom does; it only keeps the IDCs', () => {
    const mqs = [{ topic: 'T', brokerName: 'a', queueId: 0 }]
    const selector = selectByMachineRoom(new Set(['room1']))
    expect(selector(mqs, new Message({ topic: 'T', body: 'x' }), 'k')).toBeNull()
    expect(selector.consumeridcs.has('room1')).toBe(true)
    expect(selectByMachineRoom().consumeridcs.size).toBe(0)
  })
})

describe('wire format', () => {
  it('encodes a batch body byte for byte', () => {
    const a = new Message({ topic: 'T', body: 'hi', flag: 7 })
    a.properties.clear()
    a.properties.set('K', 'v')
    const b = new Message({ topic: 'T', body: Buffer.from([1, 2, 3]) })
    b.properties.clear()
    const expected = Buffer.from([
      // totalSize 22 + 2 + 4, magic, bodyCRC, flag 7, bodyLen 2, "hi", propLen 4, "K\u0001v\u0002"
      0, 0, 0, 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 0x68, 0x69, 0, 4, 0x4b, 1, 0x76, 2,
      // totalSize 22 + 3, magic, bodyCRC, flag 0, bodyLen 3, body, propLen 0
      0, 0, 0, 25, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 0, 0,
    ])
    expect(encodeMessageBatch([a, b]).equals(expected)).toBe(true)
  })

  it('compresses bodies of at least the threshold with zlib and sets COMPRESSED | ZLIB type', () => {
    const small = Buffer.alloc(4095, 'a')
    expect(compressBody(small, 4096, 5)).toEqual({ body: small, sysFlag: 0 })
    const big = Buffer.alloc(4096, 'a')
    const c = compressBody(big, 4096, 5)
    expect(c.sysFlag).toBe(0x301)
    expect(c.body[0]).toBe(0x78) // zlib header
    expect(c.body.length).toBeLessThan(big.length)
    expect(inflateSync(c.body).equals(big)).toBe(true)
  })

  it('compresses with LZ4 frames under compressType LZ4 (COMPRESSED | 1 << 8), zstd frames under ZSTD (2 << 8)', () => {
    const big = Buffer.alloc(5000, 'ab')
    const c = compressBody(big, 4096, 5, CompressionType.LZ4)
    expect(c.sysFlag).toBe(0x101)
    expect(c.body.readUInt32LE(0)).toBe(0x184d2204)
    expect(lz4FrameDecompress(c.body, 1 << 20).equals(big)).toBe(true)
    expect(resolveProducerConfig({ producerGroup: 'G', namesrvAddr: 'h:1', compressType: 'lz4' }).compressType).toBe(
      CompressionType.LZ4,
    )
    expect(resolveProducerConfig({ producerGroup: 'G', namesrvAddr: 'h:1' }).compressType).toBe(CompressionType.ZLIB)
    expect(resolveProducerConfig({ producerGroup: 'G', namesrvAddr: 'h:1', compressType: 'zstd' }).compressType).toBe(
      CompressionType.ZSTD,
    )
    const z = compressBody(big, 4096, 5, CompressionType.ZSTD)
    expect(z.sysFlag).toBe(0x201)
    expect(z.body.readUInt32LE(0)).toBe(0xfd2fb528)
    expect(zstdDecompress(z.body, 1 << 20).equals(big)).toBe(true)
    expect(() => resolveProducerConfig({ producerGroup: 'G', namesrvAddr: 'h:1', compressType: 'snappy' })).toThrow(
      /Unsupported/,
    )
  })

  it('builds SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE requests with letter keys', () => {
    const header = {
      producerGroup: 'G',
      topic: 'T',
      defaultTopic: 'TBW102',
      defaultTopicQueueNums: 4,
      queueId: 2,
      sysFlag: 0x301,
      bornTimestamp: 123,
      flag: 0,
      properties: 'A\u0001b\u0002',
      reconsumeTimes: 0,
      unitMode: false,
      maxReconsumeTimes: undefined,
      batch: false,
    }
    const r = buildSendRequest({ header, brokerName: 'broker-a', body: Buffer.from('x') })
    expect(r.code).toBe(310)
    expect(r.extFields).toEqual({
      a: 'G',
      b: 'T',
      c: 'TBW102',
      d: '4',
      e: '2',
      f: '769',
      g: '123',
      h: '0',
      i: 'A\u0001b\u0002',
      j: '0',
      k: 'false',
      m: 'false',
      n: 'broker-a',
    })
    expect(buildSendRequest({ header: { ...header, batch: true }, brokerName: 'b', body: Buffer.from('x') }).code).toBe(
      320,
    )
  })
})

describe('send result', () => {
  const response = (code: number, ext: Record<string, string> = {}): RemotingCommand => {
    const r = RemotingCommand.createResponse(code, code === 0 ? null : 'why')
    r.extFields = { msgId: 'OFF', queueId: '3', queueOffset: '42', ...ext }
    return r
  }

  it('maps every stored status', () => {
    const cases: [number, string][] = [
      [0, SendStatus.SEND_OK],
      [10, SendStatus.FLUSH_DISK_TIMEOUT],
      [12, SendStatus.FLUSH_SLAVE_TIMEOUT],
      [11, SendStatus.SLAVE_NOT_AVAILABLE],
    ]
    for (const [code, status] of cases) {
      const r = processSendResponse('b', 'T', 'UNIQ', response(code))
      expect(r.sendStatus).toBe(status)
      expect(r).toMatchObject({
        msgId: 'UNIQ',
        offsetMsgId: 'OFF',
        messageQueue: { topic: 'T', brokerName: 'b', queueId: 3 },
        queueOffset: 42,
        regionId: 'DefaultRegion',
        traceOn: true,
      })
    }
    expect(
      processSendResponse('b', 'T', 'U', response(0, { MSG_REGION: 'r1', TRACE_ON: 'false', transactionId: 'tx' })),
    ).toMatchObject({
      regionId: 'r1',
      traceOn: false,
      transactionId: 'tx',
    })
  })

  it('turns other codes into a broker error with code and remark', () => {
    for (const code of [1, 13, 14, 17, 215]) {
      let err: unknown
      try {
        processSendResponse('b', 'T', 'U', response(code))
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(BrokerResponseError)
      expect((err as BrokerResponseError).responseCode).toBe(code)
      expect((err as BrokerResponseError).remark).toBe('why')
    }
  })
})
