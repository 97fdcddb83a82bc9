/** Upper-case hex of every byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'))

/** The hex of a store host (address and port): the first 16 (IPv4) or 40 (IPv6) characters of its message ids. */
export function messageIdPrefix(storeHost: Buffer): string {
  let s = ''
  for (let i = 0; i < storeHost.length; i++) s += HEX[storeHost[i]!]
  return s
}

/** A message id from a store host's `messageIdPrefix` and a commit-log offset: no buffer, one string per byte. */
export function createMessageIdFromPrefix(prefix: string, commitLogOffset: number): string {
  const hi = Math.floor(commitLogOffset / 0x1_0000_0000)
  const lo = commitLogOffset >>> 0
  return (
    prefix +
    HEX[(hi >>> 24) & 0xff] +
    HEX[(hi >>> 16) & 0xff] +
    HEX[(hi >>> 8) & 0xff] +
    HEX[hi & 0xff] +
    HEX[lo >>> 24] +
    HEX[(lo >>> 16) & 0xff] +
    HEX[(lo >>> 8) & 0xff] +
    HEX[lo & 0xff]
  )
}

/**
 * The broker's "offset message id": upper-case hex of store host IP, store port and commit-log offset,
 * 32 characters for IPv4 and 56 for IPv6 (`MessageDecoder#createMessageId`, store.md §1.5).
 */
export function createMessageId(storeHost: Buffer, commitLogOffset: number): string {
  return createMessageIdFromPrefix(messageIdPrefix(storeHost), commitLogOffset)
}

export interface DecodedMessageId {
  /** `ip:port` of the broker that stored the message. */
  address: string
  commitLogOffset: number
}

/** Splits an offset message id into broker address and commit-log offset; `null` if it is not one. */
export function decodeMessageId(msgId: string): DecodedMessageId | null {
  if ((msgId.length !== 32 && msgId.length !== 56) || !/^[0-9A-Fa-f]+$/.test(msgId)) return null
  const b = Buffer.from(msgId, 'hex')
  const ipLen = b.length === 16 ? 4 : 16
  const ip =
    ipLen === 4
      ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
      : `[${Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':')}]`
  const port = b.readInt32BE(ipLen)
  const offset = b.readInt32BE(ipLen + 4) * 0x1_0000_0000 + b.readUInt32BE(ipLen + 8)
  return { address: `${ip}:${port}`, commitLogOffset: offset }
}
