/**
 * `SendResult` and the response → status mapping of `MQClientAPIImpl#processSendResponse` (client.md §3.11).
 */
import { BrokerResponseError } from '../common/errors.js'
import { MessageConst } from '../common/message/message-const.js'
import { MixAll } from '../common/mix-all.js'
import { ResponseCode, responseCodeInfo } from '../common/response-code.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { RemotingCommand } from '../remoting/remoting-command.js'

export const SendStatus = {
  SEND_OK: 'SEND_OK',
  FLUSH_DISK_TIMEOUT: 'FLUSH_DISK_TIMEOUT',
  FLUSH_SLAVE_TIMEOUT: 'FLUSH_SLAVE_TIMEOUT',
  SLAVE_NOT_AVAILABLE: 'SLAVE_NOT_AVAILABLE',
} as const
export type SendStatus = (typeof SendStatus)[keyof typeof SendStatus]

export interface SendResult {
  sendStatus: SendStatus
  /** The message's `UNIQ_KEY` (a batch: the messages' keys, comma-joined). */
  msgId: string
  /** The broker's offset message id (a batch: comma-joined). */
  offsetMsgId: string
  messageQueue: MessageQueue
  /** The queue offset (a batch: of its first message). */
  queueOffset: number
  transactionId: string | undefined
  regionId: string
  traceOn: boolean
}

const STATUS_BY_CODE = new Map<number, SendStatus>([
  [ResponseCode.SUCCESS, SendStatus.SEND_OK],
  [ResponseCode.FLUSH_DISK_TIMEOUT, SendStatus.FLUSH_DISK_TIMEOUT],
  [ResponseCode.FLUSH_SLAVE_TIMEOUT, SendStatus.FLUSH_SLAVE_TIMEOUT],
  [ResponseCode.SLAVE_NOT_AVAILABLE, SendStatus.SLAVE_NOT_AVAILABLE],
])

/** The response to a send as a SendResult; any other code → `BrokerResponseError` with code and remark. */
export function processSendResponse(
  brokerName: string,
  topic: string,
  uniqMsgId: string,
  response: RemotingCommand,
): SendResult {
  const status = STATUS_BY_CODE.get(response.code)
  if (status === undefined) {
    throw new BrokerResponseError(response.code, response.remark, responseCodeInfo(response.code).retriable)
  }
  const queueId = Number.parseInt(response.ext('queueId') ?? '', 10)
  const queueOffset = Number(response.ext('queueOffset') ?? '')
  if (!Number.isInteger(queueId) || !Number.isSafeInteger(queueOffset)) {
    throw new BrokerResponseError(
      response.code,
      `malformed send response: queueId=${response.ext('queueId')} queueOffset=${response.ext('queueOffset')}`,
      false,
    )
  }
  return {
    sendStatus: status,
    msgId: uniqMsgId,
    offsetMsgId: response.ext('msgId') ?? '',
    messageQueue: { topic, brokerName, queueId },
    queueOffset,
    transactionId: response.ext('transactionId'),
    regionId: response.ext(MessageConst.PROPERTY_MSG_REGION) ?? MixAll.DEFAULT_TRACE_REGION_ID,
    traceOn: response.ext(MessageConst.PROPERTY_TRACE_SWITCH) !== 'false',
  }
}
