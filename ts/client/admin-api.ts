/**
 * The admin half of `MQClientAPIImpl` (protocol.md §2.3, §2.5, §2.6, §2.9): the requests built as the Java admin
 * tools build them, and readers for the answers. Bodies with `MessageQueue` keys come in fastjson's object-key form
 * (`{{"brokerName":…}:{…}}`, protocol.md §2.7); `parseJson` reads it, and each key is turned back into a queue.
 */
import { UNIQUE_MSG_QUERY_FLAG } from '../common/acl/session-credentials.js'
import { ProtocolError } from '../common/errors.js'
import { parseJsonObject } from '../common/fastjson.js'
import { MixAll } from '../common/mix-all.js'
import { RequestCode } from '../common/request-code.js'
import type { TopicConfig } from '../common/topic-config.js'
import { subscriptionDataFromJson, type SubscriptionData } from '../remoting/protocol/heartbeat.js'
import { messageQueueFromJson, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import { checkResponse } from './mq-client-api.js'

export { checkResponse }

/** `Long.MAX_VALUE` as the Java tools send it for "no upper bound" (`MQAdminImpl#queryMessageByUniqKey`). */
export const JAVA_LONG_MAX_TEXT = '9223372036854775807'

// ---------------------------------------------------------------------------------------------------------------
// Requests

/** UPDATE_AND_CREATE_TOPIC (`CreateTopicRequestHeader`); `defaultTopic` is required and ignored, as in Java. */
export function createTopicRequest(config: TopicConfig): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic: config.topicName,
    defaultTopic: MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC,
    readQueueNums: String(config.readQueueNums),
    writeQueueNums: String(config.writeQueueNums),
    perm: String(config.perm),
    topicFilterType: config.topicFilterType,
    topicSysFlag: String(config.topicSysFlag),
    order: String(config.order),
  })
}

export function deleteTopicInBrokerRequest(topic: string): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic })
}

/** DELETE_TOPIC_IN_NAMESRV; with `clusterName` only that cluster's queue data goes (4.9.x name servers). */
export function deleteTopicInNamesrvRequest(topic: string, clusterName?: string): RemotingCommand {
  const ext: Record<string, string> = { topic }
  if (clusterName !== undefined) ext.clusterName = clusterName
  return RemotingCommand.createRequest(RequestCode.DELETE_TOPIC_IN_NAMESRV, ext)
}

export function kvConfigRequest(
  code: typeof RequestCode.PUT_KV_CONFIG | typeof RequestCode.GET_KV_CONFIG | typeof RequestCode.DELETE_KV_CONFIG,
  namespace: string,
  key: string,
  value?: string,
): RemotingCommand {
  const ext: Record<string, string> = { namespace, key }
  if (value !== undefined) ext.value = value
  return RemotingCommand.createRequest(code, ext)
}

export function topicStatsRequest(topic: string): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.GET_TOPIC_STATS_INFO, { topic })
}

/** GET_CONSUME_STATS; without a topic the broker answers for every topic the group has offsets on. */
export function consumeStatsRequest(consumerGroup: string, topic?: string): RemotingCommand {
  const ext: Record<string, string> = { consumerGroup }
  if (topic !== undefined) ext.topic = topic
  return RemotingCommand.createRequest(RequestCode.GET_CONSUME_STATS, ext)
}

export function consumerConnectionListRequest(consumerGroup: string): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup })
}

export function viewMessageRequest(commitLogOffset: number): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.VIEW_MESSAGE_BY_ID, { offset: String(commitLogOffset) })
}

export interface QueryMessageRequest {
  topic: string
  key: string
  maxNum: number
  beginTimestampMs: number
  /** `undefined` for no upper bound (`Long.MAX_VALUE` on the wire). */
  endTimestampMs: number | undefined
  uniqueKey: boolean
}

/** QUERY_MESSAGE (`QueryMessageRequestHeader` plus the unique-key flag, which Java always sends). */
export function queryMessageRequest(q: QueryMessageRequest): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.QUERY_MESSAGE, {
    topic: q.topic,
    key: q.key,
    maxNum: String(q.maxNum),
    beginTimestamp: String(q.beginTimestampMs),
    endTimestamp: q.endTimestampMs === undefined ? JAVA_LONG_MAX_TEXT : String(q.endTimestampMs),
    [UNIQUE_MSG_QUERY_FLAG]: String(q.uniqueKey),
  })
}

/** GET_MAX_OFFSET or GET_MIN_OFFSET of one queue. */
export function queueOffsetRequest(
  code: typeof RequestCode.GET_MAX_OFFSET | typeof RequestCode.GET_MIN_OFFSET,
  mq: MessageQueue,
): RemotingCommand {
  return RemotingCommand.createRequest(code, { topic: mq.topic, queueId: String(mq.queueId) })
}

