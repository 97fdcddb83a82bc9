/**
 * Holds the plain ACL file in force and decides requests against it (`PlainPermissionManager` in RocketMQ 4.9.8).
 *
 * The file is read once when the manager is made (a bad file is a `ConfigError` then), again on `reload()`, and,
 * while the owner has `startWatching()` on, whenever its modification time, size or inode changes: 4.9.8 polls
 * every 5 s (`AclFileWatchService`). A reload that fails keeps the previous good config and logs why.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs'

import { calSignature, signatureEquals } from '../../common/acl/acl-utils.js'
import { ADMIN_CODES, checkPermission, Permission, permName } from '../../common/acl/permission.js'
import type { Logger } from '../../common/logger.js'
import { noopLogger } from '../../common/logger.js'
import { isRetryTopic, MixAll } from '../../common/mix-all.js'
import { requestCodeName } from '../../common/request-code.js'
import { printable } from '../../common/topic-validator.js'
import { loadPlainAclConfig, type PlainAccessAccount, type PlainAclConfig } from './plain-acl-config.js'
import type { PlainAccessResource } from './plain-access-resource.js'

/** Allowed, or refused with a reason that names the access key (never the secret). */
export type AclDecision = { allowed: true } | { allowed: false; reason: string }

export interface PlainPermissionManagerOptions {
  /** The plain ACL file (4.9.8: `$ROCKETMQ_HOME/conf/plain_acl.yml`, or `-Drocketmq.acl.plain.file`). */
  file: string
  logger?: Logger
}

/** How often the watcher looks at the file (`AclFileWatchService.WATCH_INTERVAL`). */
export const ACL_WATCH_INTERVAL_MS_DEFAULT = 5000
/** Names taken from requests are cut to this length in reasons and logs. */
const NAME_CHARS_MAX = 255

const ALLOWED: AclDecision = { allowed: true }

export class PlainPermissionManager {
  readonly file: string
  private current: PlainAclConfig
  private readonly log: Logger
  private watching = false

  /** Loads the file; throws `ConfigError` when it is missing or invalid. */
  constructor(options: PlainPermissionManagerOptions) {
    this.file = options.file
    this.log = (options.logger ?? noopLogger).child({ component: 'acl' })
    this.current = loadPlainAclConfig(this.file, this.log)
    this.log.info({ file: this.file, accounts: this.current.accounts.size }, 'ACL file loaded')
  }

  /** The config in force. */
  get config(): PlainAclConfig {
    return this.current
  }

  /** Reads the file again; on failure keeps the previous config, logs, and returns `false`. */
  reload(): boolean {
    try {
      this.current = loadPlainAclConfig(this.file, this.log)
    } catch (err) {
      // The previous config was valid and stays in force, so the broker keeps deciding requests as before.
      this.log.error({ file: this.file, err }, 'ACL file reload failed; keeping the previous config')
      return false
    }
    this.log.info({ file: this.file, accounts: this.current.accounts.size }, 'ACL file reloaded')
    return true
  }

  /** Reloads whenever the file changes, checking every `intervalMs`; the timer does not keep the process alive. */
  startWatching(intervalMs = ACL_WATCH_INTERVAL_MS_DEFAULT): void {
    if (this.watching) return
    if (!(intervalMs >= 1)) throw new RangeError(`ACL watch interval must be at least 1 ms, not ${intervalMs}`)
    this.watching = true
    watchFile(this.file, { persistent: false, interval: intervalMs }, this.onFileStat)
  }

  stopWatching(): void {
    if (!this.watching) return
    this.watching = false
    unwatchFile(this.file, this.onFileStat)
  }

  private readonly onFileStat = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return
    if (curr.nlink === 0 && curr.mtimeMs === 0) {
      this.log.warn({ file: this.file }, 'ACL file disappeared; keeping the previous config')
      return
    }
    this.reload()
  }

  /** Decides a parsed request in the order of `PlainPermissionManager#validate` (protocol.md §6.2 step 3). */
  validate(resource: PlainAccessResource): AclDecision {
    const config = this.current
    if (config.globalWhiteRemoteAddresses.some((s) => s.match(resource.peer))) return ALLOWED
    if (resource.accessKey === null) return refuse('the request has no AccessKey')
    const accessKey = printable(resource.accessKey, NAME_CHARS_MAX)
    const account = config.accounts.get(resource.accessKey)
    if (account === undefined) return refuse(`no ACL account for AccessKey ${accessKey}`)
    if (account.remoteAddressStrategy.match(resource.peer)) return ALLOWED
    if (!signatureMatches(resource, account.secretKey)) {
      return refuse(`signature check failed for AccessKey ${accessKey}`)
    }
    // A send to the trace topic skips every further check, admin included (`validate`, message trace).
    if (resource.resourcePerms.get(MixAll.RMQ_SYS_TRACE_TOPIC) === Permission.PUB) return ALLOWED
    return checkPerm(resource, account, accessKey)
  }
}

function refuse(reason: string): AclDecision {
  return { allowed: false, reason }
}

function signatureMatches(resource: PlainAccessResource, secretKey: string): boolean {
  if (resource.content === null) return false
  if (signatureEquals(calSignature(resource.content, secretKey), resource.signature)) return true
  const withKey = resource.contentWithUniqueKey
  return withKey !== null && signatureEquals(calSignature(withKey, secretKey), resource.signature)
}

/** Admin-only codes, then each needed resource against its explicit or default permission (`checkPerm`). */
function checkPerm(needed: PlainAccessResource, owned: PlainAccessAccount, accessKey: string): AclDecision {
  if (ADMIN_CODES.has(needed.requestCode) && !owned.admin) {
    const code = `${needed.requestCode} (${requestCodeName(needed.requestCode)})`
    return refuse(`request code ${code} needs an admin account; AccessKey ${accessKey} is not admin`)
  }
  if (needed.resourcePerms.size === 0) return ALLOWED
  // An admin account without any explicit permission may use every resource.
  if (owned.resourcePerms.size === 0 && owned.admin) return ALLOWED
  for (const [resource, neededPerm] of needed.resourcePerms) {
    const isGroup = isRetryTopic(resource)
    const explicit = owned.resourcePerms.get(resource)
    const ownedPerm = explicit ?? (isGroup ? owned.defaultGroupPerm : owned.defaultTopicPerm)
    if (checkPermission(neededPerm, ownedPerm)) continue
    const name = isGroup
      ? `group ${printable(resource.slice(MixAll.RETRY_GROUP_TOPIC_PREFIX.length), NAME_CHARS_MAX)}`
      : `topic ${printable(resource, NAME_CHARS_MAX)}`
    const source = explicit === undefined ? `default ${isGroup ? 'group' : 'topic'} permission` : 'permission'
    const owns = `its ${source} is ${permName(ownedPerm)}`
    return refuse(`AccessKey ${accessKey} has no ${permName(neededPerm)} permission on ${name} (${owns})`)
  }
  return ALLOWED
}
