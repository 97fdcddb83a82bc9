/**
 * The name server's routing tables (`RouteInfoManager`, protocol.md §7): which brokers exist, which topics they
 * serve, and whether they are alive. Brokers fill the tables by registering every 30 s; clients read routes.
 *
 * Everything runs on the event loop, so the Java read/write lock has no counterpart: each method sees and leaves
 * the tables consistent.
 */
import { MixAll, NOT_ALLOWED_SEND_TOPICS, isDLQTopic, isRetryTopic } from '../common/mix-all.js'
import { PermName, isInherited } from '../common/constant/perm-name.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { sameDataVersion, type DataVersion, type TopicConfig } from '../common/topic-config.js'
import { TOPIC_MAX_LENGTH, topicProblem } from '../common/topic-validator.js'
import type { TopicConfigSerializeWrapper } from '../remoting/protocol/namesrv.js'
import {
  cloneBrokerData,
  cloneQueueData,
  type BrokerData,
  type ClusterInfo,
  type QueueData,
  type TopicList,
  type TopicRouteData,
} from '../remoting/protocol/route.js'

/** The connection a broker registered on; `RemotingChannel` is one. */
export interface BrokerChannel {
  readonly remoteAddress: string
  close(reason?: string): void
}

/** `BrokerLiveInfo`. */
export interface BrokerLiveInfo {
  lastUpdateTimestamp: number
  dataVersion: DataVersion
  channel: BrokerChannel | null
  haServerAddr: string
}

export interface RegisterBrokerRequest {
  clusterName: string
  brokerAddr: string
  brokerName: string
  brokerId: number
  haServerAddr: string
  topicConfigWrapper: TopicConfigSerializeWrapper
  /** `null` leaves the filter server table alone (pre-3.0.11 brokers send none). */
  filterServerList: string[] | null
  channel: BrokerChannel | null
}

/** `RegisterBrokerResult`: for a slave, where its master is. */
export interface RegisterBrokerResult {
  masterAddr: string | null
  haServerAddr: string | null
}

export interface RouteInfoManagerOptions {
  logger?: Logger
  /** Clock, injectable for liveness tests. */
  now?: () => number
  /** A broker silent this long is dead (120 s). */
  brokerChannelExpiredMs?: number
  /** Answer unknown topics with a TBW102-based route (ferrymq extension, on by default). */
  autoCreateTopicRouteEnable?: boolean
  /** Queues per broker in such a route (4). */
  autoCreateTopicQueueNums?: number
}

/** `RouteInfoManager.BROKER_CHANNEL_EXPIRED_TIME`. */
export const BROKER_CHANNEL_EXPIRED_MS_DEFAULT = 120_000
/** The producers' `defaultTopicQueueNums` (`DefaultMQProducer`), also what ali-ons sends. */
export const AUTO_CREATE_TOPIC_QUEUE_NUMS_DEFAULT = 4

export class RouteInfoManager {
  private readonly topicQueueTable = new Map<string, Map<string, QueueData>>()
  private readonly brokerAddrTable = new Map<string, BrokerData>()
  private readonly clusterAddrTable = new Map<string, Set<string>>()
  private readonly brokerLiveTable = new Map<string, BrokerLiveInfo>()
  private readonly filterServerTable = new Map<string, string[]>()
  private readonly log: Logger
  private readonly now: () => number
  private readonly brokerChannelExpiredMs: number
  private readonly autoCreateTopicRouteEnable: boolean
  private readonly autoCreateTopicQueueNums: number

  constructor(options: RouteInfoManagerOptions = {}) {
    this.log = (options.logger ?? noopLogger).child({ component: 'route-info-manager' })
    this.now = options.now ?? Date.now
    this.brokerChannelExpiredMs = options.brokerChannelExpiredMs ?? BROKER_CHANNEL_EXPIRED_MS_DEFAULT
    this.autoCreateTopicRouteEnable = options.autoCreateTopicRouteEnable ?? true
    this.autoCreateTopicQueueNums = options.autoCreateTopicQueueNums ?? AUTO_CREATE_TOPIC_QUEUE_NUMS_DEFAULT
  }

  // -------------------------------------------------------------------------------------------------------------
  // Registration

