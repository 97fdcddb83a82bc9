/**
 * The pure parts of transactional messages (store.md §10): how a half message is stored, how the final message of a
 * commit is rebuilt from it, the op-marker body, and the decision the check-back service takes for each half
 * message (`TransactionalMessageUtil`, `TransactionalMessageBridge`, `TransactionalMessageServiceImpl#check`,
 * `EndTransactionProcessor`). Nothing here touches the store or the network.
 */
import { MessageConst } from '../../common/message/message-const.js'
import type { MessageExt } from '../../common/message/message-ext.js'
import { messageProperties2String } from '../../common/message/message-properties.js'
import { MessageSysFlag, resetTransactionValue } from '../../common/message/message-sys-flag.js'
import { MixAll } from '../../common/mix-all.js'
import { immunityTimeMs } from '../../processor/end-transaction-processor.js'
import type { MessageExtBrokerInner } from '../../store/message-store.js'

/** The internal group whose offsets track check progress on the half and op queues (`MixAll.CID_SYS_RMQ_TRANS`). */
export const CID_RMQ_SYS_TRANS = 'CID_RMQ_SYS_TRANS'
/** Tag of op messages (`TransactionalMessageUtil.REMOVE_TAG`). */
export const REMOVE_TAG = 'd'
/** Follows every half-queue offset in an op body. */
export const OFFSET_SEPARATOR = ','
/** Queues of `TRANS_CHECK_MAX_TIME_TOPIC` (`TCMT_QUEUE_NUMS`). */
export const TCMT_QUEUE_NUMS = 1
/** A check run gives up on a queue after this long (`MAX_PROCESS_TIME_LIMIT`). */
export const MAX_PROCESS_TIME_LIMIT_MS = 60_000
/** Op messages read per step (`OP_MSG_PULL_NUMS`). */
export const OP_MSG_PULL_NUMS = 32
/** Wait before looking at the op queue again when it had nothing new (`SLEEP_WHILE_NO_OP`). */
export const SLEEP_WHILE_NO_OP_MS = 1000
/** A half offset missing from the queue is skipped at most this many times per run (`MAX_RETRY_COUNT_WHEN_HALF_NULL`). */
export const MAX_RETRY_COUNT_WHEN_HALF_NULL = 1

/** The body of one op message: each half-queue offset as decimal text followed by `,` (store.md §10.4). */
export function encodeOpBody(halfOffsets: readonly number[]): string {
  let out = ''
  for (const o of halfOffsets) out += String(o) + OFFSET_SEPARATOR
  return out
}

/**
 * The half-queue offsets an op body removes, only those at or above `minOffset` (`fillOpRemoveMap`). Pieces that
 * are not a number read as −1, as `getLong` does, and so never pass the bound.
 */
export function parseOpBody(body: string, minOffset: number): number[] {
  const out: number[] = []
  for (const piece of body.split(OFFSET_SEPARATOR)) {
    if (piece.length === 0) continue
    const v = /^[+-]?\d+$/.test(piece) ? Number(piece) : -1
    if (!Number.isSafeInteger(v) || v < minOffset) continue
    out.push(v)
  }
  return out
}

/**
 * The op offset the internal group may move to: past every done op offset that follows the current one without
 * a gap (`calculateOpOffset`).
 */
export function calculateOpOffset(doneOpOffsets: readonly number[], oldOffset: number): number {
  const sorted = [...doneOpOffsets].sort((a, b) => a - b)
  let next = oldOffset
  for (const o of sorted) {
    if (o === next) next++
    else if (o > next) break
  }
  return next
}

/** What the check-back service does with one half message it reads (`TransactionalMessageServiceImpl#check`). */
export type CheckDecision =
  /** Checked too often, or older than the commit log keeps messages: copy it to `TRANS_CHECK_MAX_TIME_TOPIC`. */
  | { kind: 'discard' }
  /** Stored after this run began, or still inside its immunity time: stop this queue until the next run. */
  | { kind: 'stop' }
  /** Has its own immunity time and is still inside it: re-append it and go on (`checkPrepareQueueOffset`). */
  | { kind: 'immunity'; checkTimes: number }
  /** Ask the producer: re-append it with `TRANSACTION_CHECK_TIMES = checkTimes` and send CHECK_TRANSACTION_STATE. */
  | { kind: 'check'; checkTimes: number }
  /** Not decidable yet: the op messages read so far may not cover it; read more. */
  | { kind: 'pullMoreOps' }

export interface CheckInput {
  storeTimestamp: number
  bornTimestamp: number
  /** `TRANSACTION_CHECK_TIMES`, if present. */
  checkTimes: string | undefined
  /** `CHECK_IMMUNITY_TIME_IN_SECONDS`, if present. */
  checkImmunityTimeInSeconds: string | undefined
  nowMs: number
  /** When the run of this queue began. */
  startMs: number
  transactionTimeoutMs: number
  transactionCheckMax: number
  /** `fileReservedTime`, hours. */
  fileReservedTimeHours: number
  /** Born time of the last op message read, or null when the last op read found none. */
  lastOpBornTimestamp: number | null
}

/**
 * The decision for one half message that no op message has removed, in RocketMQ's order: discard, fresh, immunity,
 * then "check now" or "read more op messages".
 */
