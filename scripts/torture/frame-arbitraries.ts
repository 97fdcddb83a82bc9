/**
 * fast-check arbitraries for remoting frames (protocol.md §1.2–§1.9), written from the spec and independent of the
 * codec under test: well-formed requests with hostile contents (every request code, random/missing/garbage ext
 * fields, junk bodies), frames that are malformed by definition (the receiver must close without a reply),
 * "debatable" frames (complete, but valid or not depending on the reader: the spec leaves them open, or they are
 * well-formed frames with bytes overwritten), truncated frames and garbage. Also a reference decoder for what the
 * broker sends back, and sessions: what one connection does.
 */
import fc from 'fast-check'

import { RequestCode } from '../../ts/common/request-code.js'

/** Largest frame, length word included (protocol.md §1.2). */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024
/** Largest legal `totalLength` (the length word excluded). */
export const TOTAL_LENGTH_MAX = FRAME_BYTES_MAX - 4

export const SERIALIZE_JSON = 0
export const SERIALIZE_ROCKETMQ = 1

/** Ext values as a JSON header may carry them (ali-ons sends numbers and booleans, §1.7); binary sends text. */
export type ExtValue = string | number | boolean | null

/** A request as it goes on the wire; every part may be odd, but the frame decodes by §1.2–§1.8. */
export interface FuzzCommand {
  serializeType: 0 | 1
  code: number
  /** JSON: the `language` member (any JSON value, or absent); binary: the language byte. */
  language: string | number | boolean | null | undefined
  /** Absent in JSON means 0; binary always carries one. */
  version: number | undefined
  opaque: number
  /** Absent in JSON means 0 (.NET clients). */
  flag: number | undefined
  remark: string | null
  /** Pairs rather than a map: order is free and binary headers may repeat a key. */
  extFields: [string, ExtValue][] | null
  /** Unknown JSON members (ignored by readers, §1.7). */
  extraMembers: [string, string | number | boolean | null][]
  /** Replace every U+FFFF in the header by a raw 0xFF byte: invalid UTF-8 inside otherwise valid text. */
  rawInvalidUtf8: boolean
  body: Buffer | null
}

/** Whether the broker must answer: requests that are neither oneway nor flagged as responses (§1.4, §1.5). */
export function expectsResponse(cmd: FuzzCommand): boolean {
  return ((cmd.flag ?? 0) & 3) === 0
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding (protocol.md §1.2, §1.7, §1.8)

function frame(serializeType: number, header: Buffer, body: Buffer | null): Buffer {
  const bodyBytes = body === null ? 0 : body.length
  const out = Buffer.allocUnsafe(8 + header.length + bodyBytes)
  out.writeInt32BE(4 + header.length + bodyBytes, 0)
  out.writeUInt32BE((((serializeType & 0xff) << 24) | (header.length & 0xffffff)) >>> 0, 4)
  header.copy(out, 8)
  if (body !== null) body.copy(out, 8 + header.length)
  return out
}

function withInvalidUtf8(b: Buffer): Buffer {
  // U+FFFF is EF BF BF in UTF-8; a lone 0xFF is never valid UTF-8.
  const out: number[] = []
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0xef && b[i + 1] === 0xbf && b[i + 2] === 0xbf) {
      out.push(0xff)
      i += 2
    } else {
      out.push(b[i]!)
    }
  }
  return Buffer.from(out)
}

