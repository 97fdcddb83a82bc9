import { afterEach, describe, expect, it } from 'vitest'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import type { TransactionCheckMessage } from '../../ts/client/client-instance.js'
import { Message } from '../../ts/client/message.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import {
  LocalTransactionState,
  TransactionProducer,
  type TransactionListener,
} from '../../ts/client/transaction-producer.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { pull } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const HALF = 'RMQ_SYS_TRANS_HALF_TOPIC'
const TOPIC = 'TxTopic'

describe('client: TransactionProducer against a real broker', () => {
  let c: TestCluster
  let producer: TransactionProducer | undefined
  let consumer: PushConsumer | undefined
  const checked: TransactionCheckMessage[] = []
  let executed = 0

  afterEach(async () => {
    await consumer?.shutdown()
    await producer?.shutdown()
    await c.stop()
    consumer = undefined
    producer = undefined
    checked.length = 0
    executed = 0
  })

  /** A broker that checks often, and a producer whose listener answers `first` then `onCheck`. */
  async function start(first: () => unknown, onCheck: () => unknown): Promise<TransactionProducer> {
    c = await startCluster({
      broker: { transactionCheckInterval: 100, transactionTimeOut: 500, transactionOpBatchInterval: 50 },
    })
    const listener: TransactionListener = {
      executeLocalTransaction: async () => {
        executed++
        return first() as LocalTransactionState
      },
      checkLocalTransaction: (msg) => {
        checked.push(msg)
        return onCheck() as LocalTransactionState
      },
    }
    producer = new TransactionProducer({
      producerGroup: 'TxProducer',
      namesrvAddr: c.namesrvAddr,
      heartbeatBrokerInterval: 200,
      transactionListener: listener,
    })
    await producer.start()
    return producer
  }

  async function consume(): Promise<ReceivedMessage[]> {
    const got: ReceivedMessage[] = []
    consumer = new PushConsumer({
      consumerGroup: 'TxConsumer',
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    })
    consumer.subscribe(TOPIC, '*')
    consumer.registerMessageListener((msgs) => {
      got.push(...msgs)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await consumer.start()
    return got
  }

  /** Waits until the broker's check has moved past every half message stored so far. */
  async function checkedPastAllHalfMessages(): Promise<void> {
    const max = c.broker.store.getMaxOffsetInQueue(HALF, 0)
    await waitFor(() => c.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', HALF, 0) >= max, {
      what: 'the check offset past every half message',
      timeoutMs: 20_000,
    })
  }

  function message(i: number): Message {
    return new Message({ topic: TOPIC, body: `tx-${i}`, tags: 'TagTx', keys: [`k${i}`] })
  }

  it('commits: the consumer gets the message once, with body, keys, tags and transactionId', async () => {
    const p = await start(
      () => LocalTransactionState.COMMIT_MESSAGE,
      () => LocalTransactionState.COMMIT_MESSAGE,
    )
    const msg = message(1)
    const result = await p.sendMessageInTransaction(msg, 'arg')
    expect(result.sendStatus).toBe(SendStatus.SEND_OK)
    expect(result.localTransactionState).toBe(LocalTransactionState.COMMIT_MESSAGE)
    expect(result.transactionId).toBe(result.msgId)
    expect(msg.transactionId).toBe(result.msgId)
    expect(executed).toBe(1)
    const got = await consume()
    await waitFor(() => got.length > 0, { what: 'the committed message' })
    const [m] = got
    expect(m!.msgId).toBe(result.msgId)
    expect(m!.transactionId).toBe(result.msgId)
    expect([m!.body.toString(), m!.tags, m!.properties.get('KEYS')]).toEqual(['tx-1', 'TagTx', 'k1'])
    expect(m!.sysFlag & 0xc).toBe(0x8)
    await checkedPastAllHalfMessages()
    // Passed by its op marker, not by a check: a check would have re-appended a copy.
    expect(c.broker.store.getMaxOffsetInQueue(HALF, 0)).toBe(1)
    expect(got.length).toBe(1)
    expect(checked).toEqual([])
  })

  it('rolls back: the message is never delivered and never checked', async () => {
    const p = await start(
      () => LocalTransactionState.ROLLBACK_MESSAGE,
      () => LocalTransactionState.COMMIT_MESSAGE,
    )
    const result = await p.sendMessageInTransaction(message(2), null)
    expect(result.localTransactionState).toBe(LocalTransactionState.ROLLBACK_MESSAGE)
    // A plain message sent after it shows the consumer has read past the rolled-back one's place.
    const plain = await p.send(new Message({ topic: TOPIC, body: 'plain' }))
    const got = await consume()
    await waitFor(() => got.some((m) => m.msgId === plain.msgId), { what: 'the plain message' })
    await checkedPastAllHalfMessages()
    expect(c.broker.store.getMaxOffsetInQueue(HALF, 0)).toBe(1)
    expect(got.map((m) => m.body.toString())).toEqual(['plain'])
    expect(checked).toEqual([])
  })

  it('UNKNOW, then the broker checks back and the producer commits: delivered', async () => {
    let answer: LocalTransactionState = LocalTransactionState.UNKNOW
    const p = await start(
      () => null,
      () => answer,
    )
    const result = await p.sendMessageInTransaction(message(4), null)
    expect(result.localTransactionState).toBe(LocalTransactionState.UNKNOW)
    const got = await consume()
    // The first checks answer UNKNOW; later ones commit.
    await waitFor(() => checked.length >= 1, { what: 'a check-back', timeoutMs: 20_000 })
    answer = LocalTransactionState.COMMIT_MESSAGE
    await waitFor(() => got.length > 0, { what: 'the message committed from a check', timeoutMs: 20_000 })
    expect(got.map((m) => [m.msgId, m.transactionId, m.body.toString()])).toEqual([
      [result.msgId, result.msgId, 'tx-4'],
    ])
    const check = checked[0]!
    expect([check.topic, check.transactionId, check.body.toString()]).toEqual([TOPIC, result.msgId, 'tx-4'])
    expect(check.properties.get('PGROUP')).toBe('TxProducer')
    await checkedPastAllHalfMessages()
    const checks = checked.length
    await checkedPastAllHalfMessages()
    expect(checked.length).toBe(checks)
    expect(got.length).toBe(1)
  })

  it('a listener that throws counts as UNKNOW; after a broker restart the check still commits', async () => {
    let answer: LocalTransactionState = LocalTransactionState.UNKNOW
    const p = await start(
      () => {
        throw new Error('local transaction failed')
      },
      () => answer,
    )
    const result = await p.sendMessageInTransaction(message(5), null)
    expect(result.localTransactionState).toBe(LocalTransactionState.UNKNOW)
    await waitFor(() => checked.length >= 1, { what: 'a check-back before the restart', timeoutMs: 20_000 })
    const before = c.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', HALF, 0)
    expect(before).toBeGreaterThanOrEqual(1)
    await c.stopBroker()
    await c.restartBroker()
    expect(c.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', HALF, 0)).toBeGreaterThanOrEqual(before)
    answer = LocalTransactionState.COMMIT_MESSAGE
    const delivered = await waitFor(
      async () => {
        for (let q = 0; q < 4; q++) {
          const r = await pull(c.client, c.brokerAddr, { group: 'reader', topic: TOPIC, queueId: q, offset: 0 })
          if (r.code === ResponseCode.SUCCESS) return decodeMessages(r.body!)
        }
        return undefined
      },
      { what: 'the message committed after the restart', timeoutMs: 30_000, intervalMs: 50 },
    )
    expect(delivered.map((m) => m.body.toString())).toEqual(['tx-5'])
  })
})
