/**
 * `SEND_MESSAGE`, `SEND_MESSAGE_V2`, `SEND_BATCH_MESSAGE` and `CONSUMER_SEND_MSG_BACK` (`SendMessageProcessor`,
 * protocol.md §2.4, §2.5). Checks run in RocketMQ's order and the first failing one answers; put statuses map to
 * response codes as `handlePutMessageResult` maps them.
 */
import { PermName, isWriteable } from '../common/constant/perm-name.js'
import { MessageConst, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR } from '../common/message/message-const.js'
import {
  findProperty,
  messageProperties2String,
  takeProperty,
  withoutProperty,
} from '../common/message/message-properties.js'
import { decodeMessage, recordBornHost } from '../common/message/message-record.js'
import { MessageSysFlag } from '../common/message/message-sys-flag.js'
import { encodeHost } from '../common/message/socket-address.js'
import { MixAll, NOT_ALLOWED_SEND_TOPICS, getDLQTopic, getRetryTopic, isRetryTopic } from '../common/mix-all.js'
import { MQVersion } from '../common/mq-version.js'
import { validateTopic } from '../common/topic-validator.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import type { TopicConfig } from '../common/topic-config.js'
import { decodeBatchBody } from '../remoting/protocol/batch-message-codec.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import {
  decodeSendMessageRequestHeader,
  type SendMessageRequestHeader,
} from '../remoting/protocol/send-message-header.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand, type ExtFields } from '../remoting/remoting-command.js'
import type { ProcessResult, RequestProcessor } from '../remoting/request-dispatcher.js'
import type { MessageExtBrokerInner, PutMessageResult } from '../store/message-store.js'
import type { PutMessageStatus } from '../store/put-message-status.js'
import type { BrokerContext } from './broker-context.js'

const NO_BODY = Buffer.alloc(0)

/**
 * Lets go of a request's frame once the store has copied the message (`MessageStore#putMessage`). Bodies are
 * views into the socket's read chunks: held until the put completes, a chunk outlived a young-generation GC or
 * two and was promoted, and its 64 KiB then stayed until a full GC. At 300k batched messages/s that was a full
 * GC every 65 ms and an eighth of the broker's main thread.
 */
function releaseBody(request: RemotingCommand, msgs: readonly MessageExtBrokerInner[]): void {
  request.body = null
  for (const msg of msgs) msg.body = NO_BODY
}

/** DLQ topics have one queue (`DLQ_NUMS_PER_GROUP`). */
const DLQ_NUMS_PER_GROUP = 1
const BORN_HOST_ATTRIBUTE = 'bornHost'
const TRANSACTION_TYPE_MASK = 0xc

export class SendMessageProcessor implements RequestProcessor {
  private readonly clusterProperty: string

  constructor(private readonly ctx: BrokerContext) {
    this.clusterProperty = `${MessageConst.PROPERTY_CLUSTER}${NAME_VALUE_SEPARATOR}${ctx.brokerConfig.brokerClusterName}${PROPERTY_SEPARATOR}`
  }

  /** While the page cache is busy new sends are refused before they queue (`[REJECTREQUEST]`). */
  rejectRequest(): boolean {
    return this.ctx.store.isOSPageCacheBusy()
  }

  processRequest(channel: RemotingChannel, request: RemotingCommand): ProcessResult | Promise<ProcessResult> {
    if (request.code === RequestCode.CONSUMER_SEND_MSG_BACK) return this.consumerSendMsgBack(channel, request)
    const header = decodeSendMessageRequestHeader(request)
    const response = this.preSend(channel, header)
    if (response.code !== -1) return response
    return header.batch
      ? this.sendBatchMessage(channel, request, header, response)
      : this.sendMessage(channel, request, header, response)
  }

