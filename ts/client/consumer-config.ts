/**
 * Consumer configuration (`DefaultMQPushConsumer`, `DefaultLitePullConsumer`; client.md §4.1, §5.1) with
 * RocketMQ's defaults and the start-time checks of `DefaultMQPushConsumerImpl#checkConfig`.
 */
import { ConfigError } from '../common/errors.js'
import type { MessageModel } from '../remoting/protocol/heartbeat.js'
import { groupNameProblem, positive, resolveClientRuntimeConfig, type ClientOptions } from './client-config.js'
import type { ClientRuntimeConfig } from './client-instance.js'
import { allocateAveragely, type AllocateStrategy } from './allocate-strategy.js'
import type { OffsetStore } from './offset-store.js'

export const ConsumeFromWhere = {
  CONSUME_FROM_LAST_OFFSET: 'CONSUME_FROM_LAST_OFFSET',
  CONSUME_FROM_FIRST_OFFSET: 'CONSUME_FROM_FIRST_OFFSET',
  CONSUME_FROM_TIMESTAMP: 'CONSUME_FROM_TIMESTAMP',
} as const
export type ConsumeFromWhere = (typeof ConsumeFromWhere)[keyof typeof ConsumeFromWhere]

export const DEFAULT_CONSUMER_GROUP = 'DEFAULT_CONSUMER'
/** Bytes per MiB: the unit of the size thresholds. */
export const MIB = 1024 * 1024

/** Options both consumers share. */
export interface ConsumerOptions extends ClientOptions {
  consumerGroup: string
  messageModel?: MessageModel
  consumeFromWhere?: ConsumeFromWhere
  /** `yyyyMMddHHmmss` (local time) for CONSUME_FROM_TIMESTAMP; default half an hour ago. */
  consumeTimestamp?: string
  allocateMessageQueueStrategy?: AllocateStrategy
  /** Where a broadcasting consumer keeps its offsets; default `$HOME/.rocketmq_offsets`. */
  localOffsetStoreDir?: string
  /** Replaces the default offset store (remote for clustering, local file for broadcasting). */
  offsetStore?: OffsetStore
}

export interface PushConsumerOptions extends ConsumerOptions {
  /** Listener calls in flight at once (`consumeThreadMin`; the Java pool never grows past it). */
  consumeThreadMin?: number
  consumeThreadMax?: number
  consumeConcurrentlyMaxSpan?: number
  pullThresholdForQueue?: number
  /** MiB. */
  pullThresholdSizeForQueue?: number
  pullThresholdForTopic?: number
  /** MiB. */
  pullThresholdSizeForTopic?: number
  /** ms between pulls of one queue after messages were found. */
  pullInterval?: number
  pullBatchSize?: number
  pullBatchSizeInBytes?: number
  consumeMessageBatchMaxSize?: number
  postSubscriptionWhenPull?: boolean
  /** −1: 16 for concurrent listeners, unlimited for orderly ones. */
  maxReconsumeTimes?: number
  suspendCurrentQueueTimeMillis?: number
  /**
   * Minutes a message may stay in consumption before it is sent back (concurrent listeners; default 15, also the
   * period of the sweep). Fractions of a minute are accepted (Java's is a whole `long`).
   */
  consumeTimeout?: number
  awaitTerminationMillisWhenShutdown?: number
}

export interface ResolvedConsumerConfig {
  consumerGroup: string
  runtime: ClientRuntimeConfig
  instanceName: string | undefined
  messageModel: MessageModel
  consumeFromWhere: ConsumeFromWhere
  /** ms since the epoch. */
  consumeTimestamp: number
  strategy: AllocateStrategy
  localOffsetStoreDir: string
}

export interface ResolvedPushConsumerConfig extends ResolvedConsumerConfig {
  consumeThreadMin: number
  consumeConcurrentlyMaxSpan: number
  pullThresholdForQueue: number
  pullThresholdSizeForQueue: number
  pullThresholdForTopic: number
  pullThresholdSizeForTopic: number
  pullInterval: number
  pullBatchSize: number
  pullBatchSizeInBytes: number
  consumeMessageBatchMaxSize: number
  postSubscriptionWhenPull: boolean
  maxReconsumeTimes: number
  suspendCurrentQueueTimeMillis: number
  consumeTimeoutMs: number
  awaitTerminationMillisWhenShutdown: number
}

/** Why a consumer group is refused, or `null` (`Validators.checkGroup` and the DEFAULT_CONSUMER rule). */
export function consumerGroupProblem(group: string): string | null {
  if (group === DEFAULT_CONSUMER_GROUP)
    return `consumerGroup can not equal ${DEFAULT_CONSUMER_GROUP}, please specify another one`
  return groupNameProblem(group)
}

/** `yyyyMMddHHmmss` in local time → ms since the epoch; NaN when it does not parse (`UtilAll.parseDate`). */
export function parseConsumeTimestamp(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s)
  if (m === null) return Number.NaN
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const date = new Date(y, mo - 1, d, h, mi, se)
  // Reject dates the Date constructor silently rolled over (month 13, hour 25…).
  if (date.getMonth() !== mo - 1 || date.getDate() !== d || date.getHours() !== h) return Number.NaN
  return date.getTime()
}

