/**
 * Headers and bodies of the broker ↔ name server codes (protocol.md §2.3, §2.9.8–§2.9.10): REGISTER_BROKER,
 * UNREGISTER_BROKER and QUERY_DATA_VERSION headers, `RegisterBrokerBody` in its JSON and compressed forms,
 * `TopicConfigSerializeWrapper`, `DataVersion` and `KVTable`. Both sides use this file: the broker's
 * `BrokerOuterAPI` writes what the name server's `DefaultRequestProcessor` reads.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib'

import { ProtocolError } from '../../common/errors.js'
import { parseJson, parseJsonObject, stringifyJson } from '../../common/fastjson.js'
import {
  decodeTopicConfigText,
  encodeTopicConfigText,
  topicConfigFromJson,
  type DataVersion,
  type TopicConfig,
} from '../../common/topic-config.js'
import { HeaderReader } from './header-reader.js'
import type { ExtFields, RemotingCommand } from '../remoting-command.js'

/** The KV namespace holding order-topic definitions (`NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG`). */
export const NAMESPACE_ORDER_TOPIC_CONFIG = 'ORDER_TOPIC_CONFIG'

/**
 * A compressed registration may inflate to at most this many bytes. Java sets no limit; ours keeps a small
 * zlib bomb from taking the name server's memory (a 16 MiB frame of topic configs inflates to far less).
 */
export const REGISTER_BODY_INFLATED_BYTES_MAX = 64 * 1024 * 1024

/** `UtilAll.crc32`: CRC-32/IEEE masked to a non-negative Java int; 0 for no body. */
export function bodyCrc32(body: Buffer | null): number {
  if (body === null || body.length === 0) return 0
  return crc32(body) & 0x7fffffff
}

// ---------------------------------------------------------------------------------------------------------------
// Headers

/** `RegisterBrokerRequestHeader`. */
export interface RegisterBrokerRequestHeader {
  brokerName: string
  brokerAddr: string
  clusterName: string
  haServerAddr: string
  brokerId: number
  compressed: boolean
  /** 0 means "not checked". */
  bodyCrc32: number
}

export function registerBrokerRequestExt(h: RegisterBrokerRequestHeader): ExtFields {
  return {
    brokerName: h.brokerName,
    brokerAddr: h.brokerAddr,
    clusterName: h.clusterName,
    haServerAddr: h.haServerAddr,
    brokerId: String(h.brokerId),
    compressed: String(h.compressed),
    bodyCrc32: String(h.bodyCrc32),
  }
}

/** Reads the header; a missing required field throws `ProtocolError` (answered SYSTEM_ERROR). */
export function readRegisterBrokerRequestHeader(cmd: RemotingCommand): RegisterBrokerRequestHeader {
  const h = new HeaderReader(cmd)
  return {
    brokerName: h.string('brokerName'),
    brokerAddr: h.string('brokerAddr'),
    clusterName: h.string('clusterName'),
    haServerAddr: h.string('haServerAddr'),
    brokerId: h.long('brokerId'),
    compressed: h.optBool('compressed') ?? false,
    bodyCrc32: h.optInt('bodyCrc32') ?? 0,
  }
}

/** The four fields of `UnRegisterBrokerRequestHeader` and `QueryDataVersionRequestHeader`. */
export interface BrokerIdentity {
  clusterName: string
  brokerAddr: string
  brokerName: string
  brokerId: number
}

export function brokerIdentityExt(b: BrokerIdentity): ExtFields {
  return {
    brokerName: b.brokerName,
    brokerAddr: b.brokerAddr,
    clusterName: b.clusterName,
    brokerId: String(b.brokerId),
  }
}

