/**
 * Compiled SQL92 subscriptions of one consumer group (`ConsumerFilterManager`, client.md §6.3): one entry per topic,
 * registered by heartbeats and compiled when the expression changes, not per pull. Versions follow RocketMQ: an
 * entry is replaced only by a subscription with a larger `subVersion`; a newer version of the same expression only
 * moves the version; a newer expression that does not compile removes the entry, so the group's pulls answer
 * FILTER_DATA_NOT_EXIST (the client reports the bad expression) instead of filtering with a stale one.
 *
 * The entries live in the group's `ConsumerGroupInfo` and go with it; RocketMQ also persists them
 * (`consumerFilter.json`), which ferrymq does not: after a restart the next heartbeat registers them again, and
 * until then the group's pulls are refused because the group itself is unknown.
 */
import { compileSql92, type BooleanExpression } from '../common/filter/sql-filter.js'
import type { SubscriptionData } from '../remoting/protocol/heartbeat.js'

export interface ConsumerFilterData {
  topic: string
  expression: string
  /** The subscription's `subVersion` this entry stands for. */
  clientVersion: number
  compiled: BooleanExpression
}

export interface FilterRegistration {
  /** The entry now registered for the topic, if any. */
  data: ConsumerFilterData | undefined
  /** The compile error when the expression did not compile. */
  error: Error | undefined
}

function build(sub: SubscriptionData): FilterRegistration {
  try {
    return {
      data: {
        topic: sub.topic,
        expression: sub.subString,
        clientVersion: sub.subVersion,
        compiled: compileSql92(sub.subString),
      },
      error: undefined,
    }
  } catch (err) {
    return { data: undefined, error: err as Error }
  }
}

/**
 * Registers an SQL92 subscription into `filters` (topic → entry) following the version rules above
 * (`FilterDataMapByTopic#register`).
 */
export function registerFilter(filters: Map<string, ConsumerFilterData>, sub: SubscriptionData): FilterRegistration {
  const old = filters.get(sub.topic)
  if (old !== undefined) {
    if (sub.subVersion <= old.clientVersion) return { data: old, error: undefined }
    if (old.expression === sub.subString) {
      old.clientVersion = sub.subVersion
      return { data: old, error: undefined }
    }
  }
  const built = build(sub)
  if (built.data === undefined) filters.delete(sub.topic)
  else filters.set(sub.topic, built.data)
  return built
}
