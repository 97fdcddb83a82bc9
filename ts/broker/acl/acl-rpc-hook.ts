/**
 * The broker's ACL check, run before every request is processed (the hook `BrokerController#initialAcl`
 * registers when `aclEnable=true`). A refused request is answered with the hook's response and never reaches its
 * processor; a oneway request gets no answer at all (the channel writes nothing for it).
 *
 * 4.x answers `SYSTEM_ERROR` (1) whose remark starts with the `AclException` class name, because the check throws
 * into the generic error path; 5.x answers `NO_PERMISSION` (16). `SYSTEM_ERROR` is the default here, as clients
 * of 4.x brokers expect (protocol.md §6.2 step 4).
 */
import { ConfigError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import { noopLogger } from '../../common/logger.js'
import { requestCodeName } from '../../common/request-code.js'
import { ResponseCode } from '../../common/response-code.js'
import { RemotingCommand } from '../../remoting/remoting-command.js'
import type { RPCHook } from '../../remoting/rpc-hook.js'
import type { PlainAccessValidator } from './plain-access-validator.js'

export type AclFailureResponseCode = typeof ResponseCode.SYSTEM_ERROR | typeof ResponseCode.NO_PERMISSION

export interface AclRPCHookOptions {
  validator: PlainAccessValidator
  /** `SYSTEM_ERROR` (1, 4.x, the default) or `NO_PERMISSION` (16, 5.x). */
  failureResponseCode?: AclFailureResponseCode
  logger?: Logger
}

/** What a 4.x remark starts with (`RemotingHelper.exceptionSimpleDesc` of an `AclException`). */
export const ACL_EXCEPTION_CLASS = 'org.apache.rocketmq.acl.common.AclException'

export class AclRPCHook implements RPCHook {
  private readonly validator: PlainAccessValidator
  private readonly failureResponseCode: AclFailureResponseCode
  private readonly log: Logger
  /** Requests refused since start. */
  refusedCount = 0

  constructor(options: AclRPCHookOptions) {
    const code = options.failureResponseCode ?? ResponseCode.SYSTEM_ERROR
    if (code !== ResponseCode.SYSTEM_ERROR && code !== ResponseCode.NO_PERMISSION) {
      const allowed = `${ResponseCode.SYSTEM_ERROR} (SYSTEM_ERROR) or ${ResponseCode.NO_PERMISSION} (NO_PERMISSION)`
      throw new ConfigError('RMQ_ERR_ACL_CONFIG', `ACL failure response code must be ${allowed}, not ${String(code)}`)
    }
    this.validator = options.validator
    this.failureResponseCode = code
    this.log = (options.logger ?? noopLogger).child({ component: 'acl' })
  }

  doBeforeRequest(remoteAddress: string, request: RemotingCommand): RemotingCommand | null {
    const decision = this.validator.validate(request, remoteAddress)
    if (decision.allowed) return null
    this.refusedCount++
    // Debug only: a misconfigured client repeats the same refusal for every request it sends.
    this.log.debug(
      { remote: remoteAddress, code: requestCodeName(request.code), reason: decision.reason },
      'ACL refused a request',
    )
    const remark =
      this.failureResponseCode === ResponseCode.SYSTEM_ERROR
        ? `${ACL_EXCEPTION_CLASS}: ${decision.reason}`
        : decision.reason
    return RemotingCommand.createResponse(this.failureResponseCode, remark)
  }

  doAfterResponse(): void {}
}
