/**
 * Header codecs: the JSON decoder's tolerances and encoder's form (protocol.md §1.7) and the ROCKETMQ binary
 * header (§1.8).
 *
 * The binary encode/decode cases at the top of `describe('ROCKETMQ header')` are ports of Apache RocketMQ 4.9.8
 * `RocketMQSerializableTest` (`testRocketMQProtocolEncodeAndDecode_*`, `testFastEncode`).
 */
import { describe, expect, it } from 'vitest'

import { ProtocolError } from '../../../ts/common/errors.js'
import { EXT_FIELDS_MAX } from '../../../ts/common/limits.js'
import {
  decodeJsonHeader,
  decodeRocketMQHeader,
  encodeJsonHeader,
  encodeRocketMQHeader,
  ROCKETMQ_HEADER_FIXED_BYTES,
} from '../../../ts/remoting/header-codec.js'
import { RemotingCommand, SerializeType, type ExtFields } from '../../../ts/remoting/remoting-command.js'

function decodeJson(text: string): RemotingCommand {
  const bytes = Buffer.from(`xx${text}yy`, 'utf8')
  return decodeJsonHeader(bytes, 2, bytes.length - 2)
}

function decodeBinary(header: Buffer): RemotingCommand {
  return decodeRocketMQHeader(header, 0, header.length)
}

function expectMalformed(fn: () => unknown, message?: RegExp): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(ProtocolError)
  expect((thrown as ProtocolError).code).toBe('RMQ_ERR_MALFORMED_HEADER')
  if (message) expect((thrown as ProtocolError).message).toMatch(message)
}

interface BinaryHeaderParts {
  code?: number
  language?: number
  version?: number
  opaque?: number
  flag?: number
  remark?: Buffer
  /** Overrides the remark length field. */
  remarkLength?: number
  ext?: Buffer
  /** Overrides the ext length field. */
  extLength?: number
}

/** A binary header written field by field, independently of the encoder under test. */
function binaryHeader(parts: BinaryHeaderParts = {}): Buffer {
  const remark = parts.remark ?? Buffer.alloc(0)
  const ext = parts.ext ?? Buffer.alloc(0)
  const out = Buffer.alloc(21 + remark.length + ext.length)
  out.writeInt16BE(parts.code ?? 10, 0)
  out.writeUInt8(parts.language ?? 0, 2)
  out.writeInt16BE(parts.version ?? 409, 3)
  out.writeInt32BE(parts.opaque ?? 7, 5)
  out.writeInt32BE(parts.flag ?? 0, 9)
  out.writeInt32BE(parts.remarkLength ?? remark.length, 13)
  remark.copy(out, 17)
  out.writeInt32BE(parts.extLength ?? ext.length, 17 + remark.length)
  ext.copy(out, 21 + remark.length)
  return out
}

/** One binary ext entry; `keyLength`/`valueLength` override the length fields. */
function entry(key: string, value: string, lengths: { keyLength?: number; valueLength?: number } = {}): Buffer {
  const k = Buffer.from(key, 'utf8')
  const v = Buffer.from(value, 'utf8')
  const out = Buffer.alloc(6 + k.length + v.length)
  out.writeInt16BE(lengths.keyLength ?? k.length, 0)
  k.copy(out, 2)
  out.writeInt32BE(lengths.valueLength ?? v.length, 2 + k.length)
  v.copy(out, 6 + k.length)
  return out
}

