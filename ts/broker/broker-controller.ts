/**
 * Wires a broker together and runs it (`BrokerController`): the store, the managers, the request processors on
 * their bounded executors, the remoting servers (listen port and VIP port), long polling, delayed delivery,
 * registration with the name servers, housekeeping, and an orderly shutdown.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { BrokerResponseError, InvalidArgumentError, StoreError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { MessageConst, NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR } from '../common/message/message-const.js'
import { findProperty, withoutProperty } from '../common/message/message-properties.js'
import { encodeHost } from '../common/message/socket-address.js'
import { javaStringHash } from '../common/java-hash.js'
import { MixAll } from '../common/mix-all.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import { AdminBrokerProcessor, ADMIN_HANDLERS } from '../processor/admin-broker-processor.js'
import { assignResetOffset, type ResetOffsetOutcome, type ResetOffsetSpec } from '../processor/admin/offset-admin.js'
import { applyTopicSpec, removeTopic, type TopicSpec } from '../processor/admin/topic-admin.js'
import type { BrokerContext } from '../processor/broker-context.js'
import { ClientManageProcessor } from '../processor/client-manage-processor.js'
import { ConsumerManageProcessor } from '../processor/consumer-manage-processor.js'
import { PullMessageProcessor } from '../processor/pull-message-processor.js'
import { QueryMessageProcessor } from '../processor/query-message-processor.js'
import { EndTransactionProcessor } from '../processor/end-transaction-processor.js'
import { SendMessageProcessor } from '../processor/send-message-processor.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import { RequestDispatcher, type RequestProcessor } from '../remoting/request-dispatcher.js'
import { RequestExecutor } from '../remoting/request-executor.js'
import { RemotingServer, type ServerTlsOptions } from '../remoting/remoting-server.js'
import type { RPCHook } from '../remoting/rpc-hook.js'
import type {
  AppendMessageResult,
  MessageExtBrokerInner,
  MessageStore,
  PutMessageResult,
} from '../store/message-store.js'
import { NativeMessageStore, type MessageStoreConfig } from '../store/native-message-store.js'
import { isStored } from '../store/put-message-status.js'
import type { BrokerConfig } from './broker-config.js'
import { AclRPCHook } from './acl/acl-rpc-hook.js'
import { PlainAccessValidator } from './acl/plain-access-validator.js'
import { PlainPermissionManager } from './acl/plain-permission-manager.js'
import { BrokerOuterAPI, type NamesrvOutcome, type RegisterBrokerResult } from './broker-outer-api.js'
import { HAClient } from './ha/ha-client.js'
import { HAService, type ReplicaWaitResult } from './ha/ha-service.js'
import type { ReplicationStatus } from './ha/replication-status.js'
import { SlaveSynchronize } from './slave-synchronize.js'
import { BrokerStats } from './broker-stats.js'
import { ConsumerManager } from './consumer-manager.js'
import { ConsumerOffsetManager } from './consumer-offset-manager.js'
import { ProducerManager } from './producer-manager.js'
import { PullRequestHoldService } from './pull-request-hold-service.js'
import { RebalanceLockManager } from './rebalance-lock-manager.js'
import { DEFAULT_MESSAGE_DELAY_LEVEL, ScheduleMessageService, parseDelayLevels } from './schedule-message-service.js'
import { SubscriptionGroupManager } from './subscription-group-manager.js'
import { TopicConfigManager } from './topic-config-manager.js'
import { TransactionalMessageCheckService } from './transaction/transactional-message-check-service.js'
import { TransactionalMessageService } from './transaction/transactional-message-service.js'

/** How often client connections without heartbeats are reaped (`ClientHousekeepingService`). */
const CLIENT_SCAN_INTERVAL_MS = 10_000
/** How often held pulls are re-checked against their queues (RocketMQ: 5 s; finer here for timely timeouts). */
const HOLD_CHECK_INTERVAL_MS = 1000
/** Shutdown waits this long for in-flight requests before closing the store. */
const SHUTDOWN_DRAIN_MS = 10_000
/** RocketMQ's default commit-log segment size, when the store config does not set one. */
const COMMIT_LOG_FILE_SIZE_DEFAULT = 1024 * 1024 * 1024
const SYNC_FLUSH_TIMEOUT_DEFAULT_MS = 5000
/** RocketMQ's default `fileReservedTime`, hours: half messages older than this are not checked any more. */
const FILE_RESERVED_TIME_DEFAULT_HOURS = 72
const TRANSACTION_TYPE_MASK = 0xc
const TRANSACTION_COMMIT_TYPE = 0x8

