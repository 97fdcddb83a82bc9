import { describe, expect, it } from 'vitest'

import { decodeMessage } from '../../../ts/common/message/message-record.js'
import { JobBuilder } from '../../../ts/store/job-builder.js'
import { encodeHost } from '../../../ts/common/message/socket-address.js'
import { testMessage } from '../../helpers/messages.js'

const STORE_HOST = encodeHost('127.0.0.1', 10911)

/** The record the builder must produce for `testMessage({ topic: 'T1', body: 'hi', tags: 'a', queueId: 3 })`:
 * every field written out by hand, zeroes where the native writer stamps. */
const ENCODED_HEX = [
  '00000066', 'daa320a7', '00000000', '00000003', '00000000',
  '0000000000000000', '0000000000000000', '00000000', '0000018bcfe56800',
  '0a010203', '0000c351', // born host of the test helper: 10.1.2.3:50001
  '0000000000000000', '0000000000000000', // store timestamp and store host, stamped natively
  '00000000', '0000000000000000', '00000002', '6869', '02', '5431', '0007', '54414753016102',
].join('')

function encode(builder: JobBuilder, msgs: ReturnType<typeof testMessage>[]): void {
  let max = 0
  for (const m of msgs) max += JobBuilder.maxRecordBytes(m, Buffer.byteLength(m.topic), 8)
  builder.beginPut(max)
  for (const m of msgs) expect(builder.writeRecord(m, Buffer.from(m.topic))).toBeNull()
  builder.endPut()
}

describe('JobBuilder', () => {
  it('encodes a record byte for byte, behind a put header', () => {
    const builder = new JobBuilder(STORE_HOST, 4096)
    encode(builder, [testMessage({ topic: 'T1', body: Buffer.from('hi'), tags: 'a', queueId: 3 })])
    const job = builder.takeJob()
    expect(job.bytes.readUInt32LE(0)).toBe(1)
    expect(job.bytes.readUInt32LE(4)).toBe(102)
    expect(job.bytes.subarray(8).toString('hex')).toBe(ENCODED_HEX)
  })

  it('puts every record of a batch in one put', () => {
    const builder = new JobBuilder(STORE_HOST, 4096)
    encode(builder, [testMessage(), testMessage(), testMessage()])
    encode(builder, [testMessage()])
    const { bytes } = builder.takeJob()
    expect(bytes.readUInt32LE(0)).toBe(3)
    const firstPut = bytes.readUInt32LE(4)
    expect(bytes.readUInt32LE(8 + firstPut)).toBe(1)
    expect(builder.hasPendingJob()).toBe(false)
  })

  it('uses the V2 magic and a 2-byte topic length for topics over 127 characters', () => {
    const builder = new JobBuilder(STORE_HOST, 4096)
    const topic = `%RETRY%${'g'.repeat(150)}`
    encode(builder, [testMessage({ topic })])
    const record = builder.takeJob().bytes.subarray(8)
    expect(record.readInt32BE(4)).toBe(-626843477)
    const m = decodeMessage(record)!
    expect(m.topic).toBe(topic)
  })

  it('marks IPv6 hosts in the sysflag and widens their fields', () => {
    const builder = new JobBuilder(encodeHost('::1', 10911), 4096)
    const msg = { ...testMessage(), bornHost: encodeHost('fe80::2', 1) }
    builder.beginPut(JobBuilder.maxRecordBytes(msg, 9, 20))
    builder.writeRecord(msg, Buffer.from(msg.topic))
    builder.endPut()
    const record = builder.takeJob().bytes.subarray(8)
    expect(record.readInt32BE(36) & 0x30).toBe(0x30)
    expect(record.readInt32BE(0)).toBe(91 + 24 + 5 + 9)
    expect(decodeMessage(record)!.bornHost).toBe('[fe80:0:0:0:0:0:0:2]:1')
  })

  it('refuses properties longer than a Java short and leaves the job unchanged', () => {
    const builder = new JobBuilder(STORE_HOST, 1024 * 1024)
    const msg = testMessage({ properties: { BIG: 'x'.repeat(40_000) } })
    builder.beginPut(JobBuilder.maxRecordBytes(msg, 9, 8))
    expect(builder.writeRecord(msg, Buffer.from(msg.topic))).toBe('PROPERTIES_SIZE_EXCEEDED')
    builder.abandonPut()
    expect(builder.hasPendingJob()).toBe(false)
  })

  it('moves a job that outgrows its slab to a new slab, intact', () => {
    const builder = new JobBuilder(STORE_HOST, 512)
    const msgs = Array.from({ length: 6 }, (_, i) => testMessage({ body: Buffer.alloc(100, i) }))
    for (const m of msgs) encode(builder, [m])
    const { bytes } = builder.takeJob()
    let at = 0
    for (let i = 0; i < 6; i++) {
      const len = bytes.readUInt32LE(at + 4)
      expect(decodeMessage(bytes.subarray(at + 8, at + 8 + len))!.body[0]).toBe(i)
      at += 8 + len
    }
    expect(at).toBe(bytes.length)
  })

  it('reuses a slab once every job cut from it completed', () => {
    const builder = new JobBuilder(STORE_HOST, 512)
    encode(builder, [testMessage({ body: Buffer.alloc(300) })])
    const first = builder.takeJob()
    encode(builder, [testMessage({ body: Buffer.alloc(300) })]) // does not fit: new slab
    const second = builder.takeJob()
    expect(second.slab).not.toBe(first.slab)
    builder.release(first)
    encode(builder, [testMessage({ body: Buffer.alloc(300) })])
    const third = builder.takeJob()
    expect(third.slab).toBe(first.slab)
  })
})