export function jsonHeaderText(cmd: FuzzCommand): string {
  const members: string[] = [`"code":${cmd.code}`]
  if (cmd.extFields !== null) {
    const ext = cmd.extFields.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')
    members.push(`"extFields":{${ext}}`)
  }
  if (cmd.flag !== undefined) members.push(`"flag":${cmd.flag}`)
  if (cmd.language !== undefined) members.push(`"language":${JSON.stringify(cmd.language)}`)
  members.push(`"opaque":${cmd.opaque}`)
  if (cmd.remark !== null) members.push(`"remark":${JSON.stringify(cmd.remark)}`)
  if (cmd.version !== undefined) members.push(`"version":${cmd.version}`)
  for (const [k, v] of cmd.extraMembers) members.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`)
  return `{${members.join(',')}}`
}

function binaryHeader(cmd: FuzzCommand): Buffer {
  const utf8 = (s: string): Buffer => (cmd.rawInvalidUtf8 ? withInvalidUtf8(Buffer.from(s)) : Buffer.from(s))
  const remark = cmd.remark === null ? Buffer.alloc(0) : utf8(cmd.remark)
  const entries: Buffer[] = []
  for (const [k, v] of cmd.extFields ?? []) {
    if (v === null) continue
    const key = utf8(k)
    const value = utf8(String(v))
    const e = Buffer.allocUnsafe(6 + key.length + value.length)
    e.writeInt16BE(key.length, 0)
    key.copy(e, 2)
    e.writeInt32BE(value.length, 2 + key.length)
    value.copy(e, 6 + key.length)
    entries.push(e)
  }
  const ext = Buffer.concat(entries)
  const h = Buffer.allocUnsafe(21 + remark.length + ext.length)
  h.writeInt16BE((cmd.code << 16) >> 16, 0)
  h.writeUInt8(typeof cmd.language === 'number' ? cmd.language & 0xff : 0, 2)
  h.writeInt16BE(((cmd.version ?? 0) << 16) >> 16, 3)
  h.writeInt32BE(cmd.opaque | 0, 5)
  h.writeInt32BE((cmd.flag ?? 0) | 0, 9)
  h.writeInt32BE(remark.length, 13)
  remark.copy(h, 17)
  h.writeInt32BE(ext.length, 17 + remark.length)
  ext.copy(h, 21 + remark.length)
  return h
}

/** The whole frame, length word included. */
export function encodeCommand(cmd: FuzzCommand): Buffer {
  if (cmd.serializeType === SERIALIZE_ROCKETMQ) return frame(SERIALIZE_ROCKETMQ, binaryHeader(cmd), cmd.body)
  let header: Buffer = Buffer.from(jsonHeaderText(cmd))
  if (cmd.rawInvalidUtf8) header = withInvalidUtf8(header)
  return frame(SERIALIZE_JSON, header, cmd.body)
}

/** A minimal well-formed request, used as the frame that follows a bad one. */
export function plainRequest(opaque: number, serializeType: 0 | 1 = SERIALIZE_JSON): FuzzCommand {
  return {
    serializeType,
    code: RequestCode.GET_BROKER_CONFIG,
    language: serializeType === SERIALIZE_JSON ? 'JAVA' : 0,
    version: 409,
    opaque,
    flag: 0,
    remark: null,
    extFields: [],
    extraMembers: [],
    rawInvalidUtf8: false,
    body: null,
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reference decoder for the broker's frames

export interface DecodedFrame {
  serializeType: number
  code: number
  opaque: number
  flag: number
  remark: string | null
  extFields: Record<string, unknown> | null
  bodyBytes: number
}

/** Splits and decodes frames; throws on anything §1.2–§1.8 forbids. Keeps the incomplete tail. */
export class ReferenceFrameReader {
  private pending: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): DecodedFrame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    const out: DecodedFrame[] = []
    let at = 0
    while (this.pending.length - at >= 4) {
      const total = this.pending.readInt32BE(at)
      if (total < 4 || total > TOTAL_LENGTH_MAX) throw new Error(`broker sent a frame length of ${total}`)
      if (this.pending.length - at - 4 < total) break
      out.push(decodeReferenceFrame(this.pending.subarray(at + 4, at + 4 + total)))
      at += 4 + total
    }
    this.pending = at === this.pending.length ? Buffer.alloc(0) : Buffer.from(this.pending.subarray(at))
    return out
  }

  pendingBytes(): number {
    return this.pending.length
  }
}

function decodeReferenceFrame(f: Buffer): DecodedFrame {
  const word = f.readUInt32BE(0)
  const type = word >>> 24
  const headerBytes = word & 0xffffff
  if (headerBytes > f.length - 4)
    throw new Error(`broker sent a header of ${headerBytes} bytes in a ${f.length}-byte frame`)
  const header = f.subarray(4, 4 + headerBytes)
  const bodyBytes = f.length - 4 - headerBytes
  if (type === SERIALIZE_JSON) {
    const h = JSON.parse(header.toString('utf8')) as Record<string, unknown>
    for (const k of ['code', 'opaque', 'flag', 'version']) {
      if (!Number.isInteger(h[k])) throw new Error(`broker sent a JSON header whose ${k} is ${JSON.stringify(h[k])}`)
    }
    if (typeof h.language !== 'string') throw new Error('broker sent a JSON header without a language name')
    const ext = (h.extFields ?? null) as Record<string, unknown> | null
    return {
      serializeType: type,
      code: h.code as number,
      opaque: h.opaque as number,
      flag: h.flag as number,
      remark: (h.remark as string | undefined) ?? null,
      extFields: ext,
      bodyBytes,
    }
  }
  if (type !== SERIALIZE_ROCKETMQ) throw new Error(`broker sent serialize type ${type}`)
  if (header.length < 21) throw new Error('broker sent a binary header shorter than 21 bytes')
  const remarkBytes = header.readInt32BE(13)
  if (remarkBytes < 0 || 17 + remarkBytes + 4 > header.length) throw new Error(`bad remark length ${remarkBytes}`)
  const extBytes = header.readInt32BE(17 + remarkBytes)
  let p = 21 + remarkBytes
  if (extBytes < 0 || p + extBytes !== header.length) throw new Error(`bad ext length ${extBytes}`)
  const ext: Record<string, unknown> = {}
  while (p < header.length) {
    const k = header.readInt16BE(p)
    if (k < 0 || p + 2 + k + 4 > header.length) throw new Error('bad ext key length')
    const key = header.toString('utf8', p + 2, p + 2 + k)
    p += 2 + k
    const v = header.readInt32BE(p)
    if (v < 0 || p + 4 + v > header.length) throw new Error('bad ext value length')
    ext[key] = header.toString('utf8', p + 4, p + 4 + v)
    p += 4 + v
  }
  return {
    serializeType: type,
    code: header.readInt16BE(0),
    opaque: header.readInt32BE(5),
    flag: header.readInt32BE(9),
    remark: remarkBytes === 0 ? null : header.toString('utf8', 17, 17 + remarkBytes),
    extFields: extBytes === 0 ? null : ext,
    bodyBytes,
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Values

export interface ArbitraryOptions {
  /** Topics the fuzz may create, send to and delete. */
  topics: readonly string[]
  groups: readonly string[]
  /** A string that only hostile names contain (never a valid topic), so that any file named after one can be found. */
  marker: string
}

const GARBAGE_NUMBERS = [
  '',
  ' ',
  'abc',
  '1.5',
  '1e3',
  '0x10',
  '2147483648',
  '-2147483649',
  '9223372036854775808',
  '-9223372036854775809',
  '99999999999999999999999999',
  'NaN',
  'Infinity',
  '-Infinity',
  '+',
  '-',
  ' 12 ',
  '\uff11\uff12',
  '12abc',
  '\u0000',
  '--1',
  '1_000',
  'true',
  'null',
] as const

/** Decimal text, as Java writes ints and longs (`numericJsonExt` turns some into JSON numbers). */
const intText = fc
  .oneof(
    { arbitrary: fc.integer({ min: -3, max: 40 }), weight: 6 },
    { arbitrary: fc.constantFrom(0, -1, 1, 2147483647, -2147483648, 65535, 65536, 65537, 1024, 10_001), weight: 3 },
    { arbitrary: fc.integer(), weight: 1 },
  )
  .map(String)

const longText = fc
  .oneof(
    { arbitrary: fc.integer({ min: -3, max: 20_000 }), weight: 6 },
    {
      arbitrary: fc.constantFrom<number | string>(
        -1,
        0,
        2 ** 31,
        2 ** 32,
        2 ** 53,
        -(2 ** 53),
        Number.MAX_SAFE_INTEGER,
        1_700_000_000_000,
        '9223372036854775807',
        '-9223372036854775808',
        '9007199254740993',
      ),
      weight: 3,
    },
    { arbitrary: fc.maxSafeInteger(), weight: 1 },
  )
  .map(String)

const boolText = fc.constantFrom('true', 'false', 'TRUE', 'False', 'yes', '1', '')

/** Text of any kind: ASCII, any code point (lone surrogates included), control characters. */
const anyText = fc.oneof(
  { arbitrary: fc.string({ maxLength: 24 }), weight: 160 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 24 }), weight: 80 },
  { arbitrary: fc.constantFrom('\u0000', '\r\n', '\u0001\u0002', '\uffff', '\ud800', '%', '|', '*', '||'), weight: 40 },
  { arbitrary: fc.integer({ min: 200, max: 5000 }).map((n) => 'x'.repeat(n)), weight: 1 },
)

function hostileNames(marker: string): string[] {
  return [
    `../${marker}`,
    `../../${marker}`,
    `../../../${marker}`,
    `../../../../${marker}`,
    `a/${marker}`,
    `${marker}/..`,
    `${marker}/../../..`,
    `/tmp/${marker}`,
    `..\\${marker}`,
    `%RETRY%../${marker}`,
    `%RETRY%../../../${marker}`,
    `%DLQ%../${marker}`,
    `${marker}\u0000x`,
    `${marker}\nx`,
    `${marker}\u007f`,
    `${marker} x`,
    `${marker}.`,
    `${marker}:x`,
    `${marker}\u00e9`,
    `${marker}\ud83d\ude00`,
    '..',
    '.',
    '',
    ' ',
    '\t',
    '%',
    `${marker}${'A'.repeat(300)}`,
    'A'.repeat(128),
    'A'.repeat(255),
    'A'.repeat(256),
    `%RETRY%${'A'.repeat(248)}`,
    `%RETRY%${'A'.repeat(249)}`,
    'TBW102',
    'SCHEDULE_TOPIC_XXXX',
    'RMQ_SYS_TRANS_HALF_TOPIC',
    'DefaultCluster',
    'broker-a',
    '%RETRY%',
    '%DLQ%',
  ]
}

export function topicArbitrary(o: ArbitraryOptions): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...o.topics), weight: 10 },
    { arbitrary: fc.constantFrom(...hostileNames(o.marker)), weight: 5 },
    { arbitrary: fc.constantFrom(...o.groups).map((g) => `%RETRY%${g}`), weight: 1 },
    { arbitrary: anyText.map((s) => `FzX${s}`), weight: 1 },
  )
}

export function groupArbitrary(o: ArbitraryOptions): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...o.groups), weight: 10 },
    { arbitrary: fc.constantFrom(...hostileNames(o.marker)), weight: 4 },
    { arbitrary: anyText.map((s) => `FzX${s}`), weight: 1 },
  )
}

/** Message properties (`NAME\u0001VALUE\u0002`…, §4.4): real ones, oversized ones and junk. */
function propertiesArbitrary(o: ArbitraryOptions): fc.Arbitrary<string> {
  const name = fc.constantFrom(
    'TAGS',
    'KEYS',
    'WAIT',
    'DELAY',
    'UNIQ_KEY',
    'TRAN_MSG',
    'REAL_TOPIC',
    'REAL_QID',
    'RETRY_TOPIC',
    'CLUSTER',
    'MAX_RECONSUME_TIMES',
    'PGROUP',
    '',
  )
  const value = fc.oneof(
    {
      arbitrary: fc.constantFrom('true', 'false', '0', '1', '3', '18', '19', '-1', '999', 'A', 'A||B', '*'),
      weight: 4,
    },
    { arbitrary: topicArbitrary(o), weight: 1 },
    { arbitrary: anyText, weight: 2 },
  )
  const pair = fc.tuple(name, value).map(([n, v]) => `${n}\u0001${v}`)
  return fc.oneof(
    { arbitrary: fc.array(pair, { maxLength: 6 }).map((ps) => ps.map((p) => `${p}\u0002`).join('')), weight: 60 },
    { arbitrary: fc.array(pair, { maxLength: 4 }).map((ps) => ps.join('\u0002')), weight: 10 },
    { arbitrary: anyText, weight: 20 },
    {
      arbitrary: fc.constantFrom(40_000, 32_767, 32_768, 12_000).map((n) => `KEYS\u0001${'k'.repeat(n)}\u0002`),
      weight: 1,
    },
  )
}

type FieldKind = 'int' | 'long' | 'bool' | 'text' | 'topic' | 'group' | 'props' | 'defaultTopic' | 'tags' | 'expr'
type FieldSpec = readonly [name: string, kind: FieldKind]

const SEND_V1: FieldSpec[] = [
  ['producerGroup', 'group'],
  ['topic', 'topic'],
  ['defaultTopic', 'defaultTopic'],
  ['defaultTopicQueueNums', 'int'],
  ['queueId', 'int'],
  ['sysFlag', 'int'],
  ['bornTimestamp', 'long'],
  ['flag', 'int'],
  ['properties', 'props'],
  ['reconsumeTimes', 'int'],
  ['unitMode', 'bool'],
  ['maxReconsumeTimes', 'int'],
  ['batch', 'bool'],
]
const SEND_V2: FieldSpec[] = SEND_V1.map(([, kind], i) => ['abcdefghijklm'[i]!, kind] as const)

/** Header fields each code reads (protocol.md §2); codes not listed get random fields. */
const FIELDS = new Map<number, FieldSpec[]>([
  [RequestCode.SEND_MESSAGE, SEND_V1],
  [RequestCode.SEND_MESSAGE_V2, SEND_V2],
  [RequestCode.SEND_BATCH_MESSAGE, SEND_V2],
  [RequestCode.SEND_REPLY_MESSAGE, SEND_V1],
  [RequestCode.SEND_REPLY_MESSAGE_V2, SEND_V2],
  [
    RequestCode.PULL_MESSAGE,
    [
      ['consumerGroup', 'group'],
      ['topic', 'topic'],
      ['queueId', 'int'],
      ['queueOffset', 'long'],
      ['maxMsgNums', 'int'],
      ['sysFlag', 'int'],
      ['commitOffset', 'long'],
      ['suspendTimeoutMillis', 'int'],
      ['subscription', 'tags'],
      ['subVersion', 'long'],
      ['expressionType', 'expr'],
    ],
  ],
  [
    RequestCode.QUERY_MESSAGE,
    [
      ['topic', 'topic'],
      ['key', 'text'],
      ['maxNum', 'int'],
      ['beginTimestamp', 'long'],
      ['endTimestamp', 'long'],
      ['_UNIQUE_KEY_QUERY', 'bool'],
    ],
  ],
  [RequestCode.VIEW_MESSAGE_BY_ID, [['offset', 'long']]],
  [
    RequestCode.CONSUMER_SEND_MSG_BACK,
    [
      ['offset', 'long'],
      ['group', 'group'],
      ['delayLevel', 'int'],
      ['originMsgId', 'text'],
      ['originTopic', 'topic'],
      ['unitMode', 'bool'],
      ['maxReconsumeTimes', 'int'],
    ],
  ],
  [
    RequestCode.UNREGISTER_CLIENT,
    [
      ['clientID', 'text'],
      ['producerGroup', 'group'],
      ['consumerGroup', 'group'],
    ],
  ],
  [RequestCode.GET_CONSUMER_LIST_BY_GROUP, [['consumerGroup', 'group']]],
  [
    RequestCode.QUERY_CONSUMER_OFFSET,
    [
      ['consumerGroup', 'group'],
      ['topic', 'topic'],
      ['queueId', 'int'],
    ],
  ],
  [
    RequestCode.UPDATE_CONSUMER_OFFSET,
    [
      ['consumerGroup', 'group'],
      ['topic', 'topic'],
      ['queueId', 'int'],
      ['commitOffset', 'long'],
    ],
  ],
  [
    RequestCode.UPDATE_AND_CREATE_TOPIC,
    [
      ['topic', 'topic'],
      ['defaultTopic', 'defaultTopic'],
      ['readQueueNums', 'int'],
      ['writeQueueNums', 'int'],
      ['perm', 'int'],
      ['topicFilterType', 'text'],
      ['topicSysFlag', 'int'],
      ['order', 'bool'],
    ],
  ],
  [RequestCode.DELETE_TOPIC_IN_BROKER, [['topic', 'topic']]],
  [RequestCode.GET_TOPIC_STATS_INFO, [['topic', 'topic']]],
  [
    RequestCode.GET_MAX_OFFSET,
    [
      ['topic', 'topic'],
      ['queueId', 'int'],
    ],
  ],
  [
    RequestCode.GET_MIN_OFFSET,
    [
      ['topic', 'topic'],
      ['queueId', 'int'],
    ],
  ],
  [
    RequestCode.GET_EARLIEST_MSG_STORETIME,
    [
      ['topic', 'topic'],
      ['queueId', 'int'],
    ],
  ],
  [
    RequestCode.SEARCH_OFFSET_BY_TIMESTAMP,
    [
      ['topic', 'topic'],
      ['queueId', 'int'],
      ['timestamp', 'long'],
    ],
  ],
  [
    RequestCode.GET_CONSUME_STATS,
    [
      ['consumerGroup', 'group'],
      ['topic', 'topic'],
    ],
  ],
  [
    RequestCode.INVOKE_BROKER_TO_RESET_OFFSET,
    [
      ['topic', 'topic'],
      ['group', 'group'],
      ['timestamp', 'long'],
      ['isForce', 'bool'],
    ],
  ],
  [
    RequestCode.DELETE_SUBSCRIPTIONGROUP,
    [
      ['groupName', 'group'],
      ['removeOffset', 'bool'],
    ],
  ],
  [RequestCode.GET_CONSUMER_CONNECTION_LIST, [['consumerGroup', 'group']]],
  [RequestCode.GET_PRODUCER_CONNECTION_LIST, [['producerGroup', 'group']]],
  [RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, [['topic', 'topic']]],
  [
    RequestCode.END_TRANSACTION,
    [
      ['producerGroup', 'group'],
      ['tranStateTableOffset', 'long'],
      ['commitLogOffset', 'long'],
      ['commitOrRollback', 'int'],
      ['fromTransactionCheck', 'bool'],
      ['msgId', 'text'],
    ],
  ],
])

/** Keys that are not header fields but commonly present, or hostile to a plain-object map (§1.9). */
const EXTRA_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '',
  'bname',
  'AccessKey',
  'oway',
  '\u0000',
]

function fieldValue(kind: FieldKind, o: ArbitraryOptions): fc.Arbitrary<ExtValue> {
  const valid = ((): fc.Arbitrary<ExtValue> => {
    switch (kind) {
      case 'int':
        return intText
      case 'long':
        return longText
      case 'bool':
        return fc.oneof(boolText, fc.boolean())
      case 'topic':
        return topicArbitrary(o)
      case 'group':
        return groupArbitrary(o)
      case 'props':
        return propertiesArbitrary(o)
      case 'defaultTopic':
        return fc.oneof({ arbitrary: fc.constant('TBW102'), weight: 6 }, { arbitrary: topicArbitrary(o), weight: 1 })
      case 'tags':
        return fc.oneof(
          fc.constantFrom('*', 'A', 'A || B', 'A||B||C', '||', ' ', '', 'a'.repeat(300)),
          anyText,
          fc.array(anyText, { maxLength: 50 }).map((t) => t.join('||')),
        )
      case 'expr':
        return fc.constantFrom('TAG', 'SQL92', '', 'tag', 'X')
      case 'text':
        return anyText
    }
  })()
  return fc.oneof(
    { arbitrary: valid, weight: 16 },
    { arbitrary: fc.constantFrom(...GARBAGE_NUMBERS), weight: 3 },
    { arbitrary: fc.constant(null), weight: 1 },
  )
}

function extFieldsArbitrary(code: number, o: ArbitraryOptions): fc.Arbitrary<[string, ExtValue][] | null> {
  const spec = FIELDS.get(code)
  const extra = fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...EXTRA_KEYS), anyText),
      fc.oneof(anyText, fc.constantFrom(...GARBAGE_NUMBERS)),
    ) as fc.Arbitrary<[string, ExtValue]>,
    { maxLength: 3 },
  )
  if (spec === undefined) {
    // A code without a known header: random fields, some named as other codes name theirs.
    const names = fc.constantFrom('topic', 'consumerGroup', 'queueId', 'offset', 'group', 'clientID', 'key', 'a', 'b')
    const pair = fc.tuple(fc.oneof(names, anyText), fieldValue('text', o)) as fc.Arbitrary<[string, ExtValue]>
    return fc.oneof(
      { arbitrary: fc.array(pair, { maxLength: 6 }), weight: 5 },
      { arbitrary: fc.constant(null), weight: 1 },
    )
  }
  const fields = spec.map(([name, kind]) =>
    fc.oneof(
      { arbitrary: fieldValue(kind, o).map((v) => [name, v] as [string, ExtValue]), weight: 9 },
      { arbitrary: fc.constant(null), weight: 1 },
    ),
  )
  return fc
    .tuple(fc.tuple(...fields), extra, fc.boolean(), fc.nat())
    .map(([present, extraPairs, reorder, rotation]) => {
      const pairs = present.filter((p): p is [string, ExtValue] => p !== null)
      if (reorder && pairs.length > 0) {
        const r = rotation % pairs.length
        pairs.push(...pairs.splice(0, r))
      }
      return [...pairs, ...extraPairs]
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Bodies

const randomBytes = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((a) => Buffer.from(a.buffer, a.byteOffset, a.length))

const JUNK_JSON = [
  '',
  '{',
  '}',
  '{"a":',
  '[]',
  'null',
  'true',
  '"x"',
  '0',
  '{0:1}',
  '{{"a":1}:2}',
  '{"clientID":1}',
  '{"clientID":"c","consumerDataSet":{}}',
  '{"clientID":"c","consumerDataSet":[null]}',
  '{"clientID":"c","consumerDataSet":[{"groupName":null}]}',
  '{"clientID":"c","producerDataSet":[null]}',
  '{"clientID":"c","producerDataSet":[1]}',
  '\ufeff{}',
  '{"__proto__":{"x":1},"clientID":"c"}',
  '{"constructor":{"prototype":{"x":1}},"clientID":"c"}',
  '{"a":1,"a":2}',
  '{"mqSet":"x","clientId":"c","consumerGroup":"g"}',
  '{"mqSet":[{"topic":1}],"clientId":"c","consumerGroup":"g"}',
  '{"mqSet":[{"topic":"t","brokerName":"b","queueId":1.5}],"clientId":"c","consumerGroup":"g"}',
  '{"subscriptionData":null}',
  '{"subscriptionData":{"topic":"t","expressionType":"SQL92","subString":"a > 1"}}',
  '{"groupName":""}',
  '{"groupName":1}',
  '[1,2,',
  '{"a":"\\x"}',
  '{"a":"\\u12"}',
] as const

const deepJson = fc.constantFrom(
  '['.repeat(100_000),
  `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
  `{"clientID":"c","consumerDataSet":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
  `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
  `{0:${'{1:'.repeat(200)}2${'}'.repeat(200)}}`,
)