export interface BrokerControllerOptions {
  brokerConfig: BrokerConfig
  storeConfig: MessageStoreConfig
  logger?: Logger
  /** Extra hooks around every request (the ACL hook is added by `start` when `aclEnable`). */
  rpcHooks?: RPCHook[]
}

export class BrokerController implements BrokerContext {
  readonly brokerConfig: BrokerConfig
  readonly storeConfig: MessageStoreConfig
  readonly logger: Logger
  readonly stats = new BrokerStats()
  readonly rebalanceLockManager = new RebalanceLockManager()
  readonly topicConfigManager: TopicConfigManager
  readonly subscriptionGroupManager: SubscriptionGroupManager
  readonly consumerOffsetManager: ConsumerOffsetManager
  readonly consumerManager: ConsumerManager
  readonly producerManager: ProducerManager
  readonly pullRequestHoldService: PullRequestHoldService
  readonly transactionalMessageService: TransactionalMessageService
  readonly maxMessageSize: number
  private messageStore: MessageStore | null = null
  private schedule: ScheduleMessageService | null = null
  /** The check-back timer; masters only. */
  private transactionCheck: TransactionalMessageCheckService | null = null
  private readonly dispatcher: RequestDispatcher
  private readonly servers: RemotingServer[] = []
  private readonly outerAPI: BrokerOuterAPI
  private readonly executors: {
    send: RequestExecutor
    pull: RequestExecutor
    query: RequestExecutor
    [k: string]: RequestExecutor
  }
  private readonly timers: NodeJS.Timeout[] = []
  private readonly pullProcessor: PullMessageProcessor
  private aclManager: PlainPermissionManager | null = null
  /**
   * Set once the topic, group and offset tables are read from the store. A start that fails before that must not
   * persist them at shutdown: the defaults in memory would replace the files of the store (topics and offsets lost).
   */
  private tablesLoaded = false
  /** Master: the HA port and the slaves streaming from it. */
  private haService: HAService | null = null
  /** The HA service when sends wait for a slave (`SYNC_MASTER`); null otherwise, so other puts skip the wait. */
  private syncReplica: HAService | null = null
  /** Slave: the connection to the master's HA port, and the copy of its tables. */
  private haClient: HAClient | null = null
  private slaveSynchronize: SlaveSynchronize | null = null
  /** Slave: the master's broker address, as the name servers last said (null when they know no live master). */
  private masterAddr: string | null = null
  private holdCheckScheduled = false
  /** The coalescing registration rounds: `next` is the round callers are waiting for, not started yet. */
  private readonly registration: { next: RegistrationRound | null; scheduled: boolean; running: boolean } = {
    next: null,
    scheduled: false,
    running: false,
  }
  private readonly extraHooks: RPCHook[]
  private ready = false
  /** A registration has reached a name server (or there are none to reach). */
  private registered = false
  private stopping = false
  private addr = ''
  private host: Buffer = Buffer.alloc(8)
  private listenPorts: number[] = []

  constructor(options: BrokerControllerOptions) {
    this.brokerConfig = options.brokerConfig
    this.storeConfig = options.storeConfig
    this.logger = (options.logger ?? noopLogger).child({ component: 'broker', broker: options.brokerConfig.brokerName })
    const c = this.brokerConfig
    const root = this.storeConfig.storePathRootDir
    this.maxMessageSize = this.storeConfig.maxMessageSize ?? 4 * 1024 * 1024
    this.topicConfigManager = new TopicConfigManager({
      brokerConfig: c,
      storePathRootDir: root,
      logger: this.logger,
      onTopicsChanged: (oneway) => void this.registerBrokerAll(oneway),
    })
    this.subscriptionGroupManager = new SubscriptionGroupManager(root, c.autoCreateSubscriptionGroup, this.logger)
    this.consumerOffsetManager = new ConsumerOffsetManager(root, this.logger)
    this.consumerManager = new ConsumerManager(
      (group, channels) => this.notifyConsumerIdsChanged(group, channels),
      c.channelExpiredTimeout,
      this.logger,
    )
    this.producerManager = new ProducerManager(c.channelExpiredTimeout, this.logger)
    this.pullProcessor = new PullMessageProcessor(this)
    this.pullRequestHoldService = new PullRequestHoldService({
      maxOffset: (topic, queueId) => this.store.getMaxOffsetInQueue(topic, queueId),
      wakeup: this.pullProcessor.wakeup,
      checkIntervalMs: c.longPollingEnable ? HOLD_CHECK_INTERVAL_MS : c.shortPollingTimeMills,
      logger: this.logger,
    })
    this.transactionalMessageService = new TransactionalMessageService({
      store: () => this.store,
      settings: { ...c, fileReservedTime: this.storeConfig.fileReservedTime ?? FILE_RESERVED_TIME_DEFAULT_HOURS },
      topicConfigManager: this.topicConfigManager,
      consumerOffsetManager: this.consumerOffsetManager,
      brokerAddr: () => this.addr,
      storeHost: () => this.host,
      putMessage: (msg) => this.putMessage(msg),
      resolveHalfMsg: (half) => this.transactionCheck?.resolveHalfMsg(half),
      logger: this.logger,
    })
    this.outerAPI = new BrokerOuterAPI({ logger: this.logger })
    this.outerAPI.updateNameServerAddressList(c.namesrvAddr)
    this.dispatcher = new RequestDispatcher(this.logger.child({ component: 'dispatcher' }))
    this.executors = this.createExecutors()
    this.extraHooks = options.rpcHooks ?? []
  }

