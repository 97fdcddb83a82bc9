/**
 * Half messages on the broker (`TransactionalMessageServiceImpl`, `TransactionalMessageBridge`, store.md §10): the
 * half write, the lookup a commit or rollback validates, the op markers that say a half message is done, and the
 * check-back run that asks producers about transactions nobody ended. Check progress lives in the consumer offsets
 * of the internal group `CID_RMQ_SYS_TRANS` on the half and op queues, so it survives restarts with the other
 * offsets.
 */
import { PermName } from '../../common/constant/perm-name.js'
import type { Logger } from '../../common/logger.js'
import { MessageConst } from '../../common/message/message-const.js'
import type { MessageExt } from '../../common/message/message-ext.js'
import { messageProperties2String, string2messageProperties } from '../../common/message/message-properties.js'
import { decodeMessage, decodeMessages, recordBornHost } from '../../common/message/message-record.js'
import { MixAll } from '../../common/mix-all.js'
import type {
  GetMessageResult,
  MessageExtBrokerInner,
  MessageStore,
  PutMessageResult,
} from '../../store/message-store.js'
import type { ConsumerOffsetManager } from '../consumer-offset-manager.js'
import type { TopicConfigManager } from '../topic-config-manager.js'
import { TransactionalOpBatch } from './transactional-op-batch.js'
import {
  CID_RMQ_SYS_TRANS,
  MAX_PROCESS_TIME_LIMIT_MS,
  MAX_RETRY_COUNT_WHEN_HALF_NULL,
  OP_MSG_PULL_NUMS,
  REMOVE_TAG,
  SLEEP_WHILE_NO_OP_MS,
  calculateOpOffset,
  checkDecision,
  parseOpBody,
  renewHalfMessage,
  toDiscardMessage,
  toHalfMessage,
} from './transactional-message-util.js'

const HALF_TOPIC = MixAll.RMQ_SYS_TRANS_HALF_TOPIC
const OP_TOPIC = MixAll.RMQ_SYS_TRANS_OP_HALF_TOPIC
const PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET = 'TRAN_PREPARED_QUEUE_OFFSET'
/** An op message's properties: tag `d` and `WAIT=true`, as `new Message(opTopic, "d", body)` has them. */
const OP_PROPERTIES = messageProperties2String({
  [MessageConst.PROPERTY_TAGS]: REMOVE_TAG,
  [MessageConst.PROPERTY_WAIT_STORE_MSG_OK]: 'true',
})

/** A half message and its stored record (the record gives the born host bytes and the check body). */
export interface HalfMessage {
  msg: MessageExt
  record: Buffer
}

export interface TransactionSettings {
  transactionTimeOut: number
  transactionCheckMax: number
  transactionOpMsgMaxSize: number
  transactionOpBatchInterval: number
  /** `fileReservedTime`, hours: older half messages are discarded instead of checked. */
  fileReservedTime: number
}

export interface TransactionalMessageServiceOptions {
  store: () => MessageStore
  settings: TransactionSettings
  topicConfigManager: TopicConfigManager
  consumerOffsetManager: ConsumerOffsetManager
  /** `host:port` of this broker, recorded as the client host of the internal offsets. */
  brokerAddr: () => string
  /** The store host bytes, born host of op messages. */
  storeHost: () => Buffer
  /** The broker's put path (SYNC_MASTER waits, held pulls woken). */
  putMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult>
  /** Asks the producer group of a re-appended half message for its state (`resolveHalfMsg`). */
  resolveHalfMsg(half: HalfMessage): void
  logger: Logger
}

/** The op markers read so far for one half queue during a run (`fillOpRemoveMap`). */
interface OpState {
  /** Half offset → op offset that removes it. */
  removeMap: Map<number, number>
  /** Op offset → half offsets it removes that were not met yet. */
  opMsgMap: Map<number, Set<number>>
  /** Op offsets fully used. */
  doneOpOffsets: number[]
}

interface OpPull {
  status: 'FOUND' | 'NO_NEW_MSG' | 'OFFSET_ILLEGAL' | 'NO_MATCHED_MSG'
  nextBeginOffset: number
  /** Born time of the last op message found; null when none was found. */
  lastBornTimestamp: number | null
}

export class TransactionalMessageService {
  readonly opBatch: TransactionalOpBatch
  private readonly log: Logger
  private stopped = false
  /** Resolves a sleep of the check run early at shutdown. */
  private wake: (() => void) | null = null
  private sleepTimer: NodeJS.Timeout | null = null