  /** A response carrying the region and trace switch (every send response does), or an early refusal. */
  private preSend(channel: RemotingChannel, header: SendMessageRequestHeader): RemotingCommand {
    const c = this.ctx.brokerConfig
    const response = RemotingCommand.createResponse(-1, null, {
      [MessageConst.PROPERTY_MSG_REGION]: c.regionId,
      [MessageConst.PROPERTY_TRACE_SWITCH]: String(c.traceOn),
    })
    if (c.brokerRole === 'SLAVE') {
      // Refused before the topic checks, which could auto-create a topic on the slave (the store refuses too).
      const [code, remark] = this.failure('SERVICE_NOT_AVAILABLE')
      return refuse(response, code, remark)
    }
    if (Date.now() < c.startAcceptSendRequestTimeStamp) {
      return refuse(
        response,
        ResponseCode.SYSTEM_ERROR,
        `broker unable to service, until ${new Date(c.startAcceptSendRequestTimeStamp).toISOString()}`,
      )
    }
    return this.msgCheck(channel, header, response)
  }

  /** `AbstractSendMessageProcessor#msgCheck` (protocol.md §2.4.1 rules 2–6). */
  private msgCheck(
    channel: RemotingChannel,
    header: SendMessageRequestHeader,
    response: RemotingCommand,
  ): RemotingCommand {
    const c = this.ctx.brokerConfig
    const topics = this.ctx.topicConfigManager
    if (!isWriteable(c.brokerPermission) && topics.isOrderTopic(header.topic)) {
      return refuse(response, ResponseCode.NO_PERMISSION, `the broker[${c.brokerIP1}] sending message is forbidden`)
    }
    const problem = validateTopic(header.topic)
    if (problem !== null) return refuse(response, ResponseCode.SYSTEM_ERROR, problem)
    if (NOT_ALLOWED_SEND_TOPICS.has(header.topic)) {
      return refuse(response, ResponseCode.NO_PERMISSION, `Sending message to topic[${header.topic}] is forbidden.`)
    }
    let tc = topics.selectTopicConfig(header.topic)
    if (tc === undefined) {
      const retry = isRetryTopic(header.topic)
      const topicSysFlag = header.unitMode ? (retry ? 2 : 1) : 0
      tc = topics.createTopicInSendMessageMethod(
        header.topic,
        header.defaultTopic,
        channel.remoteAddress,
        header.defaultTopicQueueNums,
        topicSysFlag,
      )
      if (tc === undefined && retry) {
        tc = topics.createTopicInSendMessageBackMethod(
          header.topic,
          1,
          PermName.PERM_READ | PermName.PERM_WRITE,
          topicSysFlag,
        )
      }
      if (tc === undefined) {
        return refuse(response, ResponseCode.TOPIC_NOT_EXIST, `topic[${header.topic}] not exist, apply first please!`)
      }
    }
    const idValid = Math.max(tc.writeQueueNums, tc.readQueueNums)
    if (header.queueId >= idValid) {
      return refuse(
        response,
        ResponseCode.SYSTEM_ERROR,
        `request queueId[${header.queueId}] is illegal, topic ${tc.topicName} has ${tc.writeQueueNums} write / ${tc.readQueueNums} read queues, Producer: ${channel.remoteAddress}`,
      )
    }
    return response
  }

  private sendMessage(
    channel: RemotingChannel,
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    response: RemotingCommand,
  ): RemotingCommand | Promise<RemotingCommand> {
    const tc = this.ctx.topicConfigManager.selectTopicConfig(header.topic)!
    const queueId = pickQueueId(tc, header.queueId)
    if (queueId < 0) return refuse(response, ResponseCode.SYSTEM_ERROR, `topic[${tc.topicName}] has no writable queue`)
    const body = request.body ?? Buffer.alloc(0)
    const props = this.storedProperties(header.properties)
    const msg: MessageExtBrokerInner = {
      topic: header.topic,
      queueId,
      flag: header.flag,
      body,
      propertiesString: props.propertiesString,
      bornTimestamp: header.bornTimestamp,
      bornHost: bornHostOf(channel),
      sysFlag: header.sysFlag,
      reconsumeTimes: header.reconsumeTimes ?? 0,
      preparedTransactionOffset: 0,
      waitStoreMsgOK: props.waitStoreMsgOK,
    }
    const dlq = this.handleRetryAndDLQ(header, request, msg, response)
    if (dlq !== null) return dlq
    if (this.topicFilterIsMultiTag(msg.topic, tc)) msg.sysFlag |= MessageSysFlag.MULTI_TAGS_FLAG
    if (isTransactionPrepared(header.properties) && !(msg.reconsumeTimes > 0 && hasDelay(msg.propertiesString))) {
      return this.sendHalfMessage(msg, response, queueId)
    }
    const put = this.ctx.putMessage(msg)
    releaseBody(request, [msg])
    return this.answerPut(put, response, msg.topic, queueId)
  }

