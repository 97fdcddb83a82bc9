import type { BrokerConfig } from '../broker/broker-config.js'
import type { BrokerStats } from '../broker/broker-stats.js'
import type { ConsumerManager } from '../broker/consumer-manager.js'
import type { ConsumerOffsetManager } from '../broker/consumer-offset-manager.js'
import type { ReplicationStatus } from '../broker/ha/replication-status.js'
import type { SubscriptionGroupManager } from '../broker/subscription-group-manager.js'
import type { TopicConfigManager } from '../broker/topic-config-manager.js'
import type { ResetOffsetOutcome, ResetOffsetSpec } from '../processor/admin/offset-admin.js'
import type { TopicSpec } from '../processor/admin/topic-admin.js'
import type { MessageStore } from '../store/message-store.js'

export type { ReplicationStatus, ResetOffsetOutcome, ResetOffsetSpec, TopicSpec }

/**
 * What the admin API reads from and asks of a running broker; `BrokerController` provides it. Commands throw
 * `InvalidArgumentError` for a refused request and `BrokerResponseError` with RocketMQ's code otherwise.
 */
export interface AdminBroker {
  readonly brokerConfig: BrokerConfig
  readonly brokerAddr: string
  readonly store: MessageStore
  readonly stats: BrokerStats
  readonly topicConfigManager: TopicConfigManager
  readonly consumerOffsetManager: ConsumerOffsetManager
  readonly consumerManager: ConsumerManager
  readonly subscriptionGroupManager: SubscriptionGroupManager
  /** The store has recovered and the broker serves requests. */
  isReady(): boolean
  /** A registration has reached at least one name server (or none is configured). */
  hasRegistered(): boolean
  /** Creates or changes a topic here; resolves once the name servers have it. */
  applyTopic(spec: TopicSpec): Promise<void>
  /** Deletes a topic here and from the name servers' routes for this broker's cluster. */
  deleteTopic(topic: string): Promise<void>
  resetConsumerOffset(spec: ResetOffsetSpec): Promise<ResetOffsetOutcome>
  /** The name servers this broker registers with. */
  namesrvAddrs(): readonly string[]
  /** Role and replication: a master's connected slaves with their lag, a slave's master and HA connection. */
  replicationStatus(): ReplicationStatus
}