  constructor(private readonly options: TransactionalMessageServiceOptions) {
    this.log = options.logger.child({ component: 'transaction' })
    const s = options.settings
    this.opBatch = new TransactionalOpBatch({
      opMsgMaxSizeBytes: s.transactionOpMsgMaxSize,
      batchIntervalMs: s.transactionOpBatchInterval,
      writeOp: (queueId, body) => this.writeOp(queueId, body),
      logger: this.log,
    })
  }

  start(): void {
    this.stopped = false
    this.opBatch.start()
  }

  /** Ends a check run at its next step and writes the buffered op markers. */
  async shutdown(): Promise<void> {
    this.stopped = true
    if (this.sleepTimer) clearTimeout(this.sleepTimer)
    this.sleepTimer = null
    this.wake?.()
    await this.opBatch.shutdown()
  }

  /** Stores a send as a half message (`prepareMessage`); the half topic is created on first use. */
  prepareMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult> {
    this.ensureTopic(HALF_TOPIC)
    toHalfMessage(msg, string2messageProperties(msg.propertiesString))
    return this.options.putMessage(msg)
  }

  /** The half message at a commit-log offset (`getHalfMessageByOffset`), body as stored; null when there is none. */
  async lookupHalfMessage(commitLogOffset: number): Promise<HalfMessage | null> {
    if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < 0) return null
    const record = await this.options.store().selectOneMessageByOffset(commitLogOffset)
    if (record === null) return null
    const msg = decodeMessage(record, 0, { decompressBody: false })
    return msg === null ? null : { msg, record }
  }

  /** Marks the half message done with an op marker in the op queue of its half queue (`deletePrepareMessage`). */
  deletePrepareMessage(half: MessageExt): Promise<boolean> {
    return this.opBatch.add(half.queueId, half.queueOffset)
  }

  /**
   * One check-back run over every half queue (`check`, store.md §10.5). Never rejects: a failed queue is logged and
   * tried again by the next run.
   */
  async check(): Promise<void> {
    const tc = this.options.topicConfigManager.selectTopicConfig(HALF_TOPIC)
    if (tc === undefined) return
    for (let queueId = 0; queueId < tc.readQueueNums && !this.stopped; queueId++) {
      try {
        // Markers still buffered would make finished transactions look open: write them first.
        await this.opBatch.flush(queueId)
        await this.checkQueue(queueId)
      } catch (err) {
        this.log.error({ err, queueId }, 'transaction check of a half queue failed')
      }
    }
  }

  private async checkQueue(queueId: number): Promise<void> {
    const s = this.options.settings
    const startMs = Date.now()
    const halfOffset = this.fetchConsumeOffset(HALF_TOPIC, queueId)
    const opOffset = this.fetchConsumeOffset(OP_TOPIC, queueId)
    if (halfOffset < 0 || opOffset < 0) return
    const ops: OpState = { removeMap: new Map(), opMsgMap: new Map(), doneOpOffsets: [] }
    let pull = await this.fillOpRemoveMap(ops, queueId, opOffset, halfOffset)
    let nullCount = 1
    let newOffset = halfOffset
    let i = halfOffset
    let nextOpOffset = pull.nextBeginOffset
    let checked = 0
    while (!this.stopped) {
      if (Date.now() - startMs > MAX_PROCESS_TIME_LIMIT_MS) {
        this.log.info({ queueId }, 'transaction check reached its time limit for this queue')
        break
      }
      const removedBy = ops.removeMap.get(i)
      if (removedBy !== undefined) {
        ops.removeMap.delete(i)
        const pending = ops.opMsgMap.get(removedBy)
        pending?.delete(i)
        if (pending !== undefined && pending.size === 0) {
          ops.opMsgMap.delete(removedBy)
          ops.doneOpOffsets.push(removedBy)
        }
        newOffset = ++i
        continue
      }
      const got = await this.getHalfMsg(queueId, i)
      if (got.half === null) {
        if (nullCount++ > MAX_RETRY_COUNT_WHEN_HALF_NULL || got.noNewMsg) break
        i = got.nextBeginOffset
        newOffset = i
        continue
      }
      const m = got.half.msg
      const decision = checkDecision({
        storeTimestamp: m.storeTimestamp,
        bornTimestamp: m.bornTimestamp,
        checkTimes: m.properties.get(MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES),
        checkImmunityTimeInSeconds: m.properties.get(MessageConst.PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS),
        nowMs: Date.now(),
        startMs,
        transactionTimeoutMs: s.transactionTimeOut,
        transactionCheckMax: s.transactionCheckMax,
        fileReservedTimeHours: s.fileReservedTime,
        lastOpBornTimestamp: pull.lastBornTimestamp,
      })
      if (decision.kind === 'stop') break
      if (decision.kind === 'discard') {
        await this.resolveDiscardMsg(got.half)
      } else if (decision.kind === 'immunity') {
        m.properties.set(MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES, String(decision.checkTimes))
        if (!(await this.checkPrepareQueueOffset(ops, got.half))) continue
      } else if (decision.kind === 'check') {
        m.properties.set(MessageConst.PROPERTY_TRANSACTION_CHECK_TIMES, String(decision.checkTimes))
        const copy = await this.putBackHalfMsgQueue(got.half)
        // A failed re-append is tried again at once, as RocketMQ does; the time limit bounds the loop.
        if (copy === null) continue
        checked++
        this.options.resolveHalfMsg(copy)
      } else {
        nextOpOffset = pull.nextBeginOffset
        pull = await this.fillOpRemoveMap(ops, queueId, nextOpOffset, halfOffset)
        if (pull.status !== 'FOUND') await this.sleep(SLEEP_WHILE_NO_OP_MS)
        continue
      }
      newOffset = ++i
    }
    if (newOffset !== halfOffset) this.updateConsumeOffset(HALF_TOPIC, queueId, newOffset)
    const newOpOffset = calculateOpOffset(ops.doneOpOffsets, opOffset)
    if (newOpOffset !== opOffset) this.updateConsumeOffset(OP_TOPIC, queueId, newOpOffset)
    this.log.debug({ queueId, halfOffset, newOffset, opOffset, newOpOffset, checked }, 'transaction check done')
  }

  /** Reads op messages from `opOffset` into the maps (`fillOpRemoveMap`). */
  private async fillOpRemoveMap(ops: OpState, queueId: number, opOffset: number, minOffset: number): Promise<OpPull> {
    const r = await this.options.store().getMessage(CID_RMQ_SYS_TRANS, OP_TOPIC, queueId, opOffset, OP_MSG_PULL_NUMS)
    const status = pullStatusOf(r)
    if ((status === 'OFFSET_ILLEGAL' || status === 'NO_MATCHED_MSG') && r.nextBeginOffset !== opOffset) {
      this.log.warn({ queueId, opOffset, to: r.nextBeginOffset, status: r.status }, 'op offset illegal, corrected')
      this.updateConsumeOffset(OP_TOPIC, queueId, r.nextBeginOffset)
    }
    if (status !== 'FOUND') return { status, nextBeginOffset: r.nextBeginOffset, lastBornTimestamp: null }
    const found = decodeMessages(r.buffer, { decompressBody: false })
    for (const op of found) {
      const removed = new Set<number>()
      if (op.properties.get(MessageConst.PROPERTY_TAGS) === REMOVE_TAG) {
        for (const offset of parseOpBody(op.body.toString('utf8'), minOffset)) {
          ops.removeMap.set(offset, op.queueOffset)
          removed.add(offset)
        }
      } else {
        this.log.error({ queueId, opOffset: op.queueOffset }, 'op message with an unknown tag')
      }
      if (removed.size > 0) ops.opMsgMap.set(op.queueOffset, removed)
      else ops.doneOpOffsets.push(op.queueOffset)
    }
    const last = found[found.length - 1]
    return { status, nextBeginOffset: r.nextBeginOffset, lastBornTimestamp: last?.bornTimestamp ?? null }
  }

  /**
   * A half message with its own immunity time, still inside it (`checkPrepareQueueOffset`): done if an op marker
   * names its first offset, else re-appended with that offset recorded. False when the re-append failed.
   */
  private async checkPrepareQueueOffset(ops: OpState, half: HalfMessage): Promise<boolean> {
    const m = half.msg
    const prepared = m.properties.get(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET)
    if (prepared !== undefined) {
      const offset = /^\d+$/.test(prepared) ? Number(prepared) : -1
      if (offset === -1) return false
      const op = ops.removeMap.get(offset)
      if (op !== undefined) {
        ops.removeMap.delete(offset)
        ops.doneOpOffsets.push(op)
        return true
      }
    } else {
      m.properties.set(PROPERTY_TRANSACTION_PREPARED_QUEUE_OFFSET, String(m.queueOffset))
    }
    return (await this.putBackHalfMsgQueue(half)) !== null
  }

  /** Re-appends a half message to its queue; the copy as stored, or null when the put failed. */
  private async putBackHalfMsgQueue(half: HalfMessage): Promise<HalfMessage | null> {
    const result = await this.options.putMessage(
      renewHalfMessage(half.msg, recordBornHost(half.record), half.msg.properties),
    )
    const append = result.appendMessageResult
    if (result.putMessageStatus !== 'PUT_OK' || append === null) {
      this.log.error({ status: result.putMessageStatus, offset: half.msg.queueOffset }, 'half message re-append failed')
      return null
    }
    return this.lookupHalfMessage(append.wroteOffset)
  }

  /** Moves a half message checked too often to `TRANS_CHECK_MAX_TIME_TOPIC` (`resolveDiscardMsg`). */
  private async resolveDiscardMsg(half: HalfMessage): Promise<void> {
    const m = half.msg
    this.log.warn(
      { uniqKey: m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX), offset: m.queueOffset },
      'half message checked too many times, discarded to TRANS_CHECK_MAX_TIME_TOPIC',
    )
    this.ensureTopic(MixAll.TRANS_CHECK_MAX_TIME_TOPIC)
    const result = await this.options.putMessage(toDiscardMessage(m, recordBornHost(half.record)))
    if (result.putMessageStatus !== 'PUT_OK') {
      this.log.error({ status: result.putMessageStatus, offset: m.queueOffset }, 'discarding a half message failed')
    }
  }

  private async getHalfMsg(
    queueId: number,
    offset: number,
  ): Promise<{ half: HalfMessage | null; noNewMsg: boolean; nextBeginOffset: number }> {
    const r = await this.options.store().getMessage(CID_RMQ_SYS_TRANS, HALF_TOPIC, queueId, offset, 1)
    const status = pullStatusOf(r)
    if (status !== 'FOUND') return { half: null, noNewMsg: status === 'NO_NEW_MSG', nextBeginOffset: r.nextBeginOffset }
    const record = r.messageBuffers()[0]!
    const msg = decodeMessage(record, 0, { decompressBody: false })
    return { half: msg === null ? null : { msg, record }, noNewMsg: false, nextBeginOffset: r.nextBeginOffset }
  }

  /** Writes one op message (`writeOp`); false when the put failed. */
  private async writeOp(queueId: number, body: string): Promise<boolean> {
    this.ensureTopic(OP_TOPIC)
    const now = Date.now()
    const result = await this.options.putMessage({
      topic: OP_TOPIC,
      queueId,
      flag: 0,
      body: Buffer.from(body, 'utf8'),
      propertiesString: OP_PROPERTIES,
      bornTimestamp: now,
      bornHost: this.options.storeHost(),
      sysFlag: 0,
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      waitStoreMsgOK: false,
    })
    return result.putMessageStatus === 'PUT_OK'
  }

  /** The internal group's offset in a queue, or the queue's min offset when it has none (`fetchConsumeOffset`). */
  fetchConsumeOffset(topic: string, queueId: number): number {
    const offset = this.options.consumerOffsetManager.queryOffset(CID_RMQ_SYS_TRANS, topic, queueId)
    return offset === -1 ? this.options.store().getMinOffsetInQueue(topic, queueId) : offset
  }

  private updateConsumeOffset(topic: string, queueId: number, offset: number): void {
    this.options.consumerOffsetManager.commitOffset(
      this.options.brokerAddr(),
      CID_RMQ_SYS_TRANS,
      topic,
      queueId,
      offset,
    )
  }

  /** The transaction system topics have one read/write queue and are created on first use (`selectTopicConfig`). */
  private ensureTopic(topic: string): void {
    this.options.topicConfigManager.createTopicInSendMessageBackMethod(
      topic,
      1,
      PermName.PERM_READ | PermName.PERM_WRITE,
      0,
    )
  }

  /** Waits, unless shutdown comes first. */
  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve()
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null
        if (this.sleepTimer) clearTimeout(this.sleepTimer)
        this.sleepTimer = null
        resolve()
      }
      this.sleepTimer = setTimeout(() => this.wake?.(), ms)
      this.sleepTimer.unref()
    })
  }
}

/** `GetMessageStatus` → the `PullStatus` the Java bridge turns it into (`TransactionalMessageBridge#getMessage`). */
function pullStatusOf(r: GetMessageResult): OpPull['status'] {
  switch (r.status) {
    case 'FOUND':
      return r.messageCount > 0 ? 'FOUND' : 'NO_NEW_MSG'
    case 'NO_MATCHED_MESSAGE':
      return 'NO_MATCHED_MSG'
    case 'NO_MESSAGE_IN_QUEUE':
    case 'OFFSET_OVERFLOW_ONE':
      return 'NO_NEW_MSG'
    default:
      return 'OFFSET_ILLEGAL'
  }
}
