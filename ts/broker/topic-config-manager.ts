/**
 * The topics this broker serves (`TopicConfigManager`), persisted to `config/topics.json` in RocketMQ's own
 * format (`TopicConfigSerializeWrapper`), with the system topics created at start and topics auto-created from
 * `TBW102` on first send (protocol.md §2.4.1 rule 5, §7.5). Every change bumps the data version; the broker
 * re-registers with the name servers after creations so that routes appear.
 */
import { join } from 'node:path'

import { PermName, isInherited } from '../common/constant/perm-name.js'
import type { Logger } from '../common/logger.js'
import { MixAll } from '../common/mix-all.js'
import { newTopicConfig, topicConfigFromJson, type DataVersion, type TopicConfig } from '../common/topic-config.js'
import type { TopicConfigSerializeWrapper } from '../remoting/protocol/namesrv.js'
import type { BrokerConfig } from './broker-config.js'
import { VersionedConfigTable } from './config-file.js'

/** Queue count of `SCHEDULE_TOPIC_XXXX`: one per delay level. */
export const SCHEDULE_TOPIC_QUEUE_NUMS = 18

export interface TopicConfigManagerOptions {
  brokerConfig: BrokerConfig
  storePathRootDir: string
  logger: Logger
  /** Called after a topic is created or changed so the broker re-registers (oneway for sends, as Java does). */
  onTopicsChanged(oneway: boolean): void
}

export class TopicConfigManager {
  private readonly table: VersionedConfigTable<TopicConfig>
  private readonly log: Logger
  private readonly config: BrokerConfig
  /** Topics the broker itself created at start; they may not be deleted or changed by admins. */
  private readonly systemTopics = new Set<string>()

  constructor(private readonly options: TopicConfigManagerOptions) {
    this.config = options.brokerConfig
    this.log = options.logger.child({ component: 'topic-config' })
    const path = join(options.storePathRootDir, 'config', 'topics.json')
    this.table = new VersionedConfigTable(path, 'topicConfigTable', this.log)
    this.createSystemTopics()
  }

  /** Loads `topics.json`; topics from the file override the built-in ones, as in Java. */
  load(): void {
    this.table.load(topicConfigFromJson, (tc) => tc.topicName)
  }

  private createSystemTopics(): void {
    const c = this.config
    const rw = PermName.PERM_READ | PermName.PERM_WRITE
    const add = (name: string, queues: number, perm: number): void => {
      this.table.seed(name, newTopicConfig(name, { readQueueNums: queues, writeQueueNums: queues, perm }))
      this.systemTopics.add(name)
    }
    add(MixAll.SELF_TEST_TOPIC, 1, rw)
    if (c.autoCreateTopicEnable) {
      add(MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC, c.defaultTopicQueueNums, rw | PermName.PERM_INHERIT)
    }
    add(MixAll.BENCHMARK_TOPIC, 1024, rw)
    add(c.brokerClusterName, 16, c.clusterTopicEnable ? rw | PermName.PERM_INHERIT : PermName.PERM_INHERIT)
    add(c.brokerName, 1, c.brokerTopicEnable ? rw | PermName.PERM_INHERIT : PermName.PERM_INHERIT)
    add(MixAll.OFFSET_MOVED_EVENT, 1, rw)
    add(MixAll.SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_NUMS, rw)
    if (c.traceTopicEnable) add(c.msgTraceTopicName, 1, rw)
    add(`${c.brokerClusterName}_${MixAll.REPLY_TOPIC_POSTFIX}`, 1, rw)
  }

  isSystemTopic(topic: string): boolean {
    return this.systemTopics.has(topic) || topic.startsWith(MixAll.SYSTEM_TOPIC_PREFIX)
  }

  selectTopicConfig(topic: string): TopicConfig | undefined {
    return this.table.get(topic)
  }

  isOrderTopic(topic: string): boolean {
    return this.table.get(topic)?.order === true
  }

  topics(): IterableIterator<TopicConfig> {
    return this.table.values()
  }

