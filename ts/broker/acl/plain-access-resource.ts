/**
 * What a request asks of plain ACL: who signs it, what it signed, and which topics and groups it needs which
 * permission on (`PlainAccessValidator#parse` in RocketMQ 4.9.8, protocol.md §6.2 step 1). Groups are named by
 * their retry topic (`%RETRY%group`), as the account's permissions are.
 */
import { combineRequestContent } from '../../common/acl/acl-utils.js'
import { Permission } from '../../common/acl/permission.js'
import { ACCESS_KEY, SECURITY_TOKEN, SIGNATURE, UNIQUE_MSG_QUERY_FLAG } from '../../common/acl/session-credentials.js'
import { parseJsonObject } from '../../common/fastjson.js'
import { getRetryTopic, isRetryTopic } from '../../common/mix-all.js'
import { RequestCode } from '../../common/request-code.js'
import type { RemotingCommand } from '../../remoting/remoting-command.js'
import { parsePeerAddress, type IpAddress } from './remote-address-strategy-factory.js'

export interface PlainAccessResource {
  /** The peer's IP address, `null` when the remote address is not one. */
  peer: IpAddress | null
  requestCode: number
  accessKey: string | null
  signature: string | null
  securityToken: string | null
  /** Needed permission per resource, topics by name and groups by retry topic, in the order they were found. */
  resourcePerms: Map<string, number>
  /** The content the broker verifies: every ext field but `Signature` and `_UNIQUE_KEY_QUERY`, then the body. */
  content: Buffer | null
  /**
   * The same content with `_UNIQUE_KEY_QUERY` kept, when the request has it. Java clients sign that field while the
   * 4.9.8 broker drops it (upstream #5310), so either signature is accepted (protocol.md §6.2).
   */
  contentWithUniqueKey: Buffer | null
}

export type ParseOutcome = { ok: true; resource: PlainAccessResource } | { ok: false; reason: string }

const VERIFIED_CONTENT_EXCLUDES: ReadonlySet<string> = new Set([UNIQUE_MSG_QUERY_FLAG])

/**
 * Reads `request` from `remoteAddress` (`ip:port`). Fails only when a body the check depends on cannot be read
 * (a HEART_BEAT that is not JSON), which refuses the request even from a white-listed address, as in 4.9.8.
 */
export function parsePlainAccessResource(request: RemotingCommand, remoteAddress: string): ParseOutcome {
  const resource: PlainAccessResource = {
    peer: parsePeerAddress(remoteAddress),
    requestCode: request.code,
    accessKey: null,
    signature: null,
    securityToken: null,
    resourcePerms: new Map(),
    content: null,
    contentWithUniqueKey: null,
  }
  const ext = request.extFields
  // Without ext fields only the global white list can let the request through (`validate` finds no access key).
  if (ext === null) return { ok: true, resource }
  resource.accessKey = ext[ACCESS_KEY] ?? null
  resource.signature = ext[SIGNATURE] ?? null
  resource.securityToken = ext[SECURITY_TOKEN] ?? null
  const failure = addNeededPerms(request, ext, resource.resourcePerms)
  if (failure !== null) return { ok: false, reason: failure }
  resource.content = combineRequestContent(ext, request.body, { exclude: VERIFIED_CONTENT_EXCLUDES })
  if (ext[UNIQUE_MSG_QUERY_FLAG] !== undefined) resource.contentWithUniqueKey = combineRequestContent(ext, request.body)
  return { ok: true, resource }
}

