/**
 * Permission bits of plain ACL and the requests only an admin account may make (`acl/common/Permission.java`,
 * `AclConstants.java` in RocketMQ 4.9.8).
 */
import { RequestCode } from '../request-code.js'

/** The bits: a resource's owned permission is one of DENY, PUB, SUB or PUB|SUB; ANY is only ever needed. */
export const Permission = {
  DENY: 1,
  ANY: 1 << 1,
  PUB: 1 << 2,
  SUB: 1 << 3,
} as const

/** Request codes that need an admin account (`Permission.ADMIN_CODE`). */
export const ADMIN_CODES: ReadonlySet<number> = new Set([
  RequestCode.UPDATE_AND_CREATE_TOPIC,
  RequestCode.UPDATE_BROKER_CONFIG,
  RequestCode.DELETE_TOPIC_IN_BROKER,
  RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
  RequestCode.DELETE_SUBSCRIPTIONGROUP,
])

/**
 * True when `ownedPerm` grants `neededPerm` (`Permission.checkPermission`): DENY wins over everything, ANY is
 * satisfied by PUB or SUB, and otherwise one shared bit is enough.
 */
export function checkPermission(neededPerm: number, ownedPerm: number): boolean {
  if ((ownedPerm & Permission.DENY) !== 0) return false
  if ((neededPerm & Permission.ANY) !== 0) {
    return (ownedPerm & Permission.PUB) !== 0 || (ownedPerm & Permission.SUB) !== 0
  }
  return (neededPerm & ownedPerm) !== 0
}

/** The spellings a plain ACL file may use for a permission, and their bits (`AclConstants`). */
const PERM_SPELLINGS = new Map<string, number>([
  ['DENY', Permission.DENY],
  ['PUB', Permission.PUB],
  ['SUB', Permission.SUB],
  ['PUB|SUB', Permission.PUB | Permission.SUB],
  ['SUB|PUB', Permission.PUB | Permission.SUB],
])

/** The accepted spellings, for error messages. */
export const PERM_SPELLINGS_TEXT = 'DENY, PUB, SUB, PUB|SUB or SUB|PUB'

/**
 * The bits of a permission as written in a plain ACL file (surrounding blanks ignored), or `null` for any other
 * text. RocketMQ 4.9.8 reads such text as DENY without a word (`Permission.parsePermFromString`); we let the
 * caller refuse it instead, so a typo cannot silently lock an account out.
 */
export function parsePerm(text: string): number | null {
  return PERM_SPELLINGS.get(text.trim()) ?? null
}

/** A permission as a file would spell it: `PUB|SUB`, `DENY`, … */
export function permName(perm: number): string {
  const names: string[] = []
  if ((perm & Permission.DENY) !== 0) names.push('DENY')
  if ((perm & Permission.ANY) !== 0) names.push('ANY')
  if ((perm & Permission.PUB) !== 0) names.push('PUB')
  if ((perm & Permission.SUB) !== 0) names.push('SUB')
  return names.length === 0 ? String(perm) : names.join('|')
}