function junkBody(): fc.Arbitrary<Buffer | null> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...JUNK_JSON).map((s) => Buffer.from(s)), weight: 24 },
    { arbitrary: fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)), weight: 16 },
    { arbitrary: randomBytes(64), weight: 8 },
    { arbitrary: deepJson.map((s) => Buffer.from(s)), weight: 1 },
    { arbitrary: fc.constant(null), weight: 8 },
  )
}

function jsonish(o: ArbitraryOptions): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: anyText, weight: 2 },
    { arbitrary: topicArbitrary(o), weight: 2 },
    { arbitrary: fc.integer(), weight: 1 },
    { arbitrary: fc.constantFrom(null, true, false, 1.5, -1, [], {}, 2 ** 60), weight: 1 },
  )
}

function subscriptionJson(o: ArbitraryOptions): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      arbitrary: fc.record(
        {
          topic: fc.oneof(topicArbitrary(o), jsonish(o)),
          subString: fc.oneof(fieldValue('tags', o), jsonish(o)),
          tagsSet: fc.oneof(fc.array(fc.oneof(anyText, jsonish(o)), { maxLength: 5 }), jsonish(o)),
          codeSet: fc.oneof(fc.array(fc.oneof(fc.integer(), jsonish(o)), { maxLength: 5 }), jsonish(o)),
          subVersion: fc.oneof(fc.maxSafeInteger(), jsonish(o)),
          expressionType: fc.oneof(fc.constantFrom('TAG', 'SQL92', 'X'), jsonish(o)),
          classFilterMode: fc.oneof(fc.boolean(), jsonish(o)),
        },
        { requiredKeys: [] },
      ),
      weight: 8,
    },
    { arbitrary: jsonish(o), weight: 1 },
  )
}

