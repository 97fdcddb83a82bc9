/**
 * The expired-message sweep of concurrent consumption (client.md §4.6, `ConsumeMessageConcurrentlyService
 * #cleanExpireMsg`): a message whose listener call outlives `consumeTimeout` is sent back with delay level 3 and
 * leaves the process queue, so the offset can move past it; the rest of the queue is not held up.
 */
import { afterEach, describe, expect, it } from 'vitest'

import {
  ConsumeConcurrentlyStatus,
  ConsumeMessageConcurrentlyService,
  type ConsumeHost,
} from '../../../ts/client/consume-service.js'
import type { OffsetStore } from '../../../ts/client/offset-store.js'
import { ProcessQueue } from '../../../ts/client/process-queue.js'
import type { ReceivedMessage } from '../../../ts/client/pull-api-wrapper.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { MessageConst } from '../../../ts/common/message/message-const.js'
import { waitFor } from '../../helpers/wait-for.js'

const MQ = { topic: 'T', brokerName: 'b', queueId: 0 }

function msg(queueOffset: number): ReceivedMessage {
  return {
    topic: 'T',
    flag: 0,
    properties: new Map(),
    body: Buffer.from(`m${queueOffset}`),
    queueId: 0,
    storeSize: 100,
    queueOffset,
    sysFlag: 0,
    bornTimestamp: 0,
    bornHost: '10.0.0.1:1',
    storeTimestamp: 0,
    storeHost: '10.0.0.2:10911',
    msgId: `ID${queueOffset}`,
    offsetMsgId: `OFF${queueOffset}`,
    commitLogOffset: queueOffset * 1000,
    bodyCRC: 0,
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    brokerName: 'b',
    tags: undefined,
  }
}

interface Recorder {
  host: ConsumeHost
  sentBack: [string, number][]
  offsets: number[]
}

function recorder(
  consumeTimeoutMs: number,
  sendBackOk = true,
  messageModel: 'CLUSTERING' | 'BROADCASTING' = 'CLUSTERING',
): Recorder {
  const sentBack: [string, number][] = []
  const offsets: number[] = []
  const offsetStore = {
    updateOffset: (_mq: unknown, offset: number) => void offsets.push(offset),
  } as unknown as OffsetStore
  const host: ConsumeHost = {
    consumerGroup: 'G',
    messageModel,
    consumeThreadMin: 4,
    consumeMessageBatchMaxSize: 1,
    maxReconsumeTimes: () => 16,
    suspendCurrentQueueTimeMillis: 1000,
    consumeTimeoutMs,
    offsetStore,
    sendMessageBack: async (m, delayLevel) => {
      sentBack.push([m.msgId, delayLevel])
      return sendBackOk
    },
    sendToRetryTopicAsDlq: async () => true,
    lockQueue: async () => true,
    log: noopLogger,
  }
  return { host, sentBack, offsets }
}

describe('consume timeout sweep (cleanExpiredMessages)', () => {
  const services: ConsumeMessageConcurrentlyService[] = []
  let releaseAll: () => void = () => {}
  afterEach(async () => {
    releaseAll()
    for (const s of services.splice(0)) await s.shutdown(0)
  })

  function start(r: Recorder, pq: ProcessQueue, stuckOffsets: Set<number>): { consumed: number[] } {
    const consumed: number[] = []
    const gate = new Promise<void>((resolve) => (releaseAll = resolve))
    const service = new ConsumeMessageConcurrentlyService(
      r.host,
      async (msgs) => {
        if (stuckOffsets.has(msgs[0]!.queueOffset)) await gate
        consumed.push(msgs[0]!.queueOffset)
        return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
      },
      () => [{ mq: MQ, pq }],
    )
    services.push(service)
    service.start()
    return { consumed }
  }

  it('sends a stuck message back with delay level 3 once it is older than consumeTimeout, and commits past it', async () => {
    const r = recorder(150)
    const pq = new ProcessQueue()
    const msgs = [0, 1, 2, 3].map(msg)
    pq.putMessage(msgs)
    const { consumed } = start(r, pq, new Set([0]))
    const began = Date.now()
    ;(services[0] as ConsumeMessageConcurrentlyService).submitConsumeRequest(msgs, pq, MQ)
    await waitFor(() => consumed.length === 3, { what: 'the three free messages consumed' })
    // Offset 0 still holds the commit back while its listener runs.
    expect(r.offsets.every((o) => o === 0)).toBe(true)
    expect(msgs[0]!.properties.get(MessageConst.PROPERTY_CONSUME_START_TIMESTAMP)).toBeDefined()
    await waitFor(() => r.sentBack.length > 0, { what: 'the sweep to send the stuck message back' })
    expect(Date.now() - began).toBeGreaterThanOrEqual(150)
    expect(r.sentBack).toEqual([['ID0', 3]])
    expect(pq.msgCount).toBe(0)
    expect(r.offsets.at(-1)).toBe(4)
    // When the listener finally returns, nothing is sent back twice and the offset does not go back.
    releaseAll()
    await waitFor(() => consumed.length === 4, { what: 'the stuck call to return' })
    await waitFor(() => r.offsets.length >= 1 && r.offsets.at(-1) === 4)
    expect(r.sentBack).toHaveLength(1)
  })

  it('leaves a message whose listener call is younger than consumeTimeout alone', async () => {
    const r = recorder(60_000)
    const pq = new ProcessQueue()
    const msgs = [0, 1].map(msg)
    pq.putMessage(msgs)
    const { consumed } = start(r, pq, new Set([0]))
    services[0]!.submitConsumeRequest(msgs, pq, MQ)
    await waitFor(() => consumed.length === 1)
    // Run a sweep by hand: the stuck call started just now.
    await (services[0] as unknown as { cleanExpiredMessages(): Promise<void> }).cleanExpiredMessages()
    expect(r.sentBack).toEqual([])
    expect(pq.msgCount).toBe(1)
  })

  it('keeps the message when the send-back fails, so it is tried again at the next sweep', async () => {
    const r = recorder(100, false)
    const pq = new ProcessQueue()
    const msgs = [msg(0)]
    pq.putMessage(msgs)
    start(r, pq, new Set([0]))
    services[0]!.submitConsumeRequest(msgs, pq, MQ)
    await waitFor(() => r.sentBack.length >= 2, { what: 'two sweeps trying to send back' })
    expect(pq.msgCount).toBe(1)
    expect(r.offsets).toEqual([])
  })

  it('does nothing for broadcasting consumers', async () => {
    const r = recorder(60_000, true, 'BROADCASTING')
    const pq = new ProcessQueue()
    const msgs = [msg(0)]
    pq.putMessage(msgs)
    const { consumed } = start(r, pq, new Set([0]))
    services[0]!.submitConsumeRequest(msgs, pq, MQ)
    await waitFor(() => msgs[0]!.properties.has(MessageConst.PROPERTY_CONSUME_START_TIMESTAMP))
    // As if the call had started an hour ago: a clustering consumer would send it back now.
    msgs[0]!.properties.set(MessageConst.PROPERTY_CONSUME_START_TIMESTAMP, String(Date.now() - 3_600_000))
    await (services[0] as unknown as { cleanExpiredMessages(): Promise<void> }).cleanExpiredMessages()
    expect(r.sentBack).toEqual([])
    expect(pq.msgCount).toBe(1)
    expect(consumed).toEqual([])
  })
})
