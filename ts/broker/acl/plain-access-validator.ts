/**
 * Plain ACL as one call: read what a request needs, then decide it against the file in force
 * (`PlainAccessValidator` in RocketMQ 4.9.8: `parse`, then `validate`).
 */
import type { RemotingCommand } from '../../remoting/remoting-command.js'
import { parsePlainAccessResource } from './plain-access-resource.js'
import type { AclDecision, PlainPermissionManager } from './plain-permission-manager.js'

export class PlainAccessValidator {
  constructor(readonly manager: PlainPermissionManager) {}

  /** Decides `request` from `remoteAddress` (`ip:port` or `[v6]:port`, as the channel prints it). */
  validate(request: RemotingCommand, remoteAddress: string): AclDecision {
    const parsed = parsePlainAccessResource(request, remoteAddress)
    if (!parsed.ok) return { allowed: false, reason: parsed.reason }
    return this.manager.validate(parsed.resource)
  }
}
