/**
 * Errors raised by the client SDK itself (`MQClientException`): a message refused before any network call, no
 * route, a send that failed after every attempt. Errors from a broker's answer are `BrokerResponseError`
 * (ts/common/errors.ts); transport failures are `RemotingError`.
 */
import { RocketMQError } from '../common/errors.js'

export class MQClientError extends RocketMQError {
  /** The RocketMQ response code this error stands for (`MESSAGE_ILLEGAL` for a bad body, a broker's code…), if any. */
  readonly responseCode: number | undefined

  constructor(code: string, message: string, options?: { cause?: unknown; responseCode?: number }) {
    super(code, message, options)
    this.responseCode = options?.responseCode
  }
}
