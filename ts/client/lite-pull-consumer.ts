/**
 * The lite pull consumer (`DefaultLitePullConsumer` / `DefaultLitePullConsumerImpl`, `AssignedMessageQueue`;
 * client.md §5): queues come from rebalance (`subscribe`) or from the caller (`assign`); one pull task per queue
 * fills a shared buffer that `poll()` drains; `seek`, `pause`/`resume`, and offsets committed automatically
 * during `poll()` or by `commit()`.
 *
 * It is also an async iterable: `for await (const msg of consumer)` polls batch by batch until the consumer shuts
 * down; messages are pulled only while the buffer is under its thresholds, so a slow loop slows the pulls.
 */
import { BrokerResponseError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { ResponseCode } from '../common/response-code.js'
import type { ConsumerData, ExpressionType, SubscriptionData } from '../remoting/protocol/heartbeat.js'
import { messageQueueKey, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { PullSysFlag } from '../remoting/protocol/pull-sys-flag.js'
import { buildClientId, positive } from './client-config.js'
import { MQClientError } from './client-error.js'
import {
  acquireClientInstance,
  releaseClientInstance,
  subscribeQueues,
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
import { MIB, resolveConsumerConfig, type ConsumerOptions, type ResolvedConsumerConfig } from './consumer-config.js'
import { MessageSelector, selectorOf } from './message-selector.js'
import { PullStatus } from './mq-client-api.js'
import { ReadOffsetType, type OffsetStore } from './offset-store.js'
import { ProcessQueue } from './process-queue.js'
import { PullAPIWrapper, processPullResult, type ReceivedMessage } from './pull-api-wrapper.js'
import { RebalanceImpl } from './rebalance-impl.js'
import { TaskLimiter } from './task-limiter.js'

export interface LitePullConsumerOptions extends ConsumerOptions {
  /** Commit consumed offsets during `poll()` (default true). */
  autoCommit?: boolean
  /** ms between automatic commits; values under 1000 are ignored. */
  autoCommitIntervalMillis?: number
  /** Pulls in flight at once. */
  pullThreadNums?: number
  pullBatchSize?: number
  /** Buffered messages (requests × pullBatchSize) above which every queue waits. */
  pullThresholdForAll?: number
  pullThresholdForQueue?: number
  /** MiB. */
  pullThresholdSizeForQueue?: number
  consumeMaxSpan?: number
  pollTimeoutMillis?: number
  /** ms the broker may hold a pull. */
  brokerSuspendMaxTimeMillis?: number
  /** ms before a held pull times out on our side; must exceed the hold time. */
  consumerTimeoutMillisWhenSuspend?: number
  /** ms between checks for queue changes of topics with a listener. */
  topicMetadataCheckIntervalMillis?: number
}

export type TopicMessageQueueChangeListener = (topic: string, queues: MessageQueue[]) => void

/** Back-off delays (client.md §5.3). */
const PULL_TIME_DELAY_WHEN_PAUSE_MS = 1000
const PULL_TIME_DELAY_WHEN_FLOW_CONTROL_MS = 50
const PULL_TIME_DELAY_WHEN_BROKER_FLOW_CONTROL_MS = 20
const PULL_TIME_DELAY_WHEN_COMPUTE_ERROR_MS = 3000
const PULL_TIME_DELAY_WHEN_EXCEPTION_MS = 1000
const AUTO_COMMIT_INTERVAL_MIN_MS = 1000

/** One assigned queue (`AssignedMessageQueue`'s per-queue state). */
interface Assigned {
  mq: MessageQueue
  pq: ProcessQueue
  /** Where the next pull starts; −1 until known. */
  pullOffset: number
  /** Offset after the last message `poll` handed out; −1 until then. */
  consumedOffset: number
  /** A pending `seek`; −1 when none. */
  seekOffset: number
  paused: boolean
  /** Bumped when the queue's pull task must stop (seek restarts it, removal ends it). */
  generation: number
}

interface ConsumeRequest {
  messages: ReceivedMessage[]
  assigned: Assigned
  generation: number
}

type Mode = 'NONE' | 'SUBSCRIBE' | 'ASSIGN'
type State = 'created' | 'running' | 'shutdown'

export class LitePullConsumer implements ConsumerInner {
  readonly groupName: string
  private readonly options: LitePullConsumerOptions
  private config!: ResolvedConsumerConfig
  private instance!: MQClientInstance
  private rebalance!: RebalanceImpl
  private pullApi!: PullAPIWrapper
  private store!: OffsetStore
  private limiter!: TaskLimiter
  private state: State = 'created'
  private mode: Mode = 'NONE'
  private readonly subscriptions = new Map<string, MessageSelector>()
  private readonly assignExpressions = new Map<string, string>()
  private assignedQueues: MessageQueue[] = []
  private readonly assigned = new Map<string, Assigned>()
  private readonly buffer: ConsumeRequest[] = []
  private pollWaiters: (() => void)[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly topicListeners = new Map<string, { listener: TopicMessageQueueChangeListener; last: string }>()
  private metadataTimer: NodeJS.Timeout | undefined
  private nextAutoCommitDeadline = 0
  private readonly log: Logger
  private readonly autoCommit: boolean
  private readonly autoCommitIntervalMs: number
  private readonly pullBatchSize: number
  private readonly pullThresholdForAll: number
  private readonly pullThresholdForQueue: number
  private readonly pullThresholdSizeForQueue: number
  private readonly consumeMaxSpan: number
  private readonly pollTimeoutMillis: number
  private readonly brokerSuspendMaxTimeMillis: number
  private readonly consumerTimeoutMillisWhenSuspend: number

  constructor(options: LitePullConsumerOptions) {
    this.options = options
    this.groupName = options.consumerGroup
    this.log = (options.logger ?? noopLogger).child({ component: 'lite-pull-consumer', group: options.consumerGroup })
    this.autoCommit = options.autoCommit ?? true
    const interval = options.autoCommitIntervalMillis ?? 5000
    this.autoCommitIntervalMs = interval >= AUTO_COMMIT_INTERVAL_MIN_MS ? interval : 5000
    this.pullBatchSize = positive('pullBatchSize', options.pullBatchSize ?? 10)
    this.pullThresholdForAll = positive('pullThresholdForAll', options.pullThresholdForAll ?? 10_000)
    this.pullThresholdForQueue = positive('pullThresholdForQueue', options.pullThresholdForQueue ?? 1000)
    this.pullThresholdSizeForQueue = positive('pullThresholdSizeForQueue', options.pullThresholdSizeForQueue ?? 100)
    this.consumeMaxSpan = positive('consumeMaxSpan', options.consumeMaxSpan ?? 2000)
    this.pollTimeoutMillis = positive('pollTimeoutMillis', options.pollTimeoutMillis ?? 5000, 0)
    this.brokerSuspendMaxTimeMillis = positive(
      'brokerSuspendMaxTimeMillis',
      options.brokerSuspendMaxTimeMillis ?? 20_000,
    )
    this.consumerTimeoutMillisWhenSuspend = positive(
      'consumerTimeoutMillisWhenSuspend',
      options.consumerTimeoutMillisWhenSuspend ?? 30_000,
    )
    if (this.consumerTimeoutMillisWhenSuspend < this.brokerSuspendMaxTimeMillis) {
      throw new MQClientError(
        'RMQ_ERR_CONFIG',
        'consumerTimeoutMillisWhenSuspend must be at least brokerSuspendMaxTimeMillis',
      )
    }
  }

  // ----- lifecycle --------------------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.state !== 'created') {
      throw new MQClientError('RMQ_ERR_CONSUMER_STATE', `the consumer is ${this.state}, it can be started only once`)
    }
    const c = (this.config = resolveConsumerConfig(this.options))
    const clientId = buildClientId(c.instanceName, c.messageModel === 'CLUSTERING')
    this.instance = acquireClientInstance(clientId, c.runtime)
    this.rebalance = new RebalanceImpl(
      c.consumerGroup,
      c.messageModel,
      c.strategy,
      this.instance,
      {
        messageQueueChanged: (topic) => this.syncAssignmentFromRebalance(topic),
        removeUnnecessaryMessageQueue: async (mq) => {
          await this.store.persist(mq).catch((err: unknown) => this.log.warn({ mq, err }, 'persisting failed'))
          this.store.removeOffset(mq)
          return true
        },
        computePullFromWhere: async () => 0,
        removeDirtyOffset: (mq) => this.store.removeOffset(mq),
        dispatchPullRequests: () => {},
        dropsStaleQueues: false,
      },
      this.log,
    )
    for (const [topic, s] of this.subscriptions) {
      this.rebalance.subscriptionInner.set(topic, subscriptionFromSelector(topic, s))
    }
    this.pullApi = new PullAPIWrapper(this.instance, c.consumerGroup)
    this.store = createOffsetStore(c, this.instance, this.options.offsetStore, this.log)
    await this.store.load()
    this.limiter = new TaskLimiter(positive('pullThreadNums', this.options.pullThreadNums ?? 20))
    this.instance.registerConsumer(this)
    this.state = 'running'
    this.instance.start()
    this.nextAutoCommitDeadline = Date.now() + this.autoCommitIntervalMs
    for (const topic of this.subscriptions.keys()) {
      await this.instance.updateTopicRoute(topic).catch((err: unknown) => {
        // The runtime refreshes routes periodically; rebalance waits for them.
        this.log.warn({ topic, err }, 'route lookup at start failed')
      })
    }
    if (this.mode === 'ASSIGN') this.applyAssignment(this.assignedQueues)
    try {
      await checkClientInBroker(
        this.instance,
        this.groupName,
        this.rebalance.subscriptionInner.values(),
        c.runtime.mqClientApiTimeout,
      )
    } catch (err) {
      await this.shutdown()
      throw err
    }
    await this.instance.sendHeartbeatToAllBrokers()
    if (this.mode === 'SUBSCRIBE') this.instance.rebalanceImmediately()
    this.scheduleMetadataCheck()
  }

  async shutdown(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'shutdown'
      return
    }
    this.state = 'shutdown'
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    clearTimeout(this.metadataTimer)
    this.limiter.clear()
    for (const a of this.assigned.values()) {
      a.generation++
      a.pq.dropped = true
    }
    this.wakePollers()
    await this.persistConsumerOffset()
    await this.instance.unregisterConsumer(this.groupName)
    await releaseClientInstance(this.instance)
  }

  isRunning(): boolean {
    return this.state === 'running'
  }

  // ----- assignment -------------------------------------------------------------------------------------------

  /** Subscribes `topic` with a tag expression, an SQL92 one (`type` 'SQL92'), or a `MessageSelector`. */
  subscribe(topic: string, expression: string | MessageSelector = '*', type: ExpressionType = 'TAG'): void {
    const selector = selectorOf(expression, type)
    const sub = subscriptionFromSelector(topic, selector)
    this.setMode('SUBSCRIBE')
    this.subscriptions.set(topic, selector)
    if (this.state === 'running') {
      this.rebalance.subscriptionInner.set(topic, sub)
      this.instance.afterSubscribe(topic)
    }
  }

  unsubscribe(topic: string): void {
    this.subscriptions.delete(topic)
    if (this.state !== 'running') return
    this.rebalance.subscriptionInner.delete(topic)
    for (const a of [...this.assigned.values()]) if (a.mq.topic === topic) this.removeAssigned(a)
  }

  /** Manual assignment: replaces the assigned set (no rebalance). */
  assign(queues: readonly MessageQueue[]): void {
    if (queues.length === 0) throw new MQClientError('RMQ_ERR_ILLEGAL_ARGUMENT', 'assign needs at least one queue')
    this.setMode('ASSIGN')
    this.assignedQueues = [...queues]
    if (this.state === 'running') this.applyAssignment(this.assignedQueues)
  }

  /** The tag expression of a topic in assign mode; only before `start()`. */
  setSubExpressionForAssign(topic: string, expression: string): void {
    if (this.state !== 'created') {
      throw new MQClientError('RMQ_ERR_CONSUMER_STATE', 'setSubExpressionForAssign is allowed only before start()')
    }
    this.assignExpressions.set(topic, expression)
  }

  assignment(): MessageQueue[] {
    return [...this.assigned.values()].map((a) => a.mq)
  }

  /** The readable queues of `topic` from its route. */
  async fetchMessageQueues(topic: string): Promise<MessageQueue[]> {
    this.checkRunning()
    const route = await this.instance.fetchRoute(topic)
    if (route === null) throw new MQClientError('RMQ_ERR_NO_ROUTE', `No route info of this topic: ${topic}`)
    return subscribeQueues(topic, route)
  }

  registerTopicMessageQueueChangeListener(topic: string, listener: TopicMessageQueueChangeListener): void {
    this.topicListeners.set(topic, { listener, last: '' })
  }

  // ----- consuming ---------------------------------------------------------------------------------------------

  /** The next buffered batch, waiting up to `timeoutMs` (default `pollTimeoutMillis`); possibly empty. */
  async poll(timeoutMs = this.pollTimeoutMillis): Promise<ReceivedMessage[]> {
    this.checkRunning()
    if (this.autoCommit && Date.now() >= this.nextAutoCommitDeadline) {
      this.commit()
      this.nextAutoCommitDeadline = Date.now() + this.autoCommitIntervalMs
    }
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const req = this.takeRequest()
      if (req !== undefined) {
        const a = req.assigned
        const offset = a.pq.removeMessage(req.messages)
        if (offset >= 0) a.consumedOffset = offset
        return req.messages
      }
      const left = deadline - Date.now()
      if (left <= 0 || this.state !== 'running') return []
      await this.waitForRequest(left)
    }
  }

  /** Moves a queue to `offset` (within its min and max); buffered messages of the queue are dropped. */
  async seek(mq: MessageQueue, offset: number): Promise<void> {
    this.checkRunning()
    const a = this.assigned.get(messageQueueKey(mq))
    if (a === undefined) {
      throw new MQClientError(
        'RMQ_ERR_ILLEGAL_ARGUMENT',
        `the message queue is not in assigned list, may be rebalancing, message queue: ${mq.topic}/${mq.brokerName}/${mq.queueId}`,
      )
    }
    const [min, max] = await Promise.all([this.queueOffset(mq, 'min'), this.queueOffset(mq, 'max')])
    if (offset < min || offset > max) {
      throw new MQClientError('RMQ_ERR_ILLEGAL_ARGUMENT', `seek offset illegal: ${offset}, min ${min}, max ${max}`)
    }
    this.restartQueue(a, offset)
  }

  async seekToBegin(mq: MessageQueue): Promise<void> {
    this.checkRunning()
    await this.seek(mq, await this.queueOffset(mq, 'min'))
  }

  async seekToEnd(mq: MessageQueue): Promise<void> {
    this.checkRunning()
    await this.seek(mq, await this.queueOffset(mq, 'max'))
  }

  pause(queues: readonly MessageQueue[]): void {
    for (const mq of queues) {
      const a = this.assigned.get(messageQueueKey(mq))
      if (a !== undefined) a.paused = true
    }
  }

  resume(queues: readonly MessageQueue[]): void {
    for (const mq of queues) {
      const a = this.assigned.get(messageQueueKey(mq))
      if (a !== undefined) a.paused = false
    }
  }

  /** Commits in memory: every assigned queue's consumed offset (persisted by the 5 s task). */
  commit(): void
  /** Commits the given offsets (or the consumed offsets of the given queues); `persist` writes them at once. */
  commit(offsets: Map<MessageQueue, number> | Iterable<MessageQueue>, persist: boolean): Promise<void>
  commit(offsets?: Map<MessageQueue, number> | Iterable<MessageQueue>, persist = false): void | Promise<void> {
    this.checkRunning()
    if (offsets === undefined) {
      for (const a of this.assigned.values()) {
        if (a.consumedOffset !== -1) this.store.updateOffset(a.mq, a.consumedOffset, false)
      }
      return
    }
    const touched: MessageQueue[] = []
    const entries: [MessageQueue, number | undefined][] =
      offsets instanceof Map ? [...offsets] : [...offsets].map((mq) => [mq, undefined])
    for (const [mq, given] of entries) {
      const a = this.assigned.get(messageQueueKey(mq))
      if (a === undefined) continue
      const offset = given ?? a.consumedOffset
      if (offset === -1) continue
      this.store.updateOffset(mq, offset, false)
      touched.push(mq)
    }
    return persist ? this.store.persistAll(touched) : Promise.resolve()
  }

  /** The committed offset: memory first, then the store; an error when the store cannot be read. */
  async committed(mq: MessageQueue): Promise<number> {
    this.checkRunning()
    const offset = await this.store.readOffset(mq, ReadOffsetType.MEMORY_FIRST_THEN_STORE)
    if (offset === -2) throw new MQClientError('RMQ_ERR_OFFSET', 'fetching the committed offset failed')
    return offset
  }

  /** The first offset stored at or after `timestamp` (ms). */
  async offsetForTimestamp(mq: MessageQueue, timestamp: number): Promise<number> {
    this.checkRunning()
    const addr = await this.instance.findMasterOrRefresh(mq.brokerName, mq.topic)
    return this.instance.api.searchOffset(addr, mq, timestamp, this.config.runtime.mqClientApiTimeout)
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ReceivedMessage> {
    while (this.state === 'running') {
      for (const m of await this.poll()) yield m
    }
  }

  // ----- ConsumerInner -----------------------------------------------------------------------------------------

  consumerData(): ConsumerData {
    return {
      groupName: this.groupName,
      consumeType: 'CONSUME_ACTIVELY',
      messageModel: this.config.messageModel,
      consumeFromWhere: this.config.consumeFromWhere,
      subscriptionDataSet: this.mode === 'SUBSCRIBE' ? [...this.rebalance.subscriptionInner.values()] : [],
      unitMode: false,
    }
  }

  async doRebalance(): Promise<boolean> {
    if (this.state !== 'running' || this.mode !== 'SUBSCRIBE') return true
    return this.rebalance.doRebalance(false)
  }

  async persistConsumerOffset(): Promise<void> {
    if (this.store === undefined) return
    await this.store.persistAll(this.assignment())
  }

  subscribedTopics(): string[] {
    if (this.state !== 'running') return []
    if (this.mode === 'SUBSCRIBE') return [...this.rebalance.subscriptionInner.keys()]
    return [...new Set([...this.assignedQueues.map((q) => q.topic), ...this.topicListeners.keys()])]
  }

  updateTopicSubscribeInfo(topic: string, mqs: MessageQueue[]): void {
    if (this.rebalance.subscriptionInner.has(topic)) this.rebalance.topicSubscribeInfoTable.set(topic, mqs)
  }

  // -------------------------------------------------------------------------------------------------------------

  private setMode(mode: Mode): void {
    if (this.mode !== 'NONE' && this.mode !== mode) {
      throw new MQClientError('RMQ_ERR_CONSUMER_STATE', 'subscribe and assign are mutually exclusive.')
    }
    this.mode = mode
  }

  private checkRunning(): void {
    if (this.state !== 'running') {
      throw new MQClientError('RMQ_ERR_CONSUMER_STATE', `the consumer is not running (state: ${this.state})`)
    }
  }

  private async queueOffset(mq: MessageQueue, which: 'min' | 'max'): Promise<number> {
    const addr = await this.instance.findMasterOrRefresh(mq.brokerName, mq.topic)
    return this.instance.api.getQueueOffset(addr, mq, which, this.config.runtime.mqClientApiTimeout)
  }

  /** Subscribe mode: the assigned set follows the queues rebalance gave this client. */
  private syncAssignmentFromRebalance(topic: string): void {
    const owned = new Map<string, { mq: MessageQueue; pq: ProcessQueue }>()
    for (const [key, entry] of this.rebalance.processQueueTable) {
      if (entry.mq.topic === topic && !entry.pq.dropped) owned.set(key, entry)
    }
    for (const [key, a] of [...this.assigned]) {
      if (a.mq.topic === topic && !owned.has(key)) this.removeAssigned(a)
    }
    for (const [key, { mq, pq }] of owned) {
      if (!this.assigned.has(key)) this.addAssigned(mq, pq)
    }
  }

  private applyAssignment(queues: readonly MessageQueue[]): void {
    const wanted = new Map(queues.map((mq) => [messageQueueKey(mq), mq]))
    for (const [key, a] of [...this.assigned]) {
      if (!wanted.has(key)) {
        this.removeAssigned(a)
        void this.store.persist(a.mq).then(
          () => this.store.removeOffset(a.mq),
          (err: unknown) => this.log.warn({ mq: a.mq, err }, 'persisting the offset of an unassigned queue failed'),
        )
      }
    }
    for (const [key, mq] of wanted) if (!this.assigned.has(key)) this.addAssigned(mq, new ProcessQueue())
  }

  private addAssigned(mq: MessageQueue, pq: ProcessQueue): void {
    const a: Assigned = { mq, pq, pullOffset: -1, consumedOffset: -1, seekOffset: -1, paused: false, generation: 0 }
    this.assigned.set(messageQueueKey(mq), a)
    this.schedulePull(a, 0)
  }

  private removeAssigned(a: Assigned): void {
    a.generation++
    a.pq.dropped = true
    this.assigned.delete(messageQueueKey(a.mq))
    this.dropBuffered(a)
  }

  /** Drops the queue's buffered batches and restarts its pull task at `offset`. */
  private restartQueue(a: Assigned, offset: number): void {
    a.generation++
    a.seekOffset = offset
    this.dropBuffered(a)
    a.pq.clear()
    this.schedulePull(a, 0)
  }

  private dropBuffered(a: Assigned): void {
    for (let i = this.buffer.length - 1; i >= 0; i--) if (this.buffer[i]!.assigned === a) this.buffer.splice(i, 1)
  }

  private schedulePull(a: Assigned, delayMs: number): void {
    if (this.state !== 'running') return
    const generation = a.generation
    if (delayMs === 0) {
      // At once, but after the current callback: a 0 ms timer waits at least 1 ms, one per pull round trip.
      setImmediate(() => {
        if (a.generation === generation) this.limiter.submit(() => this.pullOnce(a, generation))
      })
      return
    }
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (a.generation !== generation) return
      this.limiter.submit(() => this.pullOnce(a, generation))
    }, delayMs)
    t.unref()
    this.timers.add(t)
  }

  /** One run of a queue's pull task (client.md §5.3). */
  private async pullOnce(a: Assigned, generation: number): Promise<void> {
    if (this.state !== 'running' || a.generation !== generation || a.pq.dropped) return
    if (a.paused) return this.schedulePull(a, PULL_TIME_DELAY_WHEN_PAUSE_MS)
    if (
      this.buffer.length * this.pullBatchSize > this.pullThresholdForAll ||
      a.pq.msgCount > this.pullThresholdForQueue ||
      a.pq.msgSize / MIB > this.pullThresholdSizeForQueue ||
      a.pq.getMaxSpan() > this.consumeMaxSpan
    ) {
      return this.schedulePull(a, PULL_TIME_DELAY_WHEN_FLOW_CONTROL_MS)
    }
    let offset: number
    if (a.seekOffset !== -1) {
      offset = a.seekOffset
      a.consumedOffset = offset
      a.seekOffset = -1
    } else if (a.pullOffset !== -1) {
      offset = a.pullOffset
    } else {
      try {
        offset = await computePullFromWhere(
          a.mq,
          this.store,
          this.config,
          this.instance,
          ReadOffsetType.MEMORY_FIRST_THEN_STORE,
        )
      } catch (err) {
        this.log.warn({ mq: a.mq, err }, 'cannot compute where to start the queue')
        return this.schedulePull(a, PULL_TIME_DELAY_WHEN_COMPUTE_ERROR_MS)
      }
      if (a.consumedOffset === -1) a.consumedOffset = offset
    }
    const sub = this.subscriptionFor(a.mq.topic)
    let raw
    try {
      raw = await this.pullApi.pullKernel({
        mq: a.mq,
        sub,
        withSubscription: true,
        offset,
        maxNums: this.pullBatchSize,
        maxSizeInBytes: 0x7fffffff,
        sysFlag: PullSysFlag.SUSPEND | PullSysFlag.SUBSCRIPTION | PullSysFlag.LITE_PULL,
        commitOffset: 0,
        brokerSuspendMaxTimeMillis: this.brokerSuspendMaxTimeMillis,
        timeoutMillis: this.consumerTimeoutMillisWhenSuspend,
        lite: true,
      })
    } catch (err) {
      if (this.state !== 'running' || a.generation !== generation) return
      const flowControl = err instanceof BrokerResponseError && err.responseCode === ResponseCode.FLOW_CONTROL
      if (!flowControl) this.log.warn({ mq: a.mq, err }, 'pull failed')
      return this.schedulePull(
        a,
        flowControl ? PULL_TIME_DELAY_WHEN_BROKER_FLOW_CONTROL_MS : PULL_TIME_DELAY_WHEN_EXCEPTION_MS,
      )
    }
    // A seek or a removal while the pull was out: its result belongs to an abandoned position.
    if (this.state !== 'running' || a.generation !== generation || a.pq.dropped) return
    const result = processPullResult(a.mq, raw, sub, this.log)
    if (result.status === PullStatus.FOUND && result.msgFoundList.length > 0) {
      a.pq.putMessage(result.msgFoundList)
      this.buffer.push({ messages: result.msgFoundList, assigned: a, generation })
      this.wakePollers()
    } else if (result.status === PullStatus.OFFSET_ILLEGAL) {
      this.log.warn({ mq: a.mq, offset, next: result.nextBeginOffset }, 'pull offset illegal')
    }
    a.pullOffset = result.nextBeginOffset
    this.schedulePull(a, 0)
  }

  private subscriptionFor(topic: string): SubscriptionData {
    const sub = this.rebalance.subscriptionInner.get(topic)
    if (sub !== undefined) return sub
    // Assign mode: the expression set for the topic, with subVersion 0 as RocketMQ sends for TAG expressions.
    const built = buildSubscriptionData(topic, this.assignExpressions.get(topic) ?? '*')
    built.subVersion = 0
    return built
  }

  private takeRequest(): ConsumeRequest | undefined {
    while (this.buffer.length > 0) {
      const req = this.buffer.shift()!
      if (!req.assigned.pq.dropped && req.assigned.generation === req.generation) return req
    }
    return undefined
  }

  private waitForRequest(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, timeoutMs)
      const waiter = (): void => done()
      function done(): void {
        clearTimeout(t)
        resolve()
      }
      this.pollWaiters.push(waiter)
    })
  }

  private wakePollers(): void {
    const waiters = this.pollWaiters
    this.pollWaiters = []
    for (const w of waiters) w()
  }

  /** Calls each topic listener when its topic's queue set changed (every `topicMetadataCheckIntervalMillis`). */
  private scheduleMetadataCheck(): void {
    const period = positive('topicMetadataCheckIntervalMillis', this.options.topicMetadataCheckIntervalMillis ?? 30_000)
    const run = async (): Promise<void> => {
      for (const [topic, entry] of this.topicListeners) {
        try {
          const queues = await this.fetchMessageQueues(topic)
          const signature = queues.map(messageQueueKey).sort().join('|')
          if (signature !== entry.last) {
            entry.last = signature
            entry.listener(topic, queues)
          }
        } catch (err) {
          // Checked again next period.
          this.log.warn({ topic, err }, 'checking the queues of a topic failed')
        }
      }
    }
    const tick = (): void => {
      void run().finally(() => {
        if (this.state !== 'running') return
        this.metadataTimer = setTimeout(tick, period)
        this.metadataTimer.unref()
      })
    }
    this.metadataTimer = setTimeout(tick, 0)
    this.metadataTimer.unref()
  }
}
