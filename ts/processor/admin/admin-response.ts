import { stringifyJson } from '../../common/fastjson.js'
import { ResponseCode } from '../../common/response-code.js'
import { RemotingCommand, type ExtFields } from '../../remoting/remoting-command.js'

export function ok(body?: unknown, ext?: ExtFields): RemotingCommand {
  const r = RemotingCommand.createResponse(ResponseCode.SUCCESS, null, ext ?? null)
  if (body !== undefined) r.body = Buffer.from(typeof body === 'string' ? body : stringifyJson(body))
  return r
}

export function fail(code: number, remark: string): RemotingCommand {
  return RemotingCommand.createResponse(code, remark)
}

/** Per-queue admin loops give the event loop a turn after this many queues (mask + 1). */
export const QUEUES_PER_TURN_MASK = 1023
