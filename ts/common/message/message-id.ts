/**
 * The broker's "offset message id": upper-case hex of store host IP, store port and commit-log offset,
 * 32 characters for IPv4 and 56 for IPv6 (`MessageDecoder#createMessageId`, store.md §1.5).
 */
export function createMessageId(storeHost: Buffer, commitLogOffset: number): string {
  const id = Buffer.allocUnsafe(storeHost.length + 8)
  storeHost.copy(id, 0)
  const hi = Math.floor(commitLogOffset / 0x1_0000_0000)
  id.writeInt32BE(hi | 0, storeHost.length)
  id.writeUInt32BE(commitLogOffset - hi * 0x1_0000_0000, storeHost.length + 4)
  return id.toString('hex').toUpperCase()
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