  // ---- AdminBroker (the admin HTTP API) -------------------------------------------------------------------------

  async applyTopic(spec: TopicSpec): Promise<void> {
    const problem = await applyTopicSpec(this, spec)
    if (problem !== null) throw new InvalidArgumentError(problem)
  }

  async deleteTopic(topic: string): Promise<void> {
    if (this.topicConfigManager.selectTopicConfig(topic) === undefined) {
      throw new BrokerResponseError(ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist on this broker`, false)
    }
    const problem = await removeTopic(this, topic)
    if (problem !== null) throw new InvalidArgumentError(problem)
    const c = this.brokerConfig
    await this.outerAPI.deleteTopicInNamesrv(topic, c.brokerClusterName, c.registerBrokerTimeoutMills)
  }

  resetConsumerOffset(spec: ResetOffsetSpec): Promise<ResetOffsetOutcome> {
    return assignResetOffset(this, spec)
  }

  namesrvAddrs(): readonly string[] {
    return this.outerAPI.getNameServerAddressList()
  }

  // ---- BrokerContext -------------------------------------------------------------------------------------------

  get store(): MessageStore {
    if (this.messageStore === null)
      throw new StoreError('RMQ_ERR_STORE_NOT_OPEN', 'the broker is starting: the store is not open yet')
    return this.messageStore
  }

  get scheduleMessageService(): ScheduleMessageService {
    if (this.schedule === null) throw new StoreError('RMQ_ERR_STORE_NOT_OPEN', 'the broker is starting')
    return this.schedule
  }

  get brokerAddr(): string {
    return this.addr
  }

  get storeHost(): Buffer {
    return this.host
  }

  /** Bound ports: the listen port, then the VIP port when enabled. */
  get ports(): readonly number[] {
    return this.listenPorts
  }

  /** The remoting servers (listen port, then VIP port): connection counts for the admin API and tests. */
  get remotingServers(): readonly RemotingServer[] {
    return this.servers
  }

  isReady(): boolean {
    return this.ready
  }

  hasRegistered(): boolean {
    return this.registered
  }

  /** Puts through RocketMQ's store hooks (the delay-level rewrite) and wakes the pulls waiting on the queue. */
  async putMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult> {
    this.transformDelayLevel(msg)
    const result = await this.store.putMessage(msg)
    if (result.appendMessageResult !== null && isStored(result.putMessageStatus)) {
      this.onStored(msg, result.appendMessageResult, true)
      if (this.syncReplica !== null && msg.waitStoreMsgOK !== false) await this.waitForReplica(this.syncReplica, result)
    }
    return result
  }

  async putMessages(msgs: MessageExtBrokerInner[]): Promise<PutMessageResult> {
    const result = await this.store.putMessages(msgs)
    if (result.appendMessageResult !== null && isStored(result.putMessageStatus)) {
      this.onStored(msgs[0]!, result.appendMessageResult, false)
      if (this.syncReplica !== null && msgs.some((m) => m.waitStoreMsgOK !== false)) {
        await this.waitForReplica(this.syncReplica, result)
      }
    }
    return result
  }

  /**
   * `SYNC_MASTER` (4.x `handleHA`, store.md §11.5): the answer waits until a slave has the put; the message stays
   * stored whatever happens, and a missing or slow slave shows in the status.
   */
  private async waitForReplica(ha: HAService, result: PutMessageResult): Promise<void> {
    const append = result.appendMessageResult!
    let outcome: ReplicaWaitResult | Promise<ReplicaWaitResult> = ha.waitForReplica(
      append.wroteOffset + append.wroteBytes,
    )
    if (outcome instanceof Promise) outcome = await outcome
    if (outcome !== 'PUT_OK') result.putMessageStatus = outcome
  }

  /** Role and replication state, for the admin API. */
  replicationStatus(): ReplicationStatus {
    const c = this.brokerConfig
    const maxOffset = this.messageStore?.getMaxPhyOffset() ?? 0
    return {
      brokerRole: c.brokerRole,
      brokerId: c.brokerId,
      maxOffset,
      haPort: this.haService?.port ?? null,
      slaveAckOffset: this.haService?.slaveAckOffset ?? null,
      slaves: this.haService?.slaves() ?? [],
      master: this.haClient === null ? null : { ...this.haClient.info(), masterAddr: this.masterAddr },
    }
  }

  notifyConsumerIdsChanged(group: string, channels: readonly RemotingChannel[]): void {
    if (!this.brokerConfig.notifyConsumerIdsChangedEnable) return
    for (const channel of channels) {
      channel.invokeOneway(
        RemotingCommand.createRequest(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { consumerGroup: group }),
      )
    }
  }

  /**
   * Re-registers with every name server soon. Requests made while one is waiting or under way merge into one
   * more registration: a heartbeat that creates thousands of retry topics costs two registrations, not thousands
   * (each encodes the whole topic table).
   *
   * Resolves once a registration that started after this call, and so carries the topic table as it is now, has
   * finished with every name server (answered, failed or timed out); a registration already under way does not
   * count, since its table may be older. Never rejects: failures are logged and the next period retries.
   */
  registerBrokerAll(oneway: boolean): Promise<void> {
    if (!this.ready || this.stopping) return Promise.resolve()
    const r = this.registration
    if (r.next === null) r.next = newRegistrationRound(oneway)
    else r.next.oneway &&= oneway
    this.scheduleRegistration()
    return r.next.done
  }

  private scheduleRegistration(): void {
    const r = this.registration
    if (r.scheduled || r.running) return
    r.scheduled = true
    setImmediate(() => void this.runRegistration())
  }

  private async runRegistration(): Promise<void> {
    const r = this.registration
    r.scheduled = false
    const round = r.next
    if (round === null || r.running) return
    r.next = null
    if (this.stopping) {
      round.finish()
      return
    }
    r.running = true
    try {
      // Builds the topic table before its first await: the round carries every change made before it started.
      await this.doRegisterBrokerAll(round.oneway)
    } catch (err) {
      // registerBrokerAll reports each name server itself; anything else is retried by the next period.
      this.logger.error({ err }, 'registration failed')
    } finally {
      r.running = false
      round.finish()
    }
    // Requests made while this round ran wait for the next one.
    if (r.next !== null) this.scheduleRegistration()
  }

  // ---- start / stop ----------------------------------------------------------------------------------------------

  /** Listens, opens (and recovers) the store, starts every service and registers with the name servers. */
  async start(): Promise<void> {
    const c = this.brokerConfig
    this.dispatcher.registerDefaultProcessor(this.startupGate, this.executors.admin!)
    // ACL runs first: nothing else sees a request it refuses.
    if (c.aclEnable) this.enableAcl()
    for (const hook of this.extraHooks) this.dispatcher.registerRPCHook(hook)
    const tls = this.tlsOptions()
    const main = new RemotingServer(
      {
        port: c.listenPort,
        host: c.bindAddress || undefined,
        frameBytesMax: undefined,
        idleTimeMs: c.serverChannelMaxIdleTimeSeconds * 1000,
        tls,
        logger: this.logger,
      },
      this.dispatcher,
    )
    this.servers.push(main)
    const port = await main.listen()
    this.listenPorts = [port]
    if (c.fastListenPortEnable) {
      const vip = new RemotingServer(
        {
          port: c.listenPort === 0 ? 0 : port - 2,
          host: c.bindAddress || undefined,
          idleTimeMs: c.serverChannelMaxIdleTimeSeconds * 1000,
          tls,
          logger: this.logger,
        },
        this.dispatcher,
      )
      this.servers.push(vip)
      this.listenPorts.push(await vip.listen())
    }
    for (const s of this.servers) {
      s.addChannelEventListener({ onChannelClose: (ch) => this.onChannelClose(ch) })
    }
    this.addr = `${c.brokerIP1}:${port}`
    this.host = encodeHost(c.brokerIP1, port)
    const slave = c.brokerRole === 'SLAVE'
    this.messageStore = await NativeMessageStore.open(
      { ...this.storeConfig, storeHost: this.addr },
      { logger: this.logger, slave },
    )
    this.topicConfigManager.load()
    this.subscriptionGroupManager.load()
    this.consumerOffsetManager.load()
    this.tablesLoaded = true
    this.schedule = new ScheduleMessageService({
      store: this.messageStore,
      storePathRootDir: this.storeConfig.storePathRootDir,
      delayLevels: parseDelayLevels(this.storeConfig.messageDelayLevel ?? DEFAULT_MESSAGE_DELAY_LEVEL),
      storeHost: this.host,
      flushDelayOffsetIntervalMs: c.flushDelayOffsetInterval,
      putMessage: (msg) => this.putMessage(msg),
      logger: this.logger,
    })
    this.schedule.load()
    await this.startReplication()
    this.registerProcessors()
    this.stats.start()
    this.pullRequestHoldService.start()
    // Delayed messages are delivered by the master; a slave receives them through its commit log.
    if (!slave) this.schedule.start()
    // Half messages are checked and their op markers written by the master only (store.md §10.5).
    if (!slave) {
      this.transactionalMessageService.start()
      this.transactionCheck = new TransactionalMessageCheckService({
        service: this.transactionalMessageService,
        producerManager: this.producerManager,
        checkIntervalMs: c.transactionCheckInterval,
        logger: this.logger,
      })
      this.transactionCheck.start()
    }
    this.every(CLIENT_SCAN_INTERVAL_MS, () => {
      this.producerManager.scanNotActiveChannel()
      this.consumerManager.scanNotActiveChannel()
      this.rebalanceLockManager.scanExpired()
    })
    this.every(c.flushConsumerOffsetInterval, () => this.consumerOffsetManager.persist())
    this.every(c.registerNameServerPeriod, () => void this.registerBrokerAll(false))
    this.ready = true
    this.logger.info(
      { addr: this.addr, ports: this.listenPorts, store: this.storeConfig.storePathRootDir },
      'broker started',
    )
    // One of the coalesced rounds: no other registration runs beside it and lands after a newer one.
    await this.registerBrokerAll(false)
  }

  /**
   * Stops accepting, answers what is in flight (held pulls get their timeout answer, queued requests a busy
   * answer), unregisters from the name servers, persists offsets and configs, and closes the store cleanly.
   */
  async shutdown(): Promise<void> {
    if (this.stopping) return
    this.stopping = true
    this.ready = false
    for (const t of this.timers) clearInterval(t)
    this.aclManager?.stopWatching()
    // Not awaited: `net.Server#close` settles only once every connection is gone, which `close()` below ensures.
    for (const s of this.servers) void s.stopAccepting()
    for (const e of Object.values(this.executors)) e.drain(ResponseCode.SYSTEM_BUSY, '[SHUTDOWN]broker shutting down')
    // Held pulls are answered now: their hold ends with the broker.
    this.pullRequestHoldService.checkHoldRequest(Number.MAX_SAFE_INTEGER)
    await this.waitForIdle(SHUTDOWN_DRAIN_MS)
    this.pullRequestHoldService.shutdown()
    this.haClient?.shutdown()
    await this.slaveSynchronize?.shutdown()
    await this.haService?.shutdown()
    this.schedule?.shutdown()
    // Before the offsets are persisted and the store closes: the run stops, buffered op markers are written.
    const transactionsStopping = this.transactionCheck?.shutdown()
    await this.transactionalMessageService.shutdown()
    await transactionsStopping
    this.stats.shutdown()
    if (this.addr !== '') {
      await this.outerAPI.unregisterBrokerAll({
        clusterName: this.brokerConfig.brokerClusterName,
        brokerAddr: this.addr,
        brokerName: this.brokerConfig.brokerName,
        brokerId: this.brokerConfig.brokerId,
      })
    }
    this.outerAPI.shutdown()
    if (this.tablesLoaded) {
      this.consumerOffsetManager.persist(true)
      this.topicConfigManager.persist()
      this.subscriptionGroupManager.persist()
    }
    await Promise.all(this.servers.map((s) => s.close()))
    if (this.messageStore) await this.messageStore.shutdown()
    this.logger.info({ addr: this.addr }, 'broker stopped')
  }

  // ---- internals -------------------------------------------------------------------------------------------------

  /** A master listens on its HA port; a slave connects to its master's and copies the master's tables. */
  private async startReplication(): Promise<void> {
    const c = this.brokerConfig
    const store = this.store
    if (c.brokerRole !== 'SLAVE') {
      const port = c.haListenPort >= 0 ? c.haListenPort : c.listenPort === 0 ? 0 : this.listenPorts[0]! + 1
      this.haService = new HAService({
        store,
        commitLogFileSize: this.storeConfig.mappedFileSizeCommitLog ?? COMMIT_LOG_FILE_SIZE_DEFAULT,
        port,
        host: c.bindAddress || undefined,
        heartbeatIntervalMs: c.haSendHeartbeatInterval,
        housekeepingIntervalMs: c.haHousekeepingInterval,
        transferBatchBytes: c.haTransferBatchSize,
        maxGapNotInSync: c.haMaxGapNotInSync,
        syncTimeoutMs: this.storeConfig.syncFlushTimeout ?? SYNC_FLUSH_TIMEOUT_DEFAULT_MS,
        logger: this.logger,
      })
      await this.haService.start()
      if (c.brokerRole === 'SYNC_MASTER') this.syncReplica = this.haService
      return
    }
    this.haClient = new HAClient({
      store,
      heartbeatIntervalMs: c.haSendHeartbeatInterval,
      housekeepingIntervalMs: c.haHousekeepingInterval,
      logger: this.logger,
      onReplicated: () => this.scheduleHoldCheck(),
    })
    if (c.haMasterAddress !== '') this.haClient.updateMasterAddress(c.haMasterAddress)
    this.slaveSynchronize = new SlaveSynchronize({
      invoke: (addr, request, timeoutMs) => this.outerAPI.invokeBroker(addr, request, timeoutMs),
      masterAddr: () => this.masterAddr,
      topicConfigManager: this.topicConfigManager,
      consumerOffsetManager: this.consumerOffsetManager,
      subscriptionGroupManager: this.subscriptionGroupManager,
      scheduleMessageService: () => this.schedule,
      logger: this.logger,
    })
    this.slaveSynchronize.start()
  }

  /** Replicated records arrived on this slave: re-check the held pulls once this turn. */
  private scheduleHoldCheck(): void {
    if (this.holdCheckScheduled) return
    this.holdCheckScheduled = true
    setImmediate(() => {
      this.holdCheckScheduled = false
      if (!this.stopping) this.pullRequestHoldService.checkHoldRequest()
    })
  }

  /** A slave learns where its master is from the name servers' answers (`RegisterBrokerResult`). */
  private onRegistered(outcomes: NamesrvOutcome<RegisterBrokerResult | null>[]): void {
    if (this.brokerConfig.brokerRole !== 'SLAVE') return
    const answers = outcomes.flatMap((o) => (o.ok && o.result !== null ? [o.result] : []))
    if (answers.length === 0) return
    const withMaster = answers.find((r) => r.masterAddr !== null)
    const masterAddr = withMaster?.masterAddr ?? null
    if (masterAddr !== this.masterAddr)
      this.logger.info({ from: this.masterAddr, to: masterAddr }, 'master address changed')
    this.masterAddr = masterAddr
    // The HA address is kept when no name server knows a live master: the slave keeps trying the last one.
    if (this.brokerConfig.haMasterAddress === '' && withMaster?.haServerAddr)
      this.haClient?.updateMasterAddress(withMaster.haServerAddr)
  }

  private createExecutors(): BrokerController['executors'] {
    const c = this.brokerConfig
    const make = (
      name: string,
      concurrency: number,
      queueCapacity: number,
      queueWaitMsMax: number,
      busy?: () => boolean,
    ): RequestExecutor =>
      new RequestExecutor({
        name,
        concurrency,
        queueCapacity,
        queueWaitMsMax: c.brokerFastFailureEnable ? queueWaitMsMax : Infinity,
        busy,
      })
    return {
      send: make(
        'send',
        c.sendMessageConcurrency,
        c.sendThreadPoolQueueCapacity,
        c.waitTimeMillsInSendQueue,
        () => this.messageStore !== null && this.messageStore.isOSPageCacheBusy(),
      ),
      pull: make('pull', 256, c.pullThreadPoolQueueCapacity, c.waitTimeMillsInPullQueue),
      query: make('query', 32, c.queryThreadPoolQueueCapacity, Infinity),
      heartbeat: make('heartbeat', 64, c.heartbeatThreadPoolQueueCapacity, c.waitTimeMillsInHeartbeatQueue),
      client: make('client-manage', 64, c.clientManagerThreadPoolQueueCapacity, Infinity),
      consumer: make('consumer-manage', 64, c.consumerManagerThreadPoolQueueCapacity, Infinity),
      admin: make('admin', 16, 10_000, Infinity),
      transaction: make('end-transaction', 16, c.endTransactionPoolQueueCapacity, c.waitTimeMillsInTransactionQueue),
    }
  }

  private registerProcessors(): void {
    const d = this.dispatcher
    const e = this.executors
    const send = new SendMessageProcessor(this)
    for (const code of [
      RequestCode.SEND_MESSAGE,
      RequestCode.SEND_MESSAGE_V2,
      RequestCode.SEND_BATCH_MESSAGE,
      RequestCode.CONSUMER_SEND_MSG_BACK,
    ]) {
      d.registerProcessor(code, send, e.send)
    }
    d.registerProcessor(RequestCode.END_TRANSACTION, new EndTransactionProcessor(this), e.transaction!)
    d.registerProcessor(RequestCode.PULL_MESSAGE, this.pullProcessor, e.pull)
    d.registerProcessor(RequestCode.LITE_PULL_MESSAGE, this.pullProcessor, e.pull)
    const query = new QueryMessageProcessor(this)
    d.registerProcessor(RequestCode.QUERY_MESSAGE, query, e.query)
    d.registerProcessor(RequestCode.VIEW_MESSAGE_BY_ID, query, e.query)
    const client = new ClientManageProcessor(this)
    d.registerProcessor(RequestCode.HEART_BEAT, client, e.heartbeat!)
    d.registerProcessor(RequestCode.UNREGISTER_CLIENT, client, e.client!)
    d.registerProcessor(RequestCode.CHECK_CLIENT_CONFIG, client, e.client!)
    const consumer = new ConsumerManageProcessor(this)
    for (const code of [
      RequestCode.GET_CONSUMER_LIST_BY_GROUP,
      RequestCode.UPDATE_CONSUMER_OFFSET,
      RequestCode.QUERY_CONSUMER_OFFSET,
    ]) {
      d.registerProcessor(code, consumer, e.consumer!)
    }
    const admin = new AdminBrokerProcessor(this, e)
    for (const code of [...ADMIN_HANDLERS.keys(), RequestCode.GET_BROKER_RUNTIME_INFO])
      d.registerProcessor(code, admin, e.admin!)
  }

  /** Answers while the store opens, then says "not supported" for codes no processor took. */
  private readonly startupGate: RequestProcessor = {
    processRequest: (_channel, request) =>
      this.ready
        ? RemotingCommand.createResponse(
            ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
            ` request type ${request.code} not supported`,
          )
        : RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, 'the broker is starting, try again shortly'),
  }

  /** ACL 1.0 (protocol.md §6): every request is checked against the plain ACL file, reloaded when it changes. */
  private enableAcl(): void {
    const c = this.brokerConfig
    const file = c.aclFile || join(this.storeConfig.storePathRootDir, 'config', 'plain_acl.yml')
    this.aclManager = new PlainPermissionManager({ file, logger: this.logger })
    this.aclManager.startWatching()
    this.dispatcher.registerRPCHook(
      new AclRPCHook({
        validator: new PlainAccessValidator(this.aclManager),
        failureResponseCode: c.aclRefusalNoPermission ? ResponseCode.NO_PERMISSION : ResponseCode.SYSTEM_ERROR,
        logger: this.logger,
      }),
    )
    this.logger.info({ file }, 'ACL enabled')
  }

  private onChannelClose(channel: RemotingChannel): void {
    this.producerManager.doChannelCloseEvent(channel)
    this.consumerManager.doChannelCloseEvent(channel)
  }

  /**
   * The delay-level put hook (store.md §9.2): a message with `DELAY = L > 0` is stored in `SCHEDULE_TOPIC_XXXX`
   * queue `L − 1` with its real topic and queue in properties, and delivered there when due.
   */
  private transformDelayLevel(msg: MessageExtBrokerInner): void {
    const tranType = msg.sysFlag & TRANSACTION_TYPE_MASK
    if (tranType !== 0 && tranType !== TRANSACTION_COMMIT_TYPE) return
    const raw = findProperty(msg.propertiesString, MessageConst.PROPERTY_DELAY_TIME_LEVEL)
    if (raw === null) return
    let level = Number(raw)
    if (!Number.isInteger(level) || level <= 0) return
    const schedule = this.scheduleMessageService
    let props = msg.propertiesString
    if (level > schedule.maxDelayLevel) {
      level = schedule.maxDelayLevel
      props =
        withoutProperty(props, MessageConst.PROPERTY_DELAY_TIME_LEVEL) +
        prop(MessageConst.PROPERTY_DELAY_TIME_LEVEL, String(level))
    }
    if (props.length > 0 && !props.endsWith(PROPERTY_SEPARATOR)) props += PROPERTY_SEPARATOR
    props = withoutProperty(
      withoutProperty(props, MessageConst.PROPERTY_REAL_TOPIC),
      MessageConst.PROPERTY_REAL_QUEUE_ID,
    )
    msg.propertiesString =
      props +
      prop(MessageConst.PROPERTY_REAL_TOPIC, msg.topic) +
      prop(MessageConst.PROPERTY_REAL_QUEUE_ID, String(msg.queueId))
    msg.topic = MixAll.SCHEDULE_TOPIC
    msg.queueId = level - 1
  }

  /** After a put: wake delayed delivery or the pulls waiting on the queue. */
  private onStored(msg: MessageExtBrokerInner, append: AppendMessageResult, single: boolean): void {
    if (msg.topic === MixAll.SCHEDULE_TOPIC) {
      this.schedule?.onMessageStored(msg.queueId)
      return
    }
    if (!this.pullRequestHoldService.hasWaiters(msg.topic, msg.queueId)) return
    const tags = single ? findProperty(msg.propertiesString, MessageConst.PROPERTY_TAGS) : null
    const tagsCode = single ? (tags === null ? 0 : javaStringHash(tags)) : null
    this.pullRequestHoldService.notifyMessageArriving(
      msg.topic,
      msg.queueId,
      append.logicsOffset + append.msgNum,
      tagsCode,
      Date.now(),
      single ? msg.propertiesString : null,
    )
  }

  private async doRegisterBrokerAll(oneway: boolean): Promise<void> {
    const c = this.brokerConfig
    const wrapper = this.topicConfigManager.buildSerializeWrapper()
    if (!isWritablePerm(c.brokerPermission) || !isReadablePerm(c.brokerPermission)) {
      // Registered perms never exceed the broker's own (`BrokerController#doRegisterBrokerAll`).
      for (const [name, tc] of wrapper.topicConfigTable)
        wrapper.topicConfigTable.set(name, { ...tc, perm: tc.perm & c.brokerPermission })
    }
    const outcomes = await this.outerAPI.registerBrokerAll({
      clusterName: c.brokerClusterName,
      brokerAddr: this.addr,
      brokerName: c.brokerName,
      brokerId: c.brokerId,
      haServerAddr: `${c.brokerIP1}:${this.haService?.port ?? (this.listenPorts[0] ?? 0) + 1}`,
      topicConfigWrapper: wrapper,
      oneway,
      timeoutMs: c.registerBrokerTimeoutMills,
      compressed: c.compressedRegister,
    })
    if (outcomes.length === 0 || outcomes.some((o) => o.ok)) this.registered = true
    this.onRegistered(outcomes)
  }

  private every(intervalMs: number, task: () => void): void {
    const t = setInterval(() => {
      try {
        task()
      } catch (err) {
        // A periodic task is retried on its next tick; one failure must not stop the timer.
        this.logger.error({ err }, 'periodic task failed')
      }
    }, intervalMs)
    t.unref()
    this.timers.push(t)
  }

  private async waitForIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const busy = (): boolean => Object.values(this.executors).some((e) => e.active > 0 || e.queued > 0)
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    if (busy()) this.logger.warn({}, 'shutting down with requests still in flight')
  }

