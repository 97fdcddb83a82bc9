/**
 * `END_TRANSACTION` (`EndTransactionProcessor`, protocol.md §2.4.4, store.md §10.3): a producer commits or rolls back
 * a half message. A commit stores the final message in the real topic and then marks the half message done; a
 * rollback only marks it done; "unknown" leaves it for the check-back service. Producers send this oneway, so the
 * answers below only reach clients that ask for one.
 */
import { MessageConst } from '../common/message/message-const.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { messageProperties2String } from '../common/message/message-properties.js'
import { recordBornHost } from '../common/message/message-record.js'
import { MessageSysFlag, resetTransactionValue } from '../common/message/message-sys-flag.js'
import { ResponseCode } from '../common/response-code.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { ProcessResult, RequestProcessor } from '../remoting/request-dispatcher.js'
import type { MessageExtBrokerInner } from '../store/message-store.js'
import type { PutMessageStatus } from '../store/put-message-status.js'
import type { BrokerContext } from './broker-context.js'

/**
 * The first-check delay of a half message: `CHECK_IMMUNITY_TIME_IN_SECONDS` × 1000, never below
 * `transactionTimeOut`; an unreadable value means `transactionTimeOut` (`TransactionalMessageUtil#getImmunityTime`).
 */
export function immunityTimeMs(checkImmunityTimeInSeconds: string, transactionTimeoutMs: number): number {
  const s = /^[+-]?\d+$/.test(checkImmunityTimeInSeconds) ? Number(checkImmunityTimeInSeconds) : 0
  return Math.max(s * 1000, transactionTimeoutMs)
}

/** The END_TRANSACTION fields a commit or rollback is validated against. */
export interface EndTransactionTarget {
  producerGroup: string
  tranStateTableOffset: number
  commitLogOffset: number
}

/** Why the half message does not match the request, or null (`EndTransactionProcessor#checkPrepareMessage`). */
export function checkPrepareMessage(half: MessageExt | null, h: EndTransactionTarget): string | null {
  if (half === null) return 'Find prepared transaction message failed'
  if (half.properties.get(MessageConst.PROPERTY_PRODUCER_GROUP) !== h.producerGroup) return 'The producer group wrong'
  if (half.queueOffset !== h.tranStateTableOffset) return 'The transaction state table offset wrong'
  if (half.commitLogOffset !== h.commitLogOffset) return 'The commit log offset wrong'
  return null
}

/**
 * A commit that does not answer a check, of a message with its own immunity time, arrives after the producer could
 * already have been asked (`now − born > max(immunity, transactionTimeOut)`): store.md §10.3 refuses it with
 * ILLEGAL_OPERATION, since a check may be resolving the same transaction.
 */
export function commitTooLate(
  half: MessageExt,
  fromTransactionCheck: boolean,
  nowMs: number,
  transactionTimeoutMs: number,
): boolean {
  const immunity = half.properties.get(MessageConst.PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS)
  if (immunity === undefined || fromTransactionCheck) return false
  return nowMs - half.bornTimestamp > immunityTimeMs(immunity, transactionTimeoutMs)
}

/**
 * The message a commit stores in the real topic (`EndTransactionProcessor#endMessageTransaction`): the half
 * message's body, flag, born data and reconsume times, transaction bits COMMIT, `preparedTransactionOffset` = the
 * half message's commit-log offset, not waiting for flush. The properties are the half message's as they are: RocketMQ
 * encodes the properties string before it clears `REAL_TOPIC`, `REAL_QID` and `TRAN_MSG` from the map, so committed
 * messages keep them on disk, and consumers rely on `TRAN_MSG` to set `transactionId` (client.md §6.4).
 * Returns null when the half message names no usable real queue.
 */
export function toFinalMessage(half: MessageExt, bornHost: Buffer): MessageExtBrokerInner | null {
  const topic = half.properties.get(MessageConst.PROPERTY_REAL_TOPIC)
  const qid = Number(half.properties.get(MessageConst.PROPERTY_REAL_QUEUE_ID))
  if (topic === undefined || !Number.isInteger(qid) || qid < 0) return null
  return {
    topic,
    queueId: qid,
    flag: half.flag,
    body: half.body,
    propertiesString: messageProperties2String(half.properties),
    bornTimestamp: half.bornTimestamp,
    bornHost,
    sysFlag: resetTransactionValue(half.sysFlag, MessageSysFlag.TRANSACTION_COMMIT_TYPE),
    reconsumeTimes: half.reconsumeTimes,
    preparedTransactionOffset: half.commitLogOffset,
    waitStoreMsgOK: false,
  }
}

/** `EndTransactionRequestHeader`. */
export interface EndTransactionRequestHeader extends EndTransactionTarget {
  commitOrRollback: number
  fromTransactionCheck: boolean
  msgId: string
  transactionId: string | undefined
}

export function decodeEndTransactionRequestHeader(request: RemotingCommand): EndTransactionRequestHeader {
  const h = new HeaderReader(request)
  return {
    producerGroup: h.string('producerGroup'),
    tranStateTableOffset: h.long('tranStateTableOffset'),
    commitLogOffset: h.long('commitLogOffset'),
    commitOrRollback: h.int('commitOrRollback'),
    fromTransactionCheck: h.optBool('fromTransactionCheck') ?? false,
    msgId: h.string('msgId'),
    transactionId: h.optString('transactionId'),
  }
}

