/**
 * What request processors need from the broker. The broker controller implements it and hands itself to each
 * processor; processors import broker types for this interface only, so at run time the dependency still points
 * one way (broker → processor).
 */
import type { BrokerConfig } from '../broker/broker-config.js'
import type { BrokerStats } from '../broker/broker-stats.js'
import type { ConsumerManager } from '../broker/consumer-manager.js'
import type { ConsumerOffsetManager } from '../broker/consumer-offset-manager.js'
import type { ReplicationStatus } from '../broker/ha/replication-status.js'
import type { ProducerManager } from '../broker/producer-manager.js'
import type { PullRequestHoldService } from '../broker/pull-request-hold-service.js'
import type { RebalanceLockManager } from '../broker/rebalance-lock-manager.js'
import type { ScheduleMessageService } from '../broker/schedule-message-service.js'
import type { SubscriptionGroupManager } from '../broker/subscription-group-manager.js'
import type { TopicConfigManager } from '../broker/topic-config-manager.js'
import type { TransactionalMessageService } from '../broker/transaction/transactional-message-service.js'
import type { Logger } from '../common/logger.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import type { MessageExtBrokerInner, MessageStore, PutMessageResult } from '../store/message-store.js'
import type { MessageStoreConfig } from '../store/native-message-store.js'

export interface BrokerContext {
  readonly brokerConfig: BrokerConfig
  readonly store: MessageStore
  readonly storeConfig: MessageStoreConfig
  /** `brokerIP1:listenPort`: what the name servers publish and every record stores. */
  readonly brokerAddr: string
  /** The store host as records encode it (8 or 20 bytes). */
  readonly storeHost: Buffer
  readonly maxMessageSize: number
  readonly topicConfigManager: TopicConfigManager
  readonly subscriptionGroupManager: SubscriptionGroupManager
  readonly consumerOffsetManager: ConsumerOffsetManager
  readonly consumerManager: ConsumerManager
  readonly producerManager: ProducerManager
  readonly pullRequestHoldService: PullRequestHoldService
  readonly rebalanceLockManager: RebalanceLockManager
  readonly scheduleMessageService: ScheduleMessageService
  /** Half messages, op markers and check-backs (store.md §10). */
  readonly transactionalMessageService: TransactionalMessageService
  readonly stats: BrokerStats
  readonly logger: Logger
  /** Puts through the store's put hooks (delay levels) and wakes held pulls on success. */
  putMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult>
  putMessages(msgs: MessageExtBrokerInner[]): Promise<PutMessageResult>
  /** Sends NOTIFY_CONSUMER_IDS_CHANGED (oneway) to each channel. */
  notifyConsumerIdsChanged(group: string, channels: readonly RemotingChannel[]): void
  /**
   * Re-registers with every name server (after a topic change). Resolves once a registration carrying the topic
   * table as it is at the call has finished with every name server; never rejects (failures are logged).
   */
  registerBrokerAll(oneway: boolean): Promise<void>
  /** Role, and the slaves (master) or the master link (slave). */
  replicationStatus(): ReplicationStatus
}
