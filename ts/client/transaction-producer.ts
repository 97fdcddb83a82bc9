/**
 * The transactional producer (`TransactionMQProducer`, `DefaultMQProducerImpl#sendMessageInTransaction`,
 * `#endTransaction`, `#checkTransactionState`; client.md §3.13). A message is first sent as a half message that
 * consumers do not see; the local transaction runs; its outcome goes to the broker as a oneway END_TRANSACTION.
 * When that outcome is unknown or lost, the broker later asks (CHECK_TRANSACTION_STATE) and the listener's
 * `checkLocalTransaction` answers.
 */
import { MessageConst } from '../common/message/message-const.js'
import { decodeMessageId } from '../common/message/message-id.js'
import { MessageSysFlag } from '../common/message/message-sys-flag.js'
import type { CheckTransactionStateHeader, TransactionCheckMessage } from './client-instance.js'
import type { ProducerOptions } from './client-config.js'
import { MQClientError } from './client-error.js'
import { checkMessage, type Message } from './message.js'
import { Producer } from './producer.js'
import { SendStatus, type SendResult } from './send-result.js'
import { TaskLimiter } from './task-limiter.js'

/** What the local transaction decided (`LocalTransactionState`). */
export const LocalTransactionState = {
  COMMIT_MESSAGE: 'COMMIT_MESSAGE',
  ROLLBACK_MESSAGE: 'ROLLBACK_MESSAGE',
  /** Not known yet: the broker will ask later (the spelling is RocketMQ's). */
  UNKNOW: 'UNKNOW',
} as const
export type LocalTransactionState = (typeof LocalTransactionState)[keyof typeof LocalTransactionState]

type StateResult = LocalTransactionState | null | undefined

/** The application's side of a transaction (`TransactionListener`); either method may return a promise. */
export interface TransactionListener {
  /** Runs the local transaction once the half message is stored; null, undefined or a throw mean UNKNOW. */
  executeLocalTransaction(msg: Message, arg: unknown): StateResult | Promise<StateResult>
  /** Answers the broker's check of a transaction whose outcome it does not know; a throw means UNKNOW. */
  checkLocalTransaction(msg: TransactionCheckMessage): StateResult | Promise<StateResult>
}

/** `SendResult` of the half message plus the outcome sent to the broker (`TransactionSendResult`). */
export interface TransactionSendResult extends SendResult {
  localTransactionState: LocalTransactionState
}

export interface TransactionProducerOptions extends ProducerOptions {
  transactionListener: TransactionListener
  /** Checks run at once (`checkThreadPoolMaxSize`, default 1). */
  checkThreadPoolMaxSize?: number
  /** Checks that may wait beyond those running; more are dropped, the broker asks again (default 2000). */
  checkRequestHoldMax?: number
}

const END_TRANSACTION_CHECK_TIMEOUT_MS = 3000
const CHECK_REQUEST_HOLD_MAX_DEFAULT = 2000
const CHECK_THREAD_POOL_MAX_SIZE_DEFAULT = 1

const SYS_FLAG_OF_STATE: Record<LocalTransactionState, number> = {
  COMMIT_MESSAGE: MessageSysFlag.TRANSACTION_COMMIT_TYPE,
  ROLLBACK_MESSAGE: MessageSysFlag.TRANSACTION_ROLLBACK_TYPE,
  UNKNOW: MessageSysFlag.TRANSACTION_NOT_TYPE,
}

