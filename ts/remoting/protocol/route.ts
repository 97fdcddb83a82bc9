/**
 * Route bodies of the name server (protocol.md §2.9.1, §2.9.3, §2.9.4): `TopicRouteData`, `ClusterInfo` and
 * `TopicList`, with serializers that write exactly what the Java name server writes and parsers that read
 * either JSON style.
 *
 * The Java name server writes these bodies with fastjson, whose output is not always JSON: a map with `Long` keys
 * (`brokerAddrs`) comes out as `{0:"addr"}`. For GET_ROUTEINFO_BY_TOPIC it switches to strict JSON (quoted keys,
 * sorted maps, `/` and non-ASCII escaped) when the client is new enough or asks for it
 * (`DefaultRequestProcessor#getRouteInfoByTopic`). Both styles matter: the Go client parses broker ids only from
 * the unquoted form, strict parsers need the quoted one (protocol.md §2.7, §7.4). So the writer here is explicit
 * about member order and key quoting instead of relying on a generic JSON writer.
 */
import { ProtocolError } from '../../common/errors.js'
import { parseJsonObject } from '../../common/fastjson.js'
import { MQVersion } from '../../common/mq-version.js'

/** One broker name's queues of a topic (`QueueData`). */
export interface QueueData {
  brokerName: string
  readQueueNums: number
  writeQueueNums: number
  perm: number
  /** `TopicSysFlag` bits; written as both `topicSysFlag` and its pre-4.9.0 name `topicSynFlag`. */
  topicSysFlag: number
}

/** The addresses of one broker name (`BrokerData`): broker id → `ip:port`, 0 being the master. */
export interface BrokerData {
  cluster: string
  brokerName: string
  brokerAddrs: Map<number, string>
}

/** The answer to GET_ROUTEINFO_BY_TOPIC (`TopicRouteData`). */
export interface TopicRouteData {
  /** `brokerName:queueNum;…`, set only for order topics when the name server has `orderMessageEnable`. */
  orderTopicConf: string | null
  queueDatas: QueueData[]
  brokerDatas: BrokerData[]
  /** Broker address → filter server addresses; legacy, normally empty. */
  filterServerTable: Map<string, string[]>
}

/** The answer to GET_BROKER_CLUSTER_INFO (`ClusterInfo`). */
export interface ClusterInfo {
  brokerAddrTable: Map<string, BrokerData>
  clusterAddrTable: Map<string, Set<string>>
}

/** A list of topic names (`TopicList`); `brokerAddr` is set only by GET_SYSTEM_TOPIC_LIST_FROM_NS. */
export interface TopicList {
  topicList: string[]
  brokerAddr: string | null
}

export interface RouteJsonOptions {
  /** Strict JSON (fastjson `BrowserCompatible`, `QuoteFieldNames`, `MapSortField`) instead of fastjson's default. */
  strict: boolean
  /** Also write `topicSynFlag` in every QueueData (default true): pre-4.9.0 Java clients and Go read that name. */
  topicSynFlag?: boolean
}

export function cloneBrokerData(b: BrokerData): BrokerData {
  return { cluster: b.cluster, brokerName: b.brokerName, brokerAddrs: new Map(b.brokerAddrs) }
}

