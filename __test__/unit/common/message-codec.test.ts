import { describe, expect, it } from 'vitest'

import { javaStringHash } from '../../../ts/common/java-hash.js'
import { createMessageId, decodeMessageId } from '../../../ts/common/message/message-id.js'
import {
  findProperty,
  messageProperties2String,
  string2messageProperties,
  takeProperty,
} from '../../../ts/common/message/message-properties.js'
import { decodeMessage, decodeMessages, recordPropertiesString } from '../../../ts/common/message/message-record.js'
import { decodeHost, encodeHost } from '../../../ts/common/message/socket-address.js'
import { printable, topicProblem } from '../../../ts/common/topic-validator.js'

/** A stored record (V1, IPv4 hosts), written out by hand field by field (store.md §1.1). */
const STORED_RECORD_HEX = [
  '00000066', // TOTALSIZE 102 = 91 + body 2 + topic 2 + properties 7
  'daa320a7', // MAGICCODE V1
  '1c2d3e4f', // BODYCRC
  '00000003', // QUEUEID
  '00000005', // FLAG
  '000000000000002a', // QUEUEOFFSET 42
  '0000000100000000', // PHYSICALOFFSET 2^32
  '00000000', // SYSFLAG
  '0000018bcfe56800', // BORNTIMESTAMP 1700000000000
  '0a010203',
  '0000c351', // BORNHOST 10.1.2.3:50001
  '0000018bcfe56c00', // STORETIMESTAMP 1700000001024
  '7f000001',
  '00002a9f', // STOREHOST 127.0.0.1:10911
  '00000001', // RECONSUMETIMES
  '0000000000000000', // PREPARED TRANSACTION OFFSET
  '00000002',
  '6869', // BODY "hi"
  '02',
  '5431', // TOPIC "T1"
  '0007',
  '5441475301610' + '2', // PROPERTIES "TAGS\x01a\x02"
].join('')

describe('message properties', () => {
  it('encodes with a separator after every entry and skips absent values', () => {
    const s = messageProperties2String(
      new Map([
        ['TAGS', 'a'],
        ['KEYS', 'k1 k2'],
      ]),
    )
    expect(s).toBe('TAGS\u0001a\u0002KEYS\u0001k1 k2\u0002')
  })

  it('decodes as Java does: empty names or values dropped, later duplicates win, last separator optional', () => {
    const m = string2messageProperties('A\u00011\u0002\u0001x\u0002B\u0001\u0002A\u00012\u0002C\u00013')
    expect([...m]).toEqual([
      ['A', '2'],
      ['C', '3'],
    ])
    expect(findProperty('A\u00011\u0002AB\u00012\u0002', 'A')).toBe('1')
    expect(findProperty('A\u00011\u0002AB\u00012\u0002', 'AB')).toBe('2')
    expect(findProperty('A\u00011\u0002', 'B')).toBeNull()
  })
})

describe('message record decoder', () => {
  it('decodes the hand-written record field by field', () => {
    const m = decodeMessage(Buffer.from(STORED_RECORD_HEX, 'hex'))!
    expect(m).not.toBeNull()
    expect(m.storeSize).toBe(102)
    expect(m.bodyCRC).toBe(0x1c2d3e4f)
    expect(m.queueId).toBe(3)
    expect(m.flag).toBe(5)
    expect(m.queueOffset).toBe(42)
    expect(m.commitLogOffset).toBe(2 ** 32)
    expect(m.bornTimestamp).toBe(1_700_000_000_000)
    expect(m.bornHost).toBe('10.1.2.3:50001')
    expect(m.storeTimestamp).toBe(1_700_000_001_024)
    expect(m.storeHost).toBe('127.0.0.1:10911')
    expect(m.reconsumeTimes).toBe(1)
    expect(m.body.toString()).toBe('hi')
    expect(m.topic).toBe('T1')
    expect(m.properties.get('TAGS')).toBe('a')
    expect(m.msgId).toBe('7F00000100002A9F0000000100000000')
  })

  it('stops at bytes that are not a whole record', () => {
    const one = Buffer.from(STORED_RECORD_HEX, 'hex')
    const buf = Buffer.concat([one, one, one.subarray(0, 50)])
    expect(decodeMessages(buf)).toHaveLength(2)
    const badMagic = Buffer.from(one)
    badMagic.writeInt32BE(0x12345678, 4)
    expect(decodeMessage(badMagic)).toBeNull()
    const badLength = Buffer.from(one)
    badLength.writeInt16BE(8, 102 - 9)
    expect(decodeMessage(badLength)).toBeNull()
  })

  it('reads the hosts of each record when records from different hosts alternate', () => {
    const a = Buffer.from(STORED_RECORD_HEX, 'hex')
    const b = Buffer.from(a)
    // Born host at 48..55, store host after the 8-byte store timestamp at 64..71.
    encodeHost('192.168.7.9', 4000).copy(b, 48)
    encodeHost('10.0.0.2', 10912).copy(b, 64)
    const ms = decodeMessages(Buffer.concat([a, b, a, b]))
    expect(ms.map((m) => m.storeHost)).toEqual([
      '127.0.0.1:10911',
      '10.0.0.2:10912',
      '127.0.0.1:10911',
      '10.0.0.2:10912',
    ])
    expect(ms.map((m) => m.bornHost)).toEqual([
      '10.1.2.3:50001',
      '192.168.7.9:4000',
      '10.1.2.3:50001',
      '192.168.7.9:4000',
    ])
    expect(ms[1]!.msgId).toBe(createMessageId(encodeHost('10.0.0.2', 10912), 2 ** 32))
    expect(ms[2]!.msgId).toBe('7F00000100002A9F0000000100000000')
  })

  it('reads only the properties of a record, where the full decoder finds them', () => {
    const one = Buffer.from(STORED_RECORD_HEX, 'hex')
    const two = Buffer.concat([one, one])
    const full = decodeMessage(two, one.length)!
    const props = recordPropertiesString(two, one.length)
    expect(props).not.toBeNull()
    expect(string2messageProperties(props!)).toEqual(full.properties)
    expect(props).toBe(messageProperties2String(full.properties))
    const badMagic = Buffer.from(one)
    badMagic.writeInt32BE(0x12345678, 4)
    expect(recordPropertiesString(badMagic)).toBeNull()
    const badLength = Buffer.from(one)
    badLength.writeInt16BE(8, 102 - 9)
    expect(recordPropertiesString(badLength)).toBeNull()
    expect(recordPropertiesString(one.subarray(0, 60))).toBeNull()
  })

  it('copies bodies unless told it may take views', () => {
    const buf = Buffer.from(STORED_RECORD_HEX, 'hex')
    const copied = decodeMessage(buf)!
    const viewed = decodeMessage(buf, 0, { copyBody: false })!
    expect([copied.body.toString(), viewed.body.toString()]).toEqual(['hi', 'hi'])
    // Overwrite the body in the source: the view sees it, the copy does not.
    buf.write('yo', buf.indexOf('hi', 79))
    expect([copied.body.toString(), viewed.body.toString()]).toEqual(['hi', 'yo'])
  })
})