  /** `RouteInfoManager#registerBroker` (protocol.md §7.2). */
  registerBroker(req: RegisterBrokerRequest): RegisterBrokerResult {
    const { clusterName, brokerAddr, brokerName, brokerId } = req
    let names = this.clusterAddrTable.get(clusterName)
    if (names === undefined) this.clusterAddrTable.set(clusterName, (names = new Set()))
    names.add(brokerName)

    let registerFirst = false
    let brokerData = this.brokerAddrTable.get(brokerName)
    if (brokerData === undefined) {
      registerFirst = true
      brokerData = { cluster: clusterName, brokerName, brokerAddrs: new Map() }
      this.brokerAddrTable.set(brokerName, brokerData)
    }
    // A slave switched to master (or back) keeps its address under a new id: one address, one entry.
    for (const [id, addr] of brokerData.brokerAddrs) {
      if (addr === brokerAddr && id !== brokerId) brokerData.brokerAddrs.delete(id)
    }
    const oldAddr = brokerData.brokerAddrs.get(brokerId)
    brokerData.brokerAddrs.set(brokerId, brokerAddr)
    if (brokerId === MixAll.MASTER_ID && oldAddr !== brokerAddr) {
      this.log.info({ clusterName, brokerName, from: oldAddr ?? null, to: brokerAddr }, 'master address changed')
    }
    registerFirst ||= oldAddr === undefined

    const wrapper = req.topicConfigWrapper
    if (brokerId === MixAll.MASTER_ID) {
      // Only a changed DataVersion (or a first registration) rewrites the queue data: the 30 s heartbeat
      // registration carries the same table every time.
      if (registerFirst || this.isBrokerTopicConfigChanged(brokerAddr, wrapper.dataVersion)) {
        for (const config of wrapper.topicConfigTable.values()) this.createAndUpdateQueueData(brokerName, config)
      }
    }

    const previous = this.brokerLiveTable.get(brokerAddr)
    this.brokerLiveTable.set(brokerAddr, {
      lastUpdateTimestamp: this.now(),
      dataVersion: { ...wrapper.dataVersion },
      channel: req.channel,
      haServerAddr: req.haServerAddr,
    })
    if (previous === undefined) this.log.info({ brokerAddr, haServerAddr: req.haServerAddr }, 'new broker registered')

    if (req.filterServerList !== null) {
      if (req.filterServerList.length === 0) this.filterServerTable.delete(brokerAddr)
      else this.filterServerTable.set(brokerAddr, [...req.filterServerList])
    }
    return this.masterOf(brokerData, brokerId)
  }

  /** For a slave: its master's address and HA address, if the master is alive. */
  private masterOf(brokerData: BrokerData, brokerId: number): RegisterBrokerResult {
    if (brokerId === MixAll.MASTER_ID) return { masterAddr: null, haServerAddr: null }
    const masterAddr = brokerData.brokerAddrs.get(MixAll.MASTER_ID)
    const master = masterAddr === undefined ? undefined : this.brokerLiveTable.get(masterAddr)
    if (masterAddr === undefined || master === undefined) return { masterAddr: null, haServerAddr: null }
    return { masterAddr, haServerAddr: master.haServerAddr }
  }

  private createAndUpdateQueueData(brokerName: string, config: TopicConfig): void {
    const queueData: QueueData = {
      brokerName,
      readQueueNums: config.readQueueNums,
      writeQueueNums: config.writeQueueNums,
      perm: config.perm,
      topicSysFlag: config.topicSysFlag,
    }
    let byBroker = this.topicQueueTable.get(config.topicName)
    if (byBroker === undefined) {
      this.topicQueueTable.set(config.topicName, (byBroker = new Map()))
      this.log.info({ topic: config.topicName, queueData }, 'new topic registered')
    }
    const old = byBroker.get(brokerName)
    byBroker.set(brokerName, queueData)
    if (old !== undefined && !sameQueueData(old, queueData)) {
      this.log.info({ topic: config.topicName, old, queueData }, 'topic changed')
    }
  }

