/**
 * Consumer groups, client connections and orderly-consumption locks (`AdminBrokerProcessor`: subscription group
 * CRUD, `getConsumerConnectionList`, `getProducerConnectionList`, `queryTopicConsumeByWho`, `lockBatchMQ`,
 * `unlockBatchMQ`; protocol.md §2.5–§2.6).
 */
import { parseJsonObject } from '../../common/fastjson.js'
import { ResponseCode } from '../../common/response-code.js'
import type { ClientChannelInfo } from '../../broker/client-channel-info.js'
import { subscriptionGroupConfigFromJson, subscriptionGroupConfigProblem } from '../../broker/subscription-group-manager.js'
import { HeaderReader } from '../../remoting/protocol/header-reader.js'
import { messageQueueFromJson, messageQueueJson, type MessageQueue } from '../../remoting/protocol/message-queue.js'
import type { RemotingCommand } from '../../remoting/remoting-command.js'
import type { BrokerContext } from '../broker-context.js'
import { fail, ok } from './admin-response.js'

/** `MQ_SET_MAX`: queues one lock request may name. */
const LOCK_QUEUES_MAX = 65_536

function connection(info: ClientChannelInfo): object {
  return { clientAddr: info.channel.remoteAddress, clientId: info.clientId, language: info.language, version: info.version }
}

export function updateAndCreateSubscriptionGroup(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const body = parseJsonObject(request.body, 'UPDATE_AND_CREATE_SUBSCRIPTIONGROUP')
  const config = subscriptionGroupConfigFromJson(body)
  if (config === null) return fail(ResponseCode.SYSTEM_ERROR, 'the body is not a SubscriptionGroupConfig with a groupName')
  // Checked on the raw value: the reader clamps what it loads from files.
  if (typeof body.retryQueueNums === 'number') config.retryQueueNums = body.retryQueueNums
  const problem = subscriptionGroupConfigProblem(config)
  if (problem !== null) return fail(ResponseCode.SYSTEM_ERROR, problem)
  ctx.subscriptionGroupManager.updateSubscriptionGroupConfig(config)
  return ok()
}

export function getAllSubscriptionGroupConfig(ctx: BrokerContext): RemotingCommand {
  return ok(ctx.subscriptionGroupManager.buildWrapper())
}

export function deleteSubscriptionGroup(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const h = new HeaderReader(request)
  const group = h.string('groupName')
  ctx.subscriptionGroupManager.deleteSubscriptionGroupConfig(group)
  if (h.optBool('removeOffset') === true) ctx.consumerOffsetManager.removeOffset(group)
  return ok()
}

export function getConsumerConnectionList(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const group = new HeaderReader(request).string('consumerGroup')
  const g = ctx.consumerManager.getConsumerGroupInfo(group)
  if (g === undefined || g.channels.size === 0) return fail(ResponseCode.CONSUMER_NOT_ONLINE, 'the consumer group not online')
  return ok({
    connectionSet: [...g.channels.values()].map(connection),
    consumeFromWhere: g.consumeFromWhere,
    consumeType: g.consumeType,
    messageModel: g.messageModel,
    subscriptionTable: new Map(g.subscriptions),
  })
}

export function getProducerConnectionList(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const group = new HeaderReader(request).string('producerGroup')
  const g = ctx.producerManager.getGroup(group)
  if (g === undefined || g.size === 0) return fail(ResponseCode.SYSTEM_ERROR, 'the producer group not exist')
  return ok({ connectionSet: [...g.values()].map(connection) })
}

export function queryTopicConsumeByWho(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const topic = new HeaderReader(request).string('topic')
  const groups = ctx.consumerManager.queryTopicConsumeByWho(topic)
  for (const g of ctx.consumerOffsetManager.whichGroupByTopic(topic)) groups.add(g)
  return ok({ groupList: [...groups] })
}

function lockBody(request: RemotingCommand, what: string): { clientId: string; group: string; mqs: MessageQueue[] } {
  const body = parseJsonObject(request.body, what)
  const clientId = typeof body.clientId === 'string' ? body.clientId : ''
  const group = typeof body.consumerGroup === 'string' ? body.consumerGroup : ''
  const set = Array.isArray(body.mqSet) ? body.mqSet : []
  if (set.length > LOCK_QUEUES_MAX) throw new RangeError(`${what}: more than ${LOCK_QUEUES_MAX} queues`)
  return { clientId, group, mqs: set.map((mq, i) => messageQueueFromJson(mq, `${what} mqSet[${i}]`)) }
}

export function lockBatchMQ(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const { clientId, group, mqs } = lockBody(request, 'LOCK_BATCH_MQ')
  if (clientId.length === 0 || group.length === 0) return fail(ResponseCode.SYSTEM_ERROR, 'LOCK_BATCH_MQ needs clientId and consumerGroup')
  // Only queues this broker serves can be locked here; anything else would only grow the table.
  const ours = mqs.filter(
    (mq) => mq.brokerName === ctx.brokerConfig.brokerName && (ctx.topicConfigManager.selectTopicConfig(mq.topic)?.readQueueNums ?? 0) > mq.queueId,
  )
  const locked = ctx.rebalanceLockManager.tryLockBatch(group, ours, clientId)
  return ok({ lockOKMQSet: locked.map(messageQueueJson) })
}

export function unlockBatchMQ(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const { clientId, group, mqs } = lockBody(request, 'UNLOCK_BATCH_MQ')
  ctx.rebalanceLockManager.unlockBatch(group, mqs, clientId)
  return ok()
}