function heartbeatJson(o: ArbitraryOptions): fc.Arbitrary<unknown> {
  const consumer = fc.record(
    {
      groupName: fc.oneof({ arbitrary: groupArbitrary(o), weight: 8 }, { arbitrary: jsonish(o), weight: 1 }),
      consumeType: fc.constantFrom('CONSUME_ACTIVELY', 'CONSUME_PASSIVELY', 'X', 1),
      messageModel: fc.constantFrom('CLUSTERING', 'BROADCASTING', 'X', null),
      consumeFromWhere: fc.oneof(fc.constantFrom('CONSUME_FROM_LAST_OFFSET', 'CONSUME_FROM_FIRST_OFFSET'), jsonish(o)),
      subscriptionDataSet: fc.oneof(
        { arbitrary: fc.array(subscriptionJson(o), { maxLength: 4 }), weight: 8 },
        { arbitrary: jsonish(o), weight: 1 },
      ),
      unitMode: fc.oneof(fc.boolean(), jsonish(o)),
    },
    { requiredKeys: [] },
  )
  return fc.record(
    {
      clientID: fc.oneof({ arbitrary: anyText, weight: 8 }, { arbitrary: jsonish(o), weight: 1 }),
      producerDataSet: fc.oneof(
        {
          arbitrary: fc.array(fc.record({ groupName: fc.oneof(groupArbitrary(o), jsonish(o)) }), { maxLength: 3 }),
          weight: 8,
        },
        { arbitrary: fc.array(jsonish(o), { maxLength: 3 }), weight: 1 },
      ),
      consumerDataSet: fc.oneof(
        { arbitrary: fc.array(consumer, { maxLength: 3 }), weight: 8 },
        { arbitrary: fc.array(jsonish(o), { maxLength: 3 }), weight: 1 },
      ),
    },
    { requiredKeys: [] },
  )
}