/** Fills `perms` for the request code; returns why it could not, or `null`. */
function addNeededPerms(
  request: RemotingCommand,
  ext: Readonly<Record<string, string>>,
  perms: Map<string, number>,
): string | null {
  switch (request.code) {
    case RequestCode.SEND_MESSAGE:
      // 4.9.8 reads the group of a V1 send to a retry topic from `group`, a field the V1 header does not have, so
      // such a send needs no permission there; kept as is.
      addSendPerms(perms, ext.topic, ext.group)
      return null
    case RequestCode.SEND_MESSAGE_V2:
    case RequestCode.SEND_BATCH_MESSAGE:
      // 4.9.8 checks nothing for a batch; 5.x checks it like V2 (its header is V2), closing a way round topic PUB.
      addSendPerms(perms, ext.b, ext.a)
      return null
    case RequestCode.CONSUMER_SEND_MSG_BACK:
      addPerm(perms, retryTopicOf(ext.group), Permission.SUB)
      return null
    case RequestCode.PULL_MESSAGE:
      addPerm(perms, ext.topic, Permission.SUB)
      addPerm(perms, retryTopicOf(ext.consumerGroup), Permission.SUB)
      return null
    case RequestCode.QUERY_MESSAGE:
      addPerm(perms, ext.topic, Permission.SUB)
      return null
    case RequestCode.HEART_BEAT:
      return addHeartbeatPerms(perms, request.body)
    case RequestCode.UNREGISTER_CLIENT:
    case RequestCode.GET_CONSUMER_LIST_BY_GROUP:
      addPerm(perms, retryTopicOf(ext.consumerGroup), Permission.SUB)
      return null
    case RequestCode.UPDATE_CONSUMER_OFFSET:
      addPerm(perms, retryTopicOf(ext.consumerGroup), Permission.SUB)
      addPerm(perms, ext.topic, Permission.SUB)
      return null
    default:
      return null
  }
}

/** An absent resource (the request lacks the field) needs nothing, as in `addResourceAndPerm`. */
function addPerm(perms: Map<string, number>, resource: string | null | undefined, perm: number): void {
  if (resource !== undefined && resource !== null) perms.set(resource, perm)
}

function retryTopicOf(group: string | null | undefined): string | undefined {
  return group === undefined || group === null ? undefined : getRetryTopic(group)
}

/** A send needs PUB on its topic, or, when the topic is a retry topic, SUB on the sending group's retry topic. */
function addSendPerms(perms: Map<string, number>, topic: string | undefined, group: string | undefined): void {
  if (topic !== undefined && isRetryTopic(topic)) addPerm(perms, retryTopicOf(group), Permission.SUB)
  else addPerm(perms, topic, Permission.PUB)
}

/** SUB on each consumer group's retry topic and on each topic it subscribes to (`HeartbeatData`, §2.9.5). */
function addHeartbeatPerms(perms: Map<string, number>, body: Buffer | null): string | null {
  let heartbeat: Record<string, unknown>
  try {
    heartbeat = parseJsonObject(body, 'HEART_BEAT')
  } catch (err) {
    // A ProtocolError naming what is wrong with the body: it becomes the refusal reason.
    return (err as Error).message
  }
  const consumers = heartbeat.consumerDataSet
  if (consumers === undefined || consumers === null) return null
  if (!Array.isArray(consumers)) return 'HEART_BEAT: consumerDataSet is not a list'
  for (const consumer of consumers as unknown[]) {
    if (typeof consumer !== 'object' || consumer === null) return 'HEART_BEAT: a consumerDataSet item is not an object'
    const { groupName, subscriptionDataSet } = consumer as Record<string, unknown>
    if (groupName !== undefined && groupName !== null && typeof groupName !== 'string') {
      return 'HEART_BEAT: groupName is not a string'
    }
    addPerm(perms, retryTopicOf(groupName), Permission.SUB)
    if (subscriptionDataSet === undefined || subscriptionDataSet === null) continue
    if (!Array.isArray(subscriptionDataSet)) return 'HEART_BEAT: subscriptionDataSet is not a list'
    for (const subscription of subscriptionDataSet as unknown[]) {
      if (typeof subscription !== 'object' || subscription === null) {
        return 'HEART_BEAT: a subscriptionDataSet item is not an object'
      }
      const topic = (subscription as Record<string, unknown>).topic
      if (topic !== undefined && topic !== null && typeof topic !== 'string') {
        return 'HEART_BEAT: a subscription topic is not a string'
      }
      addPerm(perms, topic, Permission.SUB)
    }
  }
  return null
}
