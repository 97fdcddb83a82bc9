import { compressionTypeOfSysFlag, decompress } from '../compression/compression-type.js'
import { MESSAGE_BODY_BYTES_MAX_DEFAULT } from '../limits.js'
import type { MessageExt } from './message-ext.js'
import { createMessageIdFromPrefix, messageIdPrefix } from './message-id.js'
import { string2messageProperties } from './message-properties.js'
import { MessageSysFlag } from './message-sys-flag.js'
import { decodeHost } from './socket-address.js'

/**
 * The stored record layout (store.md §1; `MessageDecoder`). Offsets are for IPv4 born and store hosts; an IPv6
 * host field is 20 bytes instead of 8 and shifts what follows.
 *
 * ```text
 *  0 TOTALSIZE i32 | 4 MAGICCODE i32 | 8 BODYCRC i32 | 12 QUEUEID i32 | 16 FLAG i32 | 20 QUEUEOFFSET i64
 * 28 PHYSICALOFFSET i64 | 36 SYSFLAG i32 | 40 BORNTIMESTAMP i64 | 48 BORNHOST 8|20 | STORETIMESTAMP i64
 *    STOREHOST 8|20 | RECONSUMETIMES i32 | PREPARED_TX_OFFSET i64 | BODYLENGTH i32 | BODY
 *    TOPICLENGTH i8 (V1) | i16 (V2) | TOPIC | PROPERTIESLENGTH i16 | PROPERTIES
 * ```
 */
export const MESSAGE_MAGIC_CODE = -626843481 // 0xDAA320A7
export const MESSAGE_MAGIC_CODE_V2 = -626843477 // 0xDAA320AB
export const BLANK_MAGIC_CODE = -875286124 // 0xCBD43194

export const POS_TOTAL_SIZE = 0
export const POS_MAGIC = 4
export const POS_BODY_CRC = 8
export const POS_QUEUE_ID = 12
export const POS_FLAG = 16
export const POS_QUEUE_OFFSET = 20
export const POS_PHYSICAL_OFFSET = 28
export const POS_SYS_FLAG = 36
export const POS_BORN_TIMESTAMP = 40
export const POS_BORN_HOST = 48

/** Bytes of a V1 record with IPv4 hosts beyond body, topic and properties. */
export const RECORD_FIXED_BYTES_V4 = 91

/** The length of a record with these variable parts. */
export function recordLength(
  bodyBytes: number,
  topicBytes: number,
  propsBytes: number,
  bornV6: boolean,
  storeV6: boolean,
  v2: boolean,
): number {
  return (
    RECORD_FIXED_BYTES_V4 + bodyBytes + topicBytes + propsBytes + (bornV6 ? 12 : 0) + (storeV6 ? 12 : 0) + (v2 ? 1 : 0)
  )
}

function readLong(b: Buffer, pos: number): number {
  return b.readInt32BE(pos) * 0x1_0000_0000 + b.readUInt32BE(pos + 4)
}

export interface DecodeOptions {
  /**
   * Decompress bodies whose SYSFLAG has COMPRESSED (ZLIB, LZ4 or ZSTD by the type bits), as a consumer sees them,
   * and clear the flag (`MessageDecoder.decode`). Default true.
   */
  decompressBody?: boolean
  /**
   * Largest decompressed body (default 4 MiB, the default `maxMessageSize`: producers check the limit before they
   * compress). A frame that declares or produces more is treated as undecodable, never allocated.
   */
  decompressedBytesMax?: number
  /**
   * Called when a compressed body cannot be decompressed. The message is still returned, with its body as stored
   * and the COMPRESSED flag still set (Java's decoder drops the record and every record after it in the buffer
   * instead; see `ts/client/pull-api-wrapper.ts`).
   */
  onDecompressError?: (err: unknown, message: { topic: string; queueId: number; queueOffset: number }) => void
  /**
   * Copy the body out of `b` (default true). A client decoding a pull response it owns can take views instead:
   * the response buffer is never reused, only kept alive by the messages. Store buffers must be copied.
   */
  copyBody?: boolean
}

