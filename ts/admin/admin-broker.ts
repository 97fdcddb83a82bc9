import type { BrokerConfig } from '../broker/broker-config.js'
import type { BrokerStats } from '../broker/broker-stats.js'
import type { TopicConfigManager } from '../broker/topic-config-manager.js'
import type { MessageStore } from '../store/message-store.js'

/** What the admin API reads from a running broker; `BrokerController` provides it. */
export interface AdminBroker {
  readonly brokerConfig: BrokerConfig
  readonly brokerAddr: string
  readonly store: MessageStore
  readonly stats: BrokerStats
  readonly topicConfigManager: TopicConfigManager
  isReady(): boolean
}
