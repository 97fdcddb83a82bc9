/**
 * Turns errors into HTTP answers `{ code, message[, responseCode] }` (STYLE.md §7): a request that fails its schema
 * or a broker check is a 400 naming the field, a RocketMQ refusal keeps its response code, a name server out of
 * reach is a 503, and anything else is logged once and answered 500 without internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

import { BrokerResponseError, InvalidArgumentError, RemotingError, RocketMQError } from '../common/errors.js'
import { ResponseCode, responseCodeInfo } from '../common/response-code.js'

/** HTTP status for a RocketMQ response code the broker answered with. */
export function httpStatusOf(responseCode: number): number {
  switch (responseCode) {
    case ResponseCode.TOPIC_NOT_EXIST:
    case ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST:
    case ResponseCode.QUERY_NOT_FOUND:
      return 404
    case ResponseCode.NO_PERMISSION:
      return 403
    case ResponseCode.SYSTEM_BUSY:
    case ResponseCode.SERVICE_NOT_AVAILABLE:
      return 503
    default:
      return 500
  }
}

export interface ErrorBody {
  code: string
  message: string
  responseCode?: number
}

export function adminErrorHandler(
  err: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const fe = err as FastifyError
  if (fe.validation !== undefined) {
    return reply.code(400).send({ code: 'BAD_REQUEST', message: fe.message })
  }
  if (err instanceof InvalidArgumentError) {
    return reply.code(400).send({ code: 'BAD_REQUEST', message: err.message })
  }
  if (err instanceof BrokerResponseError) {
    const body: ErrorBody = {
      code: responseCodeInfo(err.responseCode).name,
      message: err.remark ?? err.message,
      responseCode: err.responseCode,
    }
    return reply.code(httpStatusOf(err.responseCode)).send(body)
  }
  if (err instanceof RemotingError) {
    return reply.code(503).send({ code: err.code, message: err.message })
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Fastify's own client errors (a body that is not JSON, a media type it does not take).
    return reply.code(fe.statusCode).send({ code: fe.code ?? 'BAD_REQUEST', message: fe.message })
  }
  request.log.error({ err }, 'admin request failed')
  const code = err instanceof RocketMQError ? err.code : 'INTERNAL_ERROR'
  return reply.code(500).send({ code, message: 'internal error; see the broker log' })
}