/**
 * The last IPv4 store host seen and its strings: a pull response's records nearly always share one store host,
 * and usually one born host, so their `ip:port` text and message-id prefix are built once, not per record.
 */
const hostCache = { ip: -1, port: -1, text: '', idPrefix: '' }
const bornCache = { ip: -1, port: -1, text: '' }

function cachedStoreHost(b: Buffer, p: number): { text: string; idPrefix: string } {
  const ip = b.readUInt32BE(p)
  const port = b.readInt32BE(p + 4)
  if (ip !== hostCache.ip || port !== hostCache.port) {
    hostCache.ip = ip
    hostCache.port = port
    hostCache.text = decodeHost(b, p, false)
    hostCache.idPrefix = messageIdPrefix(b.subarray(p, p + 8))
  }
  return hostCache
}

function cachedBornHost(b: Buffer, p: number): string {
  const ip = b.readUInt32BE(p)
  const port = b.readInt32BE(p + 4)
  if (ip !== bornCache.ip || port !== bornCache.port) {
    bornCache.ip = ip
    bornCache.port = port
    bornCache.text = decodeHost(b, p, false)
  }
  return bornCache.text
}

/**
 * Decodes the record at `pos`. Returns `null` when the bytes there are not a whole record (a reader stops there,
 * as the Java client does).
 */
export function decodeMessage(b: Buffer, pos = 0, options: DecodeOptions = {}): MessageExt | null {
  if (pos + 8 > b.length) return null
  const storeSize = b.readInt32BE(pos)
  const magic = b.readInt32BE(pos + POS_MAGIC)
  if ((magic !== MESSAGE_MAGIC_CODE && magic !== MESSAGE_MAGIC_CODE_V2) || storeSize < RECORD_FIXED_BYTES_V4) {
    return null
  }
  if (pos + storeSize > b.length) return null
  const end = pos + storeSize
  let sysFlag = b.readInt32BE(pos + POS_SYS_FLAG)
  const bornV6 = (sysFlag & MessageSysFlag.BORNHOST_V6_FLAG) !== 0
  const storeV6 = (sysFlag & MessageSysFlag.STOREHOSTADDRESS_V6_FLAG) !== 0
  let p = pos + POS_BORN_HOST
  const bornHost = bornV6 ? decodeHost(b, p, true) : cachedBornHost(b, p)
  p += bornV6 ? 20 : 8
  const storeTimestamp = readLong(b, p)
  p += 8
  let storeHost: string
  let idPrefix: string
  if (storeV6) {
    storeHost = decodeHost(b, p, true)
    idPrefix = messageIdPrefix(b.subarray(p, p + 20))
    p += 20
  } else {
    const cached = cachedStoreHost(b, p)
    storeHost = cached.text
    idPrefix = cached.idPrefix
    p += 8
  }
  const reconsumeTimes = b.readInt32BE(p)
  const preparedTransactionOffset = readLong(b, p + 4)
  p += 12
  const bodyLen = b.readInt32BE(p)
  p += 4
  if (bodyLen < 0 || p + bodyLen > end) return null
  let body = options.copyBody === false ? b.subarray(p, p + bodyLen) : Buffer.from(b.subarray(p, p + bodyLen))
  p += bodyLen
  let topicLen: number
  if (magic === MESSAGE_MAGIC_CODE) {
    topicLen = b.readInt8(p)
    p += 1
  } else {
    topicLen = b.readInt16BE(p)
    p += 2
  }
  if (topicLen < 0 || p + topicLen + 2 > end) return null
  const topic = b.toString('utf8', p, p + topicLen)
  p += topicLen
  const propsLen = b.readInt16BE(p)
  p += 2
  if (propsLen < 0 || p + propsLen !== end) return null
  const properties = string2messageProperties(b.toString('utf8', p, p + propsLen))
  if ((sysFlag & MessageSysFlag.COMPRESSED_FLAG) !== 0 && options.decompressBody !== false) {
    try {
      const maxBytes = options.decompressedBytesMax ?? MESSAGE_BODY_BYTES_MAX_DEFAULT
      body = decompress(compressionTypeOfSysFlag(sysFlag), body, maxBytes)
      sysFlag &= ~MessageSysFlag.COMPRESSED_FLAG
    } catch (err) {
      const queueOffset = readLong(b, pos + POS_QUEUE_OFFSET)
      options.onDecompressError?.(err, { topic, queueId: b.readInt32BE(pos + POS_QUEUE_ID), queueOffset })
    }
  }
  const commitLogOffset = readLong(b, pos + POS_PHYSICAL_OFFSET)
  return {
    topic,
    flag: b.readInt32BE(pos + POS_FLAG),
    properties,
    body,
    queueId: b.readInt32BE(pos + POS_QUEUE_ID),
    storeSize,
    queueOffset: readLong(b, pos + POS_QUEUE_OFFSET),
    sysFlag,
    bornTimestamp: readLong(b, pos + POS_BORN_TIMESTAMP),
    bornHost,
    storeTimestamp,
    storeHost,
    msgId: createMessageIdFromPrefix(idPrefix, commitLogOffset),
    commitLogOffset,
    bodyCRC: b.readInt32BE(pos + POS_BODY_CRC),
    reconsumeTimes,
    preparedTransactionOffset,
  }
}