export function queryConsumerOffsetRequest(consumerGroup: string, mq: MessageQueue): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.QUERY_CONSUMER_OFFSET, {
    consumerGroup,
    topic: mq.topic,
    queueId: String(mq.queueId),
  })
}

/** QUERY_TOPIC_CONSUME_BY_WHO: the groups consuming a topic on that broker (online, or with offsets on it). */
export function queryTopicConsumeByWhoRequest(topic: string): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, { topic })
}

/**
 * INVOKE_BROKER_TO_RESET_OFFSET (`ResetOffsetRequestHeader`): the broker computes each queue's offset at
 * `timestamp` (-1: the max offset) and tells the group's online consumers to move there.
 */
export function resetOffsetRequest(topic: string, group: string, timestamp: number, isForce: boolean): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, {
    topic,
    group,
    timestamp: String(timestamp),
    isForce: String(isForce),
  })
}

/** SEARCH_OFFSET_BY_TIMESTAMP (`SearchOffsetRequestHeader`) of one queue. */
export function searchOffsetRequest(mq: MessageQueue, timestamp: number): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, {
    topic: mq.topic,
    queueId: String(mq.queueId),
    timestamp: String(timestamp),
  })
}

/** UPDATE_CONSUMER_OFFSET (`UpdateConsumerOffsetRequestHeader`), sent as a request with an answer (the admin tools do). */
export function updateConsumerOffsetRequest(consumerGroup: string, mq: MessageQueue, offset: number): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
    consumerGroup,
    topic: mq.topic,
    queueId: String(mq.queueId),
    commitOffset: String(offset),
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Answers

/** A non-success answer as `BrokerResponseError` with its code and remark; `allowed` codes pass through. */
function bad(what: string): ProtocolError {
  return new ProtocolError('RMQ_ERR_BODY', `malformed ${what}`)
}

/** A whole number in a header (`offset`, `indexLastUpdateTimestamp`); a ProtocolError when absent or not one. */
export function longHeader(response: RemotingCommand, name: string): number {
  const text = response.ext(name)
  const n = text === undefined ? NaN : Number(text)
  if (!Number.isSafeInteger(n)) throw bad(`response header ${name}=${JSON.stringify(text)}`)
  return n
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what)
  return v as Record<string, unknown>
}

function long(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(what)
  return v
}

/** A `MessageQueue` map key: the key object's JSON text (from either fastjson's object-key form or a string key). */
function queueFromKey(key: string, what: string): MessageQueue {
  let parsed: unknown
  try {
    parsed = JSON.parse(key)
  } catch (err) {
    throw new ProtocolError('RMQ_ERR_BODY', `malformed ${what} key ${JSON.stringify(key.slice(0, 80))}`, {
      cause: err,
    })
  }
  return messageQueueFromJson(parsed, `${what} key`)
}

/** The entries of an `offsetTable` (`{MessageQueue: value}`), queue decoded; absent or null → none. */
function offsetTableEntries(o: Record<string, unknown>, what: string): [MessageQueue, Record<string, unknown>][] {
  if (o.offsetTable === undefined || o.offsetTable === null) return []
  const table = obj(o.offsetTable, `${what}.offsetTable`)
  return Object.entries(table).map(([key, value]) => [queueFromKey(key, what), obj(value, `${what} entry`)])
}

/** One queue of `TopicStatsTable` (`TopicOffset`). */
export interface TopicQueueStats {
  topic: string
  brokerName: string
  queueId: number
  minOffset: number
  /** The next offset to be written. */
  maxOffset: number
  /** Store time of the last message (`maxOffset − 1`), 0 when the queue is empty. */
  lastUpdateTimestamp: number
}

/** GET_TOPIC_STATS_INFO body: `{"offsetTable":{MessageQueue:{"lastUpdateTimestamp","maxOffset","minOffset"}}}`. */
export function decodeTopicStatsTable(body: Buffer | null): TopicQueueStats[] {
  const o = parseJsonObject(body, 'TopicStatsTable')
  return offsetTableEntries(o, 'TopicStatsTable').map(([mq, v]) => ({
    ...mq,
    minOffset: long(v.minOffset, 'TopicOffset.minOffset'),
    maxOffset: long(v.maxOffset, 'TopicOffset.maxOffset'),
    lastUpdateTimestamp: long(v.lastUpdateTimestamp ?? 0, 'TopicOffset.lastUpdateTimestamp'),
  }))
}

/** One queue of `ConsumeStats` (`OffsetWrapper`). */
export interface QueueConsumeStats {
  topic: string
  brokerName: string
  queueId: number
  /** The queue's max offset. */
  brokerOffset: number
  /** The group's committed offset (0 when it has none). */
  consumerOffset: number
  /** Store time of the last consumed message (`consumerOffset − 1`), 0 when none. */
  lastTimestamp: number
}

