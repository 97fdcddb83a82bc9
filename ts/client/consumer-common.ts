/**
 * What the push and the lite pull consumer share: their offset store (remote for clustering, local file for
 * broadcasting; client.md §4.10), where a newly owned queue starts (§4.11), and subscription data (§6.1–§6.2).
 */
import { ConfigError } from '../common/errors.js'
import { buildTagFilter } from '../common/filter/filter-api.js'
import type { Logger } from '../common/logger.js'
import { isRetryTopic, MixAll } from '../common/mix-all.js'
import type { ExpressionType, SubscriptionData } from '../remoting/protocol/heartbeat.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { MQClientInstance } from './client-instance.js'
import { MQClientError } from './client-error.js'
import { ConsumeFromWhere, type ResolvedConsumerConfig } from './consumer-config.js'
import type { MessageSelector } from './message-selector.js'
import {
  LocalFileOffsetStore,
  ReadOffsetType,
  RemoteBrokerOffsetStore,
  type OffsetBackend,
  type OffsetStore,
} from './offset-store.js'

/** Timeout of offset queries and updates (client.md §4.10). */
const OFFSET_RPC_TIMEOUT_MS = 5000

/**
 * Where offsets of `mq` are read and written (`RemoteBrokerOffsetStore`): the master of its broker; when the cached
 * route has none, the route is refreshed once and any address of the group will do, so offsets go to the slave
 * while the master is down.
 */
export async function offsetBrokerAddr(instance: MQClientInstance, mq: MessageQueue): Promise<string> {
  let found = instance.findBrokerAddressInSubscribe(mq.brokerName, MixAll.MASTER_ID, true)
  if (found === undefined) {
    try {
      await instance.updateTopicRoute(mq.topic)
    } catch (err) {
      // Java's route refresh swallows failures too: the cached addresses may still hold a slave to use.
      instance.log.warn({ topic: mq.topic, err }, 'route refresh for an offset request failed')
    }
    found = instance.findBrokerAddressInSubscribe(mq.brokerName, MixAll.MASTER_ID, false)
  }
  if (found === undefined) throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `The broker[${mq.brokerName}] not exist`)
  return found.addr
}

/** The remote offset store's way to the queue's broker (see `offsetBrokerAddr`). */
export function brokerOffsetBackend(instance: MQClientInstance, group: string): OffsetBackend {
  return {
    async queryConsumerOffset(mq) {
      const addr = await offsetBrokerAddr(instance, mq)
      return instance.api.queryConsumerOffset(addr, group, mq, OFFSET_RPC_TIMEOUT_MS)
    },
    async updateConsumerOffsetOneway(mq, offset) {
      const addr = await offsetBrokerAddr(instance, mq)
      await instance.api.updateConsumerOffsetOneway(addr, group, mq, offset, OFFSET_RPC_TIMEOUT_MS)
    },
  }
}

export function createOffsetStore(
  config: ResolvedConsumerConfig,
  instance: MQClientInstance,
  user: OffsetStore | undefined,
  log: Logger,
): OffsetStore {
  if (user !== undefined) return user
  if (config.messageModel === 'BROADCASTING') {
    return new LocalFileOffsetStore(config.localOffsetStoreDir, instance.clientId, config.consumerGroup, {
      logger: log,
    })
  }
  return new RemoteBrokerOffsetStore(brokerOffsetBackend(instance, config.consumerGroup), config.consumerGroup, {
    logger: log,
  })
}

async function queueOffsetAtMaster(instance: MQClientInstance, mq: MessageQueue, what: 'max' | 'min'): Promise<number> {
  const addr = await instance.findMasterOrRefresh(mq.brokerName, mq.topic)
  return instance.api.getQueueOffset(addr, mq, what, instance.config.mqClientApiTimeout)
}

/**
 * `computePullFromWhereWithException` (client.md §4.11): the stored offset, else a start chosen by
 * `consumeFromWhere`; an error when the store could not be read (the queue is skipped this round).
 */
export async function computePullFromWhere(
  mq: MessageQueue,
  store: OffsetStore,
  config: ResolvedConsumerConfig,
  instance: MQClientInstance,
  readType: ReadOffsetType = ReadOffsetType.READ_FROM_STORE,
): Promise<number> {
  const last = await store.readOffset(mq, readType)
  if (last >= 0) return last
  if (last !== -1) {
    throw new MQClientError('RMQ_ERR_OFFSET', `cannot read the offset of ${mq.topic}/${mq.brokerName}/${mq.queueId}`)
  }
  const retry = isRetryTopic(mq.topic)
  switch (config.consumeFromWhere) {
    case ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET:
      return 0
    case ConsumeFromWhere.CONSUME_FROM_TIMESTAMP: {
      if (retry) return queueOffsetAtMaster(instance, mq, 'max')
      const addr = await instance.findMasterOrRefresh(mq.brokerName, mq.topic)
      return instance.api.searchOffset(addr, mq, config.consumeTimestamp, instance.config.mqClientApiTimeout)
    }
    default:
      return retry ? 0 : queueOffsetAtMaster(instance, mq, 'max')
  }
}

/** A subscription from `subscribe(topic, expression)` (`FilterAPI.build`). */
export function buildSubscriptionData(
  topic: string,
  expression: string | undefined,
  type: ExpressionType = 'TAG',
): SubscriptionData {
  if (type === 'SQL92') {
    const s = expression?.trim() ?? ''
    if (s.length === 0) throw new ConfigError('RMQ_ERR_CONFIG', `an SQL92 subscription of ${topic} needs an expression`)
    return {
      topic,
      subString: s,
      tagsSet: [],
      codeSet: [],
      subVersion: Date.now(),
      expressionType: 'SQL92',
      classFilterMode: false,
    }
  }
  const f = buildTagFilter(expression)
  return {
    topic,
    subString: f.subString,
    tagsSet: f.tagsSet,
    codeSet: f.codeSet,
    subVersion: Date.now(),
    expressionType: 'TAG',
    classFilterMode: false,
  }
}

/** A subscription from a selector (`subscribe(topic, MessageSelector)`). */
export function subscriptionFromSelector(topic: string, selector: MessageSelector): SubscriptionData {
  return buildSubscriptionData(topic, selector.expression, selector.expressionType)
}

/**
 * `checkClientInBroker`: each non-TAG subscription is shown to one broker of its topic (CHECK_CLIENT_CONFIG) before
 * the consumer starts, so a broker without `enablePropertyFilter`, or an expression that does not compile, fails
 * `start()` with the broker's answer instead of failing every pull later. Topics without a known broker are skipped,
 * as in RocketMQ.
 */
export async function checkClientInBroker(
  instance: MQClientInstance,
  group: string,
  subscriptions: Iterable<SubscriptionData>,
  timeoutMs: number,
): Promise<void> {
  for (const sub of subscriptions) {
    if (sub.expressionType === 'TAG') continue
    const addr = instance.findBrokerAddrByTopic(sub.topic)
    if (addr === undefined) continue
    await instance.api.checkClientConfig(addr, instance.clientId, group, sub, timeoutMs)
  }
}
