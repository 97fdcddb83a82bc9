/**
 * The push consumer (`DefaultMQPushConsumer` / `DefaultMQPushConsumerImpl`, client.md §4): subscriptions,
 * rebalance through the shared runtime, one long-polling pull loop per owned queue with flow control, the
 * concurrent or orderly consume service, send-back to the retry topic and the DLQ, and offsets kept in the
 * broker (clustering) or a local file (broadcasting).
 *
 * Without a registered listener the consumer is an async iterable: `for await (const msg of consumer)`. Each
 * message counts as consumed once the loop asks for the next one, and at most `consumeThreadMin` messages wait
 * for the loop, so a slow loop holds the pulls back through the usual flow control.
 */
import { BrokerResponseError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import { MixAll, getRetryTopic } from '../common/mix-all.js'
import { ResponseCode } from '../common/response-code.js'
import type { ConsumerData, ExpressionType } from '../remoting/protocol/heartbeat.js'
import { messageQueueKey, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { buildPullSysFlag } from '../remoting/protocol/pull-sys-flag.js'
import { buildClientId } from './client-config.js'
import { MQClientError } from './client-error.js'
import {
  acquireClientInstance,
  releaseClientInstance,
  type ConsumerInner,
  type MQClientInstance,
} from './client-instance.js'
import {
  buildSubscriptionData,
  checkClientInBroker,
  computePullFromWhere,
  createOffsetStore,
  subscriptionFromSelector,
} from './consumer-common.js'
import {
  formatConsumeTimestamp,
  MIB,
  resolvePushConsumerConfig,
  type PushConsumerOptions,
  type ResolvedPushConsumerConfig,
} from './consumer-config.js'
import {
  CMResult,
  RunningInfoProps,
  type ConsumeMessageDirectlyResult,
  type ConsumerRunningInfo,
  type ConsumeStatus,
  type ProcessQueueInfo,
} from './consumer-running-info.js'
import { ConsumerStatsManager } from './consumer-stats-manager.js'
import {
  ConsumeConcurrentlyStatus,
  ConsumeMessageConcurrentlyService,
  ConsumeMessageOrderlyService,
  type ConsumeHost,
  type ConsumeService,
  type MessageListenerConcurrently,
  resetRetryTopic,
  type ConsumeOrderlyStatus,
  type MessageListenerOrderly,
} from './consume-service.js'
import { Message } from './message.js'
import { MessageSelector, selectorOf } from './message-selector.js'
import { PullStatus } from './mq-client-api.js'
import { ReadOffsetType, type OffsetStore } from './offset-store.js'
import type { ProcessQueue } from './process-queue.js'
import { Producer } from './producer.js'
import { PullAPIWrapper, processPullResult, type ReceivedMessage } from './pull-api-wrapper.js'
import { RebalanceImpl, type PullRequest } from './rebalance-impl.js'

/** Fixed pull timings (client.md §4.1). */
const BROKER_SUSPEND_MAX_TIME_MS = 15_000
const CONSUMER_TIMEOUT_WHEN_SUSPEND_MS = 30_000
const PULL_TIME_DELAY_WHEN_EXCEPTION_MS = 3000
const PULL_TIME_DELAY_WHEN_FLOW_CONTROL_MS = 50
const PULL_TIME_DELAY_WHEN_BROKER_FLOW_CONTROL_MS = 20
const PULL_TIME_DELAY_WHEN_SUSPEND_MS = 1000
/** After the heartbeat a broker that had forgotten us asked for: it knows the subscription now. */
const PULL_TIME_DELAY_AFTER_HEARTBEAT_MS = 10
/** Orderly queue removal: wait this long for the consume lock, force after 20 s since the last lock. */
const REMOVE_LOCK_WAIT_MS = 500
const UNLOCK_DELAY_MS = 20_000
const FORCE_UNLOCK_AFTER_MS = 20_000
const SEND_BACK_TIMEOUT_MS = 5000
/** Concurrent listeners' default maximum reconsume times. */
const DEFAULT_MAX_RECONSUME_TIMES = 16
const LOCK_ALL_FIRST_MS = 1000
const LOCK_ALL_PERIOD_MS = 20_000

type State = 'created' | 'running' | 'shutdown'

/** Listener statuses → `CMResult` (CONSUME_MESSAGE_DIRECTLY). */
const CONCURRENTLY_CM_RESULT: Record<ConsumeConcurrentlyStatus, CMResult> = {
  CONSUME_SUCCESS: CMResult.CR_SUCCESS,
  RECONSUME_LATER: CMResult.CR_LATER,
}
const ORDERLY_CM_RESULT: Record<ConsumeOrderlyStatus, CMResult> = {
  SUCCESS: CMResult.CR_SUCCESS,
  SUSPEND_CURRENT_QUEUE_A_MOMENT: CMResult.CR_LATER,
  COMMIT: CMResult.CR_COMMIT,
  ROLLBACK: CMResult.CR_ROLLBACK,
}

export class PushConsumer implements ConsumerInner {
  readonly groupName: string
  private readonly options: PushConsumerOptions
  private config!: ResolvedPushConsumerConfig
  private instance!: MQClientInstance
  private rebalance!: RebalanceImpl
  private pullApi!: PullAPIWrapper
  private consumeService!: ConsumeService
  private store!: OffsetStore
  private state: State = 'created'
  private paused = false
  private orderly = false
  private listenerConcurrently: MessageListenerConcurrently | undefined
  private listenerOrderly: MessageListenerOrderly | undefined
  private iterator: MessageChannel | undefined
  private readonly subscriptions = new Map<string, MessageSelector>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private innerProducer: Producer | undefined
  private lockAllTimer: NodeJS.Timeout | undefined
  private readonly log: Logger
  private flowControlTimes = 0
  /** `consumerStartTimestamp`: when the consumer was created. */
  private readonly consumerStartTimestamp = Date.now()
  /** Pull and consume rates for GET_CONSUMER_RUNNING_INFO (`ConsumerStatsManager`). */
  private readonly stats = new ConsumerStatsManager()

  constructor(options: PushConsumerOptions) {
    this.options = options
    this.groupName = options.consumerGroup
    this.log = (options.logger ?? noopLogger).child({ component: 'push-consumer', group: options.consumerGroup })
  }

  get clientId(): string {
    return this.instance?.clientId ?? ''
  }

  /**
   * Subscribes `topic` with a tag expression (`TagA || TagB`, `*`), an SQL92 one (`type` 'SQL92'), or a
   * `MessageSelector` (`MessageSelector.bySql('a > 5')`). Callable while running: the new subscription gets a new
   * version and replaces the old one at the brokers with the next heartbeat.
   */
  subscribe(topic: string, expression: string | MessageSelector = '*', type: ExpressionType = 'TAG'): void {
    const selector = selectorOf(expression, type)
    const sub = subscriptionFromSelector(topic, selector)
    this.subscriptions.set(topic, selector)
    if (this.state === 'running') {
      this.rebalance.subscriptionInner.set(topic, sub)
      this.instance.afterSubscribe(topic)
    }
  }

  unsubscribe(topic: string): void {
    this.subscriptions.delete(topic)
    if (this.state === 'running') this.rebalance.subscriptionInner.delete(topic)
  }

  registerMessageListener(listener: MessageListenerConcurrently): void {
    this.checkNotStarted()
    this.listenerConcurrently = listener
    this.listenerOrderly = undefined
  }

  registerMessageListenerOrderly(listener: MessageListenerOrderly): void {
    this.checkNotStarted()
    this.listenerOrderly = listener
    this.listenerConcurrently = undefined
  }

  /** Start-up (client.md §4.2). */
  async start(): Promise<void> {
    this.checkNotStarted()
    this.config = resolvePushConsumerConfig(this.options)
    if (this.subscriptions.size === 0) {
      throw new MQClientError('RMQ_ERR_CONSUMER_STATE', 'subscribe to at least one topic before starting')
    }
    const c = this.config
    this.orderly = this.listenerOrderly !== undefined
    const clientId = buildClientId(c.instanceName, c.messageModel === 'CLUSTERING')
    this.instance = acquireClientInstance(clientId, c.runtime)
    this.rebalance = new RebalanceImpl(
      c.consumerGroup,
      c.messageModel,
      c.strategy,
      this.instance,
      {
        messageQueueChanged: (topic) => this.messageQueueChanged(topic),
        removeUnnecessaryMessageQueue: (mq, pq) => this.removeUnnecessaryMessageQueue(mq, pq),
        computePullFromWhere: (mq) => computePullFromWhere(mq, this.store, c, this.instance),
        removeDirtyOffset: (mq) => this.store.removeOffset(mq),
        dispatchPullRequests: (reqs, delay) => {
          for (const r of reqs) this.executePullRequestLater(r, delay)
        },
        dropsStaleQueues: true,
      },
      this.log,
    )
    for (const [topic, s] of this.subscriptions) {
      this.rebalance.subscriptionInner.set(topic, subscriptionFromSelector(topic, s))
    }
    if (c.messageModel === 'CLUSTERING') {
      const retry = getRetryTopic(c.consumerGroup)
      this.rebalance.subscriptionInner.set(retry, buildSubscriptionData(retry, '*'))
    }
    this.pullApi = new PullAPIWrapper(this.instance, c.consumerGroup)
    this.store = createOffsetStore(c, this.instance, this.options.offsetStore, this.log)
    await this.store.load()
    const host = this.consumeHost()
    if (this.listenerOrderly !== undefined) {
      this.consumeService = new ConsumeMessageOrderlyService(host, this.listenerOrderly)
    } else {
      let listener = this.listenerConcurrently
      if (listener === undefined) {
        this.iterator = new MessageChannel(() => this.shutdown())
        listener = this.iterator.listener
      }
      this.consumeService = new ConsumeMessageConcurrentlyService(host, listener, () =>
        this.rebalance.processQueueTable.values(),
      )
    }
    try {
      this.instance.registerConsumer(this)
    } catch (err) {
      await releaseClientInstance(this.instance)
      throw err
    }
    this.consumeService.start()
    this.state = 'running'
    this.instance.start()
    if (this.orderly && c.messageModel === 'CLUSTERING') this.scheduleLockAll(LOCK_ALL_FIRST_MS)
    try {
      for (const topic of this.rebalance.subscriptionInner.keys()) {
        try {
          await this.instance.updateTopicRoute(topic)
        } catch (err) {
          // The runtime refreshes routes every pollNameServerInterval; rebalance waits for them.
          this.log.warn({ topic, err }, 'route lookup at start failed')
        }
      }
      await this.checkClientConfigAtBroker()
    } catch (err) {
      await this.shutdown()
      throw err
    }
    await this.instance.sendHeartbeatToAllBrokers()
    this.instance.rebalanceImmediately()
    this.log.info(
      { clientId: this.instance.clientId, model: c.messageModel, orderly: this.orderly },
      'consumer started',
    )
  }

  /** Shutdown (client.md §4.13). */
  async shutdown(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'shutdown'
      return
    }
    this.state = 'shutdown'
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    clearTimeout(this.lockAllTimer)
    this.iterator?.close()
    await this.consumeService.shutdown(this.config.awaitTerminationMillisWhenShutdown)
    if (this.orderly && this.config.messageModel === 'CLUSTERING') await this.rebalance.unlockAll(false)
    await this.persistConsumerOffset()
    for (const entry of this.rebalance.processQueueTable.values()) entry.pq.dropped = true
    await this.instance.unregisterConsumer(this.groupName)
    await this.innerProducer?.shutdown()
    await releaseClientInstance(this.instance)
    this.log.info({ clientId: this.instance.clientId }, 'consumer shut down')
  }

  /** Stops pulling (in-flight pulls finish); `resume` starts again. */
  suspend(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
  }

  isRunning(): boolean {
    return this.state === 'running'
  }

  /** The queues this client consumes now. */
  assignment(): MessageQueue[] {
    return this.state === 'running' ? this.rebalance.ownedQueues() : []
  }

  /** The offset store (for tools and tests: committed offsets, persistence). */
  get offsetStore(): OffsetStore {
    return this.store
  }

  [Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    if (this.iterator === undefined) {
      throw new MQClientError(
        'RMQ_ERR_CONSUMER_STATE',
        'iterate a started consumer that has no registered listener (the listener and the iterator exclude each other)',
      )
    }
    return this.iterator.iterator()
  }

  // ----- ConsumerInner -----------------------------------------------------------------------------------------

  consumerData(): ConsumerData {
    return {
      groupName: this.groupName,
      consumeType: 'CONSUME_PASSIVELY',
      messageModel: this.config.messageModel,
      consumeFromWhere: this.config.consumeFromWhere,
      subscriptionDataSet: [...this.rebalance.subscriptionInner.values()],
      unitMode: false,
    }
  }

  async doRebalance(): Promise<boolean> {
    if (this.state !== 'running' || this.paused) return true
    return this.rebalance.doRebalance(this.orderly)
  }

  async persistConsumerOffset(): Promise<void> {
    if (this.store === undefined) return
    await this.store.persistAll(this.rebalance.ownedQueues())
  }

  subscribedTopics(): string[] {
    return this.state === 'running' ? [...this.rebalance.subscriptionInner.keys()] : []
  }

  updateTopicSubscribeInfo(topic: string, mqs: MessageQueue[]): void {
    if (this.rebalance.subscriptionInner.has(topic)) this.rebalance.topicSubscribeInfoTable.set(topic, mqs)
  }

  /** `RESET_CONSUMER_CLIENT_OFFSET` (client.md §4.12). */
  async resetOffset(topic: string, offsets: Map<MessageQueue, number>): Promise<void> {
    const RESET_WAIT_MS = 10_000
    this.suspend()
    try {
      const affected: MessageQueue[] = []
      for (const { mq, pq } of this.rebalance.processQueueTable.values()) {
        if (mq.topic !== topic) continue
        const target = [...offsets].find(([k]) => messageQueueKey(k) === messageQueueKey(mq))
        if (target === undefined) continue
        pq.dropped = true
        pq.clear()
        affected.push(mq)
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, RESET_WAIT_MS)
        t.unref()
      })
      for (const mq of affected) {
        const offset = [...offsets].find(([k]) => messageQueueKey(k) === messageQueueKey(mq))![1]
        this.store.updateOffset(mq, offset, false)
        await this.store.persist(mq)
        await this.rebalance.removeProcessQueue(mq)
      }
    } finally {
      this.resume()
      this.instance.rebalanceImmediately()
    }
  }

  // ----- admin requests relayed by brokers (client-remoting-processor.ts) ----------------------------------------

  /** GET_CONSUMER_RUNNING_INFO (`DefaultMQPushConsumerImpl#consumerRunningInfo`). */
  async consumerRunningInfo(): Promise<ConsumerRunningInfo> {
    const c = this.config
    const properties = new Map<string, string>([
      ['consumerGroup', c.consumerGroup],
      ['messageModel', c.messageModel],
      ['consumeFromWhere', c.consumeFromWhere],
      ['consumeTimestamp', formatConsumeTimestamp(c.consumeTimestamp)],
      ['consumeThreadMin', String(c.consumeThreadMin)],
      ['consumeThreadMax', String(c.consumeThreadMin)],
      ['consumeConcurrentlyMaxSpan', String(c.consumeConcurrentlyMaxSpan)],
      ['pullThresholdForQueue', String(c.pullThresholdForQueue)],
      ['pullThresholdSizeForQueue', String(c.pullThresholdSizeForQueue)],
      ['pullThresholdForTopic', String(c.pullThresholdForTopic)],
      ['pullThresholdSizeForTopic', String(c.pullThresholdSizeForTopic)],
      ['pullInterval', String(c.pullInterval)],
      ['pullBatchSize', String(c.pullBatchSize)],
      ['pullBatchSizeInBytes', String(c.pullBatchSizeInBytes)],
      ['consumeMessageBatchMaxSize', String(c.consumeMessageBatchMaxSize)],
      ['postSubscriptionWhenPull', String(c.postSubscriptionWhenPull)],
      ['maxReconsumeTimes', String(c.maxReconsumeTimes)],
      ['suspendCurrentQueueTimeMillis', String(c.suspendCurrentQueueTimeMillis)],
      ['consumeTimeout', String(c.consumeTimeoutMs / 60_000)],
      ['awaitTerminationMillisWhenShutdown', String(c.awaitTerminationMillisWhenShutdown)],
      ['instanceName', c.instanceName ?? 'DEFAULT'],
      ['namesrvAddr', c.runtime.namesrvAddrs.join(';')],
      ['unitMode', 'false'],
      [RunningInfoProps.PROP_CONSUME_TYPE, 'CONSUME_PASSIVELY'],
      [RunningInfoProps.PROP_CONSUME_ORDERLY, String(this.orderly)],
      [RunningInfoProps.PROP_THREADPOOL_CORE_SIZE, String(c.consumeThreadMin)],
      [RunningInfoProps.PROP_CONSUMER_START_TIMESTAMP, String(this.consumerStartTimestamp)],
    ])
    const mqTable = new Map<MessageQueue, ProcessQueueInfo>()
    for (const { mq, pq } of [...this.rebalance.processQueueTable.values()]) {
      const commitOffset = await this.store.readOffset(mq, ReadOffsetType.MEMORY_FIRST_THEN_STORE)
      mqTable.set(mq, { commitOffset, ...pq.fillProcessQueueInfo() })
    }
    const subscriptionSet = [...this.rebalance.subscriptionInner.values()]
    const statusTable = new Map<string, ConsumeStatus>()
    for (const sub of subscriptionSet) statusTable.set(sub.topic, this.stats.consumeStatus(sub.topic))
    return { properties, subscriptionSet, mqTable, statusTable }
  }

  /**
   * CONSUME_MESSAGE_DIRECTLY (`ConsumeMessage{Concurrently,Orderly}Service#consumeMessageDirectly`): the listener
   * gets the one message outside the pull flow; nothing is committed or sent back, whatever it answers.
   */
  async consumeMessageDirectly(msg: ReceivedMessage, brokerName: string): Promise<ConsumeMessageDirectlyResult> {
    const messageQueue = { topic: msg.topic, brokerName, queueId: msg.queueId }
    const msgs = [msg]
    resetRetryTopic(msgs, this.groupName)
    const result: ConsumeMessageDirectlyResult = {
      order: this.orderly,
      autoCommit: true,
      consumeResult: null,
      remark: null,
      spentTimeMills: 0,
    }
    const begin = Date.now()
    try {
      if (this.listenerOrderly !== undefined) {
        const ctx = { messageQueue, autoCommit: true, suspendCurrentQueueTimeMillis: -1 }
        try {
          const status = await this.listenerOrderly(msgs, ctx)
          result.consumeResult =
            status === null || status === undefined ? CMResult.CR_RETURN_NULL : ORDERLY_CM_RESULT[status]
        } finally {
          result.autoCommit = ctx.autoCommit
        }
      } else {
        const listener = this.listenerConcurrently ?? this.iterator?.listener
        if (listener === undefined) throw new MQClientError('RMQ_ERR_CONSUMER_STATE', 'no message listener')
        const ctx = { messageQueue, delayLevelWhenNextConsume: 0, ackIndex: Infinity }
        const status = await listener(msgs, ctx)
        result.consumeResult =
          status === null || status === undefined ? CMResult.CR_RETURN_NULL : CONCURRENTLY_CM_RESULT[status]
      }
    } catch (err) {
      result.consumeResult = CMResult.CR_THROW_EXCEPTION
      result.remark = String(err)
      this.log.warn({ msgId: msg.msgId, mq: messageQueue, err }, 'consumeMessageDirectly exception')
    }
    result.spentTimeMills = Date.now() - begin
    return result
  }

  /** GET_CONSUMER_STATUS_FROM_CLIENT: the in-memory offsets of `topic`'s queues (`cloneOffsetTable`). */
  consumerOffsets(topic: string): { mq: MessageQueue; offset: number }[] {
    return this.store === undefined ? [] : [...this.store.cloneOffsetTable(topic).values()]
  }

  // ----- pulling (client.md §4.4, §4.5) ------------------------------------------------------------------------

  private executePullRequestLater(req: PullRequest, delayMs: number): void {
    if (this.state !== 'running') return
    const t = setTimeout(() => {
      this.timers.delete(t)
      void this.pullMessage(req)
    }, delayMs)
    t.unref()
    this.timers.add(t)
  }

  private async pullMessage(req: PullRequest): Promise<void> {
    const pq = req.processQueue
    const mq = req.messageQueue
    const c = this.config
    if (pq.dropped || this.state !== 'running') return
    pq.lastPullTimestamp = Date.now()
    if (this.paused) return this.executePullRequestLater(req, PULL_TIME_DELAY_WHEN_SUSPEND_MS)
    if (pq.msgCount > c.pullThresholdForQueue || pq.msgSize / MIB > c.pullThresholdSizeForQueue) {
      if (this.flowControlTimes++ % 1000 === 0) {
        this.log.warn({ mq, cached: pq.msgCount, cachedMiB: pq.msgSize / MIB }, 'flow control: too much cached')
      }
      return this.executePullRequestLater(req, PULL_TIME_DELAY_WHEN_FLOW_CONTROL_MS)
    }
    if (!this.orderly) {
      if (pq.getMaxSpan() > c.consumeConcurrentlyMaxSpan) {
        if (this.flowControlTimes++ % 1000 === 0) {
          this.log.warn({ mq, span: pq.getMaxSpan() }, 'flow control: offset span too large')
        }
        return this.executePullRequestLater(req, PULL_TIME_DELAY_WHEN_FLOW_CONTROL_MS)
      }
    } else if (pq.locked) {
      if (!req.previouslyLocked) {
        try {
          req.nextOffset = await computePullFromWhere(mq, this.store, c, this.instance)
        } catch (err) {
          this.log.warn({ mq, err }, 'cannot compute where to start the locked queue')
          return this.executePullRequestLater(req, PULL_TIME_DELAY_WHEN_EXCEPTION_MS)
        }
        req.previouslyLocked = true
      }
    } else {
      return this.executePullRequestLater(req, PULL_TIME_DELAY_WHEN_EXCEPTION_MS)
    }
    const sub = this.rebalance.subscriptionInner.get(mq.topic)
    if (sub === undefined) return this.executePullRequestLater(req, PULL_TIME_DELAY_WHEN_EXCEPTION_MS)
    let commitOffset = 0
    if (c.messageModel === 'CLUSTERING') {
      commitOffset = await this.store.readOffset(mq, ReadOffsetType.READ_FROM_MEMORY)
    }
    const withSubscription = c.postSubscriptionWhenPull && !sub.classFilterMode
    const sysFlag = buildPullSysFlag(commitOffset > 0, true, withSubscription, sub.classFilterMode)
    let raw
    const pullBegan = Date.now()
    try {
      raw = await this.pullApi.pullKernel({
        mq,
        sub,
        withSubscription,
        offset: req.nextOffset,
        maxNums: c.pullBatchSize,
        maxSizeInBytes: c.pullBatchSizeInBytes,
        sysFlag,
        commitOffset: Math.max(0, commitOffset),
        brokerSuspendMaxTimeMillis: BROKER_SUSPEND_MAX_TIME_MS,
        timeoutMillis: CONSUMER_TIMEOUT_WHEN_SUSPEND_MS,
        lite: false,
      })
    } catch (err) {
      if (this.state !== 'running') return
      if (err instanceof BrokerResponseError && err.responseCode === ResponseCode.SUBSCRIPTION_NOT_EXIST) {
        // A broker that does not know our subscription restarted: tell it now rather than at the next period, and
        // pull again once it knows.
        this.log.info({ mq }, 'the broker does not know this consumer (it restarted?): heartbeat, then pull again')
        return void this.instance
          .heartbeatSoon()
          .then(() => this.executePullRequestLater(req, PULL_TIME_DELAY_AFTER_HEARTBEAT_MS))
      }
      const flowControl = err instanceof BrokerResponseError && err.responseCode === ResponseCode.FLOW_CONTROL
      if (!flowControl) this.log.warn({ mq, err }, 'pull failed, retrying in 3 s')
      return this.executePullRequestLater(
        req,
        flowControl ? PULL_TIME_DELAY_WHEN_BROKER_FLOW_CONTROL_MS : PULL_TIME_DELAY_WHEN_EXCEPTION_MS,
      )
    }
    if (pq.dropped || this.state !== 'running') return
    const result = processPullResult(mq, raw, sub, this.log)
    switch (result.status) {
      case PullStatus.FOUND: {
        req.nextOffset = result.nextBeginOffset
        this.stats.incPullRT(mq.topic, Date.now() - pullBegan)
        if (result.msgFoundList.length === 0) return void this.pullMessage(req)
        this.stats.incPullTPS(mq.topic, result.msgFoundList.length)
        const dispatch = pq.putMessage(result.msgFoundList)
        this.consumeService.submitConsumeRequest(result.msgFoundList, pq, mq, dispatch)
        if (c.pullInterval > 0) return this.executePullRequestLater(req, c.pullInterval)
        return void this.pullMessage(req)
      }
      case PullStatus.NO_NEW_MSG:
      case PullStatus.NO_MATCHED_MSG:
        req.nextOffset = result.nextBeginOffset
        // Nothing cached: the queue's progress may move past filtered-out messages.
        if (pq.msgCount === 0) this.store.updateOffset(mq, req.nextOffset, true)
        return void this.pullMessage(req)
      case PullStatus.OFFSET_ILLEGAL:
        this.log.warn(
          { mq, requested: req.nextOffset, next: result.nextBeginOffset },
          'pull offset illegal, correcting',
        )
        req.nextOffset = result.nextBeginOffset
        pq.dropped = true
        try {
          this.store.updateAndFreezeOffset(mq, req.nextOffset)
          await this.store.persist(mq)
          await this.rebalance.removeProcessQueue(mq)
        } catch (err) {
          this.log.warn({ mq, err }, 'correcting an illegal offset failed')
        }
        this.instance.rebalanceImmediately()
        return
    }
  }

  // ----- rebalance hooks (`RebalancePushImpl`) -----------------------------------------------------------------

  private messageQueueChanged(topic: string): void {
    const sub = this.rebalance.subscriptionInner.get(topic)
    if (sub !== undefined) sub.subVersion = Date.now()
    const c = this.config
    const owned = this.rebalance.processQueueTable.size
    if (owned > 0) {
      if (c.pullThresholdForTopic !== -1) {
        c.pullThresholdForQueue = Math.max(1, Math.floor(c.pullThresholdForTopic / owned))
      }
      if (c.pullThresholdSizeForTopic !== -1) {
        c.pullThresholdSizeForQueue = Math.max(1, Math.floor(c.pullThresholdSizeForTopic / owned))
      }
    }
    void this.instance.sendHeartbeatToAllBrokers()
  }

  private async removeUnnecessaryMessageQueue(mq: MessageQueue, pq: ProcessQueue): Promise<boolean> {
    await this.store.persist(mq).catch((err: unknown) => this.log.warn({ mq, err }, 'persisting the offset failed'))
    this.store.removeOffset(mq)
    if (!this.orderly || this.config.messageModel !== 'CLUSTERING') return true
    const release = await pq.consumeLock.acquire(REMOVE_LOCK_WAIT_MS)
    if (release !== null) {
      try {
        this.unlockDelay(mq, pq)
        return true
      } finally {
        release()
      }
    }
    if (Date.now() - pq.lastLockTimestamp > FORCE_UNLOCK_AFTER_MS) {
      this.log.warn({ mq }, 'queue still consuming after 20 s, unlocking it anyway')
      void this.rebalance.unlock(mq, true)
      return true
    }
    pq.incTryUnlockTimes()
    return false
  }

  /** Unlocks at the broker, after 20 s when messages are still being consumed. */
  private unlockDelay(mq: MessageQueue, pq: ProcessQueue): void {
    if (pq.hasTempMessage()) {
      const t = setTimeout(() => void this.rebalance.unlock(mq, true), UNLOCK_DELAY_MS)
      t.unref()
    } else {
      void this.rebalance.unlock(mq, true)
    }
  }

  private scheduleLockAll(delayMs: number): void {
    this.lockAllTimer = setTimeout(() => {
      void this.rebalance.lockAll().finally(() => {
        if (this.state === 'running') this.scheduleLockAll(LOCK_ALL_PERIOD_MS)
      })
    }, delayMs)
    this.lockAllTimer.unref()
  }

  // ----- retry (client.md §4.9) --------------------------------------------------------------------------------

  private consumeHost(): ConsumeHost {
    const c = this.config
    return {
      consumerGroup: c.consumerGroup,
      messageModel: c.messageModel,
      consumeThreadMin: c.consumeThreadMin,
      consumeMessageBatchMaxSize: c.consumeMessageBatchMaxSize,
      maxReconsumeTimes: (orderly) =>
        c.maxReconsumeTimes === -1
          ? orderly
            ? Number.MAX_SAFE_INTEGER
            : DEFAULT_MAX_RECONSUME_TIMES
          : c.maxReconsumeTimes,
      suspendCurrentQueueTimeMillis: c.suspendCurrentQueueTimeMillis,
      consumeTimeoutMs: c.consumeTimeoutMs,
      offsetStore: this.store,
      sendMessageBack: (msg, delayLevel) => this.sendMessageBack(msg, delayLevel),
      sendToRetryTopicAsDlq: (msg) => this.sendToRetryTopic(msg, 3 + msg.reconsumeTimes),
      lockQueue: (mq) => this.rebalance.lock(mq),
      log: this.log,
      stats: this.stats,
    }
  }

  private maxReconsumeTimesForSendBack(): number {
    return this.config.maxReconsumeTimes === -1 ? DEFAULT_MAX_RECONSUME_TIMES : this.config.maxReconsumeTimes
  }

  /**
   * CONSUMER_SEND_MSG_BACK to the master of the message's broker, else a send to the retry topic; false when both
   * fail. A slave never takes it: with the master down, Java sends to a null address (its remoting client turns
   * that into a name server, which never answers this code) and falls back after the timeout; we fall back at once.
   */
  private async sendMessageBack(msg: ReceivedMessage, delayLevel: number): Promise<boolean> {
    try {
      const addr = msg.brokerName ? this.instance.findBrokerAddressInPublish(msg.brokerName) : msg.storeHost
      if (addr === undefined) {
        throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `no master of broker ${msg.brokerName} is known`)
      }
      await this.instance.api.consumerSendMessageBack(
        addr,
        {
          offset: msg.commitLogOffset,
          group: this.groupName,
          delayLevel,
          originMsgId: msg.msgId,
          originTopic: msg.topic,
          maxReconsumeTimes: this.maxReconsumeTimesForSendBack(),
          brokerName: msg.brokerName,
        },
        SEND_BACK_TIMEOUT_MS,
      )
      return true
    } catch (err) {
      this.log.warn({ msgId: msg.msgId, err }, 'sendMessageBack failed, sending to the retry topic instead')
      return this.sendToRetryTopic(msg, 3 + msg.reconsumeTimes)
    }
  }

  /** The fallback of §4.9 step 2 (also orderly's way to the DLQ): a normal send to `%RETRY%<group>`. */
  private async sendToRetryTopic(msg: ReceivedMessage, delayLevel: number): Promise<boolean> {
    try {
      const retry = new Message({ topic: getRetryTopic(this.groupName), body: msg.body, flag: msg.flag })
      for (const [k, v] of msg.properties) retry.properties.set(k, v)
      const p = retry.properties
      p.delete(MessageConst.PROPERTY_TRANSACTION_PREPARED)
      if (!p.has(MessageConst.PROPERTY_RETRY_TOPIC)) p.set(MessageConst.PROPERTY_RETRY_TOPIC, msg.topic)
      if (!p.has(MessageConst.PROPERTY_ORIGIN_MESSAGE_ID)) p.set(MessageConst.PROPERTY_ORIGIN_MESSAGE_ID, msg.msgId)
      p.set(MessageConst.PROPERTY_RECONSUME_TIME, String(msg.reconsumeTimes + 1))
      p.set(MessageConst.PROPERTY_MAX_RECONSUME_TIMES, String(this.maxReconsumeTimesForSendBack()))
      retry.delayTimeLevel = delayLevel
      await (await this.producer()).send(retry)
      return true
    } catch (err) {
      this.log.warn({ msgId: msg.msgId, err }, 'sending to the retry topic failed')
      return false
    }
  }

  /** The internal producer (`CLIENT_INNER_PRODUCER`), started on first use. */
  private async producer(): Promise<Producer> {
    if (this.innerProducer === undefined) {
      const p = new Producer({
        ...this.options,
        producerGroup: MixAll.CLIENT_INNER_PRODUCER_GROUP,
        instanceName: undefined,
      })
      await p.start()
      this.innerProducer = p
    }
    return this.innerProducer
  }

  // -------------------------------------------------------------------------------------------------------------

  private checkNotStarted(): void {
    if (this.state !== 'created') {
      throw new MQClientError('RMQ_ERR_CONSUMER_STATE', `the consumer is ${this.state}; configure it before start()`)
    }
  }

  /** Non-TAG subscriptions are checked by a broker of the topic before we start (client.md §4.2 step 8). */
  private checkClientConfigAtBroker(): Promise<void> {
    return checkClientInBroker(
      this.instance,
      this.groupName,
      this.rebalance.subscriptionInner.values(),
      this.config.runtime.mqClientApiTimeout,
    )
  }
}