  /**
   * A transactional half message (`TRAN_MSG=true`; not a retry with a delay, which old clients send with the flag
   * still set): stored in the half topic, never seen by consumers until committed (store.md §10.2). The answer
   * carries the half message's offset id and queue offset, and `transactionId` = `UNIQ_KEY` as 5.x brokers add it.
   */
  private async sendHalfMessage(
    msg: MessageExtBrokerInner,
    response: RemotingCommand,
    queueId: number,
  ): Promise<RemotingCommand> {
    const c = this.ctx.brokerConfig
    if (c.rejectTransactionMessage) {
      return refuse(
        response,
        ResponseCode.NO_PERMISSION,
        `the broker[${c.brokerIP1}] sending transaction message is forbidden`,
      )
    }
    const uniqKey = findProperty(msg.propertiesString, MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
    const result = await this.ctx.transactionalMessageService.prepareMessage(msg)
    this.handlePutMessageResult(result, response, msg.topic, queueId)
    if (uniqKey !== null && STORED_CODES[result.putMessageStatus] !== undefined) {
      ;(response.extFields as ExtFields).transactionId = uniqKey
    }
    return response
  }

  private sendBatchMessage(
    channel: RemotingChannel,
    request: RemotingCommand,
    header: SendMessageRequestHeader,
    response: RemotingCommand,
  ): RemotingCommand | Promise<RemotingCommand> {
    const tc = this.ctx.topicConfigManager.selectTopicConfig(header.topic)!
    const queueId = pickQueueId(tc, header.queueId)
    if (queueId < 0) return refuse(response, ResponseCode.SYSTEM_ERROR, `topic[${tc.topicName}] has no writable queue`)
    if (Buffer.byteLength(header.topic) > 127) {
      return refuse(response, ResponseCode.MESSAGE_ILLEGAL, `message topic length too long ${header.topic.length}`)
    }
    if (isRetryTopic(header.topic)) {
      return refuse(response, ResponseCode.MESSAGE_ILLEGAL, 'batch request does not support retry group')
    }
    const body = request.body ?? Buffer.alloc(0)
    if (body.length > this.ctx.maxMessageSize) {
      return refuse(
        response,
        ResponseCode.MESSAGE_ILLEGAL,
        `the batch body is ${body.length} bytes, over maxMessageSize ${this.ctx.maxMessageSize}`,
      )
    }
    const decoded = decodeBatchBody(body)
    if (typeof decoded === 'string') return refuse(response, ResponseCode.MESSAGE_ILLEGAL, decoded)
    // Batch-level properties (the Java client sends WAIT) follow each message's own, then CLUSTER (§5.2).
    const batchProps = (header.properties ?? '') + this.clusterProperty
    const waitStoreMsgOK = readWait(header.properties)
    let sysFlag = header.sysFlag
    if (this.topicFilterIsMultiTag(header.topic, tc)) sysFlag |= MessageSysFlag.MULTI_TAGS_FLAG
    const bornHost = bornHostOf(channel)
    const msgs: MessageExtBrokerInner[] = []
    for (const e of decoded) {
      const own = e.properties
      if (hasDelay(own))
        return refuse(response, ResponseCode.MESSAGE_ILLEGAL, 'a batch message may not carry a delay level')
      msgs.push({
        topic: header.topic,
        queueId,
        flag: e.flag,
        body: e.body,
        propertiesString:
          own.length === 0 || own.endsWith(PROPERTY_SEPARATOR)
            ? own + batchProps
            : own + PROPERTY_SEPARATOR + batchProps,
        bornTimestamp: header.bornTimestamp,
        bornHost,
        sysFlag,
        reconsumeTimes: header.reconsumeTimes ?? 0,
        preparedTransactionOffset: 0,
        waitStoreMsgOK,
      })
    }
    const put = this.ctx.putMessages(msgs)
    releaseBody(request, msgs)
    return this.answerPut(put, response, header.topic, queueId)
  }

  /** Answers once the put completes; holds nothing of the request's frame meanwhile (see `releaseBody`). */
  private answerPut(
    put: Promise<PutMessageResult>,
    response: RemotingCommand,
    topic: string,
    queueId: number,
  ): Promise<RemotingCommand> {
    return put.then((result) => this.handlePutMessageResult(result, response, topic, queueId))
  }

  private topicFilterIsMultiTag(topic: string, tc: TopicConfig): boolean {
    return (
      (topic === tc.topicName ? tc : this.ctx.topicConfigManager.selectTopicConfig(topic))?.topicFilterType ===
      'MULTI_TAG'
    )
  }

  /**
   * A send to `%RETRY%group` that has used up its reconsume times goes to `%DLQ%group` instead
   * (`handleRetryAndDLQ`, §2.4.1 rule 7). Returns a refusal, or null to go on.
   */
  private handleRetryAndDLQ(
    header: SendMessageRequestHeader,
    request: RemotingCommand,
    msg: MessageExtBrokerInner,
    response: RemotingCommand,
  ): RemotingCommand | null {
    if (!isRetryTopic(header.topic)) return null
    const group = header.topic.slice(MixAll.RETRY_GROUP_TOPIC_PREFIX.length)
    const config = this.ctx.subscriptionGroupManager.findSubscriptionGroupConfig(group)
    if (config === undefined)
      return refuse(response, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${group}`)
    let max = config.retryMaxTimes
    if (request.version >= MQVersion.V3_4_9 && header.maxReconsumeTimes !== undefined) max = header.maxReconsumeTimes
    if ((header.reconsumeTimes ?? 0) < max) return null
    const dlq = getDLQTopic(group)
    this.ctx.topicConfigManager.createTopicInSendMessageBackMethod(
      dlq,
      DLQ_NUMS_PER_GROUP,
      PermName.PERM_READ | PermName.PERM_WRITE,
      0,
    )
    msg.topic = dlq
    msg.queueId = 0
    msg.propertiesString = withoutProperty(msg.propertiesString, MessageConst.PROPERTY_DELAY_TIME_LEVEL)
    return null
  }

  /** Header properties as stored: `WAIT` dropped (it only steers the put), `CLUSTER` added (§2.4.1 rule 9). */
  private storedProperties(properties: string | undefined): { propertiesString: string; waitStoreMsgOK: boolean } {
    const wait = takeProperty(properties ?? '', MessageConst.PROPERTY_WAIT_STORE_MSG_OK)
    let p = takeProperty(wait.rest, MessageConst.PROPERTY_CLUSTER).rest
    if (p.length > 0 && !p.endsWith(PROPERTY_SEPARATOR)) p += PROPERTY_SEPARATOR
    // `WAIT` absent or anything but "false" means wait (`Message#isWaitStoreMsgOK`).
    return { propertiesString: p + this.clusterProperty, waitStoreMsgOK: wait.value !== 'false' }
  }

  /** Put status → response (`handlePutMessageResult`). */
  private handlePutMessageResult(
    result: PutMessageResult,
    response: RemotingCommand,
    topic: string,
    queueId: number,
  ): RemotingCommand {
    const code = STORED_CODES[result.putMessageStatus]
    const append = result.appendMessageResult
    if (code === undefined || append === null) {
      const [failCode, remark] = this.failure(result.putMessageStatus)
      return refuse(response, failCode, remark)
    }
    this.ctx.stats.incPut(topic, append.msgNum, append.wroteBytes)
    response.code = code
    response.remark = null
    const ext = response.extFields as ExtFields
    ext.msgId = append.msgId
    ext.queueId = String(queueId)
    ext.queueOffset = String(append.logicsOffset)
    return response
  }

  private failure(status: PutMessageStatus): [number, string] {
    switch (status) {
      case 'CREATE_MAPPED_FILE_FAILED':
        return [ResponseCode.SYSTEM_ERROR, 'create mapped file failed, server is busy or broken.']
      case 'MESSAGE_ILLEGAL':
      case 'PROPERTIES_SIZE_EXCEEDED':
        return [
          ResponseCode.MESSAGE_ILLEGAL,
          `the message is illegal, maybe msg body or properties length not matched. msg body length limit ${this.ctx.maxMessageSize}B, msg properties length limit 32KB.`,
        ]
      case 'SERVICE_NOT_AVAILABLE':
        return [
          ResponseCode.SERVICE_NOT_AVAILABLE,
          "service not available now. It may be caused by one of the following reasons: the broker's disk is full, messages are put to the slave, message store has been shut down, etc.",
        ]
      case 'OS_PAGE_CACHE_BUSY':
        return [ResponseCode.SYSTEM_ERROR, '[PC_SYNCHRONIZED]broker busy, start flow control for a while']
      case 'UNKNOWN_ERROR':
        return [ResponseCode.SYSTEM_ERROR, 'UNKNOWN_ERROR']
      default:
        return [ResponseCode.SYSTEM_ERROR, `UNKNOWN_ERROR DEFAULT (${status})`]
    }
  }

  /** `CONSUMER_SEND_MSG_BACK` (`asyncConsumerSendMsgBack`, protocol.md §2.5). */
  private async consumerSendMsgBack(channel: RemotingChannel, request: RemotingCommand): Promise<RemotingCommand> {
    const h = new HeaderReader(request)
    const offset = h.long('offset')
    const group = h.string('group')
    let delayLevel = h.int('delayLevel')
    const unitMode = h.optBool('unitMode') ?? false
    const maxReconsumeTimesHeader = h.optInt('maxReconsumeTimes')
    const ctx = this.ctx
    if (ctx.brokerConfig.brokerRole === 'SLAVE') return response(...this.failure('SERVICE_NOT_AVAILABLE'))
    const config = ctx.subscriptionGroupManager.findSubscriptionGroupConfig(group)
    if (config === undefined)
      return response(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, `subscription group not exist, ${group}`)
    if (!isWriteable(ctx.brokerConfig.brokerPermission)) {
      return response(
        ResponseCode.NO_PERMISSION,
        `the broker[${ctx.brokerConfig.brokerIP1}] sending message is forbidden`,
      )
    }
    if (config.retryQueueNums <= 0) return response(ResponseCode.SUCCESS, null)
    let topic = getRetryTopic(group)
    let queueId = randomInt(config.retryQueueNums)
    const retryTc = ctx.topicConfigManager.createTopicInSendMessageBackMethod(
      topic,
      config.retryQueueNums,
      PermName.PERM_READ | PermName.PERM_WRITE,
      unitMode ? 2 : 0,
    )
    if (!isWriteable(retryTc.perm))
      return response(ResponseCode.NO_PERMISSION, `the topic[${topic}] sending message is forbidden`)
    const record = await ctx.store.selectOneMessageByOffset(offset)
    const original = record ? decodeMessage(record, 0, { decompressBody: false }) : null
    if (record === null || original === null)
      return response(ResponseCode.SYSTEM_ERROR, `look message by offset failed, ${offset}`)
    const props = new Map(original.properties)
    if (!props.has(MessageConst.PROPERTY_RETRY_TOPIC)) props.set(MessageConst.PROPERTY_RETRY_TOPIC, original.topic)
    let max = config.retryMaxTimes
    if (request.version >= MQVersion.V3_4_9 && maxReconsumeTimesHeader !== undefined) max = maxReconsumeTimesHeader
    if (original.reconsumeTimes >= max || delayLevel < 0) {
      topic = getDLQTopic(group)
      queueId = 0
      ctx.topicConfigManager.createTopicInSendMessageBackMethod(
        topic,
        DLQ_NUMS_PER_GROUP,
        PermName.PERM_READ | PermName.PERM_WRITE,
        0,
      )
      props.delete(MessageConst.PROPERTY_DELAY_TIME_LEVEL)
    } else {
      if (delayLevel === 0) delayLevel = 3 + original.reconsumeTimes
      props.set(MessageConst.PROPERTY_DELAY_TIME_LEVEL, String(delayLevel))
    }
    if (!props.get(MessageConst.PROPERTY_ORIGIN_MESSAGE_ID))
      props.set(MessageConst.PROPERTY_ORIGIN_MESSAGE_ID, original.msgId)
    props.delete(MessageConst.PROPERTY_WAIT_STORE_MSG_OK)
    const result = await ctx.putMessage({
      topic,
      queueId,
      flag: original.flag,
      body: original.body,
      propertiesString: messageProperties2String(props),
      bornTimestamp: original.bornTimestamp,
      bornHost: recordBornHost(record),
      sysFlag: original.sysFlag & ~TRANSACTION_TYPE_MASK,
      reconsumeTimes: original.reconsumeTimes + 1,
      preparedTransactionOffset: 0,
      waitStoreMsgOK: false,
    })
    if (result.appendMessageResult !== null && STORED_CODES[result.putMessageStatus] !== undefined) {
      ctx.stats.sendBackMessages++
      ctx.logger.debug({ group, offset, topic, remote: channel.remoteAddress }, 'message sent back')
      return response(ResponseCode.SUCCESS, null)
    }
    return response(ResponseCode.SYSTEM_ERROR, result.putMessageStatus)
  }
}

/** Put statuses that mean "stored" and the code each answers with. */
const STORED_CODES: Partial<Record<PutMessageStatus, number>> = {
  PUT_OK: ResponseCode.SUCCESS,
  FLUSH_DISK_TIMEOUT: ResponseCode.FLUSH_DISK_TIMEOUT,
  FLUSH_SLAVE_TIMEOUT: ResponseCode.FLUSH_SLAVE_TIMEOUT,
  SLAVE_NOT_AVAILABLE: ResponseCode.SLAVE_NOT_AVAILABLE,
}

function refuse(response: RemotingCommand, code: number, remark: string): RemotingCommand {
  response.code = code
  response.remark = remark
  return response
}

function response(code: number, remark: string | null): RemotingCommand {
  return RemotingCommand.createResponse(code, remark)
}

function randomInt(bound: number): number {
  return Math.floor(Math.random() * bound)
}

/** The producer's address as records store it, encoded once per connection. */
function bornHostOf(channel: RemotingChannel): Buffer {
  let b = channel.attributes.get(BORN_HOST_ATTRIBUTE) as Buffer | undefined
  if (b === undefined) {
    try {
      b = encodeHost(channel.remoteHost, channel.remotePort)
    } catch {
      // A peer without an IP address (a test socket pair): store the unspecified IPv4 address.
      b = Buffer.alloc(8)
    }
    channel.attributes.set(BORN_HOST_ATTRIBUTE, b)
  }
  return b
}

/** `WAIT` absent or anything but "false" means wait (`Message#isWaitStoreMsgOK`). */
function readWait(properties: string | undefined): boolean {
  const v = properties ? findProperty(properties, MessageConst.PROPERTY_WAIT_STORE_MSG_OK) : null
  return v === null || v !== 'false'
}

function isTransactionPrepared(properties: string | undefined): boolean {
  const v = properties ? findProperty(properties, MessageConst.PROPERTY_TRANSACTION_PREPARED) : null
  return v !== null && v.toLowerCase() === 'true'
}

function hasDelay(properties: string): boolean {
  const v = findProperty(properties, MessageConst.PROPERTY_DELAY_TIME_LEVEL)
  return v !== null && Number(v) > 0
}

/** The requested queue, or a random writable one when the producer asked for none (a negative id); −1 if none. */
function pickQueueId(tc: TopicConfig, requested: number): number {
  if (requested >= 0) return requested
  return tc.writeQueueNums > 0 ? randomInt(tc.writeQueueNums) : -1
}