/** ms since the epoch → `yyyyMMddHHmmss` in local time. */
export function formatConsumeTimestamp(ms: number): string {
  const d = new Date(ms)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return `${p(d.getFullYear(), 4)}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`
}

/** `consumeTimeout` minutes → ms; any positive number of minutes, at least 1 ms. */
function consumeTimeoutMs(minutes: number): number {
  if (!Number.isFinite(minutes) || minutes <= 0) {
    throw new ConfigError('RMQ_ERR_CONFIG', `consumeTimeout must be a positive number of minutes, got ${minutes}`)
  }
  return Math.max(1, Math.round(minutes * 60_000))
}

function ranged(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError('RMQ_ERR_CONFIG', `${name} out of range [${min}, ${max}]: ${v}`)
  }
  return v
}

const HALF_AN_HOUR_MS = 30 * 60 * 1000

export function resolveConsumerConfig(o: ConsumerOptions): ResolvedConsumerConfig {
  const problem = consumerGroupProblem(o.consumerGroup ?? '')
  if (problem !== null) throw new ConfigError('RMQ_ERR_CONFIG', `consumer group: ${problem}`)
  const model = o.messageModel ?? 'CLUSTERING'
  if (model !== 'CLUSTERING' && model !== 'BROADCASTING') {
    throw new ConfigError('RMQ_ERR_CONFIG', `messageModel must be CLUSTERING or BROADCASTING, got ${String(model)}`)
  }
  const from = o.consumeFromWhere ?? ConsumeFromWhere.CONSUME_FROM_LAST_OFFSET
  if (!Object.values(ConsumeFromWhere).includes(from)) {
    throw new ConfigError('RMQ_ERR_CONFIG', `unknown consumeFromWhere: ${String(from)}`)
  }
  let consumeTimestamp = Date.now() - HALF_AN_HOUR_MS
  if (o.consumeTimestamp !== undefined) {
    consumeTimestamp = parseConsumeTimestamp(o.consumeTimestamp)
    if (Number.isNaN(consumeTimestamp)) {
      throw new ConfigError('RMQ_ERR_CONFIG', `consumeTimestamp is not yyyyMMddHHmmss: ${o.consumeTimestamp}`)
    }
  }
  return {
    consumerGroup: o.consumerGroup,
    runtime: resolveClientRuntimeConfig(o),
    instanceName: o.instanceName,
    messageModel: model,
    consumeFromWhere: from,
    consumeTimestamp,
    strategy: o.allocateMessageQueueStrategy ?? allocateAveragely,
    localOffsetStoreDir: o.localOffsetStoreDir ?? `${process.env.HOME ?? '.'}/.rocketmq_offsets`,
  }
}

export function resolvePushConsumerConfig(o: PushConsumerOptions): ResolvedPushConsumerConfig {
  const base = resolveConsumerConfig(o)
  const min = ranged('consumeThreadMin', o.consumeThreadMin ?? 20, 1, 1000)
  const max = ranged('consumeThreadMax', o.consumeThreadMax ?? Math.max(20, min), 1, 1000)
  if (min > max) throw new ConfigError('RMQ_ERR_CONFIG', `consumeThreadMin (${min}) > consumeThreadMax (${max})`)
  const perTopic = o.pullThresholdForTopic ?? -1
  if (perTopic !== -1) ranged('pullThresholdForTopic', perTopic, 1, 6_553_500)
  const sizePerTopic = o.pullThresholdSizeForTopic ?? -1
  if (sizePerTopic !== -1) ranged('pullThresholdSizeForTopic', sizePerTopic, 1, 102_400)
  return {
    ...base,
    consumeThreadMin: min,
    consumeConcurrentlyMaxSpan: ranged('consumeConcurrentlyMaxSpan', o.consumeConcurrentlyMaxSpan ?? 2000, 1, 65_535),
    pullThresholdForQueue: ranged('pullThresholdForQueue', o.pullThresholdForQueue ?? 1000, 1, 65_535),
    pullThresholdSizeForQueue: ranged('pullThresholdSizeForQueue', o.pullThresholdSizeForQueue ?? 100, 1, 1024),
    pullThresholdForTopic: perTopic,
    pullThresholdSizeForTopic: sizePerTopic,
    pullInterval: ranged('pullInterval', o.pullInterval ?? 0, 0, 65_535),
    pullBatchSize: ranged('pullBatchSize', o.pullBatchSize ?? 32, 1, 1024),
    pullBatchSizeInBytes: positive('pullBatchSizeInBytes', o.pullBatchSizeInBytes ?? 256 * 1024),
    consumeMessageBatchMaxSize: ranged('consumeMessageBatchMaxSize', o.consumeMessageBatchMaxSize ?? 1, 1, 1024),
    postSubscriptionWhenPull: o.postSubscriptionWhenPull ?? false,
    maxReconsumeTimes: o.maxReconsumeTimes ?? -1,
    suspendCurrentQueueTimeMillis: positive('suspendCurrentQueueTimeMillis', o.suspendCurrentQueueTimeMillis ?? 1000),
    consumeTimeoutMs: consumeTimeoutMs(o.consumeTimeout ?? 15),
    awaitTerminationMillisWhenShutdown: positive(
      'awaitTerminationMillisWhenShutdown',
      o.awaitTerminationMillisWhenShutdown ?? 0,
      0,
    ),
  }
}