export interface ConsumeStatsBody {
  /** Messages per second the group pulls (summed over its topics), as the broker measures it. */
  consumeTps: number
  queues: QueueConsumeStats[]
}

/** GET_CONSUME_STATS body: `{"consumeTps":d,"offsetTable":{MessageQueue:{"brokerOffset","consumerOffset","lastTimestamp"}}}`. */
export function decodeConsumeStats(body: Buffer | null): ConsumeStatsBody {
  const o = parseJsonObject(body, 'ConsumeStats')
  const tps = o.consumeTps ?? 0
  if (typeof tps !== 'number' || !Number.isFinite(tps)) throw bad('ConsumeStats.consumeTps')
  const queues = offsetTableEntries(o, 'ConsumeStats').map(([mq, v]) => ({
    ...mq,
    brokerOffset: long(v.brokerOffset, 'OffsetWrapper.brokerOffset'),
    consumerOffset: long(v.consumerOffset, 'OffsetWrapper.consumerOffset'),
    lastTimestamp: long(v.lastTimestamp ?? 0, 'OffsetWrapper.lastTimestamp'),
  }))
  return { consumeTps: tps, queues }
}

/** INVOKE_BROKER_TO_RESET_OFFSET body (`ResetOffsetBody`): `{"offsetTable":{MessageQueue:offset}}`. */
export function decodeResetOffsetBody(body: Buffer | null): { mq: MessageQueue; offset: number }[] {
  if (body === null || body.length === 0) return []
  const o = parseJsonObject(body, 'ResetOffsetBody')
  if (o.offsetTable === undefined || o.offsetTable === null) return []
  const table = obj(o.offsetTable, 'ResetOffsetBody.offsetTable')
  return Object.entries(table).map(([key, value]) => ({
    mq: queueFromKey(key, 'ResetOffsetBody'),
    offset: long(value, 'ResetOffsetBody offset'),
  }))
}

/** QUERY_TOPIC_CONSUME_BY_WHO body (`GroupList`): `{"groupList":[…]}`. */
export function decodeGroupList(body: Buffer | null): string[] {
  const o = parseJsonObject(body, 'GroupList')
  const list = o.groupList ?? []
  if (!Array.isArray(list) || !list.every((g): g is string => typeof g === 'string')) throw bad('GroupList.groupList')
  return list
}

/** One client connection of a group (`Connection`). */
export interface Connection {
  clientId: string
  /** `ip:port` the broker sees. */
  clientAddr: string
  /** `JAVA`, `NODE_JS`, `GO`, … */
  language: string
  /** The client's version ordinal (409 = V4_9_8). */
  version: number
}

/** The answer to GET_CONSUMER_CONNECTION_LIST (`ConsumerConnection`). */
export interface ConsumerConnection {
  connections: Connection[]
  consumeType: string | null
  messageModel: string | null
  consumeFromWhere: string | null
  /** Topic → subscription, sorted by topic. */
  subscriptions: SubscriptionData[]
}

function optString(v: unknown): string | null {
  return typeof v === 'string' ? v : null
}

export function decodeConsumerConnection(body: Buffer | null): ConsumerConnection {
  const o = parseJsonObject(body, 'ConsumerConnection')
  const set = o.connectionSet ?? []
  if (!Array.isArray(set)) throw bad('ConsumerConnection.connectionSet')
  const connections = set.map((c, i) => {
    const r = obj(c, `ConsumerConnection.connectionSet[${i}]`)
    if (typeof r.clientId !== 'string') throw bad(`ConsumerConnection.connectionSet[${i}].clientId`)
    return {
      clientId: r.clientId,
      clientAddr: typeof r.clientAddr === 'string' ? r.clientAddr : '',
      language: typeof r.language === 'string' ? r.language : '',
      version: typeof r.version === 'number' ? r.version : 0,
    }
  })
  const table = o.subscriptionTable === undefined || o.subscriptionTable === null ? {} : o.subscriptionTable
  const subscriptions = Object.entries(obj(table, 'ConsumerConnection.subscriptionTable'))
    .map(([topic, s]) => subscriptionDataFromJson(s, `ConsumerConnection.subscriptionTable[${topic}]`))
    .sort((a, b) => compareText(a.topic, b.topic))
  return {
    connections,
    consumeType: optString(o.consumeType),
    messageModel: optString(o.messageModel),
    consumeFromWhere: optString(o.consumeFromWhere),
    subscriptions,
  }
}

/** Code-unit order, the order Java's `String#compareTo` gives (not the locale's). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Queues in `MessageQueue#compareTo` order: topic, broker name, queue id. */
export function compareQueues(a: MessageQueue, b: MessageQueue): number {
  return compareText(a.topic, b.topic) || compareText(a.brokerName, b.brokerName) || a.queueId - b.queueId
}
