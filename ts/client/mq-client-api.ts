/**
 * The client's requests (`MQClientAPIImpl`): the topic route from the name servers, sends (client.md §3.9),
 * and the consumer's requests to brokers (pulls, offsets, heartbeats, send-back, queue locks; §4–§6).
 */
import { BrokerResponseError, RemotingError } from '../common/errors.js'
import { parseJson, stringifyJson } from '../common/fastjson.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode, responseCodeInfo } from '../common/response-code.js'
import type { HeartbeatData, SubscriptionData } from '../remoting/protocol/heartbeat.js'
import { messageQueueFromJson, messageQueueJson, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { decodeTopicRouteData, type TopicRouteData } from '../remoting/protocol/route.js'
import {
  encodeSendMessageRequestHeader,
  type SendMessageRequestHeader,
} from '../remoting/protocol/send-message-header.js'
import type { RemotingClient } from '../remoting/remoting-client.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import { MQClientError } from './client-error.js'

/** V2 letter of `brokerName` (`SendMessageRequestHeaderV2#n`). */
const BROKER_NAME_V2_KEY = 'n'

export interface SendRequest {
  header: SendMessageRequestHeader
  brokerName: string
  body: Buffer
}

/** A `SEND_MESSAGE_V2` (or `SEND_BATCH_MESSAGE`) request. */
export function buildSendRequest(req: SendRequest): RemotingCommand {
  const ext = encodeSendMessageRequestHeader(req.header, true)
  ext[BROKER_NAME_V2_KEY] = req.brokerName
  const code = req.header.batch ? RequestCode.SEND_BATCH_MESSAGE : RequestCode.SEND_MESSAGE_V2
  return RemotingCommand.createRequest(code, ext, req.body)
}

/** A non-success response as a `BrokerResponseError` (code and remark kept); the response itself otherwise. */
export function checkResponse(response: RemotingCommand, allowed: readonly number[] = []): RemotingCommand {
  if (response.code === ResponseCode.SUCCESS || allowed.includes(response.code)) return response
  throw new BrokerResponseError(response.code, response.remark, responseCodeInfo(response.code).retriable)
}

function longExt(response: RemotingCommand, name: string): number {
  const v = Number(response.ext(name) ?? '')
  if (!Number.isSafeInteger(v)) {
    throw new BrokerResponseError(response.code, `malformed response: ${name}=${response.ext(name)}`, false)
  }
  return v
}

/** `EndTransactionRequestHeader` (protocol.md §2.4.4). */
export interface EndTransactionRequestHeader {
  topic?: string
  producerGroup: string
  tranStateTableOffset: number
  commitLogOffset: number
  /** 8 commit, 12 rollback, 0 unknown. */
  commitOrRollback: number
  fromTransactionCheck: boolean
  msgId: string
  transactionId: string | undefined
}

/** The pull statuses of `PullStatus` (client.md §4.5). */
export const PullStatus = {
  FOUND: 'FOUND',
  NO_NEW_MSG: 'NO_NEW_MSG',
  NO_MATCHED_MSG: 'NO_MATCHED_MSG',
  OFFSET_ILLEGAL: 'OFFSET_ILLEGAL',
} as const
export type PullStatus = (typeof PullStatus)[keyof typeof PullStatus]

const PULL_STATUS_BY_CODE = new Map<number, PullStatus>([
  [ResponseCode.SUCCESS, PullStatus.FOUND],
  [ResponseCode.PULL_NOT_FOUND, PullStatus.NO_NEW_MSG],
  [ResponseCode.PULL_RETRY_IMMEDIATELY, PullStatus.NO_MATCHED_MSG],
  [ResponseCode.PULL_OFFSET_MOVED, PullStatus.OFFSET_ILLEGAL],
])

/** `PullMessageRequestHeader` (client.md §6.5). */
export interface PullMessageRequestHeader {
  consumerGroup: string
  topic: string
  queueId: number
  queueOffset: number
  maxMsgNums: number
  sysFlag: number
  commitOffset: number
  suspendTimeoutMillis: number
  /** Sent only with the subscription flag. */
  subscription?: string
  subVersion: number
  expressionType: string
  maxMsgBytes?: number
  brokerName: string
}

/** A pull's answer before its body is decoded (`PullResultExt`). */
export interface RawPullResult {
  status: PullStatus
  nextBeginOffset: number
  minOffset: number
  maxOffset: number
  suggestWhichBrokerId: number
  /** Concatenated commit-log records (FOUND only). */
  body: Buffer | null
}

/** The answer to a pull; any code other than the four pull statuses → `BrokerResponseError`. */
export function processPullResponse(response: RemotingCommand): RawPullResult {
  const status = PULL_STATUS_BY_CODE.get(response.code)
  if (status === undefined) checkResponse(response)
  return {
    status: status!,
    nextBeginOffset: longExt(response, 'nextBeginOffset'),
    minOffset: longExt(response, 'minOffset'),
    maxOffset: longExt(response, 'maxOffset'),
    suggestWhichBrokerId: Number(response.ext('suggestWhichBrokerId') ?? 0) || 0,
    body: response.body,
  }
}

export function buildPullRequest(h: PullMessageRequestHeader, lite: boolean): RemotingCommand {
  const ext: Record<string, string> = {
    consumerGroup: h.consumerGroup,
    topic: h.topic,
    queueId: String(h.queueId),
    queueOffset: String(h.queueOffset),
    maxMsgNums: String(h.maxMsgNums),
    sysFlag: String(h.sysFlag),
    commitOffset: String(h.commitOffset),
    suspendTimeoutMillis: String(h.suspendTimeoutMillis),
    subVersion: String(h.subVersion),
    expressionType: h.expressionType,
    brokerName: h.brokerName,
  }
  if (h.subscription !== undefined) ext.subscription = h.subscription
  if (h.maxMsgBytes !== undefined) ext.maxMsgBytes = String(h.maxMsgBytes)
  return RemotingCommand.createRequest(lite ? RequestCode.LITE_PULL_MESSAGE : RequestCode.PULL_MESSAGE, ext)
}

/** `CONSUMER_SEND_MSG_BACK` header fields (client.md §4.9). */
export interface ConsumerSendMsgBackHeader {
  offset: number
  group: string
  delayLevel: number
  originMsgId: string
  originTopic: string
  maxReconsumeTimes: number
  brokerName: string
}

export class MQClientAPI {
  /** The name server that answered last; the next lookup starts there. */
  private namesrvIndex = 0

  constructor(
    private readonly remoting: RemotingClient,
    private readonly namesrvAddrs: readonly string[],
  ) {}

  /**
   * GET_ROUTEINFO_BY_TOPIC, trying each name server in turn until one answers. `null` when the topic has no
   * route (TOPIC_NOT_EXIST); an error when no name server answered or one answered with another code.
   */
  async getTopicRouteInfoFromNameServer(topic: string, timeoutMs: number): Promise<TopicRouteData | null> {
    let lastError: unknown
    for (let i = 0; i < this.namesrvAddrs.length; i++) {
      const idx = (this.namesrvIndex + i) % this.namesrvAddrs.length
      const addr = this.namesrvAddrs[idx]!
      let response: RemotingCommand
      try {
        const request = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })
        response = await this.remoting.invoke(addr, request, timeoutMs)
      } catch (err) {
        if (!(err instanceof RemotingError)) throw err
        lastError = err // this name server is unreachable: try the next one
        continue
      }
      this.namesrvIndex = idx
      if (response.code === ResponseCode.TOPIC_NOT_EXIST) return null
      if (response.code !== ResponseCode.SUCCESS) {
        throw new MQClientError(
          'RMQ_ERR_ROUTE',
          `name server ${addr} answered ${response.code} for the route of ${topic}: ${response.remark ?? ''}`,
          {
            responseCode: response.code,
          },
        )
      }
      return decodeTopicRouteData(response.body)
    }
    throw new MQClientError(
      'RMQ_ERR_ROUTE',
      `no name server answered for the route of ${topic} (${this.namesrvAddrs.join(';')})`,
      {
        cause: lastError,
      },
    )
  }

  /** Sends and waits for the response. */
  send(addr: string, req: SendRequest, timeoutMs: number): Promise<RemotingCommand> {
    return this.remoting.invoke(addr, buildSendRequest(req), timeoutMs)
  }

  /** Sends without waiting for a response. */
  sendOneway(addr: string, req: SendRequest, timeoutMs: number): Promise<void> {
    return this.remoting.invokeOneway(addr, buildSendRequest(req).markOneway(), timeoutMs)
  }

  /** END_TRANSACTION, oneway (`endTransactionOneway`, client.md §3.13); `remark` carries a local failure. */
  endTransactionOneway(
    addr: string,
    header: EndTransactionRequestHeader,
    remark: string | null,
    timeoutMs: number,
  ): Promise<void> {
    const ext: Record<string, string> = {
      producerGroup: header.producerGroup,
      tranStateTableOffset: String(header.tranStateTableOffset),
      commitLogOffset: String(header.commitLogOffset),
      commitOrRollback: String(header.commitOrRollback),
      fromTransactionCheck: String(header.fromTransactionCheck),
      msgId: header.msgId,
    }
    if (header.topic !== undefined) ext.topic = header.topic
    if (header.transactionId !== undefined) ext.transactionId = header.transactionId
    const request = RemotingCommand.createRequest(RequestCode.END_TRANSACTION, ext)
    request.remark = remark
    return this.remoting.invokeOneway(addr, request.markOneway(), timeoutMs)
  }

  // ----- consumers (client.md §4, §5, §6) ---------------------------------------------------------------------

  /** PULL_MESSAGE (or LITE_PULL_MESSAGE); resolves with the raw result, rejects on transport or broker errors. */
  async pullMessage(
    addr: string,
    header: PullMessageRequestHeader,
    timeoutMs: number,
    lite = false,
  ): Promise<RawPullResult> {
    return processPullResponse(await this.remoting.invoke(addr, buildPullRequest(header, lite), timeoutMs))
  }

  /** QUERY_CONSUMER_OFFSET: the group's stored offset, `null` when the broker has none (QUERY_NOT_FOUND). */
  async queryConsumerOffset(addr: string, group: string, mq: MessageQueue, timeoutMs: number): Promise<number | null> {
    const request = RemotingCommand.createRequest(RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: group,
      topic: mq.topic,
      queueId: String(mq.queueId),
      brokerName: mq.brokerName,
    })
    const response = checkResponse(await this.remoting.invoke(addr, request, timeoutMs), [ResponseCode.QUERY_NOT_FOUND])
    return response.code === ResponseCode.QUERY_NOT_FOUND ? null : longExt(response, 'offset')
  }

  /** UPDATE_CONSUMER_OFFSET, oneway. */
  updateConsumerOffsetOneway(
    addr: string,
    group: string,
    mq: MessageQueue,
    offset: number,
    timeoutMs: number,
  ): Promise<void> {
    const request = RemotingCommand.createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: group,
      topic: mq.topic,
      queueId: String(mq.queueId),
      commitOffset: String(offset),
      brokerName: mq.brokerName,
    })
    return this.remoting.invokeOneway(addr, request.markOneway(), timeoutMs)
  }

  /** GET_CONSUMER_LIST_BY_GROUP: the client ids of the group's consumers connected to that broker. */
  async getConsumerIdListByGroup(addr: string, group: string, timeoutMs: number): Promise<string[]> {
    const request = RemotingCommand.createRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: group })
    const response = checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
    const body = response.body === null ? {} : (parseJson(response.body.toString('utf8')) as Record<string, unknown>)
    const ids = body?.consumerIdList
    return Array.isArray(ids) ? ids.filter((s): s is string => typeof s === 'string') : []
  }

  /** GET_MAX_OFFSET / GET_MIN_OFFSET: a queue's logical offset bounds. */
  async getQueueOffset(addr: string, mq: MessageQueue, which: 'max' | 'min', timeoutMs: number): Promise<number> {
    const code = which === 'max' ? RequestCode.GET_MAX_OFFSET : RequestCode.GET_MIN_OFFSET
    const request = RemotingCommand.createRequest(code, {
      topic: mq.topic,
      queueId: String(mq.queueId),
      brokerName: mq.brokerName,
    })
    return longExt(checkResponse(await this.remoting.invoke(addr, request, timeoutMs)), 'offset')
  }

  /** SEARCH_OFFSET_BY_TIMESTAMP: the first offset stored at or after `timestamp` (ms). */
  async searchOffset(addr: string, mq: MessageQueue, timestamp: number, timeoutMs: number): Promise<number> {
    const request = RemotingCommand.createRequest(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, {
      topic: mq.topic,
      queueId: String(mq.queueId),
      timestamp: String(timestamp),
      brokerName: mq.brokerName,
    })
    return longExt(checkResponse(await this.remoting.invoke(addr, request, timeoutMs)), 'offset')
  }

  /** HEART_BEAT with the runtime's producer and consumer groups. */
  async sendHeartbeat(addr: string, data: HeartbeatData, timeoutMs: number): Promise<void> {
    const request = RemotingCommand.createRequest(RequestCode.HEART_BEAT, {}, Buffer.from(stringifyJson(data)))
    checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
  }

  /** UNREGISTER_CLIENT for one producer or consumer group. */
  async unregisterClient(
    addr: string,
    clientId: string,
    groups: { producerGroup?: string; consumerGroup?: string },
    timeoutMs: number,
  ): Promise<void> {
    const ext: Record<string, string> = { clientID: clientId }
    if (groups.producerGroup !== undefined) ext.producerGroup = groups.producerGroup
    if (groups.consumerGroup !== undefined) ext.consumerGroup = groups.consumerGroup
    const request = RemotingCommand.createRequest(RequestCode.UNREGISTER_CLIENT, ext)
    checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
  }

  /** CONSUMER_SEND_MSG_BACK: the broker re-stores a failed message in the retry topic or the DLQ. */
  async consumerSendMessageBack(addr: string, h: ConsumerSendMsgBackHeader, timeoutMs: number): Promise<void> {
    const request = RemotingCommand.createRequest(RequestCode.CONSUMER_SEND_MSG_BACK, {
      offset: String(h.offset),
      group: h.group,
      delayLevel: String(h.delayLevel),
      originMsgId: h.originMsgId,
      originTopic: h.originTopic,
      unitMode: 'false',
      maxReconsumeTimes: String(h.maxReconsumeTimes),
      brokerName: h.brokerName,
    })
    checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
  }

  /** LOCK_BATCH_MQ: the queues now locked by this client. */
  async lockBatchMQ(
    addr: string,
    body: { consumerGroup: string; clientId: string; mqSet: readonly MessageQueue[] },
    timeoutMs: number,
  ): Promise<MessageQueue[]> {
    const request = RemotingCommand.createRequest(RequestCode.LOCK_BATCH_MQ, {}, lockBody(body))
    const response = checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
    const parsed = response.body === null ? {} : (parseJson(response.body.toString('utf8')) as Record<string, unknown>)
    const set = parsed?.lockOKMQSet
    return Array.isArray(set) ? set.map((v, i) => messageQueueFromJson(v, `lockOKMQSet[${i}]`)) : []
  }

  /** UNLOCK_BATCH_MQ, oneway or waiting for the answer. */
  async unlockBatchMQ(
    addr: string,
    body: { consumerGroup: string; clientId: string; mqSet: readonly MessageQueue[] },
    timeoutMs: number,
    oneway: boolean,
  ): Promise<void> {
    const request = RemotingCommand.createRequest(RequestCode.UNLOCK_BATCH_MQ, {}, lockBody(body))
    if (oneway) return this.remoting.invokeOneway(addr, request.markOneway(), timeoutMs)
    checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
  }

  /** CHECK_CLIENT_CONFIG: whether the broker accepts a (non-TAG) subscription expression. */
  async checkClientConfig(
    addr: string,
    clientId: string,
    group: string,
    subscription: SubscriptionData,
    timeoutMs: number,
  ): Promise<void> {
    const body = Buffer.from(stringifyJson({ clientId, group, subscriptionData: subscription }))
    const request = RemotingCommand.createRequest(RequestCode.CHECK_CLIENT_CONFIG, {}, body)
    checkResponse(await this.remoting.invoke(addr, request, timeoutMs))
  }
}

function lockBody(body: { consumerGroup: string; clientId: string; mqSet: readonly MessageQueue[] }): Buffer {
  return Buffer.from(
    stringifyJson({
      clientId: body.clientId,
      consumerGroup: body.consumerGroup,
      mqSet: body.mqSet.map(messageQueueJson),
    }),
  )
}
