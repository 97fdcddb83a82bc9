import { crc32, deflateSync } from 'node:zlib'

import { describe, expect, it } from 'vitest'

import { newTopicConfig } from '../../../ts/common/topic-config.js'
import {
  bodyCrc32,
  decodeDataVersion,
  decodeKVTable,
  decodeRegisterBrokerBody,
  encodeDataVersion,
  encodeKVTable,
  encodeRegisterBrokerBody,
  type RegisterBrokerBody,
} from '../../../ts/remoting/protocol/namesrv.js'

function body(): RegisterBrokerBody {
  return {
    topicConfigSerializeWrapper: {
      dataVersion: { timestamp: 1700000000000, counter: 3 },
      topicConfigTable: new Map([
        ['T', newTopicConfig('T', { readQueueNums: 4, writeQueueNums: 4 })],
        ['TBW102', newTopicConfig('TBW102', { readQueueNums: 8, writeQueueNums: 8, perm: 7 })],
      ]),
    },
    filterServerList: [],
  }
}

/** Length-prefixed fields of the inflated compressed form (protocol.md §2.9.9). */
function inflatedForm(fields: string[], topicCount: number): Buffer {
  const parts: Buffer[] = []
  const int = (n: number): void => {
    const b = Buffer.alloc(4)
    b.writeInt32BE(n)
    parts.push(b)
  }
  int(Buffer.byteLength(fields[0]!))
  parts.push(Buffer.from(fields[0]!))
  int(topicCount)
  for (const f of fields.slice(1)) {
    int(Buffer.byteLength(f))
    parts.push(Buffer.from(f))
  }
  return Buffer.concat(parts)
}

describe('RegisterBrokerBody', () => {
  it('writes the uncompressed form as fastjson does: sorted members, topics as TopicConfig JSON', () => {
    const text = encodeRegisterBrokerBody(body(), false).toString()
    expect(text).toBe(
      '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},' +
        '"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",' +
        '"topicName":"T","topicSysFlag":0,"writeQueueNums":4},"TBW102":{"order":false,"perm":7,"readQueueNums":8,' +
        '"topicFilterType":"SINGLE_TAG","topicName":"TBW102","topicSysFlag":0,"writeQueueNums":8}}}}',
    )
  })

  it('round-trips both forms', () => {
    for (const compressed of [false, true]) {
      expect(decodeRegisterBrokerBody(encodeRegisterBrokerBody(body(), compressed), compressed)).toEqual(body())
    }
  })

  it('reads a compressed body built field by field as the Java broker builds it', () => {
    const plain = inflatedForm(
      ['{"counter":7,"timestamp":12}', 'A 2 2 6 SINGLE_TAG', 'B 1 1 7 MULTI_TAG', '["f:1"]'],
      2,
    )
    const decoded = decodeRegisterBrokerBody(deflateSync(plain, { level: 9 }), true)
    expect(decoded.topicConfigSerializeWrapper.dataVersion).toEqual({ timestamp: 12, counter: 7 })
    expect([...decoded.topicConfigSerializeWrapper.topicConfigTable.values()]).toEqual([
      newTopicConfig('A', { readQueueNums: 2, writeQueueNums: 2, perm: 6 }),
      newTopicConfig('B', { readQueueNums: 1, writeQueueNums: 1, perm: 7, topicFilterType: 'MULTI_TAG' }),
    ])
    expect(decoded.filterServerList).toEqual(['f:1'])
  })

  it('refuses compressed bodies whose lengths lie', () => {
    const good = inflatedForm(['{"counter":7,"timestamp":12}', 'A 2 2 6 SINGLE_TAG', '[]'], 1)
    const tooMany = inflatedForm(['{"counter":7,"timestamp":12}', 'A 2 2 6 SINGLE_TAG', '[]'], 1_000_000)
    const truncated = good.subarray(0, good.length - 6)
    expect(() => decodeRegisterBrokerBody(deflateSync(tooMany), true)).toThrow(/topic count/)
    expect(() => decodeRegisterBrokerBody(deflateSync(truncated), true)).toThrow(/RegisterBrokerBody/)
    expect(() => decodeRegisterBrokerBody(Buffer.from('not zlib'), true)).toThrow(/compressed RegisterBrokerBody/)
    const badTopic = inflatedForm(['{"counter":7,"timestamp":12}', 'A 2', '[]'], 1)
    expect(() => decodeRegisterBrokerBody(deflateSync(badTopic), true)).toThrow(/topic config/)
  })

  it('keeps Java defaults for missing members: DataVersion now/0, no filter servers', () => {
    const decoded = decodeRegisterBrokerBody(
      Buffer.from('{"topicConfigSerializeWrapper":{"topicConfigTable":{}}}'),
      false,
      42,
    )
    expect(decoded.topicConfigSerializeWrapper.dataVersion).toEqual({ timestamp: 42, counter: 0 })
    expect(decoded.filterServerList).toEqual([])
  })

  it('ignores members added by 5.x brokers', () => {
    const text =
      '{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"stateVersion":0,"timestamp":5},' +
      '"topicConfigTable":{"T":{"attributes":{},"order":false,"perm":6,"readQueueNums":2,"topicFilterType":"SINGLE_TAG",' +
      '"topicName":"T","topicSysFlag":0,"writeQueueNums":2}},"topicQueueMappingInfoMap":{}}}'
    const decoded = decodeRegisterBrokerBody(Buffer.from(text), false)
    expect(decoded.topicConfigSerializeWrapper.topicConfigTable.get('T')!.writeQueueNums).toBe(2)
  })
})

describe('small name server bodies', () => {
  it('computes the body CRC as UtilAll.crc32 does: CRC-32 masked to 31 bits', () => {
    const data = Buffer.from('123456789')
    expect(crc32(data)).toBe(0xcbf43926)
    expect(bodyCrc32(data)).toBe(0xcbf43926 & 0x7fffffff)
    expect(bodyCrc32(null)).toBe(0)
  })

  it('round-trips DataVersion and KVTable', () => {
    expect(encodeDataVersion({ timestamp: 5, counter: 2 }).toString()).toBe('{"counter":2,"timestamp":5}')
    expect(decodeDataVersion(Buffer.from('{"counter":2,"timestamp":5}'))).toEqual({ timestamp: 5, counter: 2 })
    const table = new Map([
      ['b', '2'],
      ['a', '1'],
    ])
    expect(encodeKVTable(table).toString()).toBe('{"table":{"a":"1","b":"2"}}')
    expect(decodeKVTable(encodeKVTable(table))).toEqual(table)
  })
})
