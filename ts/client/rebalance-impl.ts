/**
 * Queue assignment for one consumer group (`RebalanceImpl`, client.md §4.3, §4.8): which queues of each
 * subscribed topic this client owns, the process queue of each, and the broker-side queue locks of orderly
 * consumers. What happens when a queue arrives or leaves differs between the push and the lite pull consumer;
 * they supply it as `RebalanceHooks`.
 */
import type { Logger } from '../common/logger.js'
import { MixAll, isRetryTopic } from '../common/mix-all.js'
import type { MessageModel, SubscriptionData } from '../remoting/protocol/heartbeat.js'
import { messageQueueKey, type MessageQueue } from '../remoting/protocol/message-queue.js'
import { sortMessageQueues, type AllocateStrategy } from './allocate-strategy.js'
import type { MQClientInstance } from './client-instance.js'
import { ProcessQueue } from './process-queue.js'

/** A queue's next pull (`PullRequest`). */
export interface PullRequest {
  messageQueue: MessageQueue
  processQueue: ProcessQueue
  nextOffset: number
  /** Orderly: false until the first pull under the lock, which re-reads the offset the previous owner committed. */
  previouslyLocked: boolean
}

export interface RebalanceHooks {
  /** After an assignment change of `topic` (client.md §4.3 step 3). */
  messageQueueChanged(topic: string, mqAll: readonly MessageQueue[], mqDivided: readonly MessageQueue[]): void
  /** Persists and forgets a queue's offset; false keeps the queue for the next round (orderly queue busy). */
  removeUnnecessaryMessageQueue(mq: MessageQueue, pq: ProcessQueue): Promise<boolean>
  /** Where a newly owned queue starts (client.md §4.11); a negative value or an error skips it this round. */
  computePullFromWhere(mq: MessageQueue): Promise<number>
  removeDirtyOffset(mq: MessageQueue): void
  dispatchPullRequests(requests: PullRequest[], delayMs: number): void
  /** Push consumers drop queues that have not pulled for 120 s; lite pull consumers do not. */
  readonly dropsStaleQueues: boolean
}

/** Delay before the first pull of a newly owned queue (client.md §4.1). */
export const FIRST_PULL_DELAY_MS = 500
/** Timeout of `LOCK_BATCH_MQ` (client.md §4.8). */
const LOCK_TIMEOUT_MS = 1000

export class RebalanceImpl {
  /** Owned queues: key → queue and its process queue. */
  readonly processQueueTable = new Map<string, { mq: MessageQueue; pq: ProcessQueue }>()
  /** Readable queues of each subscribed topic, from the routes. */
  readonly topicSubscribeInfoTable = new Map<string, MessageQueue[]>()
  readonly subscriptionInner = new Map<string, SubscriptionData>()

