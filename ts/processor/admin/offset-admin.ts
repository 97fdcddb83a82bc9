/**
 * Queue offsets and consumer progress (`AdminBrokerProcessor`: `getMaxOffset`, `getMinOffset`,
 * `searchOffsetByTimestamp`, `getEarliestMsgStoretime`, `getAllConsumerOffset`, `getAllDelayOffset`,
 * `getConsumeStats`, `resetOffset`; protocol.md §2.5–§2.6).
 */
import { setImmediate as nextTurn } from 'node:timers/promises'

import { BrokerResponseError, InvalidArgumentError } from '../../common/errors.js'
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

/** What an operator asks of `assignResetOffset`: move a group's offsets on a topic to a time or an offset. */
export interface ResetOffsetSpec {
  group: string
  topic: string
  /** Each queue moves to the first message stored at or after this time (ms); -1: to the end. */
  timestamp?: number
  /** Each queue (or `queueId` alone) moves to this offset, clamped to the queue's min and max. */
  offset?: number
  queueId?: number
  /** Also move forward (default); false moves a queue only where the target is behind the committed offset. */
  force?: boolean
}

export interface ResetQueue {
  queueId: number
  /** The committed offset before, -1 when the group had none. */
  previousOffset: number
  offset: number
}

export interface ResetOffsetOutcome {
  queues: ResetQueue[]
  /** Online consumers told to move (RESET_CONSUMER_CLIENT_OFFSET). */
  notifiedClients: number
}

/**
 * Moves a group's committed offsets on this broker and tells its online consumers to move too, as RocketMQ 5's
 * `resetOffset` does (`assignResetOffset` + `Broker2Client#resetOffset`): the offsets change for a group that is
 * offline, and an online one takes the new offsets at once instead of committing its old ones over them.
 * Throws `BrokerResponseError` (TOPIC_NOT_EXIST, SUBSCRIPTION_GROUP_NOT_EXIST) or `InvalidArgumentError`.
 */
export async function assignResetOffset(ctx: BrokerContext, spec: ResetOffsetSpec): Promise<ResetOffsetOutcome> {
  const { group, topic } = spec
  const tc = ctx.topicConfigManager.selectTopicConfig(topic)
  if (tc === undefined) {
    throw new BrokerResponseError(ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist on this broker`, false)
  }
  if ((spec.timestamp === undefined) === (spec.offset === undefined)) {
    throw new InvalidArgumentError('give exactly one of timestamp and offset')
  }
  if (spec.queueId !== undefined && (spec.queueId < 0 || spec.queueId >= tc.writeQueueNums)) {
    throw new InvalidArgumentError(`queueId must be between 0 and ${tc.writeQueueNums - 1}, got ${spec.queueId}`)
  }
  const groupInfo = ctx.consumerManager.getConsumerGroupInfo(group)
  const known =
    ctx.consumerOffsetManager.queryOffsetTable(group, topic) !== undefined ||
    groupInfo?.subscriptions.has(topic) === true ||
    ctx.subscriptionGroupManager.get(group) !== undefined
  if (!known) {
    throw new BrokerResponseError(
      ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
      `the consumer group <${group}> has no offsets on topic ${topic} here and is not subscribed to it`,
      false,
    )
  }
  const force = spec.force ?? true
  const queues: ResetQueue[] = []
  const first = spec.queueId ?? 0
  const last = spec.queueId ?? tc.writeQueueNums - 1
  for (let queueId = first; queueId <= last; queueId++) {
    if ((queueId & QUEUES_PER_TURN_MASK) === QUEUES_PER_TURN_MASK) await nextTurn()
    const min = Math.max(0, ctx.store.getMinOffsetInQueue(topic, queueId))
    const max = Math.max(0, ctx.store.getMaxOffsetInQueue(topic, queueId))
    let target: number
    if (spec.offset !== undefined) target = Math.min(Math.max(spec.offset, min), max)
    else if (spec.timestamp === -1) target = max
    else target = Math.max(0, await ctx.store.getOffsetInQueueByTime(topic, queueId, spec.timestamp!))
    const previousOffset = ctx.consumerOffsetManager.queryOffset(group, topic, queueId)
    if (!force && previousOffset >= 0 && target >= previousOffset) target = previousOffset
    ctx.consumerOffsetManager.commitOffset('admin', group, topic, queueId, target)
    queues.push({ queueId, previousOffset, offset: target })
  }
  const offsetTable = new Map<object, number>()
  for (const q of queues) {
    offsetTable.set(messageQueueJson({ topic, brokerName: ctx.brokerConfig.brokerName, queueId: q.queueId }), q.offset)
  }
  const notifiedClients = notifyResetOffset(ctx, group, topic, spec.timestamp ?? Date.now(), true, offsetTable)
  ctx.logger.info({ group, topic, queues: queues.length, notifiedClients }, 'consumer offsets reset by admin')
  return { queues, notifiedClients }
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
  if (tc === undefined)
    return fail(
      ResponseCode.SYSTEM_ERROR,
      `[reset-offset] reset offset failed, no topic in this broker. topic=${topic}`,
    )
  const offsetTable = new Map<object, number>()
  for (let queueId = 0; queueId < tc.writeQueueNums; queueId++) {
    // A topic may have 65,536 queues: let other requests in between.
    if ((queueId & QUEUES_PER_TURN_MASK) === QUEUES_PER_TURN_MASK) await nextTurn()
    const consumerOffset = ctx.consumerOffsetManager.queryOffset(group, topic, queueId)
    if (consumerOffset === -1) return fail(ResponseCode.SYSTEM_ERROR, `THe consumer group <${group}> not exist`)
    let target =
      timestamp === -1
        ? ctx.store.getMaxOffsetInQueue(topic, queueId)
        : await ctx.store.getOffsetInQueueByTime(topic, queueId, timestamp)
    if (target < 0) target = 0
    const mq = messageQueueJson({ topic, brokerName: ctx.brokerConfig.brokerName, queueId })
    offsetTable.set(mq, isForce || target < consumerOffset ? target : consumerOffset)
  }
  const channels = ctx.consumerManager.getConsumerGroupInfo(group)?.channels
  if (channels === undefined || channels.size === 0) {
    return fail(
      ResponseCode.CONSUMER_NOT_ONLINE,
      `Consumer not online, so can not reset offset, Group: ${group} Topic: ${topic} Timestamp: ${timestamp}`,
    )
  }
  notifyResetOffset(ctx, group, topic, timestamp, isForce, offsetTable)
  return ok(stringifyJson({ offsetTable }))
}

/** Sends RESET_CONSUMER_CLIENT_OFFSET (oneway) to each online consumer of the group; how many were told. */
function notifyResetOffset(
  ctx: BrokerContext,
  group: string,
  topic: string,
  timestamp: number,
  isForce: boolean,
  offsetTable: Map<object, number>,
): number {
  const channels = ctx.consumerManager.getConsumerGroupInfo(group)?.channels
  if (channels === undefined) return 0
  const body = Buffer.from(stringifyJson({ offsetTable }))
  let told = 0
  for (const info of channels.values()) {
    if (info.version < MQVersion.V3_0_11) continue
    const header = { topic, group, timestamp: String(timestamp), isForce: String(isForce) }
    info.channel.invokeOneway(RemotingCommand.createRequest(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, header, body))
    told++
  }
  return told
}