function isState(v: unknown): v is LocalTransactionState {
  return typeof v === 'string' && v in SYS_FLAG_OF_STATE
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

export class TransactionProducer extends Producer {
  private readonly listener: TransactionListener
  private readonly checks: TaskLimiter
  private readonly checkCapacity: number

  constructor(options: TransactionProducerOptions) {
    super(options)
    if (typeof options.transactionListener?.executeLocalTransaction !== 'function') {
      throw new MQClientError('RMQ_ERR_CONFIG', 'transactionListener is required for a transactional producer')
    }
    this.listener = options.transactionListener
    const workers = options.checkThreadPoolMaxSize ?? CHECK_THREAD_POOL_MAX_SIZE_DEFAULT
    const hold = options.checkRequestHoldMax ?? CHECK_REQUEST_HOLD_MAX_DEFAULT
    if (!Number.isInteger(workers) || workers < 1 || !Number.isInteger(hold) || hold < 0) {
      throw new MQClientError('RMQ_ERR_CONFIG', 'checkThreadPoolMaxSize must be ≥ 1 and checkRequestHoldMax ≥ 0')
    }
    this.checks = new TaskLimiter(workers)
    this.checkCapacity = workers + hold
  }

  /** Drops waiting checks (the broker asks again), lets running ones finish briefly, then leaves. */
  override async shutdown(): Promise<void> {
    this.checks.clear()
    await this.checks.whenIdle(END_TRANSACTION_CHECK_TIMEOUT_MS)
    await super.shutdown()
  }

  /**
   * Sends `msg` as a half message, runs the local transaction and ends it at the broker
   * (`sendMessageInTransaction`, client.md §3.13). A send failure throws; a failing END_TRANSACTION is only logged,
   * since the broker's check resolves the transaction then.
   */
  async sendMessageInTransaction(msg: Message, arg?: unknown): Promise<TransactionSendResult> {
    // A delay cannot apply to a half message: it is ignored, as in RocketMQ.
    if (msg.delayTimeLevel !== 0) msg.delayTimeLevel = 0
    checkMessage(msg, this.config.maxMessageSize)
    msg.properties.set(MessageConst.PROPERTY_TRANSACTION_PREPARED, 'true')
    msg.properties.set(MessageConst.PROPERTY_PRODUCER_GROUP, this.config.producerGroup)
    let sendResult: SendResult
    try {
      sendResult = await this.send(msg)
    } catch (err) {
      throw new MQClientError('RMQ_ERR_SEND_FAILED', `send message Exception: ${describe(err)}`, { cause: err })
    }
    let state: LocalTransactionState = LocalTransactionState.UNKNOW
    let localError: unknown
    if (sendResult.sendStatus === SendStatus.SEND_OK) {
      if (sendResult.transactionId !== undefined) {
        msg.properties.set(MessageConst.PROPERTY_TRANSACTION_ID, sendResult.transactionId)
      }
      msg.transactionId = msg.uniqKey || undefined
      try {
        const decided = await this.listener.executeLocalTransaction(msg, arg)
        state = isState(decided) ? decided : LocalTransactionState.UNKNOW
      } catch (err) {
        // The state stays UNKNOW and the exception text goes to the broker as the remark; its check decides later.
        localError = err
        this.log.info({ msgId: sendResult.msgId, err }, 'executeLocalTransaction failed: state unknown')
      }
    } else {
      // Stored, but not as safely as asked: roll back without running the local transaction.
      state = LocalTransactionState.ROLLBACK_MESSAGE
    }
    try {
      await this.endTransaction(msg, sendResult, state, localError)
    } catch (err) {
      // The broker's check-back resolves the transaction instead.
      this.log.warn(
        { msgId: sendResult.msgId, state, err },
        'local transaction done, but ending it at the broker failed',
      )
    }
    return { ...sendResult, localTransactionState: state }
  }

  /** END_TRANSACTION after a send (`endTransaction`), oneway to the master that stored the half message. */
  private async endTransaction(
    msg: Message,
    sendResult: SendResult,
    state: LocalTransactionState,
    localError: unknown,
  ): Promise<void> {
    const id = decodeMessageId(sendResult.offsetMsgId) ?? decodeMessageId(sendResult.msgId)
    if (id === null) throw new MQClientError('RMQ_ERR_ILLEGAL', `no offset message id in ${sendResult.offsetMsgId}`)
    const brokerName = sendResult.messageQueue.brokerName
    const addr = await this.instance.findMasterOrRefresh(brokerName, msg.topic)
    await this.instance.api.endTransactionOneway(
      addr,
      {
        topic: msg.topic,
        producerGroup: this.config.producerGroup,
        tranStateTableOffset: sendResult.queueOffset,
        commitLogOffset: id.commitLogOffset,
        commitOrRollback: SYS_FLAG_OF_STATE[state],
        fromTransactionCheck: false,
        msgId: sendResult.msgId,
        transactionId: sendResult.transactionId,
      },
      localError === undefined ? null : `executeLocalTransactionBranch exception: ${describe(localError)}`,
      this.config.sendMsgTimeout,
    )
  }

  /** A broker's check (`checkTransactionState`): queued for the listener, dropped when the queue is full. */
  checkTransactionState(brokerAddr: string, msg: TransactionCheckMessage, header: CheckTransactionStateHeader): void {
    if (this.checks.pending >= this.checkCapacity) {
      this.log.warn({ brokerAddr, msgId: header.msgId }, 'transaction check dropped: checkRequestHoldMax reached')
      return
    }
    this.checks.submit(() => this.runCheck(brokerAddr, msg, header))
  }

  private async runCheck(
    brokerAddr: string,
    msg: TransactionCheckMessage,
    header: CheckTransactionStateHeader,
  ): Promise<void> {
    let state: LocalTransactionState = LocalTransactionState.UNKNOW
    let error: unknown
    try {
      const decided = await this.listener.checkLocalTransaction(msg)
      state = isState(decided) ? decided : LocalTransactionState.UNKNOW
    } catch (err) {
      // Answered as UNKNOW with the exception text as remark: the broker asks again at its next check.
      error = err
      this.log.error({ brokerAddr, msgId: header.msgId, err }, 'checkLocalTransaction failed: state unknown')
    }
    const uniqKey = msg.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) ?? msg.msgId
    try {
      await this.instance.api.endTransactionOneway(
        brokerAddr,
        {
          topic: msg.topic,
          producerGroup: this.config.producerGroup,
          tranStateTableOffset: header.tranStateTableOffset,
          commitLogOffset: header.commitLogOffset,
          commitOrRollback: SYS_FLAG_OF_STATE[state],
          fromTransactionCheck: true,
          msgId: uniqKey,
          transactionId: header.transactionId,
        },
        error === undefined ? null : `checkLocalTransactionState Exception: ${describe(error)}`,
        END_TRANSACTION_CHECK_TIMEOUT_MS,
      )
    } catch (err) {
      // The broker asks again at its next check.
      this.log.warn({ brokerAddr, msgId: uniqKey, state, err }, 'answering a transaction check failed')
    }
  }
}