  get size(): number {
    return this.table.size
  }

  dataVersion(): DataVersion {
    return this.table.dataVersion()
  }

  /**
   * Creates `topic` from the template `defaultTopic` when the template may be inherited
   * (`createTopicInSendMessageMethod`); `undefined` when it cannot.
   */
  createTopicInSendMessageMethod(
    topic: string,
    defaultTopic: string,
    remoteAddress: string,
    clientDefaultTopicQueueNums: number,
    topicSysFlag: number,
  ): TopicConfig | undefined {
    const existing = this.table.get(topic)
    if (existing) return existing
    const template = this.table.get(defaultTopic)
    if (template === undefined) {
      this.log.warn(
        { topic, defaultTopic, producer: remoteAddress },
        'cannot create topic: the default topic does not exist',
      )
      return undefined
    }
    let templatePerm = template.perm
    if (defaultTopic === MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC && !this.config.autoCreateTopicEnable) {
      templatePerm = PermName.PERM_READ | PermName.PERM_WRITE
    }
    if (!isInherited(templatePerm)) {
      this.log.warn(
        { topic, defaultTopic, perm: templatePerm, producer: remoteAddress },
        'cannot create topic: the default topic may not be inherited',
      )
      return undefined
    }
    const queueNums = Math.max(0, Math.min(clientDefaultTopicQueueNums, template.writeQueueNums))
    const tc = newTopicConfig(topic, {
      readQueueNums: queueNums,
      writeQueueNums: queueNums,
      perm: templatePerm & ~PermName.PERM_INHERIT,
      topicSysFlag,
      topicFilterType: template.topicFilterType,
    })
    this.log.info({ topic, defaultTopic, queueNums, producer: remoteAddress }, 'created topic from the default topic')
    this.table.set(tc.topicName, tc)
    this.options.onTopicsChanged(true)
    return tc
  }

  /** Creates a retry or DLQ topic if missing (`createTopicInSendMessageBackMethod`). */
  createTopicInSendMessageBackMethod(
    topic: string,
    queueNums: number,
    perm: number,
    topicSysFlag: number,
  ): TopicConfig {
    const existing = this.table.get(topic)
    if (existing) return existing
    const tc = newTopicConfig(topic, { readQueueNums: queueNums, writeQueueNums: queueNums, perm, topicSysFlag })
    this.log.info({ topic, queueNums }, 'created retry/DLQ topic')
    this.table.set(tc.topicName, tc)
    this.options.onTopicsChanged(true)
    return tc
  }

  /** Creates or replaces a topic (admin `UPDATE_AND_CREATE_TOPIC`). */
  updateTopicConfig(tc: TopicConfig): void {
    const old = this.table.get(tc.topicName)
    this.log.info({ topic: tc.topicName, old, new: tc }, old ? 'topic changed' : 'topic created')
    this.table.set(tc.topicName, tc)
  }

  deleteTopicConfig(topic: string): boolean {
    if (!this.table.delete(topic)) return false
    this.log.info({ topic }, 'topic deleted')
    return true
  }

  /** `TopicConfigSerializeWrapper` for registration and `GET_ALL_TOPIC_CONFIG`. */
  buildSerializeWrapper(): { topicConfigTable: Map<string, TopicConfig>; dataVersion: DataVersion } {
    const { table, dataVersion } = this.table.snapshot()
    return { topicConfigTable: table, dataVersion }
  }

  /**
   * Replaces every topic and the data version with the master's and writes `topics.json` at once
   * (`SlaveSynchronize#syncTopicConfig`). The built-in topics are replaced too: the master has the same ones. No
   * re-registration is triggered: the periodic one carries the new version to the name servers, as in Java.
   */
  replaceFromMaster(wrapper: TopicConfigSerializeWrapper): void {
    this.table.replaceAll(wrapper.topicConfigTable, wrapper.dataVersion)
  }

  persist(): void {
    this.table.persist()
  }
}