export function checkDecision(i: CheckInput): CheckDecision {
  let checkTimes = 1
  if (i.checkTimes !== undefined) {
    const t = /^[+-]?\d+$/.test(i.checkTimes) ? Number(i.checkTimes) : -1
    if (t >= i.transactionCheckMax) return { kind: 'discard' }
    checkTimes = t + 1
  }
  if (i.nowMs - i.bornTimestamp > i.fileReservedTimeHours * 3_600_000) return { kind: 'discard' }
  if (i.storeTimestamp >= i.startMs) return { kind: 'stop' }
  const age = i.nowMs - i.bornTimestamp
  let immunity = i.transactionTimeoutMs
  if (i.checkImmunityTimeInSeconds !== undefined) {
    immunity = immunityTimeMs(i.checkImmunityTimeInSeconds, i.transactionTimeoutMs)
    if (age <= immunity) return { kind: 'immunity', checkTimes }
  } else if (age >= 0 && age <= immunity) {
    return { kind: 'stop' }
  }
  const needCheck =
    (i.lastOpBornTimestamp === null && age > immunity) ||
    (i.lastOpBornTimestamp !== null && i.lastOpBornTimestamp - i.startMs > i.transactionTimeoutMs) ||
    age <= -1
  return needCheck ? { kind: 'check', checkTimes } : { kind: 'pullMoreOps' }
}

/**
 * Turns a send into the half message that is stored (`TransactionalMessageBridge#parseHalfMessageInner`): the real
 * topic and queue go into `REAL_TOPIC`/`REAL_QID`, the transaction bits are reset, and it goes to the half topic,
 * queue 0. `__transactionId__` is set to `UNIQ_KEY` (store.md §10.2). A `DELAY` is dropped: a delayed half message
 * would go through the schedule topic, whose delivery discards anything bound for the half topic.
 */
export function toHalfMessage(msg: MessageExtBrokerInner, properties: Map<string, string>): void {
  properties.delete(MessageConst.PROPERTY_DELAY_TIME_LEVEL)
  properties.set(MessageConst.PROPERTY_REAL_TOPIC, msg.topic)
  properties.set(MessageConst.PROPERTY_REAL_QUEUE_ID, String(msg.queueId))
  const uniq = properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
  if (uniq !== undefined && !properties.has(MessageConst.PROPERTY_TRANSACTION_ID)) {
    properties.set(MessageConst.PROPERTY_TRANSACTION_ID, uniq)
  }
  msg.sysFlag = resetTransactionValue(msg.sysFlag, MessageSysFlag.TRANSACTION_NOT_TYPE)
  msg.topic = MixAll.RMQ_SYS_TRANS_HALF_TOPIC
  msg.queueId = 0
  msg.propertiesString = messageProperties2String(properties)
}

/**
 * A copy of a half message for the same queue, with `properties` as given (`renewHalfMessageInner`): the check
 * service re-appends it so the queue can move on, and a later check finds the copy.
 */
export function renewHalfMessage(
  half: MessageExt,
  bornHost: Buffer,
  properties: ReadonlyMap<string, string>,
): MessageExtBrokerInner {
  return {
    topic: half.topic,
    queueId: half.queueId,
    flag: half.flag,
    body: half.body,
    propertiesString: messageProperties2String(properties),
    bornTimestamp: half.bornTimestamp,
    bornHost,
    sysFlag: half.sysFlag,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: 0,
    waitStoreMsgOK: false,
  }
}

/** A half message checked too often, as kept in `TRANS_CHECK_MAX_TIME_TOPIC` (`toMessageExtBrokerInner`). */
export function toDiscardMessage(half: MessageExt, bornHost: Buffer): MessageExtBrokerInner {
  return {
    topic: MixAll.TRANS_CHECK_MAX_TIME_TOPIC,
    queueId: 0,
    flag: half.flag,
    body: half.body,
    propertiesString: messageProperties2String(half.properties),
    bornTimestamp: half.bornTimestamp,
    bornHost,
    sysFlag: half.sysFlag,
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: 0,
    waitStoreMsgOK: false,
  }
}

/**
 * The body of CHECK_TRANSACTION_STATE: the stored record of the half message with topic and queue id replaced by the
 * real ones and TOTALSIZE recomputed (`MessageDecoder#encode` of the message after `sendCheckMessage` rewrote them;
 * protocol.md §4.1). The body stays as stored (compressed if it was), as the Java broker sends it.
 */
export function encodeCheckMessageBody(record: Buffer, realTopic: string, realQueueId: number): Buffer {
  const sysFlag = record.readInt32BE(36)
  const bornV6 = (sysFlag & MessageSysFlag.BORNHOST_V6_FLAG) !== 0
  const storeV6 = (sysFlag & MessageSysFlag.STOREHOSTADDRESS_V6_FLAG) !== 0
  const bodyLenAt = 48 + (bornV6 ? 20 : 8) + 8 + (storeV6 ? 20 : 8) + 4 + 8
  const bodyEnd = bodyLenAt + 4 + record.readInt32BE(bodyLenAt)
  const oldTopicLen = record.readInt8(bodyEnd)
  const propsAt = bodyEnd + 1 + oldTopicLen
  const topic = Buffer.from(realTopic, 'utf8')
  const props = record.subarray(propsAt, record.readInt32BE(0))
  const out = Buffer.allocUnsafe(bodyEnd + 1 + topic.length + props.length)
  record.copy(out, 0, 0, bodyEnd)
  out.writeInt8(topic.length, bodyEnd)
  topic.copy(out, bodyEnd + 1)
  props.copy(out, bodyEnd + 1 + topic.length)
  out.writeInt32BE(out.length, 0)
  out.writeInt32BE(realQueueId, 12)
  return out
}