function messageQueueJson(o: ArbitraryOptions): fc.Arbitrary<unknown> {
  return fc.oneof(
    {
      arbitrary: fc.record({
        topic: fc.oneof({ arbitrary: topicArbitrary(o), weight: 8 }, { arbitrary: jsonish(o), weight: 1 }),
        brokerName: fc.oneof({ arbitrary: fc.constant('broker-a'), weight: 4 }, { arbitrary: anyText, weight: 1 }),
        queueId: fc.oneof(
          { arbitrary: fc.integer({ min: -2, max: 16 }), weight: 6 },
          { arbitrary: jsonish(o), weight: 1 },
        ),
      }),
      weight: 10,
    },
    { arbitrary: jsonish(o), weight: 1 },
  )
}

function lockJson(o: ArbitraryOptions): fc.Arbitrary<unknown> {
  return fc.record(
    {
      clientId: fc.oneof({ arbitrary: anyText, weight: 6 }, { arbitrary: jsonish(o), weight: 1 }),
      consumerGroup: fc.oneof({ arbitrary: groupArbitrary(o), weight: 6 }, { arbitrary: jsonish(o), weight: 1 }),
      mqSet: fc.oneof(
        { arbitrary: fc.array(messageQueueJson(o), { maxLength: 8 }), weight: 40 },
        { arbitrary: jsonish(o), weight: 5 },
        // Many queues in one request.
        {
          arbitrary: fc.integer({ min: 300, max: 1500 }).map((n) =>
            Array.from({ length: n }, (_, i) => ({
              topic: o.topics[i % o.topics.length],
              brokerName: 'broker-a',
              queueId: i,
            })),
          ),
          weight: 1,
        },
      ),
    },
    { requiredKeys: [] },
  )
}

function groupConfigJson(o: ArbitraryOptions): fc.Arbitrary<unknown> {
  return fc.record(
    {
      groupName: fc.oneof({ arbitrary: groupArbitrary(o), weight: 6 }, { arbitrary: jsonish(o), weight: 1 }),
      consumeEnable: fc.oneof(fc.boolean(), jsonish(o)),
      consumeBroadcastEnable: fc.oneof(fc.boolean(), jsonish(o)),
      // One past the largest queue count is enough to find a missing bound; far larger counts (2^31) make the
      // per-queue admin loops exhaust the heap while the bound is missing, which would end the whole run.
      retryQueueNums: fc.oneof(
        fc.integer({ min: -2, max: 20 }),
        fc.constantFrom<unknown>(65536, 65537, 1.5, '3', null, true, [], {}),
      ),
      retryMaxTimes: fc.oneof(fc.integer({ min: -2, max: 20 }), jsonish(o)),
      brokerId: fc.oneof(fc.integer({ min: -1, max: 2 }), jsonish(o)),
      notifyConsumerIdsChangedEnable: fc.oneof(fc.boolean(), jsonish(o)),
    },
    { requiredKeys: [] },
  )
}

/** An element of a batch body (protocol.md §5.2), or something that looks like one. */
function batchBody(o: ArbitraryOptions): fc.Arbitrary<Buffer> {
  const element = fc.tuple(randomBytes(64), propertiesArbitrary(o), fc.integer()).map(([body, props, flag]) => {
    const p = Buffer.from(props)
    const b = Buffer.alloc(22 + body.length + p.length)
    b.writeInt32BE(b.length, 0)
    b.writeInt32BE(flag, 12)
    b.writeInt32BE(body.length, 16)
    body.copy(b, 20)
    b.writeInt16BE(Math.min(p.length, 32767), 20 + body.length)
    p.copy(b, 22 + body.length)
    return b
  })
  const valid = fc.array(element, { minLength: 1, maxLength: 5 }).map((es) => Buffer.concat(es))
  // Damage one 32-bit word (sizes, lengths) or the 16-bit properties length, or cut the body anywhere.
  const damaged = fc
    .tuple(
      valid,
      fc.nat(),
      fc.constantFrom(-1, 0, 1, 21, 22, 0x7fffffff, -0x80000000, 65536),
      fc.constantFrom('word', 'short', 'cut', 'append'),
    )
    .map(([b, at, value, how]) => {
      const out = Buffer.from(b)
      if (how === 'cut') return out.subarray(0, at % out.length)
      if (how === 'append') return Buffer.concat([out, Buffer.from([0, 0, 0])])
      if (how === 'short') {
        out.writeInt16BE(((value << 16) >> 16) | 0, at % (out.length - 1))
        return out
      }
      const pos = [0, 16][at % 2]!
      out.writeInt32BE(value | 0, pos)
      return out
    })
  return fc.oneof(
    { arbitrary: valid, weight: 3 },
    { arbitrary: damaged, weight: 3 },
    { arbitrary: randomBytes(80), weight: 1 },
  )
}