/**
 * The properties string of the record at `pos`, without decoding the rest (a broker filtering by properties needs
 * nothing else). `null` when the bytes there are not a whole record.
 */
export function recordPropertiesString(b: Buffer, pos = 0): string | null {
  if (pos + RECORD_FIXED_BYTES_V4 > b.length) return null
  const storeSize = b.readInt32BE(pos)
  const magic = b.readInt32BE(pos + POS_MAGIC)
  if ((magic !== MESSAGE_MAGIC_CODE && magic !== MESSAGE_MAGIC_CODE_V2) || storeSize < RECORD_FIXED_BYTES_V4) {
    return null
  }
  const end = pos + storeSize
  if (end > b.length) return null
  const sysFlag = b.readInt32BE(pos + POS_SYS_FLAG)
  let p = pos + POS_BORN_HOST
  p += (sysFlag & MessageSysFlag.BORNHOST_V6_FLAG) !== 0 ? 20 : 8
  p += 8 // store timestamp
  p += (sysFlag & MessageSysFlag.STOREHOSTADDRESS_V6_FLAG) !== 0 ? 20 : 8
  p += 12 // reconsume times, prepared transaction offset
  const bodyLen = b.readInt32BE(p)
  p += 4
  if (bodyLen < 0 || p + bodyLen + 1 > end) return null
  p += bodyLen
  let topicLen: number
  if (magic === MESSAGE_MAGIC_CODE) {
    topicLen = b.readInt8(p)
    p += 1
  } else {
    topicLen = b.readInt16BE(p)
    p += 2
  }
  if (topicLen < 0 || p + topicLen + 2 > end) return null
  p += topicLen
  const propsLen = b.readInt16BE(p)
  p += 2
  if (propsLen < 0 || p + propsLen !== end) return null
  return b.toString('utf8', p, end)
}

/** Decodes records back to back until the buffer ends or something is not a record. */
export function decodeMessages(b: Buffer, options: DecodeOptions = {}): MessageExt[] {
  const out: MessageExt[] = []
  let pos = 0
  while (pos < b.length) {
    const m = decodeMessage(b, pos, options)
    if (!m) break
    out.push(m)
    pos += m.storeSize
  }
  return out
}

/** The BORNHOST bytes of the record at `pos` (8 or 20 bytes, copied), for re-storing a message as it came. */
export function recordBornHost(b: Buffer, pos = 0): Buffer {
  const v6 = (b.readInt32BE(pos + POS_SYS_FLAG) & MessageSysFlag.BORNHOST_V6_FLAG) !== 0
  return Buffer.from(b.subarray(pos + POS_BORN_HOST, pos + POS_BORN_HOST + (v6 ? 20 : 8)))
}