export function readBrokerIdentity(cmd: RemotingCommand): BrokerIdentity {
  const h = new HeaderReader(cmd)
  return {
    brokerName: h.string('brokerName'),
    brokerAddr: h.string('brokerAddr'),
    clusterName: h.string('clusterName'),
    brokerId: h.long('brokerId'),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// DataVersion and KVTable

export function encodeDataVersion(v: DataVersion): Buffer {
  return Buffer.from(`{"counter":${v.counter},"timestamp":${v.timestamp}}`, 'utf8')
}

/**
 * A DataVersion from parsed JSON. A missing member keeps the Java field's initial value, as fastjson leaves it:
 * `timestamp` = now, `counter` = 0 (`DataVersion`).
 */
export function dataVersionFromJson(v: unknown, nowMs: number): DataVersion {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed('DataVersion')
  const o = v as Record<string, unknown>
  const long = (x: unknown, d: number, name: string): number => {
    if (x === undefined || x === null) return d
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw malformed(`DataVersion.${name}`)
    return x
  }
  return { timestamp: long(o.timestamp, nowMs, 'timestamp'), counter: long(o.counter, 0, 'counter') }
}

export function decodeDataVersion(body: Buffer | null, nowMs = Date.now()): DataVersion {
  return dataVersionFromJson(parseJsonObject(body, 'DataVersion'), nowMs)
}

/** `KVTable`: `{"table":{"key":"value"}}`, keys sorted. */
export function encodeKVTable(table: ReadonlyMap<string, string>): Buffer {
  const sorted = [...table.keys()].sort()
  const entries = sorted.map((k) => `${JSON.stringify(k)}:${JSON.stringify(table.get(k))}`)
  return Buffer.from(`{"table":{${entries.join(',')}}}`, 'utf8')
}

export function decodeKVTable(body: Buffer | null): Map<string, string> {
  const o = parseJsonObject(body, 'KVTable')
  const out = new Map<string, string>()
  const t = o.table
  if (t === undefined || t === null) return out
  if (typeof t !== 'object' || Array.isArray(t)) throw malformed('KVTable.table')
  for (const [k, v] of Object.entries(t as Record<string, unknown>)) {
    if (typeof v === 'string') out.set(k, v)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// TopicConfigSerializeWrapper and RegisterBrokerBody

/** `TopicConfigSerializeWrapper`: a broker's topics and the version of that table. */
export interface TopicConfigSerializeWrapper {
  topicConfigTable: ReadonlyMap<string, TopicConfig>
  dataVersion: DataVersion
}

/** `RegisterBrokerBody`. */
export interface RegisterBrokerBody {
  topicConfigSerializeWrapper: TopicConfigSerializeWrapper
  filterServerList: string[]
}

function malformed(what: string): ProtocolError {
  return new ProtocolError('RMQ_ERR_BODY', `malformed ${what}`)
}

function topicConfigTableJson(table: ReadonlyMap<string, TopicConfig>): Record<string, TopicConfig> {
  const out: Record<string, TopicConfig> = Object.create(null) as Record<string, TopicConfig>
  for (const [name, config] of table) out[name] = config
  return out
}

/** The uncompressed wrapper JSON (members sorted, as fastjson writes them). */
export function topicConfigSerializeWrapperToJson(w: TopicConfigSerializeWrapper): string {
  return stringifyJson({ dataVersion: w.dataVersion, topicConfigTable: topicConfigTableJson(w.topicConfigTable) })
}

export function topicConfigSerializeWrapperFromJson(v: unknown, nowMs: number): TopicConfigSerializeWrapper {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed('TopicConfigSerializeWrapper')
  const o = v as Record<string, unknown>
  const table = new Map<string, TopicConfig>()
  if (o.topicConfigTable !== undefined && o.topicConfigTable !== null) {
    if (typeof o.topicConfigTable !== 'object' || Array.isArray(o.topicConfigTable)) throw malformed('topicConfigTable')
    for (const raw of Object.values(o.topicConfigTable as Record<string, unknown>)) {
      const config = topicConfigFromJson(raw)
      if (config === null) throw malformed('TopicConfig in topicConfigTable')
      table.set(config.topicName, config)
    }
  }
  const dataVersion =
    o.dataVersion === undefined || o.dataVersion === null
      ? { timestamp: nowMs, counter: 0 }
      : dataVersionFromJson(o.dataVersion, nowMs)
  return { topicConfigTable: table, dataVersion }
}

/** `RegisterBrokerBody#encode(compress)`; the compressed form is zlib at level 9 (`Deflater.BEST_COMPRESSION`). */
export function encodeRegisterBrokerBody(body: RegisterBrokerBody, compressed: boolean): Buffer {
  if (!compressed) {
    const wrapper = topicConfigSerializeWrapperToJson(body.topicConfigSerializeWrapper)
    return Buffer.from(
      `{"filterServerList":${JSON.stringify(body.filterServerList)},"topicConfigSerializeWrapper":${wrapper}}`,
    )
  }
  const parts: Buffer[] = []
  const withLength = (b: Buffer): void => {
    const len = Buffer.allocUnsafe(4)
    len.writeInt32BE(b.length, 0)
    parts.push(len, b)
  }
  withLength(encodeDataVersion(body.topicConfigSerializeWrapper.dataVersion))
  const count = Buffer.allocUnsafe(4)
  count.writeInt32BE(body.topicConfigSerializeWrapper.topicConfigTable.size, 0)
  parts.push(count)
  for (const config of body.topicConfigSerializeWrapper.topicConfigTable.values()) {
    withLength(Buffer.from(encodeTopicConfigText(config), 'utf8'))
  }
  withLength(Buffer.from(JSON.stringify(body.filterServerList), 'utf8'))
  return deflateSync(Buffer.concat(parts), { level: 9 })
}

/**
 * `RegisterBrokerBody.decode(data, compressed)`. Every length in the compressed form is checked against what is
 * left before it is trusted; anything malformed is a `ProtocolError`.
 */
export function decodeRegisterBrokerBody(data: Buffer, compressed: boolean, nowMs = Date.now()): RegisterBrokerBody {
  if (!compressed) {
    const o = parseJsonObject(data, 'RegisterBrokerBody')
    return {
      topicConfigSerializeWrapper: topicConfigSerializeWrapperFromJson(o.topicConfigSerializeWrapper ?? {}, nowMs),
      filterServerList: stringList(o.filterServerList ?? []),
    }
  }
  let plain: Buffer
  try {
    plain = inflateSync(data, { maxOutputLength: REGISTER_BODY_INFLATED_BYTES_MAX })
  } catch (err) {
    throw new ProtocolError('RMQ_ERR_BODY', `compressed RegisterBrokerBody: ${(err as Error).message}`, { cause: err })
  }
  return decodeInflatedRegisterBrokerBody(plain, nowMs)
}

function decodeInflatedRegisterBrokerBody(plain: Buffer, nowMs: number): RegisterBrokerBody {
  let p = 0
  const readInt = (what: string): number => {
    if (plain.length - p < 4) throw malformed(`compressed RegisterBrokerBody: truncated ${what}`)
    const n = plain.readInt32BE(p)
    p += 4
    return n
  }
  const readText = (what: string): string => {
    const len = readInt(`${what} length`)
    if (len < 0 || len > plain.length - p) throw malformed(`compressed RegisterBrokerBody: ${what} length ${len}`)
    const text = plain.toString('utf8', p, p + len)
    p += len
    return text
  }
  const dataVersion = dataVersionFromJson(parseText(readText('dataVersion'), 'dataVersion'), nowMs)
  const topicCount = readInt('topic count')
  // Each topic takes at least its 4-byte length: a larger count cannot be genuine.
  if (topicCount < 0 || topicCount > (plain.length - p) / 4) throw malformed(`topic count ${topicCount}`)
  const table = new Map<string, TopicConfig>()
  for (let i = 0; i < topicCount; i++) {
    const config = decodeTopicConfigText(readText('topic config'))
    if (config === null) throw malformed('compressed RegisterBrokerBody: topic config text')
    table.set(config.topicName, config)
  }
  // Java logs an unreadable filter server list and carries on with none (`RegisterBrokerBody.decode`).
  const filters = readText('filter server list')
  let filterServerList: string[] = []
  try {
    filterServerList = stringList(parseJson(filters))
  } catch {
    filterServerList = []
  }
  return { topicConfigSerializeWrapper: { topicConfigTable: table, dataVersion }, filterServerList }
}

function parseText(text: string, what: string): unknown {
  try {
    return parseJson(text)
  } catch (err) {
    throw new ProtocolError('RMQ_ERR_BODY', `malformed ${what}: ${(err as Error).message}`, { cause: err })
  }
}

function stringList(v: unknown): string[] {
  if (!Array.isArray(v)) throw malformed('filterServerList')
  return v.filter((x): x is string => typeof x === 'string')
}