describe('JSON header decoder', () => {
  it('reads members in any order and ignores unknown members', () => {
    const cmd = decodeJson(
      '{"version":317,"serializeTypeCurrentRPC":"JSON","opaque":7,"unknown":{"deep":[1,2]},"language":"GO",' +
        '"remark":"hi","flag":2,"extFields":{"a":"1"},"code":10,"type":"REQUEST_COMMAND","oneway":true}',
    )
    expect(cmd.code).toBe(10)
    expect(cmd.language).toBe('GO')
    expect(cmd.version).toBe(317)
    expect(cmd.opaque).toBe(7)
    expect(cmd.flag).toBe(2)
    expect(cmd.isOneway()).toBe(true)
    expect(cmd.remark).toBe('hi')
    expect({ ...cmd.extFields }).toEqual({ a: '1' })
    expect(cmd.serializeType).toBe(SerializeType.JSON)
  })

  it('defaults a missing or null flag to 0', () => {
    expect(decodeJson('{"code":1,"opaque":2}').flag).toBe(0)
    expect(decodeJson('{"code":1,"opaque":2,"flag":null}').flag).toBe(0)
  })

  it('defaults a missing version to 0, as a Java bean does', () => {
    expect(decodeJson('{"code":1,"opaque":2}').version).toBe(0)
  })

  it('reads a missing or null remark and extFields as null', () => {
    for (const text of ['{"code":1,"opaque":2}', '{"code":1,"opaque":2,"remark":null,"extFields":null}']) {
      const cmd = decodeJson(text)
      expect(cmd.remark).toBeNull()
      expect(cmd.extFields).toBeNull()
    }
  })

  it('keeps an empty extFields object as an empty map', () => {
    expect({ ...decodeJson('{"code":1,"opaque":2,"extFields":{}}').extFields }).toEqual({})
  })

  it('turns number and boolean ext values into the text String(v) gives (ali-ons)', () => {
    const cmd = decodeJson(
      '{"code":310,"opaque":1,"extFields":{"a":"x","queueId":3,"bornTimestamp":1700000000000,"batch":false,' +
        '"unitMode":true,"big":1e21,"neg":-1.5,"zero":0}}',
    )
    expect({ ...cmd.extFields }).toEqual({
      a: 'x',
      queueId: '3',
      bornTimestamp: '1700000000000',
      batch: 'false',
      unitMode: 'true',
      big: '1e+21',
      neg: '-1.5',
      zero: '0',
    })
  })

  it('drops an ext field whose value is null', () => {
    const cmd = decodeJson('{"code":1,"opaque":2,"extFields":{"a":null,"b":"2"}}')
    expect(cmd.extFields).not.toBeNull()
    expect(Object.keys(cmd.extFields!)).toEqual(['b'])
    expect(cmd.ext('a')).toBeUndefined()
  })

  it('maps an unknown language to OTHER and keeps known ones', () => {
    expect(decodeJson('{"code":1,"opaque":2,"language":"DOTNET_CORE"}').language).toBe('OTHER')
    expect(decodeJson('{"code":1,"opaque":2,"language":42}').language).toBe('OTHER')
    expect(decodeJson('{"code":1,"opaque":2,"language":"NODE_JS"}').language).toBe('NODE_JS')
    expect(decodeJson('{"code":1,"opaque":2,"language":"RUST"}').language).toBe('RUST')
  })

  it("reads a missing language as JAVA, the Java field's default (regression: read as OTHER)", () => {
    expect(decodeJson('{"code":1,"opaque":2}').language).toBe('JAVA')
    expect(decodeJson('{"code":1,"opaque":2,"language":null}').language).toBe('JAVA')
  })

  it('returns ext maps without a prototype (regression: inherited names read as fields)', () => {
    const clean = decodeJson('{"code":1,"opaque":2,"extFields":{"a":"1"}}')
    expect(Object.getPrototypeOf(clean.extFields)).toBeNull()
    expect(clean.ext('constructor')).toBeUndefined()
    expect(clean.ext('toString')).toBeUndefined()
    const converted = decodeJson('{"code":1,"opaque":2,"extFields":{"a":1}}')
    expect(Object.getPrototypeOf(converted.extFields)).toBeNull()
    expect(converted.ext('hasOwnProperty')).toBeUndefined()
  })

  it('keeps a __proto__ ext key as an ordinary field without touching any prototype', () => {
    const strings = decodeJson('{"code":1,"opaque":2,"extFields":{"__proto__":"polluted","b":"2"}}')
    expect(Object.keys(strings.extFields!).sort()).toEqual(['__proto__', 'b'])
    expect(strings.ext('__proto__')).toBe('polluted')
    // A number value takes the converting path.
    const converted = decodeJson('{"code":1,"opaque":2,"extFields":{"__proto__":5,"b":2}}')
    expect(converted.ext('__proto__')).toBe('5')
    expect(converted.ext('b')).toBe('2')
    // An object value is refused, never merged anywhere.
    expectMalformed(() => decodeJson('{"code":1,"opaque":2,"extFields":{"__proto__":{"polluted":"yes"}}}'), /scalar/)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const roundTrip = decodeJson(encodeJsonHeader(strings))
    expect(roundTrip.ext('__proto__')).toBe('polluted')
  })

  it('refuses text that is not a JSON object', () => {
    expectMalformed(() => decodeJson('{"code":1,'), /not JSON/)
    expectMalformed(() => decodeJson('[1,2]'), /not a JSON object/)
    expectMalformed(() => decodeJson('null'), /not a JSON object/)
    expectMalformed(() => decodeJson('"text"'), /not a JSON object/)
  })

  it('refuses a missing or non-integer code or opaque', () => {
    expectMalformed(() => decodeJson('{"opaque":1}'), /code/)
    expectMalformed(() => decodeJson('{"code":"10","opaque":1}'), /code/)
    expectMalformed(() => decodeJson('{"code":1.5,"opaque":1}'), /code/)
    expectMalformed(() => decodeJson('{"code":1}'), /opaque/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1e12}'), /opaque/)
  })

  it('refuses a flag, version, remark or extFields of the wrong type', () => {
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"flag":"1"}'), /flag/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"version":"409"}'), /version/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"remark":5}'), /remark/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"extFields":["a"]}'), /extFields/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"extFields":"a"}'), /extFields/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"extFields":{"a":{"b":"c"}}}'), /not a scalar/)
    expectMalformed(() => decodeJson('{"code":1,"opaque":1,"extFields":{"a":[1]}}'), /not a scalar/)
  })

  it(`refuses more than ${EXT_FIELDS_MAX} ext fields`, () => {
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `"k${i}":"v"`).join(',')
    expect(
      Object.keys(decodeJson(`{"code":1,"opaque":1,"extFields":{${fields(EXT_FIELDS_MAX)}}}`).extFields!),
    ).toHaveLength(EXT_FIELDS_MAX)
    expectMalformed(() => decodeJson(`{"code":1,"opaque":1,"extFields":{${fields(EXT_FIELDS_MAX + 1)}}}`), /ext fields/)
  })

  it('reads a code or opaque given as an unsigned 32-bit number as Java would wrap it', () => {
    expect(decodeJson('{"code":4294967295,"opaque":2147483648}').code).toBe(-1)
    expect(decodeJson('{"code":1,"opaque":2147483648}').opaque).toBe(-2147483648)
  })
})