  private tlsOptions(): ServerTlsOptions | undefined {
    const c = this.brokerConfig
    if (c.tlsMode === 'disabled') return { mode: 'disabled' }
    return {
      mode: c.tlsMode,
      secureContext: {
        cert: readFileSync(c.tlsServerCertPath),
        key: readFileSync(c.tlsServerKeyPath),
        passphrase: c.tlsServerKeyPassword || undefined,
        ca: c.tlsServerTrustCertPath ? readFileSync(c.tlsServerTrustCertPath) : undefined,
      },
      requestCert: c.tlsServerAuthClient,
    }
  }
}

/** One registration with every name server, and the callers waiting for it to finish. */
interface RegistrationRound {
  /** Oneway only when every caller asked for oneway. */
  oneway: boolean
  readonly done: Promise<void>
  readonly finish: () => void
}

function newRegistrationRound(oneway: boolean): RegistrationRound {
  let finish!: () => void
  const done = new Promise<void>((resolve) => (finish = resolve))
  return { oneway, done, finish }
}

function prop(name: string, value: string): string {
  return name + NAME_VALUE_SEPARATOR + value + PROPERTY_SEPARATOR
}

function isWritablePerm(perm: number): boolean {
  return (perm & 2) !== 0
}

function isReadablePerm(perm: number): boolean {
  return (perm & 4) !== 0
}

/** The data directory layout `ferrymq start` uses under `--data-dir`. */
export function dataDirLayout(dataDir: string): { store: string; namesrv: string } {
  return { store: join(dataDir, 'store'), namesrv: join(dataDir, 'namesrv') }
}
