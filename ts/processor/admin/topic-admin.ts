/**
 * Topic administration on this broker (`AdminBrokerProcessor`: `updateAndCreateTopic`, `deleteTopic`,
 * `getAllTopicConfig`, `getTopicStatsInfo`, `getSystemTopicListFromBroker`; protocol.md §2.6).
 */
import { setImmediate as nextTurn } from 'node:timers/promises'

import { QUEUE_ID_MAX } from '../../common/limits.js'
import { decodeMessage } from '../../common/message/message-record.js'
import { ResponseCode } from '../../common/response-code.js'
import { newTopicConfig, type TopicFilterType } from '../../common/topic-config.js'
import { validateTopic } from '../../common/topic-validator.js'
import { HeaderReader } from '../../remoting/protocol/header-reader.js'
import { messageQueueJson } from '../../remoting/protocol/message-queue.js'
import type { RemotingCommand } from '../../remoting/remoting-command.js'
import type { MessageStore } from '../../store/message-store.js'
import type { BrokerContext } from '../broker-context.js'
import { QUEUES_PER_TURN_MASK, fail, ok } from './admin-response.js'

/** Why an admin may not create, change or delete this topic, or null. */
function adminTopicProblem(ctx: BrokerContext, topic: string): string | null {
  const invalid = validateTopic(topic)
  if (invalid !== null) return invalid
  if (topic === ctx.brokerConfig.brokerClusterName) return `The specified topic[${topic}] is conflict with the cluster name.`
  if (ctx.topicConfigManager.isSystemTopic(topic)) return `The topic[${topic}] is conflict with system topic.`
  return null
}

/**
 * Creates or changes a topic and answers once the name servers have it, as RocketMQ 4.9 registers before it
 * answers: a client that asks a name server for the route right after the answer sees the new queues. A failed
 * registration is logged and the answer is still SUCCESS, as in RocketMQ.
 */
export async function updateAndCreateTopic(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const topic = h.string('topic')
  const problem = adminTopicProblem(ctx, topic)
  if (problem !== null) return fail(ResponseCode.SYSTEM_ERROR, problem)
  const readQueueNums = h.int('readQueueNums')
  const writeQueueNums = h.int('writeQueueNums')
  const perm = h.int('perm')
  const filter = h.optString('topicFilterType') ?? 'SINGLE_TAG'
  for (const [name, n] of [['readQueueNums', readQueueNums], ['writeQueueNums', writeQueueNums]] as const) {
    if (n < 0 || n > QUEUE_ID_MAX + 1) return fail(ResponseCode.SYSTEM_ERROR, `${name} must be between 0 and ${QUEUE_ID_MAX + 1}, got ${n}`)
  }
  if (perm < 0 || perm > 15) return fail(ResponseCode.SYSTEM_ERROR, `perm must be between 0 and 15, got ${perm}`)
  if (filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') return fail(ResponseCode.SYSTEM_ERROR, `unknown topicFilterType ${filter}`)
  const tc = newTopicConfig(topic, {
    readQueueNums,
    writeQueueNums,
    perm,
    topicFilterType: filter as TopicFilterType,
    topicSysFlag: h.optInt('topicSysFlag') ?? 0,
    order: h.optBool('order') ?? false,
  })
  ctx.topicConfigManager.updateTopicConfig(tc)
  await ctx.registerBrokerAll(false)
  return ok()
}

/**
 * Deletes a topic here and answers once a registration without it has finished. RocketMQ 4.9 does not register
 * on delete; registering and waiting here means no registration that still carried the topic is in flight when
 * the admin goes on to DELETE_TOPIC_IN_NAMESRV (a name server only adds queue data from a registration, so a late
 * one would bring the deleted topic back for good).
 */
export async function deleteTopic(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const topic = new HeaderReader(request).string('topic')
  const problem = adminTopicProblem(ctx, topic)
  if (problem !== null) return fail(ResponseCode.SYSTEM_ERROR, problem)
  ctx.topicConfigManager.deleteTopicConfig(topic)
  await ctx.store.deleteTopic(topic)
  await ctx.registerBrokerAll(false)
  return ok()
}

export function getAllTopicConfig(ctx: BrokerContext): RemotingCommand {
  return ok(ctx.topicConfigManager.buildSerializeWrapper())
}

export function getSystemTopicListFromBroker(ctx: BrokerContext): RemotingCommand {
  const topicList = [...ctx.topicConfigManager.topics()].map((t) => t.topicName).filter((t) => ctx.topicConfigManager.isSystemTopic(t))
  return ok({ topicList })
}

/** Store time of the message at `queueOffset`, 0 when there is none (`getMessageStoreTimeStamp`). */
export async function storeTimeAt(store: MessageStore, topic: string, queueId: number, queueOffset: number): Promise<number> {
  if (queueOffset < 0) return 0
  const r = await store.getMessage('', topic, queueId, queueOffset, 1)
  if (r.messageCount === 0) return 0
  return decodeMessage(r.buffer, 0, { decompressBody: false })?.storeTimestamp ?? 0
}

export async function getTopicStatsInfo(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const topic = new HeaderReader(request).string('topic')
  const tc = ctx.topicConfigManager.selectTopicConfig(topic)
  if (tc === undefined) return fail(ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist`)
  const offsetTable = new Map<object, object>()
  for (let queueId = 0; queueId < tc.writeQueueNums; queueId++) {
    // A topic may have 65,536 queues: let other requests in between.
    if ((queueId & QUEUES_PER_TURN_MASK) === QUEUES_PER_TURN_MASK) await nextTurn()
    const minOffset = Math.max(0, ctx.store.getMinOffsetInQueue(topic, queueId))
    const maxOffset = Math.max(0, ctx.store.getMaxOffsetInQueue(topic, queueId))
    const lastUpdateTimestamp = maxOffset > 0 ? await storeTimeAt(ctx.store, topic, queueId, maxOffset - 1) : 0
    offsetTable.set(messageQueueJson({ topic, brokerName: ctx.brokerConfig.brokerName, queueId }), {
      lastUpdateTimestamp,
      maxOffset,
      minOffset,
    })
  }
  return ok({ offsetTable })
}
