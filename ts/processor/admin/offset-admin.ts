/**
 * Queue offsets and consumer progress (`AdminBrokerProcessor`: `getMaxOffset`, `getMinOffset`,
 * `searchOffsetByTimestamp`, `getEarliestMsgStoretime`, `getAllConsumerOffset`, `getAllDelayOffset`,
 * `getConsumeStats`, `resetOffset`; protocol.md §2.5–§2.6).
 */
import { setImmediate as nextTurn } from 'node:timers/promises'

import { stringifyJson } from '../../common/fastjson.js'
import { MQVersion } from '../../common/mq-version.js'
import { RequestCode } from '../../common/request-code.js'
import { ResponseCode } from '../../common/response-code.js'
import { HeaderReader } from '../../remoting/protocol/header-reader.js'
import { messageQueueJson } from '../../remoting/protocol/message-queue.js'
import { RemotingCommand } from '../../remoting/remoting-command.js'
import type { BrokerContext } from '../broker-context.js'
import { QUEUES_PER_TURN_MASK, fail, ok } from './admin-response.js'
import { storeTimeAt } from './topic-admin.js'

function offsetResponse(offset: number): RemotingCommand {
  return ok(undefined, { offset: String(offset) })
}

/** The next offset to be written; 0 for an unknown queue. */
export function getMaxOffset(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const h = new HeaderReader(request)
  return offsetResponse(Math.max(0, ctx.store.getMaxOffsetInQueue(h.string('topic'), h.int('queueId'))))
}

export function getMinOffset(ctx: BrokerContext, request: RemotingCommand): RemotingCommand {
  const h = new HeaderReader(request)
  return offsetResponse(Math.max(0, ctx.store.getMinOffsetInQueue(h.string('topic'), h.int('queueId'))))
}

/** The offset of the message stored nearest `timestamp` (protocol.md §2.5, code 29). */
export async function searchOffsetByTimestamp(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const topic = h.string('topic')
  const queueId = h.int('queueId')
  const timestamp = h.long('timestamp')
  return offsetResponse(Math.max(0, await ctx.store.getOffsetInQueueByTime(topic, queueId, timestamp)))
}

export async function getEarliestMsgStoretime(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const timestamp = await ctx.store.getEarliestMessageTime(h.string('topic'), h.int('queueId'))
  return ok(undefined, { timestamp: String(timestamp) })
}

export function getAllConsumerOffset(ctx: BrokerContext): RemotingCommand {
  return ok(ctx.consumerOffsetManager.encode())
}

export function getAllDelayOffset(ctx: BrokerContext): RemotingCommand {
  return ok(stringifyJson({ offsetTable: ctx.scheduleMessageService.offsetTable() }))
}

/** Broker offset, committed offset and last consumed store time per queue (`getConsumeStats`). */
export async function getConsumeStats(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const group = h.string('consumerGroup')
  const only = h.optString('topic')
  const topics = only ? new Set([only]) : ctx.consumerOffsetManager.whichTopicByConsumer(group)
  const offsetTable = new Map<object, object>()
  const groupInfo = ctx.consumerManager.getConsumerGroupInfo(group)
  let consumeTps = 0
  for (const topic of topics) {
    const tc = ctx.topicConfigManager.selectTopicConfig(topic)
    if (tc === undefined) continue
    // A group online with subscriptions, none of them this topic, is not its consumer (`getConsumeStats`).
    if (groupInfo && groupInfo.subscriptions.size > 0 && !groupInfo.subscriptions.has(topic)) continue
    for (let queueId = 0; queueId < tc.readQueueNums; queueId++) {
      // A topic may have 65,536 queues: let other requests in between.
      if ((queueId & QUEUES_PER_TURN_MASK) === QUEUES_PER_TURN_MASK) await nextTurn()
      const brokerOffset = Math.max(0, ctx.store.getMaxOffsetInQueue(topic, queueId))
      const consumerOffset = Math.max(0, ctx.consumerOffsetManager.queryOffset(group, topic, queueId))
      const lastTimestamp = consumerOffset > 0 ? await storeTimeAt(ctx.store, topic, queueId, consumerOffset - 1) : 0
      offsetTable.set(messageQueueJson({ topic, brokerName: ctx.brokerConfig.brokerName, queueId }), {
        brokerOffset,
        consumerOffset,
        lastTimestamp,
      })
    }
    consumeTps += ctx.stats.groupGetRate(group, topic)
  }
  return ok({ consumeTps, offsetTable })
}

/**
 * `INVOKE_BROKER_TO_RESET_OFFSET` (`Broker2Client#resetOffset`): computes each queue's target offset and tells
 * every online consumer of the group to move there (`RESET_CONSUMER_CLIENT_OFFSET`, oneway).
 */
export async function resetOffset(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const topic = h.string('topic')
  const group = h.string('group')
  const timestamp = h.long('timestamp')
  const isForce = h.bool('isForce')
  const tc = ctx.topicConfigManager.selectTopicConfig(topic)
  if (tc === undefined) return fail(ResponseCode.SYSTEM_ERROR, `[reset-offset] reset offset failed, no topic in this broker. topic=${topic}`)
  const offsetTable = new Map<object, number>()
  for (let queueId = 0; queueId < tc.writeQueueNums; queueId++) {
    // A topic may have 65,536 queues: let other requests in between.
    if ((queueId & QUEUES_PER_TURN_MASK) === QUEUES_PER_TURN_MASK) await nextTurn()
    const consumerOffset = ctx.consumerOffsetManager.queryOffset(group, topic, queueId)
    if (consumerOffset === -1) return fail(ResponseCode.SYSTEM_ERROR, `THe consumer group <${group}> not exist`)
    let target =
      timestamp === -1 ? ctx.store.getMaxOffsetInQueue(topic, queueId) : await ctx.store.getOffsetInQueueByTime(topic, queueId, timestamp)
    if (target < 0) target = 0
    const mq = messageQueueJson({ topic, brokerName: ctx.brokerConfig.brokerName, queueId })
    offsetTable.set(mq, isForce || target < consumerOffset ? target : consumerOffset)
  }
  const channels = ctx.consumerManager.getConsumerGroupInfo(group)?.channels
  if (channels === undefined || channels.size === 0) {
    return fail(ResponseCode.SYSTEM_ERROR, `Consumer not online, so can not reset offset, Group: ${group} Topic: ${topic} Timestamp: ${timestamp}`)
  }
  const body = Buffer.from(stringifyJson({ offsetTable }))
  for (const info of channels.values()) {
    if (info.version < MQVersion.V3_0_11) continue
    const notify = RemotingCommand.createRequest(
      RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
      { topic, group, timestamp: String(timestamp), isForce: String(isForce) },
      body,
    )
    info.channel.invokeOneway(notify)
  }
  return ok(stringifyJson({ offsetTable }))
}
