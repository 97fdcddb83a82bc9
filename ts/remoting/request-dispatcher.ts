/**
 * Hands each incoming request to the processor registered for its code, through that processor's bounded
 * executor, with the RPC hooks around it (`NettyRemotingAbstract#processRequestCommand`). Processors never throw
 * to report an outcome; anything they do throw is logged once and answered `SYSTEM_ERROR`.
 */
import { ProtocolError, RocketMQError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { requestCodeName } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import type { RemotingChannel } from './remoting-channel.js'
import { RemotingCommand } from './remoting-command.js'
import { OVERLOAD_REMARK, RequestExecutor, type ExecutorTask } from './request-executor.js'
import type { RPCHook } from './rpc-hook.js'

export type ProcessResult = RemotingCommand | null

export interface RequestProcessor {
  /**
   * Answers a request. `null` means no response now: the processor answers later through
   * `channel.writeResponse` (a held pull), or the request needs none.
   */
  processRequest(channel: RemotingChannel, request: RemotingCommand): ProcessResult | Promise<ProcessResult>
  /** True to refuse requests before they are queued (`[REJECTREQUEST]`): the send processor while the page cache is busy. */
  rejectRequest?(): boolean
}

export const REJECT_REQUEST_REMARK = '[REJECTREQUEST]system busy, start flow control for a while'

interface Registration {
  processor: RequestProcessor
  executor: RequestExecutor
}

/** A short remark for an unexpected error (`RemotingHelper.exceptionSimpleDesc`). */
export function errorRemark(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return String(err)
}

export class RequestDispatcher {
  private readonly table = new Map<number, Registration>()
  private fallback: Registration | null = null
  private readonly hooks: RPCHook[] = []
  private readonly log: Logger

  constructor(logger: Logger) {
    this.log = logger
  }

  registerProcessor(code: number, processor: RequestProcessor, executor: RequestExecutor): void {
    this.table.set(code, { processor, executor })
  }

  registerDefaultProcessor(processor: RequestProcessor, executor: RequestExecutor): void {
    this.fallback = { processor, executor }
  }

  registerRPCHook(hook: RPCHook): void {
    this.hooks.push(hook)
  }

  executors(): RequestExecutor[] {
    const all = new Set<RequestExecutor>()
    for (const r of this.table.values()) all.add(r.executor)
    if (this.fallback) all.add(this.fallback.executor)
    return [...all]
  }

  dispatch(channel: RemotingChannel, request: RemotingCommand): void {
    const reg = this.table.get(request.code) ?? this.fallback
    if (reg === undefined || reg === null) {
      channel.writeResponse(
        request,
        RemotingCommand.createResponse(
          ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
          ` request type ${request.code} not supported`,
        ),
      )
      return
    }
    if (reg.processor.rejectRequest?.()) {
      channel.writeResponse(request, RemotingCommand.createResponse(ResponseCode.SYSTEM_BUSY, REJECT_REQUEST_REMARK))
      return
    }
    const task: ExecutorTask = {
      createdMs: Date.now(),
      run: () => this.run(reg.processor, channel, request),
      refuse: (code, remark) => {
        channel.writeResponse(request, RemotingCommand.createResponse(code, remark))
      },
    }
    if (!reg.executor.submit(task)) {
      channel.writeResponse(request, RemotingCommand.createResponse(ResponseCode.SYSTEM_BUSY, OVERLOAD_REMARK))
    }
  }

  private run(processor: RequestProcessor, channel: RemotingChannel, request: RemotingCommand): Promise<void> | void {
    const remote = channel.remoteAddress
    for (const hook of this.hooks) {
      let refusal: RemotingCommand | null | void
      try {
        refusal = hook.doBeforeRequest(remote, request)
      } catch (err) {
        refusal = this.failure(channel, request, err)
      }
      if (refusal) {
        this.finish(channel, request, refusal)
        return
      }
    }
    let result: ProcessResult | Promise<ProcessResult>
    try {
      result = processor.processRequest(channel, request)
    } catch (err) {
      this.finish(channel, request, this.failure(channel, request, err))
      return
    }
    if (result !== null && typeof (result as Promise<ProcessResult>).then === 'function') {
      return (result as Promise<ProcessResult>).then(
        (response) => this.finish(channel, request, response),
        (err: unknown) => this.finish(channel, request, this.failure(channel, request, err)),
      )
    }
    this.finish(channel, request, result as ProcessResult)
  }

  private finish(channel: RemotingChannel, request: RemotingCommand, response: ProcessResult): void {
    for (const hook of this.hooks) {
      try {
        hook.doAfterResponse(channel.remoteAddress, request, response)
      } catch (err) {
        // An after-hook only observes; the response is already decided, so a failing hook must not change it.
        this.log.warn({ err, code: request.code }, 'rpc hook failed after the response')
      }
    }
    if (response !== null) channel.writeResponse(request, response)
  }

  private failure(channel: RemotingChannel, request: RemotingCommand, err: unknown): RemotingCommand {
    const fields = { remote: channel.remoteAddress, code: requestCodeName(request.code), opaque: request.opaque }
    if (err instanceof ProtocolError) {
      // A bad header field from the client: its problem, answered and logged quietly.
      this.log.debug({ ...fields, err: err.message }, 'bad request')
    } else if (err instanceof RocketMQError) {
      this.log.warn({ ...fields, err }, 'request failed')
    } else {
      this.log.error({ ...fields, err }, 'processor threw')
    }
    return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, errorRemark(err))
  }
}