  /** True when the stored DataVersion of `brokerAddr` is missing or differs (`isBrokerTopicConfigChanged`). */
  isBrokerTopicConfigChanged(brokerAddr: string, dataVersion: DataVersion): boolean {
    return !sameDataVersion(this.queryBrokerTopicConfig(brokerAddr), dataVersion)
  }

  /** The DataVersion a broker last registered with, or `null` when it is not registered. */
  queryBrokerTopicConfig(brokerAddr: string): DataVersion | null {
    const live = this.brokerLiveTable.get(brokerAddr)
    return live === undefined ? null : { ...live.dataVersion }
  }

  /** Refreshes liveness without a registration (an unchanged QUERY_DATA_VERSION). */
  updateBrokerInfoUpdateTimestamp(brokerAddr: string, timestampMs = this.now()): void {
    const live = this.brokerLiveTable.get(brokerAddr)
    if (live !== undefined) live.lastUpdateTimestamp = timestampMs
  }

  /** `RouteInfoManager#unregisterBroker`: the given address and id leave, and the broker name with its last address. */
  unregisterBroker(clusterName: string, brokerAddr: string, brokerName: string, brokerId: number): void {
    const live = this.brokerLiveTable.delete(brokerAddr)
    this.filterServerTable.delete(brokerAddr)
    this.log.info({ brokerAddr, found: live }, 'unregister broker')
    const brokerData = this.brokerAddrTable.get(brokerName)
    if (brokerData === undefined) return
    brokerData.brokerAddrs.delete(brokerId)
    if (brokerData.brokerAddrs.size > 0) return
    this.brokerAddrTable.delete(brokerName)
    const names = this.clusterAddrTable.get(clusterName)
    if (names !== undefined) {
      names.delete(brokerName)
      if (names.size === 0) this.clusterAddrTable.delete(clusterName)
    }
    this.removeTopicByBrokerName(brokerName)
  }