describe('message ids and hosts', () => {
  it('round-trips IPv4 and IPv6 offset message ids', () => {
    const v4 = createMessageId(encodeHost('192.168.1.10', 10911), 123_456_789_012)
    expect(v4).toHaveLength(32)
    expect(decodeMessageId(v4)).toEqual({ address: '192.168.1.10:10911', commitLogOffset: 123_456_789_012 })
    const v6 = createMessageId(encodeHost('fe80::1', 10911), 7)
    expect(v6).toHaveLength(56)
    expect(decodeMessageId(v6)).toEqual({ address: '[fe80:0:0:0:0:0:0:1]:10911', commitLogOffset: 7 })
    expect(decodeMessageId('not an id')).toBeNull()
  })

  it('encodes hosts as address bytes and an int port', () => {
    expect(encodeHost('10.1.2.3', 50001).toString('hex')).toBe('0a0102030000c351')
    expect(encodeHost('::ffff:10.1.2.3', 1).toString('hex')).toBe('0a01020300000001')
    const v6 = encodeHost('2001:db8::ff00:42:8329', 80)
    expect(v6).toHaveLength(20)
    expect(decodeHost(v6, 0, true)).toBe('[2001:db8:0:0:0:ff00:42:8329]:80')
    expect(() => encodeHost('example.com', 1)).toThrow(TypeError)
  })
})

describe('java hash and topic rules', () => {
  it('matches java.lang.String#hashCode', () => {
    expect(javaStringHash('')).toBe(0)
    expect(javaStringHash('TagA')).toBe(2_598_919)
    expect(javaStringHash('hello')).toBe(99_162_322)
    expect(javaStringHash('polygenelubricants')).toBe(-2_147_483_648)
    expect(javaStringHash('😀')).toBe((0xd83d * 31 + 0xde00) | 0)
  })

  it('refuses topics that are not safe directory names', () => {
    expect(topicProblem('TopicTest')).toBeNull()
    expect(topicProblem('%RETRY%group')).toBeNull()
    for (const bad of ['', '../x', 'a/b', 'a\nb', '.', 'a b', 'x'.repeat(128)]) {
      expect(topicProblem(bad), bad).not.toBeNull()
    }
    expect(topicProblem(`%RETRY%${'g'.repeat(200)}`)).toBeNull()
    expect(printable('a\nb')).toBe('a\\x0ab')
  })
})

describe('takeProperty', () => {
  it('removes every entry of the name and returns its last value', () => {
    expect(takeProperty('A\u00011\u0002WAIT\u0001true\u0002B\u00012', 'WAIT')).toEqual({
      value: 'true',
      rest: 'A\u00011\u0002B\u00012',
    })
    expect(takeProperty('WAIT\u0001false', 'WAIT')).toEqual({ value: 'false', rest: '' })
    expect(takeProperty('WAIT\u0001a\u0002X\u00011\u0002WAIT\u0001b\u0002', 'WAIT')).toEqual({
      value: 'b',
      rest: 'X\u00011\u0002',
    })
    // Only whole names at an entry's start count: NOWAIT and a value containing "WAIT\u0001" are kept.
    expect(takeProperty('NOWAIT\u0001x\u0002K\u0001WAIT\u0001y', 'WAIT')).toEqual({
      value: null,
      rest: 'NOWAIT\u0001x\u0002K\u0001WAIT\u0001y',
    })
    expect(takeProperty('A\u00011', 'WAIT')).toEqual({ value: null, rest: 'A\u00011' })
  })
})
