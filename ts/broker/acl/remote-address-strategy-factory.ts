/**
 * White-list address patterns of plain ACL (`RemoteAddressStrategyFactory` in RocketMQ 4.9.8), for the global
 * white list and each account's `whiteRemoteAddress`:
 *
 * - blank: matches nothing; `*`, `*.*.*.*` or `*:*:*:*:*:*:*:*`: matches everything;
 * - one address: `192.168.1.1`, `::1`, `1050:0:0:0:5:600:300c:326b`;
 * - a list: `192.168.1.1,192.168.1.2`, or the last group in braces: `192.168.1.{1,2,3}`, `1050::5:600:300c:{1,2}`;
 * - a wildcard or range in one group, anything after it: `192.168.1.*`, `192.168.*.*`, `192.168.1.1-100`,
 *   `192.168.1-10.*`, and for IPv6 in the last group or the one before a final `*`: `1050::300c:*`,
 *   `1050::300c:1-200`, `1050::300c:1-20:*`.
 *
 * A pattern is a set of addresses, so matching compares numbers rather than the strings 4.9.8 compares. Forms
 * 4.9.8 mis-reads (a range in the first IPv4 group, a fixed group after a wildcard, leading zeros in an IPv4
 * group) are refused at load instead of matching something unexpected.
 */

/** A peer or pattern address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpAddress {
  family: 4 | 6
  value: bigint
}

export interface RemoteAddressStrategy {
  /** The pattern as written, for logs. */
  readonly pattern: string
  /** True when the peer is in the pattern; `null` (an unparsable peer address) only matches `*`. */
  match(peer: IpAddress | null): boolean
}

/** A pattern that cannot be understood; the config loader adds where it was. */
export class AddressPatternError extends Error {}

const IPV4_GROUP = /^(0|[1-9][0-9]{0,2})$/
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/
const MATCH_ALL = new Set(['*', '*.*.*.*', '*:*:*:*:*:*:*:*'])
/** IPv6 address text is at most 45 characters, plus a zone id. */
const ADDRESS_CHARS_MAX = 64

/** The strategy for `pattern`; throws `AddressPatternError` saying what is wrong with it. */
export function createRemoteAddressStrategy(pattern: string | null): RemoteAddressStrategy {
  const text = (pattern ?? '').trim()
  if (text.length === 0) return { pattern: text, match: () => false }
  if (MATCH_ALL.has(text)) return { pattern: text, match: () => true }
  if (text.endsWith('}')) return setStrategy(text, braceAddresses(text))
  if (text.includes(',')) return setStrategy(text, listAddresses(text))
  if (text.includes('*') || text.includes('-')) return rangeStrategy(text)
  const one = parseIpAddress(text)
  if (one === null) throw new AddressPatternError(`"${text}" is not an IPv4 or IPv6 address`)
  return setStrategy(text, [one])
}

/** The peer host of a remote address as the channel prints it (`ip:port`, `[v6]:port`), or `null`. */
export function parsePeerAddress(remoteAddress: string): IpAddress | null {
  return parseIpAddress(peerHost(remoteAddress))
}

/** The host part of `ip:port` / `[v6]:port`; the text itself when it has no port. */
export function peerHost(remoteAddress: string): string {
  if (remoteAddress.startsWith('[')) {
    const end = remoteAddress.indexOf(']')
    return end < 0 ? remoteAddress : remoteAddress.slice(1, end)
  }
  const colons = remoteAddress.split(':').length - 1
  // One colon separates host and port; more mean a bare IPv6 address.
  return colons === 1 ? remoteAddress.slice(0, remoteAddress.indexOf(':')) : remoteAddress
}

/** An IPv4 or IPv6 address (zone id ignored; IPv4-mapped IPv6 as IPv4), or `null`. */
export function parseIpAddress(text: string): IpAddress | null {
  if (text.length === 0 || text.length > ADDRESS_CHARS_MAX) return null
  if (!text.includes(':')) {
    const v4 = parseIPv4Groups(text)
    return v4 === null ? null : { family: 4, value: toBigInt(v4, 8) }
  }
  const zone = text.indexOf('%')
  const groups = parseIPv6Groups(zone < 0 ? text : text.slice(0, zone), 8)
  if (groups === null) return null
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return { family: 4, value: (BigInt(groups[6]!) << 16n) | BigInt(groups[7]!) }
  }
  return { family: 6, value: toBigInt(groups, 16) }
}

