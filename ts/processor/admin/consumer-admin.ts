/**
 * Admin requests the broker relays to one consumer's connection (`AdminBrokerProcessor#getConsumerRunningInfo`,
 * `#consumeMessageDirectly`, `#callConsumer`; protocol.md §2.6, §2.8): the admin's ext fields go to the client as a
 * sync request (10 s, `Broker2Client#callClient`) and the client's response comes back unchanged.
 */
import { decodeMessageId } from '../../common/message/message-id.js'
import { MQVersion, versionDesc } from '../../common/mq-version.js'
import { RemotingError } from '../../common/errors.js'
import { RequestCode } from '../../common/request-code.js'
import { ResponseCode } from '../../common/response-code.js'
import { HeaderReader } from '../../remoting/protocol/header-reader.js'
import { RemotingCommand } from '../../remoting/remoting-command.js'
import type { BrokerContext } from '../broker-context.js'
import { fail } from './admin-response.js'

/** `Broker2Client#callClient` timeout. */
export const CALL_CLIENT_TIMEOUT_MS = 10_000

async function callConsumer(
  ctx: BrokerContext,
  code: number,
  request: RemotingCommand,
  group: string,
  clientId: string,
): Promise<RemotingCommand> {
  const info = ctx.consumerManager.findChannel(group, clientId)
  if (info === undefined) return fail(ResponseCode.SYSTEM_ERROR, `The Consumer <${group}> <${clientId}> not online`)
  if (info.version < MQVersion.V3_1_8_SNAPSHOT) {
    return fail(
      ResponseCode.SYSTEM_ERROR,
      `The Consumer <${clientId}> Version <${versionDesc(info.version)}> too low to finish, please upgrade it to V3_1_8_SNAPSHOT`,
    )
  }
  const forward = RemotingCommand.createRequest(code, { ...(request.extFields ?? {}) }, request.body)
  try {
    return await info.channel.invoke(forward, CALL_CLIENT_TIMEOUT_MS)
  } catch (err) {
    if (err instanceof RemotingError && err.code === 'RMQ_ERR_TIMEOUT') {
      return fail(ResponseCode.CONSUME_MSG_TIMEOUT, `consumer <${group}> <${clientId}> Timeout: ${err.message}`)
    }
    return fail(ResponseCode.SYSTEM_ERROR, `invoke consumer <${group}> <${clientId}> Exception: ${String(err)}`)
  }
}

/** GET_CONSUMER_RUNNING_INFO (307): relayed as it came. */
export function getConsumerRunningInfo(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  return callConsumer(
    ctx,
    RequestCode.GET_CONSUMER_RUNNING_INFO,
    request,
    h.string('consumerGroup'),
    h.string('clientId'),
  )
}

/**
 * CONSUME_MESSAGE_DIRECTLY (309): the broker adds its name and the topic's sysflag, and attaches the stored record
 * the offset message id points at.
 */
export async function consumeMessageDirectly(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const group = h.string('consumerGroup')
  const clientId = h.optString('clientId') ?? ''
  request.putExt('brokerName', ctx.brokerConfig.brokerName)
  const topic = h.optString('topic')
  if (topic !== undefined && topic !== '') {
    const tc = ctx.topicConfigManager.selectTopicConfig(topic)
    if (tc !== undefined) request.putExt('topicSysFlag', tc.topicSysFlag)
  }
  const id = decodeMessageId(h.optString('msgId') ?? '')
  if (id === null)
    return fail(ResponseCode.SYSTEM_ERROR, `the message id [${h.optString('msgId') ?? ''}] is not an offset message id`)
  const record = await ctx.store.selectOneMessageByOffset(id.commitLogOffset)
  if (record === null) return fail(ResponseCode.SYSTEM_ERROR, `no message at commit-log offset ${id.commitLogOffset}`)
  request.body = record
  return callConsumer(ctx, RequestCode.CONSUME_MESSAGE_DIRECTLY, request, group, clientId)
}
