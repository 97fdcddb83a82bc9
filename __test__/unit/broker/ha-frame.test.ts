import { describe, expect, it } from 'vitest'

import {
  encodeReport,
  encodeTransferHeader,
  ReportReader,
  TransferFrameError,
  TransferReader,
} from '../../../ts/broker/ha/ha-frame.js'

describe('HA wire frames (store.md §11.2)', () => {
  it('encodes a report as one big-endian long and a transfer header as long offset + int size', () => {
    expect(encodeReport(0x0102030405).toString('hex')).toBe('0000000102030405')
    expect(encodeTransferHeader(0x40000000, 32768).toString('hex')).toBe('000000004000000000008000')
    expect(encodeTransferHeader(7, 0).toString('hex')).toBe('000000000000000700000000')
  })

  it('reads the last complete report and keeps a partial one for later', () => {
    const r = new ReportReader()
    const two = Buffer.concat([encodeReport(100), encodeReport(200)])
    expect(r.push(two.subarray(0, 11))).toBe(100)
    expect(r.push(two.subarray(11, 15))).toBeNull()
    expect(r.push(two.subarray(15))).toBe(200)
    expect(r.push(Buffer.concat([encodeReport(300), encodeReport(400), encodeReport(500)]))).toBe(500)
  })

  it('cuts frames out of arbitrarily split chunks, heartbeats included', () => {
    const body = Buffer.from('commit-log bytes')
    const stream = Buffer.concat([
      encodeTransferHeader(1000, body.length),
      body,
      encodeTransferHeader(1016, 0),
      encodeTransferHeader(1016, 3),
      Buffer.from('xyz'),
    ])
    for (let split = 1; split < stream.length; split++) {
      const t = new TransferReader()
      const frames = [...t.push(stream.subarray(0, split)), ...t.push(stream.subarray(split))]
      expect(frames.map((f) => [f.offset, f.body.toString()])).toEqual([
        [1000, 'commit-log bytes'],
        [1016, ''],
        [1016, 'xyz'],
      ])
    }
  })

  it('refuses a header with a negative offset or an absurd size', () => {
    expect(() => new TransferReader().push(Buffer.from('ffffffffffffffff00000001', 'hex'))).toThrow(TransferFrameError)
    expect(() => new TransferReader().push(Buffer.from('00000000000000007fffffff', 'hex'))).toThrow(TransferFrameError)
  })
})
