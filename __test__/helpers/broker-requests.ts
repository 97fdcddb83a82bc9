/**
 * Raw remoting requests as a RocketMQ client sends them, for integration tests that check the broker's answers
 * code by code (the SDK of issue 4 sits above this level).
 */
import { messageProperties2String } from '../../ts/common/message/message-properties.js'
import { createTopicRequest } from '../../ts/client/admin-api.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { encodeSendMessageRequestHeader } from '../../ts/remoting/protocol/send-message-header.js'
import type { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType, type ExtFields } from '../../ts/remoting/remoting-command.js'

export const TIMEOUT_MS = 5000

export interface SendOptions {
  topic: string
  body?: Buffer
  properties?: Record<string, string>
  queueId?: number
  producerGroup?: string
  sysFlag?: number
  reconsumeTimes?: number
  maxReconsumeTimes?: number
  code?: number
  serializeType?: SerializeType
  batch?: boolean
}

export function sendRequest(o: SendOptions): RemotingCommand {
  const code = o.code ?? RequestCode.SEND_MESSAGE_V2
  const ext = encodeSendMessageRequestHeader(
    {
      producerGroup: o.producerGroup ?? 'PG',
      topic: o.topic,
      defaultTopic: 'TBW102',
      defaultTopicQueueNums: 4,
      queueId: o.queueId ?? 0,
      sysFlag: o.sysFlag ?? 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: o.properties ? messageProperties2String(o.properties) : undefined,
      reconsumeTimes: o.reconsumeTimes,
      unitMode: false,
      maxReconsumeTimes: o.maxReconsumeTimes,
      batch: o.batch ?? false,
    },
    code !== RequestCode.SEND_MESSAGE,
  )
  const req = RemotingCommand.createRequest(code, ext, o.body ?? Buffer.from('hello'))
  req.serializeType = o.serializeType ?? SerializeType.JSON
  return req
}

export function send(client: RemotingClient, addr: string, o: SendOptions): Promise<RemotingCommand> {
  return client.invoke(addr, sendRequest(o), TIMEOUT_MS)
}

export interface PullOptions {
  group: string
  topic: string
  queueId?: number
  offset: number
  maxMsgNums?: number
  subscription?: string
  sysFlag?: number
  suspendTimeoutMillis?: number
  commitOffset?: number
}

export function pull(
  client: RemotingClient,
  addr: string,
  o: PullOptions,
  timeoutMs = TIMEOUT_MS,
): Promise<RemotingCommand> {
  const ext: ExtFields = {
    consumerGroup: o.group,
    topic: o.topic,
    queueId: String(o.queueId ?? 0),
    queueOffset: String(o.offset),
    maxMsgNums: String(o.maxMsgNums ?? 32),
    sysFlag: String(o.sysFlag ?? 0x4),
    commitOffset: String(o.commitOffset ?? 0),
    suspendTimeoutMillis: String(o.suspendTimeoutMillis ?? 0),
    subscription: o.subscription ?? '*',
    subVersion: '0',
    expressionType: 'TAG',
  }
  return client.invoke(addr, RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, ext), timeoutMs)
}

export function request(
  client: RemotingClient,
  addr: string,
  code: number,
  ext: Record<string, string | number | boolean> = {},
  body?: Buffer | object,
): Promise<RemotingCommand> {
  const fields: ExtFields = {}
  for (const [k, v] of Object.entries(ext)) fields[k] = String(v)
  const b = body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body))
  return client.invoke(addr, RemotingCommand.createRequest(code, fields, b), TIMEOUT_MS)
}

/** UPDATE_AND_CREATE_TOPIC with `queueNums` read and write queues, perm read|write, single tag. */
export function createTopic(
  client: RemotingClient,
  addr: string,
  topic: string,
  queueNums = 4,
): Promise<RemotingCommand> {
  return client.invoke(
    addr,
    createTopicRequest(newTopicConfig(topic, { readQueueNums: queueNums, writeQueueNums: queueNums })),
    TIMEOUT_MS,
  )
}

export function heartbeat(
  client: RemotingClient,
  addr: string,
  clientID: string,
  groups: { group: string; topics: Record<string, string> }[],
  producerGroups: string[] = [],
): Promise<RemotingCommand> {
  return request(
    client,
    addr,
    RequestCode.HEART_BEAT,
    {},
    {
      clientID,
      producerDataSet: producerGroups.map((groupName) => ({ groupName })),
      consumerDataSet: groups.map((g) => ({
        groupName: g.group,
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
        unitMode: false,
        subscriptionDataSet: Object.entries(g.topics).map(([topic, subString]) => ({
          topic,
          subString,
          classFilterMode: false,
          tagsSet: subString === '*' ? [] : subString.split('||').map((s) => s.trim()),
          codeSet: [],
          subVersion: Date.now(),
        })),
      })),
    },
  )
}