  constructor(
    readonly consumerGroup: string,
    readonly messageModel: MessageModel,
    readonly strategy: AllocateStrategy,
    private readonly instance: MQClientInstance,
    private readonly hooks: RebalanceHooks,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Rebalances every subscribed topic; true when each is balanced. */
  async doRebalance(isOrder: boolean): Promise<boolean> {
    let balanced = true
    for (const topic of this.subscriptionInner.keys()) {
      try {
        if (!(await this.rebalanceByTopic(topic, isOrder))) balanced = false
      } catch (err) {
        balanced = false
        // Retried next round; queues owned so far keep being consumed.
        if (!isRetryTopic(topic)) this.log.warn({ topic, err }, 'rebalance of topic failed')
      }
    }
    await this.truncateMessageQueueNotMyTopic()
    return balanced
  }

  /** The owned, not dropped queues. */
  ownedQueues(topic?: string): MessageQueue[] {
    const out: MessageQueue[] = []
    for (const { mq, pq } of this.processQueueTable.values()) {
      if (!pq.dropped && (topic === undefined || mq.topic === topic)) out.push(mq)
    }
    return out
  }

  processQueue(mq: MessageQueue): ProcessQueue | undefined {
    return this.processQueueTable.get(messageQueueKey(mq))?.pq
  }

  /** Drops and forgets every queue (shutdown). */
  async removeAll(): Promise<void> {
    for (const [key, { mq, pq }] of [...this.processQueueTable]) {
      pq.dropped = true
      await this.hooks.removeUnnecessaryMessageQueue(mq, pq)
      this.processQueueTable.delete(key)
    }
  }

  /** Removes one queue now (reset offset, offset moved): dropped, then the hook persists and forgets it. */
  async removeProcessQueue(mq: MessageQueue): Promise<void> {
    const key = messageQueueKey(mq)
    const entry = this.processQueueTable.get(key)
    if (entry === undefined) return
    entry.pq.dropped = true
    await this.hooks.removeUnnecessaryMessageQueue(mq, entry.pq)
    this.processQueueTable.delete(key)
  }

  // ----- orderly locks (client.md §4.8) ----------------------------------------------------------------------

  /** Locks one queue at its master; true when the broker granted it. */
  async lock(mq: MessageQueue): Promise<boolean> {
    const addr = this.instance.findBrokerAddressInSubscribe(mq.brokerName, MixAll.MASTER_ID, true)?.addr
    if (addr === undefined) return false
    try {
      const locked = await this.instance.api.lockBatchMQ(
        addr,
        { consumerGroup: this.consumerGroup, clientId: this.instance.clientId, mqSet: [mq] },
        LOCK_TIMEOUT_MS,
      )
      for (const l of locked) {
        const pq = this.processQueue(l)
        if (pq !== undefined) {
          pq.locked = true
          pq.lastLockTimestamp = this.now()
        }
      }
      return locked.some((l) => messageQueueKey(l) === messageQueueKey(mq))
    } catch (err) {
      this.log.warn({ mq, err }, 'locking the queue failed')
      return false
    }
  }

  /** Renews the locks of every owned queue, per broker (every 20 s). */
  async lockAll(): Promise<void> {
    for (const [brokerName, mqs] of this.queuesByBroker()) {
      const addr = this.instance.findBrokerAddressInSubscribe(brokerName, MixAll.MASTER_ID, true)?.addr
      if (addr === undefined) continue
      try {
        const locked = await this.instance.api.lockBatchMQ(
          addr,
          { consumerGroup: this.consumerGroup, clientId: this.instance.clientId, mqSet: mqs },
          LOCK_TIMEOUT_MS,
        )
        const ok = new Set(locked.map(messageQueueKey))
        for (const mq of mqs) {
          const pq = this.processQueue(mq)
          if (pq === undefined) continue
          if (ok.has(messageQueueKey(mq))) {
            pq.locked = true
            pq.lastLockTimestamp = this.now()
          } else {
            pq.locked = false
          }
        }
      } catch (err) {
        // Locks last 60 s at the broker: the next renewal in 20 s still comes in time.
        this.log.warn({ brokerName, err }, 'renewing queue locks failed')
      }
    }
  }

  async unlock(mq: MessageQueue, oneway: boolean): Promise<void> {
    const addr = this.instance.findBrokerAddressInSubscribe(mq.brokerName, MixAll.MASTER_ID, true)?.addr
    if (addr === undefined) return
    try {
      await this.instance.api.unlockBatchMQ(
        addr,
        { consumerGroup: this.consumerGroup, clientId: this.instance.clientId, mqSet: [mq] },
        LOCK_TIMEOUT_MS,
        oneway,
      )
    } catch (err) {
      // The broker lets the lock expire after 60 s.
      this.log.warn({ mq, err }, 'unlocking the queue failed')
    }
  }

  async unlockAll(oneway: boolean): Promise<void> {
    for (const [brokerName, mqs] of this.queuesByBroker()) {
      const addr = this.instance.findBrokerAddressInSubscribe(brokerName, MixAll.MASTER_ID, true)?.addr
      if (addr === undefined) continue
      try {
        await this.instance.api.unlockBatchMQ(
          addr,
          { consumerGroup: this.consumerGroup, clientId: this.instance.clientId, mqSet: mqs },
          LOCK_TIMEOUT_MS,
          oneway,
        )
        for (const mq of mqs) {
          const pq = this.processQueue(mq)
          if (pq !== undefined) pq.locked = false
        }
      } catch (err) {
        this.log.warn({ brokerName, err }, 'unlocking queues failed')
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------

  private queuesByBroker(): Map<string, MessageQueue[]> {
    const out = new Map<string, MessageQueue[]>()
    for (const { mq } of this.processQueueTable.values()) {
      let list = out.get(mq.brokerName)
      if (list === undefined) out.set(mq.brokerName, (list = []))
      list.push(mq)
    }
    return out
  }

  private async rebalanceByTopic(topic: string, isOrder: boolean): Promise<boolean> {
    const mqSet = this.topicSubscribeInfoTable.get(topic)
    if (this.messageModel === 'BROADCASTING') {
      if (mqSet === undefined) {
        if (!isRetryTopic(topic)) this.log.warn({ topic }, 'rebalance: no route for the topic yet')
        return false
      }
      // Every broadcasting client reads every queue: there is nothing to lock at the broker.
      const changed = await this.updateProcessQueueTable(topic, mqSet, false)
      if (changed) this.hooks.messageQueueChanged(topic, mqSet, mqSet)
      return this.isBalanced(topic, mqSet)
    }
    const cidAll = await this.instance.findConsumerIdList(topic, this.consumerGroup)
    if (mqSet === undefined || cidAll === null) {
      if (!isRetryTopic(topic)) this.log.warn({ topic, routeKnown: mqSet !== undefined }, 'rebalance: missing data')
      return false
    }
    const mqAll = sortMessageQueues(mqSet)
    const cids = [...cidAll].sort()
    let divided: MessageQueue[]
    try {
      divided = this.strategy.allocate(this.consumerGroup, this.instance.clientId, mqAll, cids)
    } catch (err) {
      this.log.warn({ topic, strategy: this.strategy.name, err }, 'allocating queues failed')
      return false
    }
    const changed = await this.updateProcessQueueTable(topic, divided, isOrder)
    if (changed) {
      this.log.info(
        {
          topic,
          clientId: this.instance.clientId,
          consumers: cids.length,
          queues: mqAll.length,
          owned: divided.length,
        },
        'rebalance changed the owned queues',
      )
      this.hooks.messageQueueChanged(topic, mqAll, divided)
    }
    return this.isBalanced(topic, divided)
  }

  private isBalanced(topic: string, wanted: readonly MessageQueue[]): boolean {
    const owned = new Set(this.ownedQueues(topic).map(messageQueueKey))
    return owned.size === wanted.length && wanted.every((mq) => owned.has(messageQueueKey(mq)))
  }

  /**
   * `updateProcessQueueTableInRebalance` (client.md §4.3 steps 1–2); true when anything changed. `needLock`:
   * orderly clustering, where a new queue is consumed only once the broker locked it for us.
   */
  private async updateProcessQueueTable(
    topic: string,
    mqSet: readonly MessageQueue[],
    needLock: boolean,
  ): Promise<boolean> {
    let changed = false
    const wanted = new Map(mqSet.map((mq) => [messageQueueKey(mq), mq]))
    const now = this.now()
    for (const [key, { mq, pq }] of [...this.processQueueTable]) {
      if (mq.topic !== topic) continue
      const stale = this.hooks.dropsStaleQueues && pq.isPullExpired(now)
      if (wanted.has(key) && !stale) continue
      pq.dropped = true
      if (await this.hooks.removeUnnecessaryMessageQueue(mq, pq)) {
        this.processQueueTable.delete(key)
        changed = true
        this.log.info({ mq, stale }, 'queue no longer owned, removed')
      }
    }
    const requests: PullRequest[] = []
    let lockFailed = false
    for (const [key, mq] of wanted) {
      if (this.processQueueTable.has(key)) continue
      const pq = new ProcessQueue()
      // Locks land on process queues in the table, so it goes in before the lock is asked for.
      if (needLock) {
        this.processQueueTable.set(key, { mq, pq })
        if (!(await this.lock(mq))) {
          this.processQueueTable.delete(key)
          lockFailed = true
          this.log.info({ mq }, 'queue locked by another client, retrying later')
          continue
        }
        this.processQueueTable.delete(key)
      }
      this.hooks.removeDirtyOffset(mq)
      let nextOffset: number
      try {
        nextOffset = await this.hooks.computePullFromWhere(mq)
      } catch (err) {
        this.log.warn({ mq, err }, 'cannot compute where to start; the queue is retried next round')
        continue
      }
      if (nextOffset < 0) continue
      // Locked from the start, as RocketMQ 5 does: with needLock the broker just granted it, otherwise (broadcasting
      // or concurrent consumers) there is no broker lock to wait for.
      pq.locked = true
      pq.lastLockTimestamp = this.now()
      this.processQueueTable.set(key, { mq, pq })
      requests.push({ messageQueue: mq, processQueue: pq, nextOffset, previouslyLocked: false })
      changed = true
      this.log.info({ mq, nextOffset }, 'queue now owned')
    }
    if (lockFailed) setTimeout(() => this.instance.rebalanceImmediately(), FIRST_PULL_DELAY_MS).unref()
    this.hooks.dispatchPullRequests(requests, FIRST_PULL_DELAY_MS)
    return changed
  }

  /** Drops queues of topics no longer subscribed. */
  private async truncateMessageQueueNotMyTopic(): Promise<void> {
    for (const [key, { mq, pq }] of [...this.processQueueTable]) {
      if (this.subscriptionInner.has(mq.topic)) continue
      pq.dropped = true
      if (await this.hooks.removeUnnecessaryMessageQueue(mq, pq)) this.processQueueTable.delete(key)
    }
  }
}
