/**
 * Admin requests a broker relays to a consumer (`ClientRemotingProcessor`: `getConsumerRunningInfo`,
 * `consumeMessageDirectly`, `getConsumeStatus`; protocol.md §2.8): what `mqadmin consumerStatus`,
 * `consumeMessage` and `getConsumerStatus` show. The runtime registers these; a group not hosted here answers
 * SYSTEM_ERROR "The Consumer Group <g> not exist in this consumer", as Java does.
 */
import type { Logger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { decodeMessage } from '../common/message/message-record.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { RemotingClient } from '../remoting/remoting-client.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import {
  encodeConsumeMessageDirectlyResult,
  encodeConsumerRunningInfo,
  encodeConsumerStatusBody,
  type ConsumeMessageDirectlyResult,
  type ConsumerRunningInfo,
} from './consumer-running-info.js'
import type { ReceivedMessage } from './pull-api-wrapper.js'

/** What a consumer offers to these requests; each is optional (a lite pull consumer has only the offsets). */
export interface ConsumerAdminTarget {
  /** GET_CONSUMER_RUNNING_INFO, without the runtime's PROP_NAMESERVER_ADDR / PROP_CLIENT_VERSION. */
  consumerRunningInfo?(): Promise<ConsumerRunningInfo>
  /** CONSUME_MESSAGE_DIRECTLY: run the listener on `msg` outside the normal flow. */
  consumeMessageDirectly?(msg: ReceivedMessage, brokerName: string): Promise<ConsumeMessageDirectlyResult>
  /** GET_CONSUMER_STATUS_FROM_CLIENT: the in-memory offsets of `topic`'s queues. */
  consumerOffsets?(topic: string): { mq: MessageQueue; offset: number }[]
}

export interface ConsumerAdminHost {
  selectConsumer(group: string): ConsumerAdminTarget | undefined
  readonly namesrvAddrs: readonly string[]
  /** `MQVersion.getVersionDesc(CURRENT_VERSION)`. */
  readonly clientVersionDesc: string
  readonly log: Logger
}

function notHere(group: string): RemotingCommand {
  return RemotingCommand.createResponse(
    ResponseCode.SYSTEM_ERROR,
    `The Consumer Group <${group}> not exist in this consumer`,
  )
}

function ok(body: Buffer): RemotingCommand {
  const r = RemotingCommand.createResponse(ResponseCode.SUCCESS)
  r.body = body
  return r
}

/** The message of a CONSUME_MESSAGE_DIRECTLY body as a consumer sees it (`MessageDecoder.clientDecode`). */
export function decodeDirectMessage(body: Buffer | null, brokerName: string, log: Logger): ReceivedMessage | null {
  if (body === null) return null
  const m: MessageExt | null = decodeMessage(body, 0, {
    onDecompressError: (err, at) => log.warn({ ...at, err }, 'direct message body cannot be decompressed'),
  })
  if (m === null) return null
  const received = m as ReceivedMessage
  received.offsetMsgId = m.msgId
  received.msgId = m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) ?? m.msgId
  received.brokerName = brokerName
  received.tags = m.properties.get(MessageConst.PROPERTY_TAGS)
  return received
}

export async function getConsumerRunningInfo(
  host: ConsumerAdminHost,
  request: RemotingCommand,
): Promise<RemotingCommand> {
  const group = request.ext('consumerGroup') ?? ''
  const consumer = host.selectConsumer(group)
  if (consumer?.consumerRunningInfo === undefined) return notHere(group)
  const info = await consumer.consumerRunningInfo()
  info.properties.set('PROP_NAMESERVER_ADDR', host.namesrvAddrs.map((a) => `${a};`).join(''))
  info.properties.set('PROP_CLIENT_VERSION', host.clientVersionDesc)
  // jstackEnable is ignored: there are no threads to dump; the member stays absent.
  return ok(encodeConsumerRunningInfo(info))
}

export async function consumeMessageDirectly(
  host: ConsumerAdminHost,
  request: RemotingCommand,
): Promise<RemotingCommand> {
  const group = request.ext('consumerGroup') ?? ''
  const brokerName = request.ext('brokerName') ?? ''
  const consumer = host.selectConsumer(group)
  if (consumer?.consumeMessageDirectly === undefined) return notHere(group)
  const msg = decodeDirectMessage(request.body, brokerName, host.log)
  if (msg === null) {
    return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, 'the request carries no decodable message')
  }
  host.log.info({ group, msgId: msg.msgId, brokerName }, 'consumeMessageDirectly receive new message')
  const result = await consumer.consumeMessageDirectly(msg, brokerName)
  return ok(encodeConsumeMessageDirectlyResult(result))
}

/** Java answers SUCCESS with an empty table for a group it does not host. */
export function getConsumerStatus(host: ConsumerAdminHost, request: RemotingCommand): RemotingCommand {
  const group = request.ext('group') ?? ''
  const topic = request.ext('topic') ?? ''
  const offsets = host.selectConsumer(group)?.consumerOffsets?.(topic) ?? []
  return ok(encodeConsumerStatusBody(offsets))
}

/** Registers the three processors on the runtime's remoting client. */
export function registerConsumerAdminProcessors(remoting: RemotingClient, host: ConsumerAdminHost): void {
  remoting.registerProcessor(RequestCode.GET_CONSUMER_RUNNING_INFO, {
    processRequest: (_channel, request) => getConsumerRunningInfo(host, request),
  })
  remoting.registerProcessor(RequestCode.CONSUME_MESSAGE_DIRECTLY, {
    processRequest: (_channel, request) => consumeMessageDirectly(host, request),
  })
  remoting.registerProcessor(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, {
    processRequest: (_channel, request) => getConsumerStatus(host, request),
  })
}