export function cloneQueueData(q: QueueData): QueueData {
  return { ...q }
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/**
 * The GET_ROUTEINFO_BY_TOPIC body for a request of `requestVersion`: strict JSON from 4.9.4 on or when the client
 * sent `acceptStandardJsonOnly=true`, fastjson's default style otherwise (`DefaultRequestProcessor#getRouteInfoByTopic`).
 */
export function encodeTopicRouteData(
  route: TopicRouteData,
  requestVersion: number,
  acceptStandardJsonOnly: boolean,
  options: { topicSynFlag?: boolean } = {},
): Buffer {
  const strict = requestVersion >= MQVersion.V4_9_4 || acceptStandardJsonOnly
  return Buffer.from(topicRouteDataToJson(route, { strict, topicSynFlag: options.topicSynFlag }), 'utf8')
}

/** TopicRouteData as text; members in fastjson's alphabetical order, `orderTopicConf` omitted when null. */
export function topicRouteDataToJson(route: TopicRouteData, options: RouteJsonOptions): string {
  const strict = options.strict
  const synFlag = options.topicSynFlag ?? true
  let s = `{"brokerDatas":[${route.brokerDatas.map((b) => brokerDataToJson(b, strict)).join(',')}]`
  s += `,"filterServerTable":${filterServerTableToJson(route.filterServerTable, strict)}`
  if (route.orderTopicConf !== null) s += `,"orderTopicConf":${quote(route.orderTopicConf, strict)}`
  s += `,"queueDatas":[${route.queueDatas.map((q) => queueDataToJson(q, strict, synFlag)).join(',')}]}`
  return s
}

function queueDataToJson(q: QueueData, strict: boolean, synFlag: boolean): string {
  // `topicSynFlag` sorts before `topicSysFlag` ('n' < 's'), which keeps the members in fastjson's order.
  const syn = synFlag ? `"topicSynFlag":${int(q.topicSysFlag)},` : ''
  return (
    `{"brokerName":${quote(q.brokerName, strict)},"perm":${int(q.perm)},"readQueueNums":${int(q.readQueueNums)},` +
    `${syn}"topicSysFlag":${int(q.topicSysFlag)},"writeQueueNums":${int(q.writeQueueNums)}}`
  )
}

function brokerDataToJson(b: BrokerData, strict: boolean): string {
  const ids = [...b.brokerAddrs.keys()].sort((x, y) => x - y)
  // fastjson writes a Long map key bare unless BrowserCompatible is on (`MapSerializer`).
  const addrs = ids.map((id) => `${strict ? `"${int(id)}"` : int(id)}:${quote(b.brokerAddrs.get(id)!, strict)}`)
  return `{"brokerAddrs":{${addrs.join(',')}},"brokerName":${quote(b.brokerName, strict)},"cluster":${quote(b.cluster, strict)}}`
}

function filterServerTableToJson(table: Map<string, string[]>, strict: boolean): string {
  const keys = [...table.keys()].sort()
  const entries = keys.map(
    (k) =>
      `${quote(k, strict)}:[${table
        .get(k)!
        .map((a) => quote(a, strict))
        .join(',')}]`,
  )
  return `{${entries.join(',')}}`
}

/** ClusterInfo as the Java name server writes it: always fastjson's default style (protocol.md §2.7). */
export function encodeClusterInfo(info: ClusterInfo, options: { strict?: boolean } = {}): Buffer {
  const strict = options.strict === true
  const names = [...info.brokerAddrTable.keys()].sort()
  const brokers = names.map((n) => `${quote(n, strict)}:${brokerDataToJson(info.brokerAddrTable.get(n)!, strict)}`)
  const clusters = [...info.clusterAddrTable.keys()].sort().map((c) => {
    const members = [...info.clusterAddrTable.get(c)!].sort().map((n) => quote(n, strict))
    return `${quote(c, strict)}:[${members.join(',')}]`
  })
  return Buffer.from(`{"brokerAddrTable":{${brokers.join(',')}},"clusterAddrTable":{${clusters.join(',')}}}`, 'utf8')
}

/** TopicList: `brokerAddr` (omitted when null) sorts before `topicList`. */
export function encodeTopicList(list: TopicList): Buffer {
  const addr = list.brokerAddr === null ? '' : `"brokerAddr":${quote(list.brokerAddr, false)},`
  return Buffer.from(`{${addr}"topicList":[${list.topicList.map((t) => quote(t, false)).join(',')}]}`, 'utf8')
}

function int(n: number): string {
  return Number.isFinite(n) ? String(Math.trunc(n)) : '0'
}

function quote(s: string, strict: boolean): string {
  return strict ? browserCompatibleString(s) : JSON.stringify(s)
}

const PLAIN_ASCII = /^[\x20-\x21\x23-\x2e\x30-\x5b\x5d-\x7e]*$/
const SHORT_ESCAPES = new Map([
  ['"', '\\"'],
  ['\\', '\\\\'],
  ['/', '\\/'],
  ['\b', '\\b'],
  ['\f', '\\f'],
  ['\n', '\\n'],
  ['\r', '\\r'],
  ['\t', '\\t'],
])

/**
 * A string as fastjson writes it with `BrowserCompatible`: `/` escaped, control characters and everything from
 * 0x7F up as `\uXXXX` with upper-case hex (`SerializeWriter#writeStringWithDoubleQuote`).
 */
function browserCompatibleString(s: string): string {
  if (PLAIN_ASCII.test(s)) return `"${s}"`
  let out = '"'
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!
    const code = s.charCodeAt(i)
    const short = SHORT_ESCAPES.get(ch)
    if (short !== undefined) out += short
    else if (code < 0x20 || code >= 0x7f) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`
    else out += ch
  }
  return `${out}"`
}

// ---------------------------------------------------------------------------------------------------------------
// Reading (clients and admin tools); both key styles are accepted, unknown members ignored.

function bad(what: string): ProtocolError {
  return new ProtocolError('RMQ_ERR_BODY', `malformed ${what}`)
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(what)
  return v
}

function num(v: unknown, what: string, fallback?: number): number {
  if (v === undefined && fallback !== undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(what)
  return v
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what)
  return v as Record<string, unknown>
}

function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(what)
  return v
}

