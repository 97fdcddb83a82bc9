/**
 * The check-back service (`TransactionalMessageCheckService`, `AbstractTransactionalMessageCheckListener`,
 * `Broker2Client#checkProducerTransactionState`, store.md §10.5): every `transactionCheckInterval` one run of
 * `TransactionalMessageService#check`; each half message it re-appends is sent to one live connection of its
 * producer group as a oneway CHECK_TRANSACTION_STATE. Runs on masters only.
 */
import type { Logger } from '../../common/logger.js'
import { MessageConst } from '../../common/message/message-const.js'
import { RequestCode } from '../../common/request-code.js'
import { RemotingCommand } from '../../remoting/remoting-command.js'
import type { ProducerManager } from '../producer-manager.js'
import type { HalfMessage, TransactionalMessageService } from './transactional-message-service.js'
import { encodeCheckMessageBody } from './transactional-message-util.js'

export interface TransactionalMessageCheckServiceOptions {
  service: TransactionalMessageService
  producerManager: ProducerManager
  checkIntervalMs: number
  logger: Logger
}

/** The CHECK_TRANSACTION_STATE request for a re-appended half message (`sendCheckMessage`); null if it has no real queue. */
export function buildCheckTransactionStateRequest(half: HalfMessage): RemotingCommand | null {
  const m = half.msg
  const realTopic = m.properties.get(MessageConst.PROPERTY_REAL_TOPIC)
  const realQid = Number(m.properties.get(MessageConst.PROPERTY_REAL_QUEUE_ID))
  if (realTopic === undefined || !Number.isInteger(realQid)) return null
  const uniq = m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
  const ext: Record<string, string> = {
    tranStateTableOffset: String(m.queueOffset),
    commitLogOffset: String(m.commitLogOffset),
    offsetMsgId: m.msgId,
  }
  if (uniq !== undefined) {
    ext.msgId = uniq
    ext.transactionId = uniq
  }
  return RemotingCommand.createRequest(
    RequestCode.CHECK_TRANSACTION_STATE,
    ext,
    encodeCheckMessageBody(half.record, realTopic, realQid),
  )
}

export class TransactionalMessageCheckService {
  private readonly log: Logger
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private stopped = true

  constructor(private readonly options: TransactionalMessageCheckServiceOptions) {
    this.log = options.logger.child({ component: 'transaction-check' })
  }

  start(): void {
    this.stopped = false
    this.arm()
  }

  /** Clears the timer and waits for a run under way to stop (the service ends it at its next step). */
  async shutdown(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  /** Sends the check for a re-appended half message to its producer group (`resolveHalfMsg`). */
  resolveHalfMsg(half: HalfMessage): void {
    const group = half.msg.properties.get(MessageConst.PROPERTY_PRODUCER_GROUP)
    const channel = group === undefined ? undefined : this.options.producerManager.getAvailableChannel(group)
    if (channel === undefined) {
      this.log.warn({ group, offset: half.msg.queueOffset }, 'transaction check not sent: no live producer connection')
      return
    }
    const request = buildCheckTransactionStateRequest(half)
    if (request === null) {
      this.log.warn({ group, offset: half.msg.queueOffset }, 'transaction check not sent: no real topic')
      return
    }
    if (!channel.invokeOneway(request)) {
      this.log.warn({ group, remote: channel.remoteAddress }, 'transaction check not sent: connection closed')
    }
  }

  /** One run now, unless one is under way (tests, and the timer). */
  runOnce(): Promise<void> {
    if (this.running === null) {
      const begin = Date.now()
      this.running = this.options.service.check().finally(() => {
        this.running = null
        this.log.debug({ elapsedMs: Date.now() - begin }, 'transaction check run finished')
      })
    }
    return this.running
  }

  private arm(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.runOnce().finally(() => this.arm())
    }, this.options.checkIntervalMs)
    this.timer.unref()
  }
}
