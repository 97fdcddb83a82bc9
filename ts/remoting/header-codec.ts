/**
 * Header serialization: JSON (type 0, protocol.md §1.7) and ROCKETMQ binary (type 1, §1.8).
 *
 * The JSON encoder writes what fastjson writes for a Java peer (members in alphabetical order, null members
 * omitted, every ext value a string), so our frames are byte-identical to a Java broker's. The decoders accept
 * what real clients send: ext values as numbers or booleans (ali-ons), members in any order, unknown members,
 * missing `flag`, unknown languages. Anything else malformed is a `ProtocolError`, which closes the connection.
 */
import { ProtocolError } from '../common/errors.js'
import { EXT_FIELDS_MAX } from '../common/limits.js'
import { languageCodeOf, languageNameOf, normalizeLanguage } from './language-code.js'
import { RemotingCommand, SerializeType, type ExtFields } from './remoting-command.js'

/** Fixed part of a ROCKETMQ header: code 2, language 1, version 2, opaque 4, flag 4, remark length 4, ext length 4. */
export const ROCKETMQ_HEADER_FIXED_BYTES = 21

/** Node's Buffer method behind `toString('utf8', start, end)`, without the argument normalisation (per field). */
type Utf8Sliceable = Buffer & { utf8Slice(start: number, end: number): string }

function utf8(bytes: Buffer, start: number, end: number): string {
  return (bytes as Utf8Sliceable).utf8Slice(start, end)
}

function malformed(what: string): ProtocolError {
  return new ProtocolError('RMQ_ERR_MALFORMED_HEADER', `malformed header: ${what}`)
}

function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

/**
 * A JSON string literal. Most header keys and values are printable ASCII without quotes or backslashes and need
 * no escaping; checking that is cheaper than `JSON.stringify`, which the rest (control characters such as the
 * property separators, non-ASCII) still go through.
 */
function quote(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return quoteSlow(v)
  }
  return `"${v}"`
}

/** Whether the header `encodeJsonHeader` made last is pure ASCII (see `lastJsonHeaderWasAscii`). */
let headerAscii = true

function quoteSlow(v: string): string {
  const quoted = JSON.stringify(v)
  // JSON.stringify escapes control characters to ASCII but leaves everything above 0x7E as it is.
  for (let i = 0; i < quoted.length && headerAscii; i++) if (quoted.charCodeAt(i) > 0x7f) headerAscii = false
  return quoted
}

/**
 * True when the string the last `encodeJsonHeader` call returned has no character above 0x7F, so that its UTF-8
 * byte length is its length and it may be written as Latin-1.
 */
export function lastJsonHeaderWasAscii(): boolean {
  return headerAscii
}

export function encodeJsonHeader(cmd: RemotingCommand): string {
  headerAscii = true
  let s = `{"code":${cmd.code}`
  const ext = cmd.extFields
  if (ext !== null) {
    s += ',"extFields":{'
    let first = true
    for (const key in ext) {
      const value = ext[key]
      if (value === undefined || value === null) continue
      s += `${first ? '' : ','}${quote(key)}:${quote(String(value))}`
      first = false
    }
    s += '}'
  }
  s += `,"flag":${cmd.flag},"language":"${cmd.language}","opaque":${cmd.opaque}`
  if (cmd.remark !== null) s += `,"remark":${quote(cmd.remark)}`
  s += `,"serializeTypeCurrentRPC":"JSON","version":${cmd.version}}`
  return s
}