export function decodeTopicRouteData(body: Buffer | null): TopicRouteData {
  const o = parseJsonObject(body, 'TopicRouteData')
  const filters = new Map<string, string[]>()
  if (o.filterServerTable !== undefined && o.filterServerTable !== null) {
    for (const [addr, list] of Object.entries(obj(o.filterServerTable, 'filterServerTable'))) {
      filters.set(
        addr,
        arr(list, 'filterServerTable entry').map((a) => str(a, 'filter server address')),
      )
    }
  }
  return {
    orderTopicConf: typeof o.orderTopicConf === 'string' ? o.orderTopicConf : null,
    queueDatas: arr(o.queueDatas, 'queueDatas').map(queueDataFromJson),
    brokerDatas: arr(o.brokerDatas, 'brokerDatas').map(brokerDataFromJson),
    filterServerTable: filters,
  }
}

function queueDataFromJson(v: unknown): QueueData {
  const q = obj(v, 'QueueData')
  // Before 4.9.0 the flag was called `topicSynFlag`; accept either.
  const flag = q.topicSysFlag ?? q.topicSynFlag
  return {
    brokerName: str(q.brokerName, 'QueueData.brokerName'),
    readQueueNums: num(q.readQueueNums, 'QueueData.readQueueNums'),
    writeQueueNums: num(q.writeQueueNums, 'QueueData.writeQueueNums'),
    perm: num(q.perm, 'QueueData.perm'),
    topicSysFlag: num(flag, 'QueueData.topicSysFlag', 0),
  }
}

function brokerDataFromJson(v: unknown): BrokerData {
  const b = obj(v, 'BrokerData')
  const addrs = new Map<number, string>()
  for (const [key, addr] of Object.entries(obj(b.brokerAddrs, 'BrokerData.brokerAddrs'))) {
    const id = Number(key)
    if (!Number.isSafeInteger(id) || id < 0 || key.trim() === '') throw bad(`broker id ${JSON.stringify(key)}`)
    addrs.set(id, str(addr, 'broker address'))
  }
  return {
    cluster: str(b.cluster, 'BrokerData.cluster'),
    brokerName: str(b.brokerName, 'BrokerData.brokerName'),
    brokerAddrs: addrs,
  }
}

export function decodeClusterInfo(body: Buffer | null): ClusterInfo {
  const o = parseJsonObject(body, 'ClusterInfo')
  const brokers = new Map<string, BrokerData>()
  for (const [name, b] of Object.entries(obj(o.brokerAddrTable ?? {}, 'brokerAddrTable'))) {
    brokers.set(name, brokerDataFromJson(b))
  }
  const clusters = new Map<string, Set<string>>()
  for (const [name, members] of Object.entries(obj(o.clusterAddrTable ?? {}, 'clusterAddrTable'))) {
    clusters.set(name, new Set(arr(members, 'cluster members').map((m) => str(m, 'broker name'))))
  }
  return { brokerAddrTable: brokers, clusterAddrTable: clusters }
}

export function decodeTopicList(body: Buffer | null): TopicList {
  const o = parseJsonObject(body, 'TopicList')
  return {
    topicList: arr(o.topicList ?? [], 'topicList').map((t) => str(t, 'topic')),
    brokerAddr: typeof o.brokerAddr === 'string' ? o.brokerAddr : null,
  }
}