function bodyArbitrary(code: number, o: ArbitraryOptions): fc.Arbitrary<Buffer | null> {
  const json = (a: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer | null> =>
    fc.oneof(
      { arbitrary: a.map((v) => Buffer.from(JSON.stringify(v))), weight: 5 },
      { arbitrary: junkBody(), weight: 2 },
    )
  switch (code) {
    case RequestCode.SEND_MESSAGE:
    case RequestCode.SEND_MESSAGE_V2:
    case RequestCode.SEND_REPLY_MESSAGE:
    case RequestCode.SEND_REPLY_MESSAGE_V2:
      return fc.oneof(
        { arbitrary: randomBytes(256), weight: 80 },
        { arbitrary: fc.constant(null), weight: 8 },
        { arbitrary: batchBody(o), weight: 8 },
        { arbitrary: fc.integer({ min: 16_000, max: 70_000 }).map((n) => Buffer.alloc(n, 7)), weight: 1 },
      )
    case RequestCode.SEND_BATCH_MESSAGE:
      return fc.oneof({ arbitrary: batchBody(o), weight: 10 }, { arbitrary: fc.constant(null), weight: 1 })
    case RequestCode.HEART_BEAT:
      return json(heartbeatJson(o))
    case RequestCode.CHECK_CLIENT_CONFIG:
      return json(fc.record({ subscriptionData: subscriptionJson(o) }, { requiredKeys: [] }))
    case RequestCode.LOCK_BATCH_MQ:
    case RequestCode.UNLOCK_BATCH_MQ:
      return json(lockJson(o))
    case RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP:
      return json(groupConfigJson(o))
    default:
      return fc.oneof({ arbitrary: fc.constant(null), weight: 6 }, { arbitrary: junkBody(), weight: 1 })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

const ALL_CODES: number[] = Object.values(RequestCode)
/** Codes whose processors read headers and bodies: drawn more often than the rest. */
const HOT_CODES: number[] = [
  RequestCode.SEND_MESSAGE,
  RequestCode.SEND_MESSAGE_V2,
  RequestCode.SEND_BATCH_MESSAGE,
  RequestCode.PULL_MESSAGE,
  RequestCode.HEART_BEAT,
  RequestCode.LOCK_BATCH_MQ,
  RequestCode.UNLOCK_BATCH_MQ,
  RequestCode.CONSUMER_SEND_MSG_BACK,
  RequestCode.UPDATE_CONSUMER_OFFSET,
  RequestCode.QUERY_CONSUMER_OFFSET,
  RequestCode.UPDATE_AND_CREATE_TOPIC,
  RequestCode.VIEW_MESSAGE_BY_ID,
  RequestCode.QUERY_MESSAGE,
  RequestCode.CHECK_CLIENT_CONFIG,
]

function randomCodeArbitrary(serializeType: 0 | 1): fc.Arbitrary<number> {
  return serializeType === SERIALIZE_JSON
    ? fc.integer({ min: -0x80000000, max: 0x7fffffff })
    : fc.integer({ min: -0x8000, max: 0x7fff })
}

const flagArbitrary = fc.oneof(
  { arbitrary: fc.constant(0), weight: 20 },
  { arbitrary: fc.constant(2), weight: 3 },
  { arbitrary: fc.constant(1), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
)

/** Any int32 as an opaque; the session makes them unique per connection. */
const opaqueArbitrary = fc.oneof(
  { arbitrary: fc.nat({ max: 1_000_000 }), weight: 4 },
  { arbitrary: fc.constantFrom(0, -1, 0x7fffffff, -0x80000000), weight: 1 },
  { arbitrary: fc.integer(), weight: 1 },
)

const jsonLanguage = fc.oneof(
  { arbitrary: fc.constantFrom<FuzzCommand['language']>('JAVA', 'CPP', 'GO', 'NODE_JS', 'OTHER'), weight: 8 },
  { arbitrary: fc.constantFrom<FuzzCommand['language']>(undefined, null, 'KLINGON', '', 3, true), weight: 1 },
)

const version = fc.oneof(
  { arbitrary: fc.constantFrom<number | undefined>(409, 121, 317, 0, 413), weight: 6 },
  { arbitrary: fc.constantFrom<number | undefined>(undefined, -1, 32767, -32768), weight: 1 },
)

const extraMembers = fc.oneof(
  { arbitrary: fc.constant<FuzzCommand['extraMembers']>([]), weight: 10 },
  {
    arbitrary: fc.constantFrom<FuzzCommand['extraMembers']>(
      [['serializeTypeCurrentRPC', 'JSON']],
      [['unknownMember', 1]],
      [['body', 'x']],
      [['customHeader', null]],
    ),
    weight: 1,
  },
)

/**
 * Well-formed requests: any code (the ones whose processors read headers and bodies more often), header fields
 * as that code names them, each valid, garbage or missing, and a body of the kind the code reads, or junk.
 */
export function commandArbitrary(o: ArbitraryOptions): fc.Arbitrary<FuzzCommand> {
  // Built once per code: arbitraries are costly to construct, cheap to draw from.
  const build = (serializeType: 0 | 1, code: fc.Arbitrary<number>, fieldsOf: number): fc.Arbitrary<FuzzCommand> =>
    fc.record({
      serializeType: fc.constant(serializeType),
      code,
      language: serializeType === SERIALIZE_JSON ? jsonLanguage : fc.integer({ min: 0, max: 255 }),
      version,
      opaque: opaqueArbitrary,
      flag:
        serializeType === SERIALIZE_JSON
          ? fc.oneof({ arbitrary: flagArbitrary, weight: 10 }, { arbitrary: fc.constant(undefined), weight: 1 })
          : flagArbitrary,
      remark: fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, { arbitrary: anyText, weight: 1 }),
      extFields: extFieldsArbitrary(fieldsOf, o),
      extraMembers: serializeType === SERIALIZE_JSON ? extraMembers : fc.constant([]),
      rawInvalidUtf8: fc.oneof(
        { arbitrary: fc.constant(false), weight: 20 },
        { arbitrary: fc.constant(true), weight: 1 },
      ),
      body: bodyArbitrary(fieldsOf, o),
    })
  const forType = (serializeType: 0 | 1): fc.Arbitrary<FuzzCommand> => {
    const byCode = new Map(ALL_CODES.map((c) => [c, build(serializeType, fc.constant(c), c)]))
    return fc.oneof(
      { arbitrary: fc.oneof(...HOT_CODES.map((c) => byCode.get(c)!)), weight: 12 },
      { arbitrary: fc.oneof(...ALL_CODES.map((c) => byCode.get(c)!)), weight: 8 },
      { arbitrary: build(serializeType, randomCodeArbitrary(serializeType), -1), weight: 1 },
    )
  }
  return fc.oneof(
    { arbitrary: forType(SERIALIZE_JSON), weight: 2 },
    { arbitrary: forType(SERIALIZE_ROCKETMQ), weight: 1 },
  )
}

/**
 * JSON ext values as numbers or booleans where the text is a canonical number or boolean (ali-ons, §1.7): the
 * broker reads `String(value)`, so the field means the same.
 */
export function numericJsonExt(cmd: FuzzCommand): FuzzCommand {
  if (cmd.serializeType !== SERIALIZE_JSON || cmd.extFields === null) return cmd
  const ext = cmd.extFields.map(([k, v]): [string, ExtValue] => {
    if (typeof v === 'string' && /^-?(0|[1-9]\d{0,14})$/.test(v)) return [k, Number(v)]
    if (v === 'true' || v === 'false') return [k, v === 'true']
    return [k, v]
  })
  return { ...cmd, extFields: ext }
}

// ---------------------------------------------------------------------------------------------------------------
// Frames that are malformed by definition (protocol.md §1.2, §1.7, §1.8): close, no reply.

export interface BadFrame {
  kind: string
  bytes: Buffer
}

function rawFrame(type: number, headerWordLength: number, header: Buffer, body: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(8 + header.length + body.length)
  out.writeInt32BE(4 + header.length + body.length, 0)
  out.writeUInt32BE((((type & 0xff) << 24) >>> 0) + (headerWordLength & 0xffffff), 4)
  header.copy(out, 8)
  body.copy(out, 8 + header.length)
  return out
}

function binaryFixed(code: number, opaque: number, remarkLength: number, extLength: number): Buffer {
  const h = Buffer.alloc(21)
  h.writeInt16BE(code, 0)
  h.writeInt16BE(409, 3)
  h.writeInt32BE(opaque, 5)
  h.writeInt32BE(remarkLength, 13)
  h.writeInt32BE(extLength, 17)
  return h
}

/** Headers no reader can parse: not JSON, not an object, or a member that cannot be read as its type. */
const UNPARSABLE_JSON = [
  '',
  ' ',
  '{',
  '{"code":10,"opaque":1',
  'null',
  '[]',
  '[{"code":10,"opaque":1}]',
  '"code"',
  '42',
  'true',
  '{"code":"ten","opaque":1}',
  '{"code":[10],"opaque":1}',
  '{"code":{},"opaque":1}',
  '{"code":1e300,"opaque":1}',
  '{"code":10,"opaque":"one"}',
  '{"code":10,"opaque":1,"flag":"x"}',
  '{"code":10,"opaque":1,"extFields":"a=b"}',
  '{"code":10,"opaque":1,"extFields":5}',
  '{"code":10,"opaque":1}}',
  "{'code':10,'opaque':1}",
  '{code:10,opaque:1}',
  '\u0000',
  '{"code":10,"opaque":1,}',
] as const

/**
 * Headers the spec leaves open (fastjson would coerce some of them; ferrymq may refuse them): the broker may close
 * the connection or answer, but must stay in step with the stream either way.
 */
const DEBATABLE_JSON = [
  '{}',
  '{"opaque":1}',
  '{"code":10}',
  '{"code":null,"opaque":1}',
  '{"code":1.5,"opaque":1}',
  '{"code":10,"opaque":1.25}',
  '{"code":10,"opaque":1,"flag":"0"}',
  '{"code":10,"opaque":1,"flag":0.5}',
  '{"code":10,"opaque":1,"version":"409"}',
  '{"code":10,"opaque":1,"remark":5}',
  '{"code":10,"opaque":1,"remark":{}}',
  '{"code":10,"opaque":1,"extFields":[]}',
  '{"code":10,"opaque":1,"extFields":{"a":{}}}',
  '{"code":10,"opaque":1,"extFields":{"a":[1]}}',
  '{"code":4294967295,"opaque":1}',
  '{"code":26,"opaque":4294967295}',
  '{"code":26,"opaque":-2147483649}',
  '{"code":26,"opaque":1,"language":{"x":1}}',
] as const

/** Frames every receiver must refuse by closing the connection without a reply. */
export function badFrameArbitrary(): fc.Arbitrary<BadFrame> {
  const okJson = Buffer.from('{"code":26,"flag":0,"language":"JAVA","opaque":7,"version":409}')
  const badLength = fc
    .constantFrom(-0x80000000, -1, 0, 1, 2, 3, TOTAL_LENGTH_MAX + 1, 0x7fffffff, 0x16030100, 0x20000000)
    .chain((length) =>
      randomBytes(32).map((rest) => {
        const b = Buffer.alloc(4 + rest.length)
        b.writeInt32BE(length, 0)
        rest.copy(b, 4)
        // Whatever follows a bad length word must never be read as a frame.
        return { kind: `length ${length}`, bytes: b }
      }),
    )
  const headerTooLong = fc
    .tuple(fc.integer({ min: 1, max: 0xffffff }), fc.constantFrom(SERIALIZE_JSON, SERIALIZE_ROCKETMQ), randomBytes(8))
    .map(([extra, type, body]) => {
      const frameBody = Buffer.concat([okJson, body])
      const claimed = Math.min(frameBody.length + extra, 0xffffff)
      return { kind: 'header length > frame', bytes: rawFrame(type, claimed, frameBody) }
    })
  const unknownType = fc.integer({ min: 2, max: 255 }).map((type) => ({
    kind: `serialize type ${type}`,
    bytes: rawFrame(type, okJson.length, okJson),
  }))
  const unparsableJson = fc
    .oneof(
      fc.constantFrom(...UNPARSABLE_JSON).map((s) => Buffer.from(s)),
      // A valid header cut anywhere is never a complete object.
      fc.nat({ max: okJson.length - 1 }).map((n) => okJson.subarray(0, n)),
      // Never ends with '}'.
      randomBytes(40).map((b) => Buffer.concat([Buffer.from('{'), b, Buffer.from('"')])),
    )
    .chain((header) =>
      randomBytes(16).map((body) => ({
        kind: `json header ${JSON.stringify(header.toString('latin1').slice(0, 40))}`,
        bytes: rawFrame(0, header.length, header, body),
      })),
    )
  const binary = fc
    .oneof(
      fc.nat({ max: 20 }).map((n) => ({ why: `binary header of ${n} bytes`, header: Buffer.alloc(n, 1) })),
      fc
        .constantFrom(-1, -0x80000000, 1, 100, 0x7fffffff)
        .map((r) => ({ why: `remark length ${r}`, header: binaryFixed(26, 7, r, 0) })),
      fc
        .constantFrom(-1, -0x80000000, 1, 100, 0x7fffffff)
        .map((e) => ({ why: `ext length ${e}`, header: binaryFixed(26, 7, 0, e) })),
      fc.constant({
        why: 'remark leaves no room for the ext length',
        header: Buffer.concat([binaryFixed(26, 7, 4, 0).subarray(0, 17), Buffer.from('abcd')]),
      }),
      fc.constantFrom(1, 3, 5).map((len) => {
        // An ext area too short for its entry: cut in the key length, the key or the value length.
        const entry = Buffer.from([0, 1, 0x61, 0, 0, 0, 1, 0x62]).subarray(0, len)
        return { why: `ext entry cut at ${len}`, header: Buffer.concat([binaryFixed(26, 7, 0, entry.length), entry]) }
      }),
      fc.constantFrom(-1, -0x8000, 100).map((k) => {
        const entry = Buffer.alloc(8)
        entry.writeInt16BE(k, 0)
        return { why: `ext key length ${k}`, header: Buffer.concat([binaryFixed(26, 7, 0, entry.length), entry]) }
      }),
      fc.constantFrom(-1, -0x80000000, 100, 0x7fffffff).map((v) => {
        const entry = Buffer.alloc(9)
        entry.writeInt16BE(1, 0)
        entry[2] = 0x61
        entry.writeInt32BE(v, 3)
        return { why: `ext value length ${v}`, header: Buffer.concat([binaryFixed(26, 7, 0, entry.length), entry]) }
      }),
    )
    .chain(({ why, header }) =>
      randomBytes(16).map((body) => ({ kind: why, bytes: rawFrame(1, header.length, header, body) })),
    )
  return fc.oneof(badLength, headerTooLong, unknownType, unparsableJson, binary)
}

/**
 * Complete frames (the length word is right) whose header may or may not be acceptable: debatable JSON, more ext
 * fields than ferrymq takes, or a well-formed frame with random bytes overwritten after its length word.
 */
export function debatableFrameArbitrary(o: ArbitraryOptions): fc.Arbitrary<BadFrame> {
  const debatable = fc.constantFrom(...DEBATABLE_JSON).map((s) => {
    const header = Buffer.from(s)
    return { kind: `json header ${s}`, bytes: rawFrame(0, header.length, header) }
  })
  const manyJsonExt = fc.constantFrom(1024, 1025, 3000).map((n) => {
    const ext = Array.from({ length: n }, (_, i) => `"k${i}":"v"`).join(',')
    const header = Buffer.from(`{"code":26,"extFields":{${ext}},"flag":0,"opaque":7}`)
    return { kind: `${n} json ext fields`, bytes: rawFrame(0, header.length, header) }
  })
  const manyBinaryExt = fc.constantFrom(1024, 1025, 4000).map((n) => {
    const entries = Buffer.concat(
      Array.from({ length: n }, (_, i) =>
        Buffer.from(`\u0000\u0005k${String(i).padStart(4, '0')}\u0000\u0000\u0000\u0001v`, 'latin1'),
      ),
    )
    const header = Buffer.concat([binaryFixed(26, 7, 0, entries.length), entries])
    return { kind: `${n} binary ext entries`, bytes: rawFrame(1, header.length, header) }
  })
  const mutated = fc
    .tuple(
      commandArbitrary(o),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    )
    .map(([cmd, edits]) => {
      const b = encodeCommand(cmd)
      // The length word stays: the frame's end is known, so what follows it is still a frame.
      for (const [at, value] of edits) b[4 + (at % (b.length - 4))] = value
      return { kind: `mutated code ${cmd.code}`, bytes: b }
    })
  const randomFrame = randomBytes(200).map((rest) => {
    const b = Buffer.alloc(4 + Math.max(rest.length, 4))
    b.writeInt32BE(Math.max(rest.length, 4), 0)
    rest.copy(b, 4)
    return { kind: 'random frame', bytes: b }
  })
  return fc.oneof(
    { arbitrary: debatable, weight: 3 },
    { arbitrary: manyJsonExt, weight: 1 },
    { arbitrary: manyBinaryExt, weight: 1 },
    { arbitrary: mutated, weight: 8 },
    { arbitrary: randomFrame, weight: 3 },
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions: what one connection does.

export type SessionEnding =
  /** Close our side once every answer is in. */
  | { kind: 'clean' }
  /** A frame that must close the connection, then a request that must not be answered. */
  | { kind: 'malformed'; frame: BadFrame; trailingBinary: boolean }
  /** A complete frame of debatable validity, then a request: closed without answering it, or answered. */
  | { kind: 'debatable'; frame: BadFrame; trailingBinary: boolean }
  /** The first part of a well-formed frame, then end of stream. */
  | { kind: 'truncated'; command: FuzzCommand; keepFraction: number }
  /** Random bytes with no frame structure, then end of stream. */
  | { kind: 'garbage'; bytes: Buffer }

export interface Session {
  /** Index into the broker's listen ports (0 the main port, 1 the VIP port). */
  port: number
  commands: FuzzCommand[]
  /** Split the well-formed frames' bytes into this many writes at random points (0: one write). */
  pieces: number
  ending: SessionEnding
}

export interface SessionArbitraries {
  meta: fc.Arbitrary<Omit<Session, 'commands'> & { commandCount: number }>
  command: fc.Arbitrary<FuzzCommand>
}

export function sessionArbitraries(o: ArbitraryOptions, maxCommands = 250): SessionArbitraries {
  const ending: fc.Arbitrary<SessionEnding> = fc.oneof(
    { arbitrary: fc.constant({ kind: 'clean' as const }), weight: 3 },
    {
      arbitrary: fc
        .tuple(badFrameArbitrary(), fc.boolean())
        .map(([frame, trailingBinary]) => ({ kind: 'malformed' as const, frame, trailingBinary })),
      weight: 6,
    },
    {
      arbitrary: fc
        .tuple(debatableFrameArbitrary(o), fc.boolean())
        .map(([frame, trailingBinary]) => ({ kind: 'debatable' as const, frame, trailingBinary })),
      weight: 4,
    },
    {
      arbitrary: fc
        .tuple(commandArbitrary(o), fc.double({ min: 0, max: 0.999, noNaN: true }))
        .map(([command, keepFraction]) => ({ kind: 'truncated' as const, command, keepFraction })),
      weight: 2,
    },
    { arbitrary: randomBytes(64).map((bytes) => ({ kind: 'garbage' as const, bytes })), weight: 1 },
  )
  const meta = fc.record({
    port: fc.oneof({ arbitrary: fc.constant(0), weight: 4 }, { arbitrary: fc.constant(1), weight: 1 }),
    commandCount: fc.integer({ min: 0, max: maxCommands }),
    pieces: fc.oneof(
      { arbitrary: fc.constant(0), weight: 3 },
      { arbitrary: fc.integer({ min: 2, max: 40 }), weight: 1 },
    ),
    ending,
  })
  const command = fc.tuple(commandArbitrary(o), fc.nat({ max: 4 })).map(([c, n]) => (n === 0 ? numericJsonExt(c) : c))
  return { meta, command }
}

/** The seed of session `index` of a run: runs with nearby seeds share no sessions. */
export function sessionSeed(runSeed: number, index: number): number {
  return (Math.imul(runSeed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) | 0
}

/** The session drawn for `seed`: the same seed always gives the same session. */
export function drawSession(a: SessionArbitraries, seed: number): Session {
  const [meta] = fc.sample(a.meta, { seed, numRuns: 1 })
  const { commandCount, ...rest } = meta!
  // Drawn as one sample run rather than one array value: much cheaper for hundreds of commands.
  const commands =
    commandCount === 0 ? [] : fc.sample(a.command, { seed: (seed ^ 0x5bd1e995) | 0, numRuns: commandCount })
  return { ...rest, commands }
}
