/**
 * The two ways a push consumer hands messages to its listener (client.md §4.6, §4.7):
 * `ConsumeMessageConcurrentlyService` (any number of batches of a queue at once, failures sent back to the retry
 * topic, offsets committed up to the oldest unfinished message) and `ConsumeMessageOrderlyService` (one batch
 * of a queue at a time, under the broker lock, failures retried in place so order holds).
 */
import type { Logger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import { getRetryTopic } from '../common/mix-all.js'
import type { MessageModel } from '../remoting/protocol/heartbeat.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { ConsumerStatsManager } from './consumer-stats-manager.js'
import type { OffsetStore } from './offset-store.js'
import type { ProcessQueue } from './process-queue.js'
import type { ReceivedMessage } from './pull-api-wrapper.js'
import { TaskLimiter } from './task-limiter.js'

export const ConsumeConcurrentlyStatus = {
  CONSUME_SUCCESS: 'CONSUME_SUCCESS',
  RECONSUME_LATER: 'RECONSUME_LATER',
} as const
export type ConsumeConcurrentlyStatus = (typeof ConsumeConcurrentlyStatus)[keyof typeof ConsumeConcurrentlyStatus]

export const ConsumeOrderlyStatus = {
  SUCCESS: 'SUCCESS',
  SUSPEND_CURRENT_QUEUE_A_MOMENT: 'SUSPEND_CURRENT_QUEUE_A_MOMENT',
  /** Deprecated in RocketMQ; with autoCommit=false it commits. */
  COMMIT: 'COMMIT',
  /** Deprecated in RocketMQ; with autoCommit=false it puts the batch back. */
  ROLLBACK: 'ROLLBACK',
} as const
export type ConsumeOrderlyStatus = (typeof ConsumeOrderlyStatus)[keyof typeof ConsumeOrderlyStatus]

export interface ConsumeConcurrentlyContext {
  readonly messageQueue: MessageQueue
  /** 0: the broker picks the next delay; −1: straight to the DLQ; > 0: this delay level. */
  delayLevelWhenNextConsume: number
  /** On CONSUME_SUCCESS, messages after this index count as failed. */
  ackIndex: number
}

export interface ConsumeOrderlyContext {
  readonly messageQueue: MessageQueue
  autoCommit: boolean
  /** −1: the consumer's `suspendCurrentQueueTimeMillis`. */
  suspendCurrentQueueTimeMillis: number
}

type Awaitable<T> = T | Promise<T>
export type MessageListenerConcurrently = (
  msgs: ReceivedMessage[],
  ctx: ConsumeConcurrentlyContext,
) => Awaitable<ConsumeConcurrentlyStatus | null | undefined>
export type MessageListenerOrderly = (
  msgs: ReceivedMessage[],
  ctx: ConsumeOrderlyContext,
) => Awaitable<ConsumeOrderlyStatus | null | undefined>

/** What the consume services need from their push consumer. */
export interface ConsumeHost {
  readonly consumerGroup: string
  readonly messageModel: MessageModel
  readonly consumeThreadMin: number
  readonly consumeMessageBatchMaxSize: number
  /** Resolved: −1 became 16 (concurrently) or unlimited (orderly). */
  maxReconsumeTimes(orderly: boolean): number
  readonly suspendCurrentQueueTimeMillis: number
  readonly consumeTimeoutMs: number
  readonly offsetStore: OffsetStore
  /** `sendMessageBack` then the retry-topic fallback (§4.9); false when both failed. */
  sendMessageBack(msg: ReceivedMessage, delayLevel: number): Promise<boolean>
  /** Orderly: a message that used up its reconsume times goes to the retry topic → DLQ as a normal send. */
  sendToRetryTopicAsDlq(msg: ReceivedMessage): Promise<boolean>
  /** Orderly clustering: re-lock a queue whose lock was lost or expired. */
  lockQueue(mq: MessageQueue): Promise<boolean>
  readonly log: Logger
  /** Consume RT and OK / failed counts for GET_CONSUMER_RUNNING_INFO's statusTable. */
  readonly stats?: ConsumerStatsManager
}

export interface ConsumeService {
  start(): void
  shutdown(awaitTerminationMs: number): Promise<void>
  submitConsumeRequest(msgs: ReceivedMessage[], pq: ProcessQueue, mq: MessageQueue, dispatchToConsume: boolean): void
}

/** Resubmit delay after a failed send-back (client.md §4.1). */
const SEND_BACK_FAILED_RESUBMIT_MS = 5000
/** Delay level of messages that stayed "consuming" too long (`cleanExpireMsg`). */
const EXPIRED_MESSAGE_DELAY_LEVEL = 3
const EXPIRED_MESSAGES_CHECKED = 16

/** The original topic of a message delivered through `%RETRY%<group>` (`resetRetryAndNamespace`). */
export function resetRetryTopic(msgs: ReceivedMessage[], group: string): void {
  const retryTopic = getRetryTopic(group)
  for (const m of msgs) {
    const original = m.properties.get(MessageConst.PROPERTY_RETRY_TOPIC)
    if (original !== undefined && m.topic === retryTopic) m.topic = original
  }
}

function setConsumeStartTime(msgs: ReceivedMessage[]): void {
  const now = String(Date.now())
  for (const m of msgs) m.properties.set(MessageConst.PROPERTY_CONSUME_START_TIMESTAMP, now)
}

export class ConsumeMessageConcurrentlyService implements ConsumeService {
  private readonly limiter: TaskLimiter
  private sweepTimer: NodeJS.Timeout | undefined
  private readonly processQueues: () => Iterable<{ mq: MessageQueue; pq: ProcessQueue }>

  constructor(
    private readonly host: ConsumeHost,
    private readonly listener: MessageListenerConcurrently,
    processQueues: () => Iterable<{ mq: MessageQueue; pq: ProcessQueue }>,
  ) {
    this.limiter = new TaskLimiter(host.consumeThreadMin)
    this.processQueues = processQueues
  }

  start(): void {
    this.sweepTimer = setInterval(() => void this.cleanExpiredMessages(), this.host.consumeTimeoutMs)
    this.sweepTimer.unref()
  }

  async shutdown(awaitTerminationMs: number): Promise<void> {
    clearInterval(this.sweepTimer)
    this.limiter.clear()
    if (awaitTerminationMs > 0) await this.limiter.whenIdle(awaitTerminationMs)
  }

  submitConsumeRequest(msgs: ReceivedMessage[], pq: ProcessQueue, mq: MessageQueue): void {
    const size = this.host.consumeMessageBatchMaxSize
    for (let i = 0; i < msgs.length; i += size) {
      const chunk = msgs.slice(i, i + size)
      this.limiter.submit(() => this.consume(chunk, pq, mq))
    }
  }

  private async consume(msgs: ReceivedMessage[], pq: ProcessQueue, mq: MessageQueue): Promise<void> {
    if (pq.dropped) return
    const host = this.host
    resetRetryTopic(msgs, host.consumerGroup)
    setConsumeStartTime(msgs)
    const ctx: ConsumeConcurrentlyContext = { messageQueue: mq, delayLevelWhenNextConsume: 0, ackIndex: Infinity }
    let status: ConsumeConcurrentlyStatus | null | undefined
    const began = Date.now()
    try {
      status = await this.listener(msgs, ctx)
    } catch (err) {
      host.log.warn({ mq, err }, 'consumeMessage threw; the messages are retried later')
      status = null
    }
    host.stats?.incConsumeRT(mq.topic, Date.now() - began)
    if (status !== ConsumeConcurrentlyStatus.CONSUME_SUCCESS) status = ConsumeConcurrentlyStatus.RECONSUME_LATER
    pq.lastConsumeTimestamp = Date.now()
    // A queue taken away meanwhile: its new owner starts from the committed offset, so no commit here.
    if (pq.dropped) return
    await this.processConsumeResult(status, ctx, msgs, pq, mq)
  }

  private async processConsumeResult(
    status: ConsumeConcurrentlyStatus,
    ctx: ConsumeConcurrentlyContext,
    msgs: ReceivedMessage[],
    pq: ProcessQueue,
    mq: MessageQueue,
  ): Promise<void> {
    const host = this.host
    let ackIndex = status === ConsumeConcurrentlyStatus.CONSUME_SUCCESS ? Math.min(ctx.ackIndex, msgs.length - 1) : -1
    if (ackIndex < -1) ackIndex = -1
    const failed = msgs.slice(ackIndex + 1)
    host.stats?.incConsumeOKTPS(mq.topic, ackIndex + 1)
    host.stats?.incConsumeFailedTPS(mq.topic, failed.length)
    const retryLater: ReceivedMessage[] = []
    if (failed.length > 0) {
      if (host.messageModel === 'BROADCASTING') {
        for (const m of failed) host.log.warn({ msgId: m.msgId, mq }, 'broadcast message failed and is dropped')
      } else {
        for (const m of failed) {
          if (!(await host.sendMessageBack(m, ctx.delayLevelWhenNextConsume))) {
            m.reconsumeTimes++
            retryLater.push(m)
          }
        }
      }
    }
    const done = retryLater.length === 0 ? msgs : msgs.filter((m) => !retryLater.includes(m))
    const offset = pq.removeMessage(done)
    if (retryLater.length > 0) {
      const t = setTimeout(() => {
        if (!pq.dropped) this.submitConsumeRequest(retryLater, pq, mq)
      }, SEND_BACK_FAILED_RESUBMIT_MS)
      t.unref()
    }
    if (offset >= 0 && !pq.dropped) host.offsetStore.updateOffset(mq, offset, true)
  }

  /** Sends back messages that stayed in consumption longer than `consumeTimeout` (client.md §4.6). */
  private async cleanExpiredMessages(): Promise<void> {
    if (this.host.messageModel === 'BROADCASTING') return
    const now = Date.now()
    for (const { mq, pq } of this.processQueues()) {
      if (pq.dropped) continue
      for (const m of pq.oldestMessages(EXPIRED_MESSAGES_CHECKED) as ReceivedMessage[]) {
        const started = Number(m.properties.get(MessageConst.PROPERTY_CONSUME_START_TIMESTAMP) ?? '')
        if (!Number.isFinite(started) || now - started <= this.host.consumeTimeoutMs) break
        const oldest = pq.oldestMessages(1)[0]
        if (oldest !== m) break
        if (await this.host.sendMessageBack(m, EXPIRED_MESSAGE_DELAY_LEVEL)) {
          const offset = pq.removeMessage([m])
          if (offset >= 0 && !pq.dropped) this.host.offsetStore.updateOffset(mq, offset, true)
          this.host.log.info({ mq, msgId: m.msgId }, 'message consumed for too long was sent back')
        }
      }
    }
  }
}

/** Orderly timings (client.md §4.1). */
const MAX_TIME_CONSUME_CONTINUOUSLY_MS = 60_000
const RELOCK_DELAY_LOCKED_MS = 10
const RELOCK_DELAY_UNLOCKED_MS = 100
const SUSPEND_MIN_MS = 10
const SUSPEND_MAX_MS = 30_000

export class ConsumeMessageOrderlyService implements ConsumeService {
  private readonly limiter: TaskLimiter
  private stopped = false
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    private readonly host: ConsumeHost,
    private readonly listener: MessageListenerOrderly,
  ) {
    this.limiter = new TaskLimiter(host.consumeThreadMin)
  }

  start(): void {}

  async shutdown(awaitTerminationMs: number): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.limiter.clear()
    if (awaitTerminationMs > 0) await this.limiter.whenIdle(awaitTerminationMs)
  }

  submitConsumeRequest(_msgs: ReceivedMessage[], pq: ProcessQueue, mq: MessageQueue, dispatch: boolean): void {
    if (dispatch) this.limiter.submit(() => this.consumeQueue(pq, mq))
  }

  private later(delayMs: number, pq: ProcessQueue, mq: MessageQueue): void {
    if (this.stopped) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!pq.dropped) this.limiter.submit(() => this.consumeQueue(pq, mq))
    }, delayMs)
    t.unref()
    this.timers.add(t)
  }

  /** One turn over a queue (`ConsumeRequest#run`): batches in order until it is empty, suspended or 60 s passed. */
  private async consumeQueue(pq: ProcessQueue, mq: MessageQueue): Promise<void> {
    const host = this.host
    if (pq.dropped || this.stopped) return
    // One turn per queue at a time: the process queue's consuming flag (`putMessage` dispatch rule) is the
    // guard, and the consume lock keeps rebalance from removing the queue mid-batch.
    const clustering = host.messageModel === 'CLUSTERING'
    const began = Date.now()
    for (;;) {
      if (pq.dropped || this.stopped) return
      if (clustering && (!pq.locked || pq.isLockExpired(Date.now()))) {
        const delay = pq.locked ? RELOCK_DELAY_LOCKED_MS : RELOCK_DELAY_UNLOCKED_MS
        void host.lockQueue(mq).then(() => this.later(delay, pq, mq))
        return
      }
      if (Date.now() - began > MAX_TIME_CONSUME_CONTINUOUSLY_MS) {
        this.later(RELOCK_DELAY_LOCKED_MS, pq, mq)
        return
      }
      // The process queue holds what the pull loop put there: received messages.
      const msgs = pq.takeMessages(host.consumeMessageBatchMaxSize) as ReceivedMessage[]
      if (msgs.length === 0) return
      resetRetryTopic(msgs, host.consumerGroup)
      setConsumeStartTime(msgs)
      const ctx: ConsumeOrderlyContext = { messageQueue: mq, autoCommit: true, suspendCurrentQueueTimeMillis: -1 }
      let status: ConsumeOrderlyStatus | null | undefined
      const release = await pq.consumeLock.acquire()
      try {
        if (pq.dropped) {
          // Removed while waiting for the lock: the new owner re-reads these from the committed offset.
          return
        }
        const consumeBegan = Date.now()
        try {
          status = await this.listener(msgs, ctx)
        } catch (err) {
          host.log.warn({ mq, err }, 'consumeMessage threw; the queue is suspended a moment')
          status = null
        }
        host.stats?.incConsumeRT(mq.topic, Date.now() - consumeBegan)
      } finally {
        release?.()
      }
      pq.lastConsumeTimestamp = Date.now()
      if (status === null || status === undefined) status = ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT
      // As Java counts: SUSPEND fails, SUCCESS succeeds; with autoCommit COMMIT and ROLLBACK fall through to
      // SUCCESS, without it they count nothing.
      if (status === ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT) {
        host.stats?.incConsumeFailedTPS(mq.topic, msgs.length)
      } else if (ctx.autoCommit || status === ConsumeOrderlyStatus.SUCCESS) {
        host.stats?.incConsumeOKTPS(mq.topic, msgs.length)
      }
      if (!(await this.processConsumeResult(msgs, status, ctx, pq, mq))) return
    }
  }

  /** Commits or suspends (client.md §4.7); false when the queue is suspended (the turn ends). */
  private async processConsumeResult(
    msgs: ReceivedMessage[],
    status: ConsumeOrderlyStatus,
    ctx: ConsumeOrderlyContext,
    pq: ProcessQueue,
    mq: MessageQueue,
  ): Promise<boolean> {
    const host = this.host
    let commitOffset = -1
    let suspended = false
    const suspendMs = Math.min(
      SUSPEND_MAX_MS,
      Math.max(
        SUSPEND_MIN_MS,
        ctx.suspendCurrentQueueTimeMillis === -1
          ? host.suspendCurrentQueueTimeMillis
          : ctx.suspendCurrentQueueTimeMillis,
      ),
    )
    const suspend = async (): Promise<boolean> => {
      if (await this.checkReconsumeTimes(msgs)) {
        pq.makeMessageToConsumeAgain(msgs)
        this.later(suspendMs, pq, mq)
        return true
      }
      return false
    }
    if (ctx.autoCommit) {
      if (status === ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT) {
        suspended = await suspend()
        if (!suspended) commitOffset = pq.commit()
      } else {
        commitOffset = pq.commit()
      }
    } else if (status === ConsumeOrderlyStatus.COMMIT) {
      commitOffset = pq.commit()
    } else if (status === ConsumeOrderlyStatus.ROLLBACK) {
      pq.rollback()
      this.later(suspendMs, pq, mq)
      suspended = true
    } else if (status === ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT) {
      suspended = await suspend()
    }
    if (commitOffset >= 0 && !pq.dropped) host.offsetStore.updateOffset(mq, commitOffset, false)
    return !suspended
  }

  /**
   * Messages that used up their reconsume times go to the DLQ (through the retry topic); the others count one
   * more attempt. True when at least one must be consumed again (the queue stays suspended).
   */
  private async checkReconsumeTimes(msgs: ReceivedMessage[]): Promise<boolean> {
    const max = this.host.maxReconsumeTimes(true)
    let suspend = false
    for (const m of msgs) {
      if (m.reconsumeTimes >= max) {
        m.properties.set(MessageConst.PROPERTY_RECONSUME_TIME, String(m.reconsumeTimes))
        if (!(await this.host.sendToRetryTopicAsDlq(m))) {
          suspend = true
          m.reconsumeTimes++
        }
      } else {
        suspend = true
        m.reconsumeTimes++
      }
    }
    return suspend
  }
}
