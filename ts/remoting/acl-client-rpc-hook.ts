/**
 * Signs every request a client sends with an access key and secret key (ACL 1.0, `AclClientRPCHook` in RocketMQ
 * 4.9.8, protocol.md §6.1). It runs just before the request is written, after every ext field is in place, so the
 * signature covers them all; the header serialization does not matter because only ext values and the body are
 * signed.
 */
import { calSignature, combineRequestContent } from '../common/acl/acl-utils.js'
import { ACCESS_KEY, SECURITY_TOKEN, SIGNATURE, type SessionCredentials } from '../common/acl/session-credentials.js'
import { ConfigError } from '../common/errors.js'
import type { RemotingCommand } from './remoting-command.js'
import type { RPCHook } from './rpc-hook.js'

export class AclClientRPCHook implements RPCHook {
  private readonly credentials: Readonly<SessionCredentials>

  /** Throws `ConfigError` when the access key or secret key is empty; the message never contains the secret. */
  constructor(credentials: SessionCredentials) {
    if (typeof credentials.accessKey !== 'string' || credentials.accessKey.length === 0) {
      throw new ConfigError('RMQ_ERR_ACL_CREDENTIALS', 'ACL client credentials: accessKey is empty')
    }
    if (typeof credentials.secretKey !== 'string' || credentials.secretKey.length === 0) {
      throw new ConfigError(
        'RMQ_ERR_ACL_CREDENTIALS',
        `ACL client credentials: secretKey of ${credentials.accessKey} is empty`,
      )
    }
    this.credentials = { ...credentials }
  }

  get accessKey(): string {
    return this.credentials.accessKey
  }

  doBeforeRequest(_remoteAddress: string, request: RemotingCommand): void {
    request.putExt(ACCESS_KEY, this.credentials.accessKey)
    const token = this.credentials.securityToken
    if (token !== undefined && token !== null) request.putExt(SECURITY_TOKEN, token)
    // A request signed before (a retry) carries its old signature; the content leaves `Signature` out anyway.
    const content = combineRequestContent(request.extFields, request.body)
    request.putExt(SIGNATURE, calSignature(content, this.credentials.secretKey))
  }

  doAfterResponse(): void {}
}