describe('JSON header encoder', () => {
  it('writes members in alphabetical order, as fastjson does', () => {
    const cmd = new RemotingCommand(310)
    cmd.opaque = 42
    cmd.flag = 2
    cmd.remark = 'r'
    cmd.putExt('topic', 'T')
    const text = encodeJsonHeader(cmd)
    expect(text).toBe(
      '{"code":310,"extFields":{"topic":"T"},"flag":2,"language":"JAVA","opaque":42,"remark":"r",' +
        '"serializeTypeCurrentRPC":"JSON","version":409}',
    )
    const keys = Object.keys(JSON.parse(text) as object)
    expect(keys).toEqual([...keys].sort())
  })

  it('omits a null remark and null extFields, and writes an empty map as {}', () => {
    const cmd = new RemotingCommand(0)
    expect(encodeJsonHeader(cmd)).toBe(
      '{"code":0,"flag":0,"language":"JAVA","opaque":0,"serializeTypeCurrentRPC":"JSON","version":409}',
    )
    cmd.extFields = {}
    expect(encodeJsonHeader(cmd)).toContain('"extFields":{},')
  })

  it('omits ext fields whose value is null or undefined', () => {
    const cmd = new RemotingCommand(0)
    cmd.extFields = { a: null, b: undefined, c: 'x' } as unknown as ExtFields
    expect(encodeJsonHeader(cmd)).toContain('"extFields":{"c":"x"}')
  })

  it('writes every ext value as a JSON string', () => {
    const cmd = new RemotingCommand(0)
    cmd.extFields = { n: 5, b: false, s: 's' } as unknown as ExtFields
    cmd.putExt('m', 1.25)
    const ext = (JSON.parse(encodeJsonHeader(cmd)) as { extFields: Record<string, unknown> }).extFields
    expect(ext).toEqual({ n: '5', b: 'false', s: 's', m: '1.25' })
  })

  it('escapes the control characters of message properties as \\u00XX', () => {
    const cmd = new RemotingCommand(0)
    cmd.putExt('properties', 'TAGS\u0001a\u0002KEYS\u0001k\u0002')
    cmd.remark = 'line\u0001'
    const text = encodeJsonHeader(cmd)
    expect(text).toContain('"properties":"TAGS\\u0001a\\u0002KEYS\\u0001k\\u0002"')
    expect(text).toContain('"remark":"line\\u0001"')
    expect(/[\u0000-\u001f]/.test(text)).toBe(false)
  })

  it('writes non-ASCII characters raw, as UTF-8', () => {
    const cmd = new RemotingCommand(0)
    cmd.putExt('topic', '主题-é')
    cmd.remark = 'ünïcode ✓'
    const text = encodeJsonHeader(cmd)
    expect(text).toContain('"topic":"主题-é"')
    expect(text).toContain('"remark":"ünïcode ✓"')
    expect(text).not.toContain('\\u')
  })

  it('round-trips through the decoder', () => {
    const cmd = new RemotingCommand(11)
    cmd.language = 'GO'
    cmd.version = 317
    cmd.opaque = -5
    cmd.flag = 3
    cmd.remark = 'quote " backslash \\ tab \t'
    cmd.putExt('a', 'b').putExt('uni', '主题').putExt('ctl', '\u0001\u0002')
    const bytes = Buffer.from(encodeJsonHeader(cmd), 'utf8')
    const back = decodeJsonHeader(bytes, 0, bytes.length)
    expect(back.code).toBe(11)
    expect(back.language).toBe('GO')
    expect(back.version).toBe(317)
    expect(back.opaque).toBe(-5)
    expect(back.flag).toBe(3)
    expect(back.remark).toBe(cmd.remark)
    expect({ ...back.extFields }).toEqual({ ...cmd.extFields })
  })
})

