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
  // A slave's topics are its master's (copied every 10 s): change them on the master.
  if (ctx.brokerConfig.brokerRole === 'SLAVE')
    return `the broker[${ctx.brokerConfig.brokerName}] is a slave: change topics on its master`
  const invalid = validateTopic(topic)
  if (invalid !== null) return invalid
  if (topic === ctx.brokerConfig.brokerClusterName)
    return `The specified topic[${topic}] is conflict with the cluster name.`
  if (ctx.topicConfigManager.isSystemTopic(topic)) return `The topic[${topic}] is conflict with system topic.`
  return null
}

/** A topic's settings as an admin gives them (UPDATE_AND_CREATE_TOPIC's header, or the admin HTTP API's body). */
export interface TopicSpec {
  topic: string
  readQueueNums: number
  writeQueueNums: number
  perm: number
  topicFilterType?: string
  topicSysFlag?: number
  order?: boolean
}

/**
 * Creates or changes a topic and resolves once the name servers have it, as RocketMQ 4.9 registers before it
 * answers: a client that asks a name server for the route right after sees the new queues. Resolves with why the
 * topic was refused, or null. A failed registration is logged and still counts as done, as in RocketMQ.
 */
export async function applyTopicSpec(ctx: BrokerContext, spec: TopicSpec): Promise<string | null> {
  const problem = adminTopicProblem(ctx, spec.topic)
  if (problem !== null) return problem
  for (const name of ['readQueueNums', 'writeQueueNums'] as const) {
    const n = spec[name]
    if (!Number.isInteger(n) || n < 0 || n > QUEUE_ID_MAX + 1)
      return `${name} must be between 0 and ${QUEUE_ID_MAX + 1}, got ${n}`
  }
  if (!Number.isInteger(spec.perm) || spec.perm < 0 || spec.perm > 15)
    return `perm must be between 0 and 15, got ${spec.perm}`
  const filter = spec.topicFilterType ?? 'SINGLE_TAG'
  if (filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') return `unknown topicFilterType ${filter}`
  const tc = newTopicConfig(spec.topic, {
    readQueueNums: spec.readQueueNums,
    writeQueueNums: spec.writeQueueNums,
    perm: spec.perm,
    topicFilterType: filter as TopicFilterType,
    topicSysFlag: spec.topicSysFlag ?? 0,
    order: spec.order ?? false,
  })
  ctx.topicConfigManager.updateTopicConfig(tc)
  await ctx.registerBrokerAll(false)
  return null
}

/**
 * Deletes a topic here (its config and consume queues) and resolves once a registration without it has
 * finished; resolves with why it was refused, or null. RocketMQ 4.9 does not register on delete; registering and
 * waiting here means no registration that still carried the topic is in flight when the admin goes on to
 * DELETE_TOPIC_IN_NAMESRV (a name server only adds queue data from a registration, so a late one would bring the
 * deleted topic back for good).
 */
export async function removeTopic(ctx: BrokerContext, topic: string): Promise<string | null> {
  const problem = adminTopicProblem(ctx, topic)
  if (problem !== null) return problem
  ctx.topicConfigManager.deleteTopicConfig(topic)
  await ctx.store.deleteTopic(topic)
  await ctx.registerBrokerAll(false)
  return null
}

export async function updateAndCreateTopic(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const h = new HeaderReader(request)
  const problem = await applyTopicSpec(ctx, {
    topic: h.string('topic'),
    readQueueNums: h.int('readQueueNums'),
    writeQueueNums: h.int('writeQueueNums'),
    perm: h.int('perm'),
    topicFilterType: h.optString('topicFilterType'),
    topicSysFlag: h.optInt('topicSysFlag'),
    order: h.optBool('order'),
  })
  return problem === null ? ok() : fail(ResponseCode.SYSTEM_ERROR, problem)
}

export async function deleteTopic(ctx: BrokerContext, request: RemotingCommand): Promise<RemotingCommand> {
  const problem = await removeTopic(ctx, new HeaderReader(request).string('topic'))
  return problem === null ? ok() : fail(ResponseCode.SYSTEM_ERROR, problem)
}

export function getAllTopicConfig(ctx: BrokerContext): RemotingCommand {
  return ok(ctx.topicConfigManager.buildSerializeWrapper())
}

export function getSystemTopicListFromBroker(ctx: BrokerContext): RemotingCommand {
  const topicList = [...ctx.topicConfigManager.topics()]
    .map((t) => t.topicName)
    .filter((t) => ctx.topicConfigManager.isSystemTopic(t))
  return ok({ topicList })
}

/** Store time of the message at `queueOffset`, 0 when there is none (`getMessageStoreTimeStamp`). */
export async function storeTimeAt(
  store: MessageStore,
  topic: string,
  queueId: number,
  queueOffset: number,
): Promise<number> {
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
