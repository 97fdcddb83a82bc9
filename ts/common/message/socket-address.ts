import { isIPv4, isIPv6 } from 'node:net'

/**
 * A host as a stored message carries it (BORNHOST, STOREHOST): IPv4 (4 bytes) or IPv6 (16 bytes) address,
 * then the port as a big-endian int. 8 or 20 bytes.
 */
export function encodeHost(address: string, port: number): Buffer {
  const ip = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address
  if (isIPv4(ip)) {
    const b = Buffer.alloc(8)
    const parts = ip.split('.')
    for (let i = 0; i < 4; i++) b[i] = Number(parts[i])
    b.writeInt32BE(port, 4)
    return b
  }
  if (isIPv6(ip)) {
    const b = Buffer.alloc(20)
    ipv6Bytes(ip).copy(b, 0)
    b.writeInt32BE(port, 16)
    return b
  }
  throw new TypeError(`not an IP address: ${address}`)
}

function ipv6Bytes(ip: string): Buffer {
  const out = Buffer.alloc(16)
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined]
  const headParts = head ? head.split(':') : []
  const tailParts = tail ? tail.split(':') : []
  const words: number[] = []
  const push = (part: string): void => {
    if (part.includes('.')) {
      const v4 = part.split('.').map(Number)
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!)
    } else {
      words.push(parseInt(part, 16))
    }
  }
  headParts.forEach(push)
  const headWords = words.length
  const tailWords: number[] = []
  for (const part of tailParts) {
    const before = words.length
    push(part)
    tailWords.push(...words.splice(before))
  }
  const zeros = 8 - headWords - tailWords.length
  for (let i = 0; i < zeros; i++) words.push(0)
  words.push(...tailWords)
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2))
  return out
}

/** Reads a host field back as `ip:port` (IPv6 in brackets). */
export function decodeHost(buf: Buffer, pos: number, v6: boolean): string {
  if (!v6) {
    return `${buf[pos]}.${buf[pos + 1]}.${buf[pos + 2]}.${buf[pos + 3]}:${buf.readInt32BE(pos + 4)}`
  }
  const words: string[] = []
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(pos + i * 2).toString(16))
  return `[${words.join(':')}]:${buf.readInt32BE(pos + 16)}`
}