export class EndTransactionProcessor implements RequestProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  async processRequest(channel: RemotingChannel, request: RemotingCommand): Promise<ProcessResult> {
    const header = decodeEndTransactionRequestHeader(request)
    const log = this.ctx.logger
    if (this.ctx.brokerConfig.brokerRole === 'SLAVE') {
      log.warn({ remote: channel.remoteAddress }, 'end transaction refused: this broker is a slave')
      return RemotingCommand.createResponse(ResponseCode.SLAVE_NOT_AVAILABLE, null)
    }
    const type = header.commitOrRollback
    if (type === MessageSysFlag.TRANSACTION_NOT_TYPE) {
      // Unknown: nothing to do, the half message waits for a check. Clients send END_TRANSACTION oneway, so this
      // answer only reaches a caller that waits for one (Java answers nothing, leaving such a caller to time out).
      log.debug({ ...header, remark: request.remark }, 'end transaction with unknown state: left for the check')
      return response(ResponseCode.SUCCESS, null)
    }
    if (type !== MessageSysFlag.TRANSACTION_COMMIT_TYPE && type !== MessageSysFlag.TRANSACTION_ROLLBACK_TYPE) {
      return response(
        ResponseCode.SYSTEM_ERROR,
        `commitOrRollback ${type} is none of 0 (unknown), 8 (commit) and 12 (rollback)`,
      )
    }
    if (type === MessageSysFlag.TRANSACTION_ROLLBACK_TYPE || header.fromTransactionCheck) {
      log.info({ ...header, remote: channel.remoteAddress, remark: request.remark }, 'end transaction')
    }
    const service = this.ctx.transactionalMessageService
    const half = await service.lookupHalfMessage(header.commitLogOffset)
    if (half === null) return response(ResponseCode.SYSTEM_ERROR, 'Find prepared transaction message failed')
    if (commitTooLate(half.msg, header.fromTransactionCheck, Date.now(), this.ctx.brokerConfig.transactionTimeOut)) {
      log.warn(
        { msgId: header.msgId, commitLogOffset: header.commitLogOffset },
        'end transaction too late: wait for the check',
      )
      return response(ResponseCode.ILLEGAL_OPERATION, null)
    }
    const problem = checkPrepareMessage(half.msg, header)
    if (problem !== null) return response(ResponseCode.SYSTEM_ERROR, problem)
    if (type === MessageSysFlag.TRANSACTION_ROLLBACK_TYPE) {
      await service.deletePrepareMessage(half.msg)
      return response(ResponseCode.SUCCESS, null)
    }
    const final = toFinalMessage(half.msg, recordBornHost(half.record))
    if (final === null) {
      return response(
        ResponseCode.SYSTEM_ERROR,
        `the half message has no real topic or queue (${MessageConst.PROPERTY_REAL_TOPIC}/${MessageConst.PROPERTY_REAL_QUEUE_ID})`,
      )
    }
    const result = await this.ctx.putMessage(final)
    const [code, remark] = this.sendFinalMessageOutcome(result.putMessageStatus)
    if (code === ResponseCode.SUCCESS) {
      if (result.appendMessageResult !== null)
        this.ctx.stats.incPut(final.topic, 1, result.appendMessageResult.wroteBytes)
      await service.deletePrepareMessage(half.msg)
    }
    return response(code, remark)
  }

  /** Put status → answer of a commit (`sendFinalMessage`): the three "stored but" statuses count as success. */
  private sendFinalMessageOutcome(status: PutMessageStatus): [number, string | null] {
    switch (status) {
      case 'PUT_OK':
      case 'FLUSH_DISK_TIMEOUT':
      case 'FLUSH_SLAVE_TIMEOUT':
      case 'SLAVE_NOT_AVAILABLE':
        return [ResponseCode.SUCCESS, null]
      case 'CREATE_MAPPED_FILE_FAILED':
        return [ResponseCode.SYSTEM_ERROR, 'Create mapped file failed.']
      case 'MESSAGE_ILLEGAL':
      case 'PROPERTIES_SIZE_EXCEEDED':
        return [
          ResponseCode.MESSAGE_ILLEGAL,
          `The message is illegal, maybe msg body or properties length not matched. msg body length limit ${this.ctx.maxMessageSize}B, msg properties length limit 32KB.`,
        ]
      case 'SERVICE_NOT_AVAILABLE':
        return [ResponseCode.SERVICE_NOT_AVAILABLE, 'Service not available now.']
      case 'OS_PAGE_CACHE_BUSY':
        return [ResponseCode.SYSTEM_ERROR, 'OS page cache busy, please try another machine']
      case 'UNKNOWN_ERROR':
        return [ResponseCode.SYSTEM_ERROR, 'UNKNOWN_ERROR']
      default:
        return [ResponseCode.SYSTEM_ERROR, 'UNKNOWN_ERROR DEFAULT']
    }
  }
}

function response(code: number, remark: string | null): RemotingCommand {
  return RemotingCommand.createResponse(code, remark)
}
