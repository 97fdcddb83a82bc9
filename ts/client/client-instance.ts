/**
 * The client runtime shared by every producer and consumer of one client id (`MQClientInstance`,
 * `MQClientManager`, `RebalanceService`; client.md §1): one remoting client, the route and broker address tables,
 * heartbeats, periodic route refresh and offset persistence, the rebalance loop, and the requests brokers send
 * to clients (`NOTIFY_CONSUMER_IDS_CHANGED`, `RESET_CONSUMER_CLIENT_OFFSET`, `CHECK_TRANSACTION_STATE`).
 */
import { isReadable } from '../common/constant/perm-name.js'
import { parseJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { decodeMessage } from '../common/message/message-record.js'
import { MixAll } from '../common/mix-all.js'
import { CURRENT_VERSION, versionDesc } from '../common/mq-version.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import type { ConsumerData, HeartbeatData } from '../remoting/protocol/heartbeat.js'
import { messageQueueFromJson, type MessageQueue } from '../remoting/protocol/message-queue.js'
import type { TopicRouteData } from '../remoting/protocol/route.js'
import { RemotingClient } from '../remoting/remoting-client.js'
import { RemotingCommand, type SerializeType } from '../remoting/remoting-command.js'
import type { RPCHook } from '../remoting/rpc-hook.js'
import { MQClientError } from './client-error.js'
import { registerConsumerAdminProcessors, type ConsumerAdminTarget } from './client-remoting-processor.js'
import { MQClientAPI } from './mq-client-api.js'

/** What the runtime needs from its first user; later users of the same client id share it as it is. */
export interface ClientRuntimeConfig {
  namesrvAddrs: readonly string[]
  /** Route refresh period, ms (`pollNameServerInterval`). */
  pollNameServerInterval: number
  /** Heartbeat period, ms (`heartbeatBrokerInterval`). */
  heartbeatBrokerInterval: number
  /** Consumer offset persistence period, ms (`persistConsumerOffsetInterval`). */
  persistConsumerOffsetInterval: number
  /** Timeout of the runtime's own requests, ms (`mqClientApiTimeout`). */
  mqClientApiTimeout: number
  rpcHooks: readonly RPCHook[]
  /** Header serialization of every request. */
  serializeType: SerializeType
  logger: Logger
}

/** A consumer as the runtime drives it (`MQConsumerInner`); the admin requests of `ConsumerAdminTarget` are optional. */
export interface ConsumerInner extends ConsumerAdminTarget {
  readonly groupName: string
  consumerData(): ConsumerData
  /** Rebalances every subscribed topic; resolves true when every topic is balanced. */
  doRebalance(): Promise<boolean>
  persistConsumerOffset(): Promise<void>
  /** The topics whose routes the runtime keeps fresh for this consumer. */
  subscribedTopics(): string[]
  updateTopicSubscribeInfo(topic: string, mqs: MessageQueue[]): void
  /** `RESET_CONSUMER_CLIENT_OFFSET` from a broker (push consumers). */
  resetOffset?(topic: string, offsets: Map<MessageQueue, number>): Promise<void>
}

/** A broker address picked for a request, and whether it is a slave's (`FindBrokerResult`). */
export interface FindBrokerResult {
  addr: string
  slave: boolean
}

/** A producer as the runtime sees it (`MQProducerInner`): its group, for heartbeats, and transaction checks. */
export interface ProducerInner {
  readonly groupName: string
  /**
   * `CHECK_TRANSACTION_STATE` from the broker at `brokerAddr` about `msg` (a transactional producer only;
   * `ClientRemotingProcessor#checkTransactionState`).
   */
  checkTransactionState?(brokerAddr: string, msg: TransactionCheckMessage, header: CheckTransactionStateHeader): void
}

/** The half message a broker asks about: as stored, `transactionId` = its `UNIQ_KEY`. */
export interface TransactionCheckMessage extends MessageExt {
  transactionId: string | undefined
}

/** `CheckTransactionStateRequestHeader`. */
export interface CheckTransactionStateHeader {
  tranStateTableOffset: number
  commitLogOffset: number
  msgId: string | undefined
  transactionId: string | undefined
  offsetMsgId: string | undefined
}

/** The queues a route lets consumers read (client.md §1.5, subscribe set). */
export function subscribeQueues(topic: string, route: TopicRouteData): MessageQueue[] {
  const out: MessageQueue[] = []
  for (const qd of route.queueDatas) {
    if (!isReadable(qd.perm)) continue
    for (let i = 0; i < qd.readQueueNums; i++) out.push({ topic, brokerName: qd.brokerName, queueId: i })
  }
  return out
}

/** `RebalanceService` timings (client.md §1.3). */
const REBALANCE_WAIT_MS = 20_000
const REBALANCE_MIN_INTERVAL_MS = 1000
const REBALANCE_UNBALANCED_WAIT_MS = 1000
/** First runs of the scheduled tasks (client.md §1.3). */
const FIRST_ROUTE_REFRESH_MS = 10
const FIRST_HEARTBEAT_MS = 1000
/** Heartbeats asked for out of period (`heartbeatSoon`) are at least this far apart. */
const URGENT_HEARTBEAT_GAP_MS = 1000
const FIRST_PERSIST_MS = 10_000

export class MQClientInstance {
  readonly remoting: RemotingClient
  readonly api: MQClientAPI
  readonly log: Logger
  private readonly producers = new Map<string, ProducerInner>()
  private readonly consumers = new Map<string, ConsumerInner>()
  private readonly topicRouteTable = new Map<string, TopicRouteData>()
  /** Broker name → broker id → address, from every route seen. */
  private readonly brokerAddrTable = new Map<string, Map<number, string>>()
  private readonly timers: NodeJS.Timeout[] = []
  private lastUrgentHeartbeatAt = 0
  private urgentHeartbeat: Promise<void> = Promise.resolve()
  private started = false
  private stopped = false
  /** Rebalance loop state. */
  private rebalanceTimer: NodeJS.Timeout | undefined
  private rebalanceRunning: Promise<void> | undefined
  private lastRebalanceAt = 0
  private rebalanceAgain = false

  constructor(
    readonly clientId: string,
    readonly config: ClientRuntimeConfig,
  ) {
    this.log = config.logger.child({ component: 'client-instance', clientId })
    this.remoting = new RemotingClient({ logger: this.log, serializeType: config.serializeType })
    for (const hook of config.rpcHooks) this.remoting.registerRPCHook(hook)
    this.api = new MQClientAPI(this.remoting, config.namesrvAddrs)
    this.remoting.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {
      processRequest: (_channel, request) => {
        this.log.info({ group: request.ext('consumerGroup') }, 'consumer ids changed, rebalancing')
        this.rebalanceImmediately()
        return null
      },
    })
    this.remoting.registerProcessor(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, {
      processRequest: (_channel, request) => this.onResetOffset(request),
    })
    this.remoting.registerProcessor(RequestCode.CHECK_TRANSACTION_STATE, {
      processRequest: (channel, request) => {
        this.onCheckTransactionState(channel.remoteAddress, request)
        return null
      },
    })
    // GET_CONSUMER_RUNNING_INFO, CONSUME_MESSAGE_DIRECTLY, GET_CONSUMER_STATUS_FROM_CLIENT (admin tools, via brokers).
    registerConsumerAdminProcessors(this.remoting, {
      selectConsumer: (group) => this.consumers.get(group),
      namesrvAddrs: config.namesrvAddrs,
      clientVersionDesc: versionDesc(CURRENT_VERSION),
      log: this.log,
    })
  }

  /** Starts the scheduled tasks once (client.md §1.3); later calls do nothing. */
  start(): void {
    if (this.started) return
    this.started = true
    const c = this.config
    this.schedule(FIRST_ROUTE_REFRESH_MS, c.pollNameServerInterval, () => this.updateTopicRoutesOfConsumers())
    this.schedule(FIRST_HEARTBEAT_MS, c.heartbeatBrokerInterval, async () => {
      this.cleanOfflineBrokers()
      await this.sendHeartbeatToAllBrokers()
    })
    this.schedule(FIRST_PERSIST_MS, c.persistConsumerOffsetInterval, () => this.persistAllConsumerOffsets())
    this.scheduleRebalance(REBALANCE_WAIT_MS)
  }

  async shutdown(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    clearTimeout(this.rebalanceTimer)
    await this.rebalanceRunning
    this.remoting.shutdown()
  }

  isIdle(): boolean {
    return this.producers.size === 0 && this.consumers.size === 0
  }

  registerProducer(p: ProducerInner): void {
    if (this.producers.has(p.groupName)) {
      throw new MQClientError(
        'RMQ_ERR_GROUP_REGISTERED',
        `the producer group [${p.groupName}] has been created before in client ${this.clientId}, specify another instanceName`,
      )
    }
    this.producers.set(p.groupName, p)
  }

  registerConsumer(c: ConsumerInner): void {
    if (this.consumers.has(c.groupName)) {
      throw new MQClientError(
        'RMQ_ERR_GROUP_REGISTERED',
        `the consumer group [${c.groupName}] has been created before in client ${this.clientId}, specify another instanceName`,
      )
    }
    this.consumers.set(c.groupName, c)
  }

  /** Removes the group here and tells every broker (`unregisterClient`); failures are logged. */
  async unregisterProducer(group: string): Promise<void> {
    if (this.producers.delete(group)) await this.unregisterAtBrokers({ producerGroup: group })
  }

  async unregisterConsumer(group: string): Promise<void> {
    if (this.consumers.delete(group)) await this.unregisterAtBrokers({ consumerGroup: group })
  }

  // ----- routes -----------------------------------------------------------------------------------------------

  /** The route of `topic` from the name servers (`null`: none), recorded in the tables. */
  async fetchRoute(topic: string): Promise<TopicRouteData | null> {
    const route = await this.api.getTopicRouteInfoFromNameServer(topic, this.config.mqClientApiTimeout)
    if (route !== null) this.recordRoute(topic, route)
    return route
  }

  /** Refreshes one topic's route; false when the name servers know none. Errors propagate. */
  async updateTopicRoute(topic: string): Promise<boolean> {
    return (await this.fetchRoute(topic)) !== null
  }

  route(topic: string): TopicRouteData | undefined {
    return this.topicRouteTable.get(topic)
  }

  /**
   * The address to use for `brokerName` (`findBrokerAddressInSubscribe`): the wanted id; for a slave id that is
   * gone, the next id up; else, unless `onlyThisBroker`, the group's lowest id (Java takes the first entry of a
   * `HashMap` keyed by small ids, i.e. the lowest). So while a master is down its slave still serves pulls.
   */
  findBrokerAddressInSubscribe(
    brokerName: string,
    brokerId: number,
    onlyThisBroker: boolean,
  ): FindBrokerResult | undefined {
    const addrs = this.brokerAddrTable.get(brokerName)
    if (addrs === undefined || addrs.size === 0) return undefined
    const slave = brokerId !== MixAll.MASTER_ID
    const addr = addrs.get(brokerId) ?? (slave ? addrs.get(brokerId + 1) : undefined)
    if (addr !== undefined) return { addr, slave }
    if (onlyThisBroker) return undefined
    const lowestId = Math.min(...addrs.keys())
    return { addr: addrs.get(lowestId)!, slave: lowestId !== MixAll.MASTER_ID }
  }

  /** The master address of `brokerName` (`findBrokerAddressInPublish`). */
  findBrokerAddressInPublish(brokerName: string): string | undefined {
    return this.brokerAddrTable.get(brokerName)?.get(MixAll.MASTER_ID)
  }

  /** The master of `brokerName`, refreshing `topic`'s route once when it is unknown. */
  async findMasterOrRefresh(brokerName: string, topic: string): Promise<string> {
    let addr = this.findBrokerAddressInPublish(brokerName)
    if (addr === undefined) {
      await this.updateTopicRoute(topic)
      addr = this.findBrokerAddressInPublish(brokerName)
    }
    if (addr === undefined) throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `The broker[${brokerName}] not exist`)
    return addr
  }

  /** The client ids of `group` as one broker of `topic` knows them (`findConsumerIdList`); `null` if unknown. */
  async findConsumerIdList(topic: string, group: string): Promise<string[] | null> {
    let addr = this.findBrokerAddrByTopic(topic)
    if (addr === undefined) {
      await this.updateTopicRoute(topic)
      addr = this.findBrokerAddrByTopic(topic)
    }
    if (addr === undefined) return null
    return this.api.getConsumerIdListByGroup(addr, group, this.config.mqClientApiTimeout)
  }

  /** A random broker of the topic: its master, else any address (`findBrokerAddrByTopic`). */
  findBrokerAddrByTopic(topic: string): string | undefined {
    const route = this.topicRouteTable.get(topic)
    if (route === undefined || route.brokerDatas.length === 0) return undefined
    const bd = route.brokerDatas[Math.floor(Math.random() * route.brokerDatas.length)]!
    return bd.brokerAddrs.get(MixAll.MASTER_ID) ?? bd.brokerAddrs.values().next().value
  }

  // ----- heartbeat, rebalance, persistence --------------------------------------------------------------------

  /**
   * A heartbeat to every broker now, at most once per second: for a broker that answers a pull with
   * SUBSCRIPTION_NOT_EXIST, i.e. one that restarted and lost this client's subscriptions. The Java client waits for
   * its next period (up to 30 s), and its consumers stand still until then. Resolves when that heartbeat (the one
   * just sent, or the one sent less than a second ago) is done.
   */
  heartbeatSoon(): Promise<void> {
    const now = Date.now()
    if (this.stopped || !this.started) return Promise.resolve()
    if (now - this.lastUrgentHeartbeatAt >= URGENT_HEARTBEAT_GAP_MS) {
      this.lastUrgentHeartbeatAt = now
      this.urgentHeartbeat = this.sendHeartbeatToAllBrokers()
    }
    return this.urgentHeartbeat
  }

  /** One heartbeat to every broker (masters only when no consumer lives here; client.md §1.4). */
  async sendHeartbeatToAllBrokers(): Promise<void> {
    if (this.producers.size === 0 && this.consumers.size === 0) return
    const data: HeartbeatData = {
      clientID: this.clientId,
      producerDataSet: [...this.producers.keys()].map((groupName) => ({ groupName })),
      consumerDataSet: [...this.consumers.values()].map((c) => c.consumerData()),
    }
    const sends: Promise<void>[] = []
    for (const [brokerName, addrs] of this.brokerAddrTable) {
      for (const [id, addr] of addrs) {
        if (data.consumerDataSet.length === 0 && id !== MixAll.MASTER_ID) continue
        sends.push(
          this.api.sendHeartbeat(addr, data, this.config.mqClientApiTimeout).catch((err: unknown) => {
            // The next period retries; a broker that stays away expires us and notifies the group.
            this.log.warn({ brokerName, addr, err }, 'heartbeat to broker failed')
          }),
        )
      }
    }
    await Promise.all(sends)
  }

  /**
   * After `subscribe()` on a running consumer (client.md §1.4): the topic's route, a heartbeat carrying the new
   * subscription, then a rebalance. Runs in the background; a failed route lookup is retried by the periodic
   * refresh.
   */
  afterSubscribe(topic: string): void {
    void this.updateTopicRoute(topic)
      .catch((err: unknown) => this.log.warn({ topic, err }, 'route lookup of a new subscription failed'))
      .then(() => this.sendHeartbeatToAllBrokers())
      .then(() => this.rebalanceImmediately())
  }

  /** Wakes the rebalance loop (client.md §1.3), still at most once per second. */
  rebalanceImmediately(): void {
    if (this.stopped || !this.started) return
    if (this.rebalanceRunning !== undefined) {
      this.rebalanceAgain = true
      return
    }
    const since = Date.now() - this.lastRebalanceAt
    this.scheduleRebalance(Math.max(0, REBALANCE_MIN_INTERVAL_MS - since))
  }

  /** Runs every consumer's rebalance now; true when all are balanced. */
  async doRebalance(): Promise<boolean> {
    let balanced = true
    for (const c of this.consumers.values()) {
      try {
        if (!(await c.doRebalance())) balanced = false
      } catch (err) {
        balanced = false
        // The next round retries; the queues owned so far keep being consumed.
        this.log.warn({ group: c.groupName, err }, 'rebalance failed')
      }
    }
    return balanced
  }

  async persistAllConsumerOffsets(): Promise<void> {
    for (const c of this.consumers.values()) {
      try {
        await c.persistConsumerOffset()
      } catch (err) {
        // Offsets stay in memory and go out with the next period (or the next pull's commit offset).
        this.log.warn({ group: c.groupName, err }, 'persisting consumer offsets failed')
      }
    }
  }

  /** Refreshes the routes of every topic the consumers subscribe to. */
  async updateTopicRoutesOfConsumers(): Promise<void> {
    const topics = new Set<string>()
    for (const c of this.consumers.values()) for (const t of c.subscribedTopics()) topics.add(t)
    for (const topic of topics) {
      try {
        await this.updateTopicRoute(topic)
      } catch (err) {
        // The cached route stays in use until a later refresh succeeds.
        this.log.warn({ topic, err }, 'refreshing the topic route failed')
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------

  private recordRoute(topic: string, route: TopicRouteData): void {
    this.topicRouteTable.set(topic, route)
    for (const bd of route.brokerDatas) this.brokerAddrTable.set(bd.brokerName, new Map(bd.brokerAddrs))
    const mqs = subscribeQueues(topic, route)
    for (const c of this.consumers.values()) {
      if (c.subscribedTopics().includes(topic)) c.updateTopicSubscribeInfo(topic, mqs)
    }
  }

  /** Forgets broker addresses no route mentions any more (`cleanOfflineBroker`). */
  private cleanOfflineBrokers(): void {
    const live = new Set<string>()
    for (const route of this.topicRouteTable.values()) {
      for (const bd of route.brokerDatas) for (const addr of bd.brokerAddrs.values()) live.add(addr)
    }
    for (const [name, addrs] of this.brokerAddrTable) {
      for (const [id, addr] of addrs) if (!live.has(addr)) addrs.delete(id)
      if (addrs.size === 0) this.brokerAddrTable.delete(name)
    }
  }

  private async unregisterAtBrokers(groups: { producerGroup?: string; consumerGroup?: string }): Promise<void> {
    const calls: Promise<void>[] = []
    for (const addrs of this.brokerAddrTable.values()) {
      for (const addr of addrs.values()) {
        calls.push(
          this.api
            .unregisterClient(addr, this.clientId, groups, this.config.mqClientApiTimeout)
            .catch((err: unknown) => {
              // The broker drops us anyway when the channel closes or expires.
              this.log.warn({ addr, ...groups, err }, 'unregistering from broker failed')
            }),
        )
      }
    }
    await Promise.all(calls)
  }

  private schedule(firstMs: number, periodMs: number, task: () => Promise<void>): void {
    const run = (): void => {
      if (this.stopped) return
      task()
        .catch((err: unknown) => this.log.warn({ err }, 'scheduled client task failed'))
        .finally(() => {
          if (this.stopped) return
          const t = setTimeout(run, periodMs)
          t.unref()
          this.timers.push(t)
          // Keep the array from growing: only live timers matter for shutdown.
          if (this.timers.length > 16) this.timers.splice(0, this.timers.length - 8)
        })
    }
    const t = setTimeout(run, firstMs)
    t.unref()
    this.timers.push(t)
  }

  private scheduleRebalance(delayMs: number): void {
    clearTimeout(this.rebalanceTimer)
    this.rebalanceTimer = setTimeout(() => {
      this.rebalanceTimer = undefined
      this.rebalanceRunning = this.runRebalance().finally(() => {
        this.rebalanceRunning = undefined
      })
    }, delayMs)
    this.rebalanceTimer.unref()
  }

  private async runRebalance(): Promise<void> {
    if (this.stopped) return
    this.lastRebalanceAt = Date.now()
    this.rebalanceAgain = false
    const balanced = await this.doRebalance()
    if (this.stopped) return
    const again = this.rebalanceAgain || !balanced
    this.scheduleRebalance(again ? REBALANCE_UNBALANCED_WAIT_MS : REBALANCE_WAIT_MS)
  }

  /** Hands a broker's transaction check to the producer of the message's group (`checkTransactionState`). */
  private onCheckTransactionState(brokerAddr: string, request: RemotingCommand): void {
    const decoded = request.body === null ? null : decodeMessage(request.body, 0)
    if (decoded === null) {
      this.log.warn({ brokerAddr }, 'checkTransactionState: the message does not decode')
      return
    }
    const msg = decoded as TransactionCheckMessage
    msg.transactionId = msg.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) || undefined
    const group = msg.properties.get(MessageConst.PROPERTY_PRODUCER_GROUP)
    const producer = group === undefined ? undefined : this.producers.get(group)
    if (producer?.checkTransactionState === undefined) {
      this.log.debug({ group, brokerAddr }, 'checkTransactionState: no transactional producer of this group here')
      return
    }
    const tranStateTableOffset = Number(request.ext('tranStateTableOffset'))
    const commitLogOffset = Number(request.ext('commitLogOffset'))
    if (!Number.isSafeInteger(tranStateTableOffset) || !Number.isSafeInteger(commitLogOffset)) {
      this.log.warn({ group, brokerAddr }, 'checkTransactionState: offsets missing from the request')
      return
    }
    producer.checkTransactionState(brokerAddr, msg, {
      tranStateTableOffset,
      commitLogOffset,
      msgId: request.ext('msgId'),
      transactionId: request.ext('transactionId'),
      offsetMsgId: request.ext('offsetMsgId'),
    })
  }

  private async onResetOffset(request: RemotingCommand): Promise<RemotingCommand | null> {
    const group = request.ext('group') ?? ''
    const topic = request.ext('topic') ?? ''
    const consumer = this.consumers.get(group)
    if (consumer?.resetOffset === undefined || request.body === null) return null
    const body = parseJson(request.body.toString('utf8')) as { offsetTable?: Record<string, unknown> } | null
    const offsets = new Map<MessageQueue, number>()
    for (const [key, value] of Object.entries(body?.offsetTable ?? {})) {
      // fastjson writes MessageQueue keys as objects; parseJson hands them back as JSON text.
      let mq: MessageQueue
      try {
        mq = messageQueueFromJson(JSON.parse(key), 'offsetTable key')
      } catch (err) {
        this.log.warn({ group, topic, key, err }, 'reset offset: a key is not a message queue, skipped')
        continue
      }
      if (typeof value === 'number') offsets.set(mq, value)
    }
    this.log.info({ group, topic, queues: offsets.size }, 'broker asks to reset consumer offsets')
    await consumer.resetOffset(topic, offsets)
    return request.isOneway() ? null : RemotingCommand.createResponse(ResponseCode.SUCCESS)
  }
}

/** One runtime per client id in this process (`MQClientManager`), shut down when its last user leaves. */
const instances = new Map<string, MQClientInstance>()

export function acquireClientInstance(clientId: string, config: ClientRuntimeConfig): MQClientInstance {
  let instance = instances.get(clientId)
  if (instance === undefined) {
    instance = new MQClientInstance(clientId, config)
    instances.set(clientId, instance)
  }
  return instance
}

/** Shuts the runtime down when no producer or consumer uses it any more. */
export async function releaseClientInstance(instance: MQClientInstance): Promise<void> {
  if (!instance.isIdle()) return
  if (instances.get(instance.clientId) === instance) instances.delete(instance.clientId)
  await instance.shutdown()
}