/**
 * The bridge between the concurrent consume service and `for await`: the listener hands each message over and
 * waits until the loop has finished with it (asked for the next one), then reports it consumed.
 */
class MessageChannel {
  private readonly ready: { msg: ReceivedMessage; done: () => void }[] = []
  private waiting: ((r: IteratorResult<ReceivedMessage>) => void) | undefined
  private current: (() => void) | undefined
  private closed = false
  private readonly waitersOfClose = new Set<() => void>()

  constructor(private readonly onReturn: () => Promise<void>) {}

  readonly listener: MessageListenerConcurrently = async (msgs) => {
    for (const msg of msgs) {
      if (this.closed) return ConsumeConcurrentlyStatus.RECONSUME_LATER
      const consumed = await new Promise<boolean>((resolve) => {
        const done = (): void => {
          this.waitersOfClose.delete(abort)
          resolve(true)
        }
        const abort = (): void => resolve(false)
        this.waitersOfClose.add(abort)
        this.push({ msg, done })
      })
      // Closed before the loop took it: not consumed; the queue is dropped, so no offset moves either.
      if (!consumed) return ConsumeConcurrentlyStatus.RECONSUME_LATER
    }
    return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
  }

  iterator(): AsyncIterator<ReceivedMessage> {
    return {
      next: () => {
        this.finishCurrent()
        if (this.closed) return Promise.resolve({ done: true, value: undefined })
        const item = this.ready.shift()
        if (item !== undefined) {
          this.current = item.done
          return Promise.resolve({ done: false, value: item.msg })
        }
        return new Promise((resolve) => {
          this.waiting = resolve
        })
      },
      return: async () => {
        this.finishCurrent()
        await this.onReturn()
        return { done: true, value: undefined }
      },
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const abort of this.waitersOfClose) abort()
    this.waitersOfClose.clear()
    this.ready.length = 0
    const w = this.waiting
    this.waiting = undefined
    w?.({ done: true, value: undefined })
  }

  private push(item: { msg: ReceivedMessage; done: () => void }): void {
    const w = this.waiting
    if (w !== undefined) {
      this.waiting = undefined
      this.current = item.done
      w({ done: false, value: item.msg })
      return
    }
    this.ready.push(item)
  }

  private finishCurrent(): void {
    const done = this.current
    this.current = undefined
    done?.()
  }
}