function setStrategy(pattern: string, addresses: IpAddress[]): RemoteAddressStrategy {
  const keys = new Set(addresses.map(addressKey))
  return { pattern, match: (peer) => peer !== null && keys.has(addressKey(peer)) }
}

function addressKey(a: IpAddress): string {
  return `${a.family}/${a.value}`
}

/** `a,b,c`: every item a whole address; empty items are skipped as 4.9.8's split skips them. */
function listAddresses(text: string): IpAddress[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  return items.map((item) => {
    const a = parseIpAddress(item)
    if (a === null) throw new AddressPatternError(`"${item}" in "${text}" is not an IPv4 or IPv6 address`)
    return a
  })
}

/** `prefix{x,y}`: the braces replace the last group, so the prefix ends with `.` or `:`. */
function braceAddresses(text: string): IpAddress[] {
  const open = text.lastIndexOf('{')
  const prefix = open < 0 ? '' : text.slice(0, open)
  if (!prefix.endsWith('.') && !prefix.endsWith(':')) {
    throw new AddressPatternError(`"${text}": braces must hold the last group, as in 192.168.1.{1,2,3}`)
  }
  const items = text
    .slice(open + 1, -1)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  if (items.length === 0) throw new AddressPatternError(`"${text}": the braces are empty`)
  return items.map((item) => {
    const a = /^[0-9a-fA-F]+$/.test(item) ? parseIpAddress(prefix + item) : null
    if (a === null) throw new AddressPatternError(`"${prefix}${item}" (from "${text}") is not an IPv4 or IPv6 address`)
    return a
  })
}

function rangeStrategy(text: string): RemoteAddressStrategy {
  const [family, lo, hi] = text.includes(':') ? ipv6Range(text) : ipv4Range(text)
  return {
    pattern: text,
    match: (peer) => peer !== null && peer.family === family && peer.value >= lo && peer.value <= hi,
  }
}

/** `a.b.*.*`, `a.b.c.x-y`, `a.b.x-y.*`: fixed groups, one wildcard or range, then only wildcards. */
function ipv4Range(text: string): [4, bigint, bigint] {
  const parts = text.split('.').map((s) => s.trim())
  if (parts.length !== 4) throw new AddressPatternError(`"${text}" does not have four IPv4 groups`)
  const at = parts.findIndex((p) => p === '*' || p.includes('-'))
  if (at < 0) throw new AddressPatternError(`"${text}": a wildcard must be a whole group, as in 192.168.1.*`)
  if (at === 0) throw new AddressPatternError(`"${text}": the first IPv4 group cannot be a wildcard or range`)
  const fixed = parts.slice(0, at).map((p) => parseIPv4Group(p, text))
  const [start, end] = parts[at] === '*' ? [0, 255] : parseRange(parts[at]!, text, (s) => parseIPv4Group(s, text))
  if (parts.slice(at + 1).some((p) => p !== '*')) {
    throw new AddressPatternError(`"${text}": only * may follow a wildcard or range`)
  }
  const free = 3 - at
  return [
    4,
    toBigInt([...fixed, start, ...Array<number>(free).fill(0)], 8),
    toBigInt([...fixed, end, ...Array<number>(free).fill(255)], 8),
  ]
}

/**
 * `P:*`, `P:x-y` (P has seven groups) or `P:x-y:*` (P has six). `::` in P fills it to that width; without `::`
 * P may be shorter, and is then a prefix, as 4.9.8 reads `1050:5:600:300c:3261:*`.
 */
