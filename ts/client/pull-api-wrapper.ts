/**
 * Pulls for both consumers (`PullAPIWrapper`, client.md §4.5, §6.4, §6.5): which broker of a queue to ask
 * (the broker's `suggestWhichBrokerId` is remembered per queue), the request itself, and the client-side work on
 * a found result: decoding, decompression, the exact tag re-check, and the properties RocketMQ sets on each
 * received message.
 */
import type { Logger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { decodeMessages } from '../common/message/message-record.js'
import { MixAll } from '../common/mix-all.js'
import type { SubscriptionData } from '../remoting/protocol/heartbeat.js'
import { messageQueueKey, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { PullSysFlag } from '../remoting/protocol/pull-sys-flag.js'
import type { MQClientInstance } from './client-instance.js'
import { MQClientError } from './client-error.js'
import { PullStatus, type RawPullResult } from './mq-client-api.js'

/** A message as a consumer receives it (`MessageExt` plus what the client adds). */
export interface ReceivedMessage extends MessageExt {
  /** The client unique id (`UNIQ_KEY`) when the producer set one, else the broker's offset id. */
  msgId: string
  /** The broker's offset message id (store host + commit-log offset). */
  offsetMsgId: string
  brokerName: string
  tags: string | undefined
  /** A committed transactional message (`TRAN_MSG=true`): its `UNIQ_KEY` (client.md §6.4). */
  transactionId?: string
}

export interface PullResult {
  status: PullStatus
  nextBeginOffset: number
  minOffset: number
  maxOffset: number
  /** FOUND: the messages that passed the tag re-check (possibly none). */
  msgFoundList: ReceivedMessage[]
}

/**
 * Decodes a FOUND body and applies the exact tag check (client.md §6.4). Bodies are decompressed (ZLIB, LZ4,
 * ZSTD). One that cannot be is logged and delivered as stored, COMPRESSED flag still set: Java's `MessageDecoder`
 * swallows the error and stops decoding there, so that message and every later one in the response are skipped
 * silently while the pull offset moves past them.
 */
export function processPullResult(
  mq: MessageQueue,
  raw: RawPullResult,
  sub: SubscriptionData,
  log?: Logger,
): PullResult {
  const result: PullResult = {
    status: raw.status,
    nextBeginOffset: raw.nextBeginOffset,
    minOffset: raw.minOffset,
    maxOffset: raw.maxOffset,
    msgFoundList: [],
  }
  if (raw.status !== PullStatus.FOUND || raw.body === null) return result
  const filter = sub.tagsSet.length > 0 && !sub.classFilterMode ? new Set(sub.tagsSet) : null
  const minOffset = String(raw.minOffset)
  const maxOffset = String(raw.maxOffset)
  // The response body is ours alone: messages may keep views into it instead of copies.
  const onDecompressError = (err: unknown, at: { topic: string; queueId: number; queueOffset: number }): void => {
    log?.warn({ ...at, brokerName: mq.brokerName, err }, 'message body cannot be decompressed, delivered as stored')
  }
  for (const m of decodeMessages(raw.body, { copyBody: false, onDecompressError })) {
    const tags = m.properties.get(MessageConst.PROPERTY_TAGS)
    // The broker filters by tag hash only; a collision must not reach the listener.
    if (filter !== null && (tags === undefined || !filter.has(tags))) continue
    m.properties.set(MessageConst.PROPERTY_MIN_OFFSET, minOffset)
    m.properties.set(MessageConst.PROPERTY_MAX_OFFSET, maxOffset)
    const uniq = m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    const received = m as ReceivedMessage
    received.offsetMsgId = m.msgId
    if (uniq !== undefined) received.msgId = uniq
    received.brokerName = mq.brokerName
    received.tags = tags
    if (m.properties.get(MessageConst.PROPERTY_TRANSACTION_PREPARED) === 'true' && uniq !== undefined) {
      received.transactionId = uniq
    }
    result.msgFoundList.push(received)
  }
  return result
}

export interface PullKernelArgs {
  mq: MessageQueue
  sub: SubscriptionData
  /** Send the subscription with the request (`subExpression` + type) instead of relying on heartbeats. */
  withSubscription: boolean
  offset: number
  maxNums: number
  maxSizeInBytes: number
  sysFlag: number
  commitOffset: number
  /** How long the broker may hold the request, ms. */
  brokerSuspendMaxTimeMillis: number
  timeoutMillis: number
  lite: boolean
}

export class PullAPIWrapper {
  /** Queue → broker id the broker last suggested. */
  private readonly suggested = new Map<string, number>()

  constructor(
    private readonly instance: MQClientInstance,
    private readonly consumerGroup: string,
  ) {}

  /** One pull (`pullKernelImpl`); the raw result is post-processed by the caller with `processPullResult`. */
  async pullKernel(a: PullKernelArgs): Promise<RawPullResult> {
    const key = messageQueueKey(a.mq)
    const brokerId = this.suggested.get(key) ?? MixAll.MASTER_ID
    let found = this.instance.findBrokerAddressInSubscribe(a.mq.brokerName, brokerId, false)
    if (found === undefined) {
      await this.instance.updateTopicRoute(a.mq.topic)
      found = this.instance.findBrokerAddressInSubscribe(a.mq.brokerName, brokerId, false)
    }
    if (found === undefined) {
      throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `The broker[${a.mq.brokerName}] not exist`)
    }
    let sysFlag = a.sysFlag
    // A slave must not store the group's offset.
    if (found.slave) sysFlag &= ~PullSysFlag.COMMIT_OFFSET
    const raw = await this.instance.api.pullMessage(
      found.addr,
      {
        consumerGroup: this.consumerGroup,
        topic: a.mq.topic,
        queueId: a.mq.queueId,
        queueOffset: a.offset,
        maxMsgNums: a.maxNums,
        sysFlag,
        commitOffset: a.commitOffset,
        suspendTimeoutMillis: a.brokerSuspendMaxTimeMillis,
        subscription: a.withSubscription ? a.sub.subString : undefined,
        subVersion: a.sub.subVersion,
        expressionType: a.sub.expressionType,
        maxMsgBytes: a.maxSizeInBytes,
        brokerName: a.mq.brokerName,
      },
      a.timeoutMillis,
      a.lite,
    )
    this.suggested.set(key, raw.suggestWhichBrokerId)
    return raw
  }
}
