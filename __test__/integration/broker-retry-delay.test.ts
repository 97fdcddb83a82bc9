import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import type { MessageExt } from '../../ts/common/message/message-ext.js'
import { pull, request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

/** Eighteen levels of one second: every delay and retry is due quickly. */
const FAST_LEVELS = Array.from({ length: 18 }, () => '1s').join(' ')

describe('broker: delayed messages, retries and the DLQ', () => {
  let c: TestCluster
  beforeEach(async () => {
    c = await startCluster({ store: { messageDelayLevel: FAST_LEVELS } })
  })
  afterEach(async () => {
    await c.stop()
  })

  async function readAll(topic: string, queueId = 0): Promise<MessageExt[]> {
    const r = await pull(c.client, c.brokerAddr, { group: 'reader', topic, queueId, offset: 0 })
    return r.code === ResponseCode.SUCCESS ? decodeMessages(r.body!) : []
  }

  it('keeps a message with DELAY in SCHEDULE_TOPIC_XXXX and delivers it to its queue when due', async () => {
    const sent = await send(c.client, c.brokerAddr, { topic: 'DT', queueId: 1, body: Buffer.from('later'), properties: { DELAY: '2', TAGS: 'T' } })
    expect(sent.code).toBe(ResponseCode.SUCCESS)
    expect(sent.ext('queueId')).toBe('1')
    const scheduled = await readAll('SCHEDULE_TOPIC_XXXX', 1)
    expect(scheduled.map((m) => [m.properties.get('REAL_TOPIC'), m.properties.get('REAL_QID')])).toEqual([['DT', '1']])
    expect(await readAll('DT', 1)).toEqual([])
    const [delivered] = await waitFor(async () => {
      const got = await readAll('DT', 1)
      return got.length > 0 && got
    }, { what: 'delayed delivery', timeoutMs: 10_000 })
    expect(delivered!.body.toString()).toBe('later')
    expect(delivered!.properties.get('DELAY')).toBeUndefined()
    expect(delivered!.properties.get('TAGS')).toBe('T')
    expect(delivered!.storeTimestamp - scheduled[0]!.storeTimestamp).toBeGreaterThanOrEqual(1000)
  })

  it('sends a failed message back to %RETRY%group with a delay, then to %DLQ%group after max reconsume times', async () => {
    const sent = await send(c.client, c.brokerAddr, { topic: 'RT', body: Buffer.from('fails'), properties: { KEYS: 'k' } })
    const [orig] = await readAll('RT')
    const back = (offset: number, max: number): ReturnType<typeof request> =>
      request(c.client, c.brokerAddr, RequestCode.CONSUMER_SEND_MSG_BACK, { offset, group: 'CG', delayLevel: 0, maxReconsumeTimes: max, originTopic: 'RT' })
    expect((await back(orig!.commitLogOffset, 1)).code).toBe(ResponseCode.SUCCESS)
    const [retry] = await waitFor(async () => {
      const got = await readAll('%RETRY%CG')
      return got.length > 0 && got
    }, { what: 'retry delivery', timeoutMs: 10_000 })
    expect(retry!.body.toString()).toBe('fails')
    expect(retry!.reconsumeTimes).toBe(1)
    expect(retry!.properties.get('RETRY_TOPIC')).toBe('RT')
    expect(retry!.properties.get('ORIGIN_MESSAGE_ID')).toBe(sent.ext('msgId'))
    expect(retry!.properties.get('KEYS')).toBe('k')
    // Reconsumed once with a maximum of one: the next failure dead-letters it, at once.
    expect((await back(retry!.commitLogOffset, 1)).code).toBe(ResponseCode.SUCCESS)
    const dlq = await readAll('%DLQ%CG')
    expect(dlq.map((m) => [m.body.toString(), m.reconsumeTimes, m.properties.get('ORIGIN_MESSAGE_ID')])).toEqual([['fails', 2, sent.ext('msgId')]])
    expect(c.broker.topicConfigManager.selectTopicConfig('%DLQ%CG')).toMatchObject({ readQueueNums: 1, writeQueueNums: 1 })
    const missing = await back(123_456_789, 16)
    expect(missing.code).toBe(ResponseCode.SYSTEM_ERROR)
  })

  it('routes a client-side resend to the retry topic into the DLQ once reconsume times reach the maximum', async () => {
    const r = await send(c.client, c.brokerAddr, { topic: '%RETRY%G2', body: Buffer.from('x'), reconsumeTimes: 3, maxReconsumeTimes: 3 })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect((await readAll('%DLQ%G2')).map((m) => m.body.toString())).toEqual(['x'])
  })

  it('persists delay progress so a restart does not deliver twice', async () => {
    await send(c.client, c.brokerAddr, { topic: 'DT2', properties: { DELAY: '1' } })
    await waitFor(async () => (await readAll('DT2')).length === 1, { what: 'first delivery', timeoutMs: 10_000 })
    await c.stopBroker()
    await c.restartBroker()
    await send(c.client, c.brokerAddr, { topic: 'DT2', properties: { DELAY: '1' } })
    await waitFor(async () => (await readAll('DT2')).length >= 2, { what: 'second delivery', timeoutMs: 10_000 })
    const all = await readAll('DT2')
    expect(all).toHaveLength(2)
    const offsets = await request(c.client, c.brokerAddr, RequestCode.GET_ALL_DELAY_OFFSET)
    expect(offsets.body!.toString()).toContain('1:2')
  })
})
