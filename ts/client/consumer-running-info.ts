/**
 * What a consumer reports to admin tools through its broker (`ConsumerRunningInfo`, `ProcessQueueInfo`,
 * `ConsumeStatus`, `ConsumeMessageDirectlyResult`, `CMResult`; protocol.md §2.8), and the JSON bodies fastjson
 * makes of them: members in alphabetical order, `MessageQueue` map keys written as objects, so `mqadmin
 * consumerStatus` / `consumeMessage` parse them back.
 */
import { stringifyJson } from '../common/fastjson.js'
import type { SubscriptionData } from '../remoting/protocol/heartbeat.js'
import { messageQueueJson, type MessageQueue } from '../remoting/protocol/message-queue.js'

/** `ConsumerRunningInfo` property keys. */
export const RunningInfoProps = {
  PROP_NAMESERVER_ADDR: 'PROP_NAMESERVER_ADDR',
  PROP_THREADPOOL_CORE_SIZE: 'PROP_THREADPOOL_CORE_SIZE',
  PROP_CONSUME_ORDERLY: 'PROP_CONSUMEORDERLY',
  PROP_CONSUME_TYPE: 'PROP_CONSUME_TYPE',
  PROP_CLIENT_VERSION: 'PROP_CLIENT_VERSION',
  PROP_CONSUMER_START_TIMESTAMP: 'PROP_CONSUMER_START_TIMESTAMP',
} as const

/** One owned queue (`ProcessQueueInfo`; `droped` is Java's spelling). */
export interface ProcessQueueInfo {
  commitOffset: number
  cachedMsgMinOffset: number
  cachedMsgMaxOffset: number
  cachedMsgCount: number
  cachedMsgSizeInMiB: number
  transactionMsgMinOffset: number
  transactionMsgMaxOffset: number
  transactionMsgCount: number
  locked: boolean
  tryUnlockTimes: number
  lastLockTimestamp: number
  droped: boolean
  lastPullTimestamp: number
  lastConsumeTimestamp: number
}

/** Per-topic consumption rates (`ConsumeStatus`): RT in ms, TPS per second over the last minute. */
export interface ConsumeStatus {
  pullRT: number
  pullTPS: number
  consumeRT: number
  consumeOKTPS: number
  consumeFailedTPS: number
  /** Messages that failed in the last hour. */
  consumeFailedMsgs: number
}

export interface ConsumerRunningInfo {
  /** Java property strings; `MixAll.object2Properties(consumer)` plus the `PROP_*` keys. */
  properties: Map<string, string>
  subscriptionSet: SubscriptionData[]
  mqTable: Map<MessageQueue, ProcessQueueInfo>
  statusTable: Map<string, ConsumeStatus>
  /** `jstack` text; never filled here (Node.js has no thread dump to give). */
  jstack?: string
}

/** `CMResult`: how the listener answered a CONSUME_MESSAGE_DIRECTLY. */
export const CMResult = {
  CR_SUCCESS: 'CR_SUCCESS',
  CR_LATER: 'CR_LATER',
  CR_ROLLBACK: 'CR_ROLLBACK',
  CR_COMMIT: 'CR_COMMIT',
  CR_THROW_EXCEPTION: 'CR_THROW_EXCEPTION',
  CR_RETURN_NULL: 'CR_RETURN_NULL',
} as const
export type CMResult = (typeof CMResult)[keyof typeof CMResult]

export interface ConsumeMessageDirectlyResult {
  order: boolean
  autoCommit: boolean
  consumeResult: CMResult | null
  remark: string | null
  spentTimeMills: number
}

function compareMessageQueues(a: MessageQueue, b: MessageQueue): number {
  // `MessageQueue.compareTo`: topic, then broker name, then queue id (the TreeMap order).
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1
  return a.queueId - b.queueId
}

/** The ConsumerRunningInfo JSON body as Java's `encode()` writes it. */
export function encodeConsumerRunningInfo(info: ConsumerRunningInfo): Buffer {
  const mqTable = new Map<object, ProcessQueueInfo>()
  for (const [mq, pq] of [...info.mqTable].sort(([a], [b]) => compareMessageQueues(a, b))) {
    mqTable.set(messageQueueJson(mq), pq)
  }
  const byKey = <V>(m: Map<string, V>): Map<string, V> =>
    new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  // SubscriptionData sorts by topic then expression (`compareTo`) in Java's TreeSet.
  const subscriptionSet = [...info.subscriptionSet].sort((a, b) =>
    a.topic !== b.topic
      ? a.topic < b.topic
        ? -1
        : 1
      : a.subString < b.subString
        ? -1
        : a.subString > b.subString
          ? 1
          : 0,
  )
  return Buffer.from(
    stringifyJson({
      jstack: info.jstack,
      mqPopTable: new Map(),
      mqTable,
      properties: byKey(info.properties),
      statusTable: byKey(info.statusTable),
      subscriptionSet,
      userConsumerInfo: new Map(),
    }),
  )
}

export function encodeConsumeMessageDirectlyResult(r: ConsumeMessageDirectlyResult): Buffer {
  return Buffer.from(stringifyJson(r))
}

/** GET_CONSUMER_STATUS_FROM_CLIENT body (`GetConsumerStatusBody`): `{"messageQueueTable":{MessageQueue:offset}}`. */
export function encodeConsumerStatusBody(offsets: Iterable<{ mq: MessageQueue; offset: number }>): Buffer {
  const messageQueueTable = new Map<object, number>()
  for (const { mq, offset } of offsets) messageQueueTable.set(messageQueueJson(mq), offset)
  return Buffer.from(stringifyJson({ consumerTable: new Map(), messageQueueTable }))
}