function ipv6Range(text: string): [6, bigint, bigint] {
  const m = /^([^*-]*):(\*|([0-9a-fA-F]{1,4})-([0-9a-fA-F]{1,4}))(:\*)?$/.exec(text)
  if (m === null || (m[2] === '*' && m[5] !== undefined)) {
    throw new AddressPatternError(
      `"${text}": an IPv6 wildcard or range must be in the last group (or before a final :*)`,
    )
  }
  const width = m[5] === undefined ? 7 : 6
  // `fe80::*` splits as `fe80:` + `*`: give the prefix back its `::`.
  const prefixText = m[1]!.endsWith(':') ? `${m[1]}:` : m[1]!
  const prefix = parseIPv6Prefix(prefixText, width)
  if (prefix === null) {
    throw new AddressPatternError(`"${text}": "${prefixText}" is not a valid IPv6 prefix of up to ${width} groups`)
  }
  const parseGroup = (s: string): number => parseInt(s, 16)
  const [start, end] = m[2] === '*' ? [0, 0xffff] : parseRange(m[2]!, text, parseGroup)
  const free = 7 - prefix.length
  return [
    6,
    toBigInt([...prefix, start, ...Array<number>(free).fill(0)], 16),
    toBigInt([...prefix, end, ...Array<number>(free).fill(0xffff)], 16),
  ]
}

function parseRange(part: string, text: string, parseGroup: (s: string) => number): [number, number] {
  const bounds = part.split('-').map((s) => s.trim())
  if (bounds.length !== 2 || bounds[0] === '' || bounds[1] === '') {
    throw new AddressPatternError(`"${text}": "${part}" is not a range like 1-100`)
  }
  const start = parseGroup(bounds[0]!)
  const end = parseGroup(bounds[1]!)
  if (start > end) throw new AddressPatternError(`"${text}": the range ${part} starts after it ends`)
  return [start, end]
}

function parseIPv4Group(s: string, text: string): number {
  const n = IPV4_GROUP.test(s) ? Number(s) : NaN
  if (!(n <= 255)) throw new AddressPatternError(`"${text}": "${s}" is not an IPv4 group (0-255, no leading zeros)`)
  return n
}

function parseIPv4Groups(text: string): number[] | null {
  const parts = text.split('.')
  if (parts.length !== 4 || !parts.every((p) => IPV4_GROUP.test(p) && Number(p) <= 255)) return null
  return parts.map(Number)
}

/** Eight (or `width`) 16-bit groups; `::` stands for at least one zero group; a dotted IPv4 tail counts as two. */
function parseIPv6Groups(text: string, width: number): number[] | null {
  let head = text
  let tail: number[] = []
  if (text.includes('.')) {
    const cut = text.lastIndexOf(':')
    const v4 = parseIPv4Groups(text.slice(cut + 1))
    if (v4 === null) return null
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!]
    head = text.slice(0, cut + 1)
    if (!head.endsWith('::')) head = head.slice(0, -1)
  }
  const groups = expandGroups(head, width - tail.length, false)
  return groups === null ? null : [...groups, ...tail]
}

/** A prefix of at most `width` groups; with `::` exactly `width`. */
function parseIPv6Prefix(text: string, width: number): number[] | null {
  return expandGroups(text, width, true)
}

function expandGroups(text: string, width: number, prefixAllowed: boolean): number[] | null {
  const gap = text.indexOf('::')
  if (gap < 0) {
    const groups = splitGroups(text)
    if (groups === null) return null
    return groups.length === width || (prefixAllowed && groups.length >= 1 && groups.length <= width) ? groups : null
  }
  if (text.indexOf('::', gap + 1) >= 0) return null
  const left = gap === 0 ? [] : splitGroups(text.slice(0, gap))
  const right = gap + 2 === text.length ? [] : splitGroups(text.slice(gap + 2))
  if (left === null || right === null) return null
  const zeros = width - left.length - right.length
  return zeros < 1 ? null : [...left, ...Array<number>(zeros).fill(0), ...right]
}

function splitGroups(text: string): number[] | null {
  const parts = text.split(':')
  return parts.every((p) => IPV6_GROUP.test(p)) ? parts.map((p) => parseInt(p, 16)) : null
}

function toBigInt(groups: number[], bitsPerGroup: number): bigint {
  let v = 0n
  for (const g of groups) v = (v << BigInt(bitsPerGroup)) | BigInt(g)
  return v
}