describe('ROCKETMQ header', () => {
  function sample(): RemotingCommand {
    const cmd = RemotingCommand.createRequest(103)
    cmd.version = 2333
    cmd.serializeType = SerializeType.ROCKETMQ
    return cmd
  }

  it('encodes a command without remark or ext fields in 21 bytes (RocketMQSerializableTest)', () => {
    const cmd = sample()
    const bytes = encodeRocketMQHeader(cmd)
    expect(bytes).toHaveLength(ROCKETMQ_HEADER_FIXED_BYTES)
    expect(bytes.readInt16BE(0)).toBe(103)
    expect(bytes[2]).toBe(0)
    expect(bytes.readInt16BE(3)).toBe(2333)
    expect(bytes.readInt32BE(5)).toBe(cmd.opaque)
    expect(bytes.readInt32BE(9)).toBe(0)
    expect(bytes.readInt32BE(13)).toBe(0)
    expect(bytes.readInt32BE(17)).toBe(0)
    const back = decodeBinary(bytes)
    expect(back.code).toBe(103)
    expect(back.language).toBe('JAVA')
    expect(back.version).toBe(2333)
    expect(back.opaque).toBe(cmd.opaque)
    expect(back.flag).toBe(0)
    expect(back.remark).toBeNull()
    expect(back.extFields).toBeNull()
    expect(back.serializeType).toBe(SerializeType.ROCKETMQ)
  })

  it('encodes a remark as its length and UTF-8 bytes (RocketMQSerializableTest)', () => {
    const cmd = sample()
    cmd.remark = 'Sample Remark'
    const bytes = encodeRocketMQHeader(cmd)
    expect(bytes).toHaveLength(34)
    expect(bytes.readInt32BE(13)).toBe(13)
    expect(bytes.toString('utf8', 17, 30)).toBe('Sample Remark')
    expect(bytes.readInt32BE(30)).toBe(0)
    const back = decodeBinary(bytes)
    expect(back.remark).toBe('Sample Remark')
    expect(back.extFields).toBeNull()
  })

  it('encodes ext fields as length-prefixed entries (RocketMQSerializableTest)', () => {
    const cmd = sample()
    cmd.putExt('key', 'value')
    const bytes = encodeRocketMQHeader(cmd)
    expect(bytes).toHaveLength(35)
    expect(bytes.readInt32BE(13)).toBe(0)
    expect(bytes.readInt32BE(17)).toBe(14)
    expect(bytes.subarray(21).equals(entry('key', 'value'))).toBe(true)
    const back = decodeBinary(bytes)
    expect(back.remark).toBeNull()
    expect({ ...back.extFields }).toEqual({ key: 'value' })
  })

  it('round-trips every field (RocketMQSerializableTest#testFastEncode)', () => {
    const cmd = new RemotingCommand(1)
    cmd.remark = 'remark'
    cmd.opaque = 1001
    cmd.version = 99
    cmd.language = 'JAVA'
    cmd.flag = 3
    cmd.putExt('str', 's1').putExt('num', 100)
    const back = decodeBinary(encodeRocketMQHeader(cmd))
    expect(back.remark).toBe('remark')
    expect(back.code).toBe(1)
    expect(back.opaque).toBe(1001)
    expect(back.version).toBe(99)
    expect(back.language).toBe('JAVA')
    expect(back.flag).toBe(3)
    expect(back.ext('str')).toBe('s1')
    expect(back.ext('num')).toBe('100')
  })

  it('round-trips UTF-8 remarks, many ext fields and negative numbers', () => {
    const cmd = new RemotingCommand(-2)
    cmd.language = 'GO'
    cmd.version = -1
    cmd.opaque = -2147483648
    cmd.flag = -1
    cmd.remark = '主题 ✓ é'
    for (let i = 0; i < 50; i++) cmd.putExt(`k${i}`, `值${i}`)
    const back = decodeBinary(encodeRocketMQHeader(cmd))
    expect(back.code).toBe(-2)
    expect(back.language).toBe('GO')
    expect(back.version).toBe(-1)
    expect(back.opaque).toBe(-2147483648)
    expect(back.flag).toBe(-1)
    expect(back.remark).toBe('主题 ✓ é')
    expect({ ...back.extFields }).toEqual({ ...cmd.extFields })
  })

  it('truncates code and version to 16 bits as Java writes shorts', () => {
    const cmd = new RemotingCommand(0x12345)
    cmd.version = 70000
    const back = decodeBinary(encodeRocketMQHeader(cmd))
    expect(back.code).toBe(0x2345)
    expect(back.version).toBe(70000 - 65536)
  })

  it('writes an empty remark as length 0 and skips null ext values', () => {
    const cmd = new RemotingCommand(1)
    cmd.remark = ''
    cmd.extFields = { gone: null, kept: 'k' } as unknown as ExtFields
    const bytes = encodeRocketMQHeader(cmd)
    expect(bytes.readInt32BE(13)).toBe(0)
    expect(bytes.subarray(21).equals(entry('kept', 'k'))).toBe(true)
    expect(decodeBinary(bytes).remark).toBeNull()
  })

  it('reads a zero-length value, or a zero-length key, as an absent field', () => {
    const back = decodeBinary(
      binaryHeader({ ext: Buffer.concat([entry('empty', ''), entry('', 'v'), entry('a', 'b')]) }),
    )
    expect(Object.keys(back.extFields!)).toEqual(['a'])
  })

  it('maps language codes and unknown codes to OTHER (LanguageCodeTest)', () => {
    expect(decodeBinary(binaryHeader({ language: 12 })).language).toBe('RUST')
    expect(decodeBinary(binaryHeader({ language: 9 })).language).toBe('GO')
    expect(decodeBinary(binaryHeader({ language: 200 })).language).toBe('OTHER')
  })

  it('keeps a __proto__ key as an ordinary field', () => {
    const back = decodeBinary(
      binaryHeader({ ext: Buffer.concat([entry('__proto__', 'x'), entry('constructor', 'c')]) }),
    )
    expect(back.ext('__proto__')).toBe('x')
    expect(back.ext('constructor')).toBe('c')
    expect(back.ext('toString')).toBeUndefined()
    expect(({} as Record<string, unknown>).x).toBeUndefined()
    const again = decodeBinary(encodeRocketMQHeader(back))
    expect(again.ext('__proto__')).toBe('x')
  })

  it('refuses a header shorter than its fixed part', () => {
    expectMalformed(() => decodeBinary(Buffer.alloc(20)), /shorter than 21/)
  })

  it('bounds-checks the remark length', () => {
    const remark = Buffer.from('abc')
    expectMalformed(() => decodeBinary(binaryHeader({ remark, remarkLength: 4 })), /remark length 4/)
    expectMalformed(() => decodeBinary(binaryHeader({ remarkLength: 1 })), /remark length 1/)
    expectMalformed(() => decodeBinary(binaryHeader({ remarkLength: -1 })), /remark length -1/)
    expectMalformed(() => decodeBinary(binaryHeader({ remarkLength: 0x7fffffff })), /remark length/)
    // The remark may not eat the ext length that follows it.
    const h = binaryHeader({ remark })
    expectMalformed(() => decodeRocketMQHeader(h, 0, h.length - 1), /remark length 3/)
  })

  it('bounds-checks the ext length', () => {
    const ext = entry('a', 'b')
    expectMalformed(() => decodeBinary(binaryHeader({ ext, extLength: ext.length + 1 })), /ext length/)
    expectMalformed(() => decodeBinary(binaryHeader({ ext, extLength: -1 })), /ext length -1/)
    expectMalformed(() => decodeBinary(binaryHeader({ extLength: 0x7fffffff })), /ext length/)
  })

  it('bounds-checks key and value lengths inside the ext area', () => {
    expectMalformed(() => decodeBinary(binaryHeader({ ext: entry('key', 'v', { keyLength: 100 }) })), /key length 100/)
    expectMalformed(() => decodeBinary(binaryHeader({ ext: entry('key', 'v', { keyLength: -1 }) })), /key length -1/)
    expectMalformed(() => decodeBinary(binaryHeader({ ext: entry('key', 'v', { valueLength: 2 }) })), /value length 2/)
    expectMalformed(
      () => decodeBinary(binaryHeader({ ext: entry('key', 'v', { valueLength: -5 }) })),
      /value length -5/,
    )
    expectMalformed(
      () => decodeBinary(binaryHeader({ ext: entry('k', 'v', { valueLength: 0x7fffffff }) })),
      /value length/,
    )
    expectMalformed(() => decodeBinary(binaryHeader({ ext: Buffer.from([0]) })), /truncated ext key length/)
    expectMalformed(
      () => decodeBinary(binaryHeader({ ext: Buffer.from([0, 1, 0x61, 0, 0]) })),
      /truncated ext value length/,
    )
  })

  it('checks ext entries against the ext area, not the rest of the buffer', () => {
    const ext = entry('key', 'value')
    const h = Buffer.concat([binaryHeader({ ext, extLength: ext.length - 1 }), Buffer.from('zz')])
    expectMalformed(() => decodeRocketMQHeader(h, 0, h.length), /value length 5/)
  })

  it(`refuses more than ${EXT_FIELDS_MAX} ext fields`, () => {
    const many = (n: number): Buffer => Buffer.concat(Array.from({ length: n }, (_, i) => entry(`k${i}`, 'v')))
    expect(Object.keys(decodeBinary(binaryHeader({ ext: many(EXT_FIELDS_MAX) })).extFields!)).toHaveLength(
      EXT_FIELDS_MAX,
    )
    expectMalformed(() => decodeBinary(binaryHeader({ ext: many(EXT_FIELDS_MAX + 1) })), /ext fields/)
  })

  it('refuses to encode a key longer than its int16 length allows (regression: RangeError)', () => {
    const cmd = new RemotingCommand(1)
    cmd.putExt('k'.repeat(0x7fff), 'v')
    expect(decodeBinary(encodeRocketMQHeader(cmd)).ext('k'.repeat(0x7fff))).toBe('v')
    cmd.putExt('k'.repeat(0x8000), 'v')
    let thrown: unknown
    try {
      encodeRocketMQHeader(cmd)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(ProtocolError)
    expect((thrown as ProtocolError).code).toBe('RMQ_ERR_HEADER_TOO_LARGE')
  })
})