  private removeTopicByBrokerName(brokerName: string): void {
    for (const [topic, byBroker] of this.topicQueueTable) {
      if (byBroker.delete(brokerName)) this.log.info({ topic, brokerName }, 'broker removed from topic')
      if (byBroker.size === 0) {
        this.topicQueueTable.delete(topic)
        this.log.info({ topic }, 'topic removed: no broker serves it')
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Liveness

  /** Removes brokers not heard from for `brokerChannelExpiredMs` and closes their connections (`scanNotActiveBroker`). */
  scanNotActiveBroker(): number {
    const now = this.now()
    let removed = 0
    for (const [brokerAddr, live] of this.brokerLiveTable) {
      if (live.lastUpdateTimestamp + this.brokerChannelExpiredMs >= now) continue
      this.brokerLiveTable.delete(brokerAddr)
      this.log.warn({ brokerAddr, expiredMs: this.brokerChannelExpiredMs }, 'broker channel expired')
      this.removeBrokerAddr(brokerAddr)
      // Closing runs the close listener, which finds nothing left to remove.
      live.channel?.close('broker registration expired')
      removed++
    }
    return removed
  }

  /**
   * A connection closed (`onChannelDestroy`, run for close, error and idle alike): every broker that registered
   * on it is removed at once. Java stops at the first address found; a connection shared by several registering
   * brokers (tests, a proxy) would then leave the others until they expire, so all of them go here. When no
   * broker registered on the channel, Java falls back to treating the peer address as a broker address.
   */
  onChannelDestroy(remoteAddr: string, channel: BrokerChannel | null): void {
    const found: string[] = []
    if (channel !== null) {
      for (const [brokerAddr, live] of this.brokerLiveTable) if (live.channel === channel) found.push(brokerAddr)
    }
    if (found.length === 0 && remoteAddr.length > 0) found.push(remoteAddr)
    else if (found.length > 0) this.log.info({ brokerAddrs: found }, "broker's channel destroyed, removing its routes")
    for (const brokerAddr of found) {
      this.brokerLiveTable.delete(brokerAddr)
      this.removeBrokerAddr(brokerAddr)
    }
  }

  /** Drops one address everywhere; the broker name goes too when it was its last address. */
  private removeBrokerAddr(brokerAddr: string): void {
    this.filterServerTable.delete(brokerAddr)
    for (const [brokerName, brokerData] of this.brokerAddrTable) {
      let hit = false
      for (const [id, addr] of brokerData.brokerAddrs) {
        if (addr !== brokerAddr) continue
        brokerData.brokerAddrs.delete(id)
        hit = true
        this.log.info({ brokerName, brokerId: id, brokerAddr }, 'broker address removed')
      }
      if (!hit) continue
      if (brokerData.brokerAddrs.size === 0) this.removeBrokerName(brokerName)
      return
    }
  }

  private removeBrokerName(brokerName: string): void {
    this.brokerAddrTable.delete(brokerName)
    for (const [clusterName, names] of this.clusterAddrTable) {
      if (!names.delete(brokerName)) continue
      if (names.size === 0) this.clusterAddrTable.delete(clusterName)
      break
    }
    this.removeTopicByBrokerName(brokerName)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Routes

  /** `pickupTopicRouteData`: `null` when the topic has no queue data or none of its brokers is known. */
  pickupTopicRouteData(topic: string): TopicRouteData | null {
    const byBroker = this.topicQueueTable.get(topic)
    if (byBroker === undefined) return null
    const route: TopicRouteData = {
      orderTopicConf: null,
      queueDatas: [...byBroker.values()].map(cloneQueueData),
      brokerDatas: [],
      filterServerTable: new Map(),
    }
    for (const brokerName of byBroker.keys()) {
      const brokerData = this.brokerAddrTable.get(brokerName)
      if (brokerData === undefined) continue
      route.brokerDatas.push(cloneBrokerData(brokerData))
      for (const addr of brokerData.brokerAddrs.values()) {
        const filters = this.filterServerTable.get(addr)
        if (filters !== undefined) route.filterServerTable.set(addr, [...filters])
      }
    }
    return route.brokerDatas.length > 0 ? route : null
  }

  /**
   * ferrymq extension: a route for a topic no broker has yet, so that the producer's first send can auto-create
   * it. Java clients handle TOPIC_NOT_EXIST themselves by asking for the route of `TBW102` and sending with
   * `defaultTopic=TBW102`; ali-ons cannot, because it throws on code 17 before its own TBW102 fallback runs
   * (real-clients.md §1.3, "Blockers" 1). So the name server answers in its place with what the Java producer
   * would have built (`MQClientInstance#updateTopicRouteInfoFromNameServer` with `isDefault`): every master whose
   * TBW102 carries PERM_INHERIT, with `min(autoCreateTopicQueueNums, TBW102 queues)` queues and the perm the broker
   * will give the new topic (TBW102's without INHERIT, `TopicConfigManager#createTopicInSendMessageMethod`).
   * The producer then sends there, and the broker creates the topic with exactly these queues.
   *
   * `null` when the extension is off, the name is not one a producer may auto-create (invalid, retry, DLQ or
   * system topics: brokers create those themselves), or no live broker offers TBW102 with INHERIT.
   */
  pickupAutoCreateRouteData(topic: string): TopicRouteData | null {
    if (!this.autoCreateTopicRouteEnable || !isAutoCreatableTopic(topic)) return null
    const template = this.topicQueueTable.get(MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC)
    if (template === undefined) return null
    const route: TopicRouteData = {
      orderTopicConf: null,
      queueDatas: [],
      brokerDatas: [],
      filterServerTable: new Map(),
    }
    for (const [brokerName, q] of template) {
      const brokerData = this.brokerAddrTable.get(brokerName)
      if (!isInherited(q.perm) || brokerData?.brokerAddrs.has(MixAll.MASTER_ID) !== true) continue
      route.queueDatas.push({
        brokerName,
        readQueueNums: Math.min(this.autoCreateTopicQueueNums, q.readQueueNums),
        writeQueueNums: Math.min(this.autoCreateTopicQueueNums, q.writeQueueNums),
        perm: q.perm & ~PermName.PERM_INHERIT,
        topicSysFlag: 0,
      })
      route.brokerDatas.push(cloneBrokerData(brokerData))
    }
    return route.queueDatas.length > 0 ? route : null
  }

  // -------------------------------------------------------------------------------------------------------------
  // Admin views and operations

  /** `getAllClusterInfo`, as a copy. */
  getAllClusterInfo(): ClusterInfo {
    const brokerAddrTable = new Map<string, BrokerData>()
    for (const [name, b] of this.brokerAddrTable) brokerAddrTable.set(name, cloneBrokerData(b))
    const clusterAddrTable = new Map<string, Set<string>>()
    for (const [name, members] of this.clusterAddrTable) clusterAddrTable.set(name, new Set(members))
    return { brokerAddrTable, clusterAddrTable }
  }

  /** Every topic with queue data. */
  getAllTopicList(): TopicList {
    return { topicList: [...this.topicQueueTable.keys()], brokerAddr: null }
  }

  /** Topics with queue data on any broker of `cluster`; empty for an unknown cluster. */
  getTopicsByCluster(cluster: string): TopicList {
    const names = this.clusterAddrTable.get(cluster)
    const topics: string[] = []
    if (names !== undefined) {
      for (const [topic, byBroker] of this.topicQueueTable) {
        for (const name of names) {
          if (!byBroker.has(name)) continue
          topics.push(topic)
          break
        }
      }
    }
    return { topicList: topics, brokerAddr: null }
  }

  /** Cluster names and broker names (each is a topic on its brokers), plus the address of one broker. */
  getSystemTopicList(): TopicList {
    const topics = new Set<string>()
    for (const [cluster, names] of this.clusterAddrTable) {
      topics.add(cluster)
      for (const name of names) topics.add(name)
    }
    let brokerAddr: string | null = null
    for (const b of this.brokerAddrTable.values()) {
      const first = b.brokerAddrs.values().next()
      if (first.done !== true) {
        brokerAddr = first.value
        break
      }
    }
    return { topicList: [...topics], brokerAddr }
  }

  /** Removes a topic, or only its queue data on the brokers of `clusterName` (`deleteTopic`, both overloads). */
  deleteTopic(topic: string, clusterName?: string | null): void {
    if (clusterName === undefined || clusterName === null || clusterName.length === 0) {
      this.topicQueueTable.delete(topic)
      return
    }
    const names = this.clusterAddrTable.get(clusterName)
    const byBroker = this.topicQueueTable.get(topic)
    if (names === undefined || byBroker === undefined) return
    for (const name of names) {
      if (byBroker.delete(name)) this.log.info({ topic, brokerName: name }, 'topic deleted from broker')
    }
    if (byBroker.size === 0) this.topicQueueTable.delete(topic)
  }

  /** Clears PERM_WRITE on every topic of `brokerName`; the number of topics touched. */
  wipeWritePermOfBroker(brokerName: string): number {
    return this.updatePermOfBroker(brokerName, (perm) => perm & ~PermName.PERM_WRITE)
  }

  /** Sets every topic of `brokerName` to READ|WRITE; the number of topics touched. */
  addWritePermOfBroker(brokerName: string): number {
    return this.updatePermOfBroker(brokerName, () => PermName.PERM_READ | PermName.PERM_WRITE)
  }

  private updatePermOfBroker(brokerName: string, update: (perm: number) => number): number {
    let count = 0
    for (const byBroker of this.topicQueueTable.values()) {
      const q = byBroker.get(brokerName)
      if (q === undefined) continue
      q.perm = update(q.perm)
      count++
    }
    return count
  }

  /** Liveness entries, for admin views and tests. */
  brokerLiveInfo(brokerAddr: string): Readonly<BrokerLiveInfo> | null {
    return this.brokerLiveTable.get(brokerAddr) ?? null
  }
}

function sameQueueData(a: QueueData, b: QueueData): boolean {
  return (
    a.readQueueNums === b.readQueueNums &&
    a.writeQueueNums === b.writeQueueNums &&
    a.perm === b.perm &&
    a.topicSysFlag === b.topicSysFlag
  )
}

/** A name a producer could auto-create by sending (`TopicValidator#validateTopic`), and not one brokers own. */
function isAutoCreatableTopic(topic: string): boolean {
  if (topicProblem(topic) !== null || topic.length > TOPIC_MAX_LENGTH) return false
  if (isRetryTopic(topic) || isDLQTopic(topic)) return false
  return topic !== MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC && !NOT_ALLOWED_SEND_TOPICS.has(topic)
}
