/**
 * Client unique message ids (`MessageClientIDSetter`, client.md §2.3): 16 bytes for IPv4 (28 for IPv6) as
 * upper-case hex, of which all but the last 6 are fixed per process.
 *
 *   | ip 4 or 16 | pid low 16 bits | salt 4 random bytes | ms since the start of this month (local) i32 | counter u16 |
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import os from 'node:os'

/** The first non-loopback, non-internal IPv4 address, else the first such IPv6 one, else `null`. */
export function localAddress(): string | null {
  let v6: string | null = null
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue
      if (a.family === 'IPv4') return a.address
      if (v6 === null && !a.address.startsWith('fe80')) v6 = a.address
    }
  }
  return v6
}

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map((p) => Number(p)))
  if (!net.isIPv6(ip)) throw new TypeError(`not an IP address: ${ip}`)
  let s = ip.split('%')[0]!
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (v4) {
    const b = ipBytes(v4[1]!)
    s = s.slice(0, -v4[1]!.length) + b.readUInt16BE(0).toString(16) + ':' + b.readUInt16BE(2).toString(16)
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(Number.parseInt(g, 16), i * 2))
  return out
}

/** The start of the current calendar month in local time, as epoch milliseconds. */
export function startOfMonth(now: number): number {
  const d = new Date(now)
  return new Date(d.getFullYear(), d.getMonth(), 1, 0, 0, 0, 0).getTime()
}

/** `00`…`FF` by byte value. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, '0'))

/** An int32 as 8 upper-case hex digits of its two's complement, as `writeInt32BE` then hex would give. */
function hex32(v: number): string {
  const u = v >>> 0
  return HEX_BYTE[u >>> 24]! + HEX_BYTE[(u >>> 16) & 0xff]! + HEX_BYTE[(u >>> 8) & 0xff]! + HEX_BYTE[u & 0xff]!
}

export class MessageClientIdGenerator {
  private readonly prefix: string
  private counter = 0
  private monthStart = 0
  private nextMonthStart = 0
  private readonly now: () => number

  /** `ip` defaults to the local address; with none, 4 random bytes stand in (Java's fake IP). */
  constructor(options: { ip?: Buffer; pid?: number; salt?: Buffer; now?: () => number } = {}) {
    const local = localAddress()
    const ip = options.ip ?? (local === null ? randomBytes(4) : ipBytes(local))
    const fixed = Buffer.alloc(ip.length + 6)
    ip.copy(fixed, 0)
    fixed.writeUInt16BE((options.pid ?? process.pid) & 0xffff, ip.length)
    ;(options.salt ?? randomBytes(4)).copy(fixed, ip.length + 2, 0, 4)
    this.prefix = fixed.toString('hex').toUpperCase()
    this.now = options.now ?? Date.now
  }

  /** A new id. */
  next(): string {
    const now = this.now()
    if (now >= this.nextMonthStart || now < this.monthStart) {
      this.monthStart = startOfMonth(now)
      const d = new Date(this.monthStart)
      this.nextMonthStart = new Date(d.getFullYear(), d.getMonth() + 1, 1).getTime()
    }
    this.counter = (this.counter + 1) & 0xffff
    // Upper-case hex of the int32 time and the uint16 counter, without a Buffer per id (one per message sent).
    return (
      this.prefix + hex32((now - this.monthStart) | 0) + HEX_BYTE[this.counter >>> 8]! + HEX_BYTE[this.counter & 0xff]!
    )
  }
}

let processGenerator: MessageClientIdGenerator | undefined

/** A new id from the process-wide generator (fixed prefix per process, one counter). */
export function createUniqId(): string {
  processGenerator ??= new MessageClientIdGenerator()
  return processGenerator.next()
}