export function decodeJsonHeader(bytes: Buffer, start: number, end: number): RemotingCommand {
  let parsed: unknown
  try {
    parsed = JSON.parse(utf8(bytes, start, end))
  } catch (err) {
    throw new ProtocolError('RMQ_ERR_MALFORMED_HEADER', `malformed header: not JSON (${(err as Error).message})`, {
      cause: err,
    })
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw malformed('not a JSON object')
  const h = parsed as Record<string, unknown>
  if (!isInt32(h.code)) throw malformed('code is not an integer')
  const cmd = new RemotingCommand(h.code | 0)
  if (!isInt32(h.opaque)) throw malformed('opaque is not an integer')
  cmd.opaque = h.opaque | 0
  if (h.flag !== undefined && h.flag !== null) {
    if (!isInt32(h.flag)) throw malformed('flag is not an integer')
    cmd.flag = h.flag | 0
  }
  if (h.version !== undefined && h.version !== null) {
    if (!isInt32(h.version)) throw malformed('version is not an integer')
    cmd.version = h.version | 0
  } else {
    cmd.version = 0
  }
  // An absent language keeps Java's field default (`RemotingCommand#language = JAVA`); an unknown one is OTHER.
  cmd.language = h.language === undefined || h.language === null ? 'JAVA' : normalizeLanguage(h.language)
  if (h.remark !== undefined && h.remark !== null) {
    if (typeof h.remark !== 'string') throw malformed('remark is not a string')
    cmd.remark = h.remark
  }
  const ext = h.extFields
  if (ext !== undefined && ext !== null) {
    if (typeof ext !== 'object' || Array.isArray(ext)) throw malformed('extFields is not an object')
    cmd.extFields = normalizeExtFields(ext as Record<string, unknown>)
  }
  cmd.serializeType = SerializeType.JSON
  return cmd
}

/**
 * Ext values become strings as `String(v)` writes them (ali-ons sends numbers and booleans); nulls are dropped.
 * The map never has a prototype, as the binary decoder's: keys come from the peer, so `ext('constructor')` must
 * be `undefined` and a `__proto__` key an ordinary field.
 */
function normalizeExtFields(ext: Record<string, unknown>): ExtFields {
  let count = 0
  let clean = true
  for (const key in ext) {
    if (++count > EXT_FIELDS_MAX) throw malformed(`more than ${EXT_FIELDS_MAX} ext fields`)
    const v = ext[key]
    if (typeof v !== 'string') {
      clean = false
      if (v !== null && typeof v === 'object') throw malformed(`ext field ${JSON.stringify(key)} is not a scalar`)
    }
  }
  // JSON.parse made every key an own data property (`__proto__` included), so dropping the prototype keeps them all.
  if (clean) return Object.setPrototypeOf(ext, null) as ExtFields
  const out: ExtFields = Object.create(null) as ExtFields
  for (const key in ext) {
    const v = ext[key]
    if (v === null || v === undefined) continue
    out[key] = String(v)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// ROCKETMQ binary

export function encodeRocketMQHeader(cmd: RemotingCommand): Buffer {
  const { total, remarkBytes, extBytes } = rocketMQHeaderBytes(cmd)
  const out = Buffer.allocUnsafe(total)
  writeRocketMQHeader(cmd, out, 0, remarkBytes, extBytes)
  return out
}

/** An ext key's length is an int16 that Java reads signed (`RocketMQSerializable#readStr`). */
const EXT_KEY_BYTES_MAX = 0x7fff

/** Byte length of the ROCKETMQ header of `cmd`. Throws `ProtocolError` for a key too long for its length field. */
export function rocketMQHeaderBytes(cmd: RemotingCommand): { total: number; remarkBytes: number; extBytes: number } {
  const remarkBytes = cmd.remark === null ? 0 : Buffer.byteLength(cmd.remark)
  let extBytes = 0
  const ext = cmd.extFields
  if (ext !== null) {
    for (const key in ext) {
      const value = ext[key]
      if (value === undefined || value === null) continue
      const keyBytes = Buffer.byteLength(key)
      if (keyBytes > EXT_KEY_BYTES_MAX) {
        throw new ProtocolError(
          'RMQ_ERR_HEADER_TOO_LARGE',
          `ext key of ${keyBytes} bytes exceeds the ${EXT_KEY_BYTES_MAX}-byte limit of the binary header`,
        )
      }
      extBytes += 6 + keyBytes + Buffer.byteLength(String(value))
    }
  }
  return { total: ROCKETMQ_HEADER_FIXED_BYTES + remarkBytes + extBytes, remarkBytes, extBytes }
}

export function writeRocketMQHeader(
  cmd: RemotingCommand,
  out: Buffer,
  at: number,
  remarkBytes: number,
  extBytes: number,
): number {
  let p = at
  out.writeInt16BE((cmd.code << 16) >> 16, p)
  out.writeUInt8(languageCodeOf(cmd.language), p + 2)
  out.writeInt16BE((cmd.version << 16) >> 16, p + 3)
  out.writeInt32BE(cmd.opaque | 0, p + 5)
  out.writeInt32BE(cmd.flag | 0, p + 9)
  out.writeInt32BE(remarkBytes, p + 13)
  p += 17
  if (remarkBytes > 0) p += out.write(cmd.remark!, p, 'utf8')
  out.writeInt32BE(extBytes, p)
  p += 4
  const ext = cmd.extFields
  if (ext !== null) {
    for (const key in ext) {
      const raw = ext[key]
      if (raw === undefined || raw === null) continue
      const value = String(raw)
      const keyBytes = out.write(key, p + 2, 'utf8')
      out.writeInt16BE(keyBytes, p)
      p += 2 + keyBytes
      const valueBytes = out.write(value, p + 4, 'utf8')
      out.writeInt32BE(valueBytes, p)
      p += 4 + valueBytes
    }
  }
  return p
}

export function decodeRocketMQHeader(bytes: Buffer, start: number, end: number): RemotingCommand {
  if (end - start < ROCKETMQ_HEADER_FIXED_BYTES) throw malformed('binary header shorter than 21 bytes')
  let p = start
  const cmd = new RemotingCommand(bytes.readInt16BE(p))
  cmd.language = languageNameOf(bytes[p + 2]!)
  cmd.version = bytes.readInt16BE(p + 3)
  cmd.opaque = bytes.readInt32BE(p + 5)
  cmd.flag = bytes.readInt32BE(p + 9)
  const remarkBytes = bytes.readInt32BE(p + 13)
  p += 17
  if (remarkBytes < 0 || remarkBytes > end - p - 4) throw malformed(`remark length ${remarkBytes} out of bounds`)
  if (remarkBytes > 0) cmd.remark = utf8(bytes, p, p + remarkBytes)
  p += remarkBytes
  const extBytes = bytes.readInt32BE(p)
  p += 4
  if (extBytes < 0 || extBytes > end - p) throw malformed(`ext length ${extBytes} out of bounds`)
  if (extBytes > 0) cmd.extFields = decodeRocketMQExt(bytes, p, p + extBytes)
  cmd.serializeType = SerializeType.ROCKETMQ
  return cmd
}

function decodeRocketMQExt(bytes: Buffer, start: number, end: number): ExtFields {
  // A null-prototype object: keys come from the peer, and `__proto__` must stay an ordinary key.
  const ext: ExtFields = Object.create(null) as ExtFields
  let p = start
  let count = 0
  while (p < end) {
    if (++count > EXT_FIELDS_MAX) throw malformed(`more than ${EXT_FIELDS_MAX} ext fields`)
    if (end - p < 2) throw malformed('truncated ext key length')
    const keyBytes = bytes.readInt16BE(p)
    p += 2
    if (keyBytes < 0 || keyBytes > end - p) throw malformed(`ext key length ${keyBytes} out of bounds`)
    const key = utf8(bytes, p, p + keyBytes)
    p += keyBytes
    if (end - p < 4) throw malformed('truncated ext value length')
    const valueBytes = bytes.readInt32BE(p)
    p += 4
    if (valueBytes < 0 || valueBytes > end - p) throw malformed(`ext value length ${valueBytes} out of bounds`)
    // A zero-length string reads as null in Java: the field is absent.
    if (keyBytes > 0 && valueBytes > 0) ext[key] = utf8(bytes, p, p + valueBytes)
    p += valueBytes
  }
  return ext
}
