/**
 * Frames: golden vectors of protocol.md §1.11 (both directions, JSON and ROCKETMQ headers), the frame decoder's
 * stream splitting and bounds, and the encoder's limits.
 *
 * The header-word and encode/decode round-trip cases are ports of Apache RocketMQ 4.9.8 `RemotingCommandTest`
 * (`testMarkProtocolType_*`, `testEncodeAndDecode_*`).
 */
import { readFileSync } from 'node:fs'

import { afterEach, describe, expect, it, vi } from 'vitest'

import { ProtocolError } from '../../../ts/common/errors.js'
import { FRAME_BYTES_MAX, HEADER_BYTES_MAX } from '../../../ts/common/limits.js'
import { decodeFrame, encodeFrame, encodeFrameToBuffer, FrameDecoder } from '../../../ts/remoting/frame-codec.js'
import { RemotingCommand, SerializeType } from '../../../ts/remoting/remoting-command.js'

interface Vector {
  bytes: number
  headerBytes?: number
  hex: string
}

const VECTOR_NAMES = ['requestJson', 'responseJson', 'requestRocketMQ', 'responseRocketMQ'] as const

const golden = JSON.parse(
  readFileSync(new URL('../../fixtures/frames/get-routeinfo-by-topic.json', import.meta.url), 'utf8'),
) as Record<(typeof VECTOR_NAMES)[number], Vector>

const frameOf = (v: Vector): Buffer => Buffer.from(v.hex, 'hex')

const ROUTE_BODY =
  '{"brokerDatas":[{"brokerAddrs":{"0":"192.168.0.10:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],' +
  '"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}'

function routeRequest(serializeType: SerializeType): RemotingCommand {
  const cmd = new RemotingCommand(105)
  cmd.opaque = 1
  cmd.putExt('topic', 'TopicTest')
  cmd.serializeType = serializeType
  return cmd
}

function routeResponse(serializeType: SerializeType): RemotingCommand {
  const cmd = RemotingCommand.createResponse(0)
  cmd.opaque = 1
  cmd.body = Buffer.from(ROUTE_BODY, 'utf8')
  cmd.serializeType = serializeType
  return cmd
}

/** Decodes a whole frame, length word included, checking the length word on the way. */
function decodeWhole(frame: Buffer): RemotingCommand {
  expect(frame.readInt32BE(0)).toBe(frame.length - 4)
  return decodeFrame(frame.subarray(4))
}

/** A whole frame with the given serialize type, header bytes and body. */
function rawFrame(type: number, header: Buffer, body = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + header.length + body.length)
  out.writeInt32BE(4 + header.length + body.length, 0)
  out.writeInt32BE((type << 24) | header.length, 4)
  header.copy(out, 8)
  body.copy(out, 8 + header.length)
  return out
}

function collect(decoder: FrameDecoder, chunks: Buffer[]): Buffer[] {
  const frames: Buffer[] = []
  for (const chunk of chunks) decoder.push(chunk, (f) => frames.push(Buffer.from(f)))
  return frames
}

function expectProtocolError(fn: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(ProtocolError)
  expect((thrown as ProtocolError).code).toBe(code)
  if (message) expect((thrown as ProtocolError).message).toMatch(message)
}

describe('golden frames (protocol.md §1.11)', () => {
  it('has the sizes the spec gives', () => {
    for (const name of VECTOR_NAMES) expect(frameOf(golden[name]).length, name).toBe(golden[name].bytes)
    expect(VECTOR_NAMES.map((name) => golden[name].bytes)).toEqual([139, 341, 49, 267])
  })

  it('decodes the JSON GET_ROUTEINFO_BY_TOPIC request (§1.11.1)', () => {
    const cmd = decodeWhole(frameOf(golden.requestJson))
    expect(cmd.code).toBe(105)
    expect(cmd.language).toBe('JAVA')
    expect(cmd.version).toBe(409)
    expect(cmd.opaque).toBe(1)
    expect(cmd.flag).toBe(0)
    expect(cmd.remark).toBeNull()
    expect({ ...cmd.extFields }).toEqual({ topic: 'TopicTest' })
    expect(cmd.body).toBeNull()
    expect(cmd.serializeType).toBe(SerializeType.JSON)
  })

  it('encodes the JSON GET_ROUTEINFO_BY_TOPIC request byte for byte (§1.11.1)', () => {
    expect(encodeFrameToBuffer(routeRequest(SerializeType.JSON)).toString('hex')).toBe(golden.requestJson.hex)
  })

  it('decodes the JSON route response with its body (§1.11.2)', () => {
    const frame = frameOf(golden.responseJson)
    expect(frame.readInt32BE(4)).toBe(golden.responseJson.headerBytes)
    const cmd = decodeWhole(frame)
    expect(cmd.code).toBe(0)
    expect(cmd.flag).toBe(1)
    expect(cmd.isResponse()).toBe(true)
    expect(cmd.language).toBe('JAVA')
    expect(cmd.version).toBe(409)
    expect(cmd.opaque).toBe(1)
    expect(cmd.remark).toBeNull()
    expect(cmd.extFields).toBeNull()
    expect(cmd.body?.toString('utf8')).toBe(ROUTE_BODY)
    expect(cmd.body?.length).toBe(238)
  })

  it('encodes the JSON route response byte for byte (§1.11.2)', () => {
    expect(encodeFrameToBuffer(routeResponse(SerializeType.JSON)).toString('hex')).toBe(golden.responseJson.hex)
  })

  it('decodes the ROCKETMQ GET_ROUTEINFO_BY_TOPIC request (§1.11.3)', () => {
    const frame = frameOf(golden.requestRocketMQ)
    expect(frame.readUInt32BE(4)).toBe(0x01000029)
    const cmd = decodeWhole(frame)
    expect(cmd.code).toBe(105)
    expect(cmd.language).toBe('JAVA')
    expect(cmd.version).toBe(409)
    expect(cmd.opaque).toBe(1)
    expect(cmd.flag).toBe(0)
    expect(cmd.remark).toBeNull()
    expect({ ...cmd.extFields }).toEqual({ topic: 'TopicTest' })
    expect(cmd.body).toBeNull()
    expect(cmd.serializeType).toBe(SerializeType.ROCKETMQ)
  })

  it('encodes the ROCKETMQ GET_ROUTEINFO_BY_TOPIC request byte for byte (§1.11.3)', () => {
    expect(encodeFrameToBuffer(routeRequest(SerializeType.ROCKETMQ)).toString('hex')).toBe(golden.requestRocketMQ.hex)
  })

  it('decodes the ROCKETMQ route response (§1.11.3)', () => {
    const frame = frameOf(golden.responseRocketMQ)
    expect(frame.subarray(0, 8).toString('hex')).toBe('0000010701000015')
    const cmd = decodeWhole(frame)
    expect(cmd.code).toBe(0)
    expect(cmd.flag).toBe(1)
    expect(cmd.language).toBe('JAVA')
    expect(cmd.version).toBe(409)
    expect(cmd.opaque).toBe(1)
    expect(cmd.remark).toBeNull()
    expect(cmd.extFields).toBeNull()
    expect(cmd.body?.toString('utf8')).toBe(ROUTE_BODY)
    expect(cmd.serializeType).toBe(SerializeType.ROCKETMQ)
  })

  it('encodes the ROCKETMQ route response byte for byte (§1.11.3)', () => {
    expect(encodeFrameToBuffer(routeResponse(SerializeType.ROCKETMQ)).toString('hex')).toBe(golden.responseRocketMQ.hex)
  })

  it('splits the four golden frames out of one stream', () => {
    const frames = VECTOR_NAMES.map((name) => frameOf(golden[name]))
    const got = collect(new FrameDecoder(), [Buffer.concat(frames)])
    expect(got.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.subarray(4).toString('hex')))
  })
})

describe('FrameDecoder', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  /** A stream of assorted frames: empty body, small body, a body just over the inline limit, binary header. */
  function sampleStream(): { stream: Buffer; frames: Buffer[] } {
    const cmds = [
      RemotingCommand.createRequest(10, { a: '1' }),
      RemotingCommand.createRequest(11, null, Buffer.from('hello')),
      RemotingCommand.createRequest(12, { k: 'v' }, Buffer.alloc(16 * 1024 + 3, 7)),
      Object.assign(RemotingCommand.createRequest(13, { x: 'y' }, Buffer.from('bin')), {
        serializeType: SerializeType.ROCKETMQ,
      }),
    ]
    const frames = cmds.map((c) => encodeFrameToBuffer(c))
    return { stream: Buffer.concat(frames), frames: frames.map((f) => f.subarray(4)) }
  }

  it('splits frames across every chunk boundary', () => {
    const { stream, frames } = sampleStream()
    const expected = frames.map((f) => f.toString('hex'))
    for (let cut = 0; cut <= stream.length; cut++) {
      const got = collect(new FrameDecoder(), [stream.subarray(0, cut), stream.subarray(cut)])
      expect(
        got.map((f) => f.toString('hex')),
        `cut at ${cut}`,
      ).toEqual(expected)
    }
  })

  it('reassembles frames fed one byte at a time', () => {
    const { stream, frames } = sampleStream()
    const decoder = new FrameDecoder()
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
    const got = collect(decoder, chunks)
    expect(got.map((f) => f.toString('hex'))).toEqual(frames.map((f) => f.toString('hex')))
    expect(decoder.pendingBytes()).toBe(0)
  })

  it('reassembles frames from three-way splits of the stream', () => {
    const { stream, frames } = sampleStream()
    const expected = frames.map((f) => f.toString('hex'))
    for (let a = 0; a <= stream.length; a += 97) {
      for (let b = a; b <= stream.length; b += 89) {
        const got = collect(new FrameDecoder(), [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)])
        expect(
          got.map((f) => f.toString('hex')),
          `cuts at ${a}, ${b}`,
        ).toEqual(expected)
      }
    }
  })

  it('emits many frames from one chunk as views of it, without copying', () => {
    const frames = Array.from({ length: 1000 }, (_, i) =>
      encodeFrameToBuffer(RemotingCommand.createRequest(i, { i: String(i) })),
    )
    const chunk = Buffer.concat(frames)
    const seen: Buffer[] = []
    new FrameDecoder().push(chunk, (f) => seen.push(f))
    expect(seen).toHaveLength(1000)
    for (const [i, f] of seen.entries()) {
      expect(f.buffer).toBe(chunk.buffer)
      expect(decodeFrame(f).ext('i')).toBe(String(i))
    }
  })

  it('gathers a large frame sent in many chunks with one copy', () => {
    const body = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < body.length; i += 4) body.writeUInt32BE(i, i)
    const frame = encodeFrameToBuffer(RemotingCommand.createRequest(1, { big: 'yes' }, body))
    const concat = vi.spyOn(Buffer, 'concat')
    const decoder = new FrameDecoder()
    const got: Buffer[] = []
    for (let at = 0; at < frame.length; at += 64 * 1024) {
      decoder.push(frame.subarray(at, at + 64 * 1024), (f) => got.push(f))
      if (at + 64 * 1024 < frame.length) expect(got).toHaveLength(0)
    }
    expect(concat).toHaveBeenCalledTimes(1)
    expect(got).toHaveLength(1)
    const cmd = decodeFrame(got[0]!)
    expect(cmd.ext('big')).toBe('yes')
    expect(cmd.body?.equals(body)).toBe(true)
  })

  it('copies only the split frame: the frames after it in the completing chunk are views of that chunk', () => {
    const frames = Array.from({ length: 50 }, (_, i) =>
      encodeFrameToBuffer(RemotingCommand.createRequest(i, { i: String(i) }, Buffer.alloc(100, i))),
    )
    const stream = Buffer.concat(frames)
    // Cut inside frame 0's length word and inside frame 10, so both gathering paths run.
    const cuts = [2, frames.slice(0, 10).reduce((n, f) => n + f.length, 0) + 37, stream.length]
    const decoder = new FrameDecoder()
    const seen: { frame: Buffer; chunk: Buffer }[] = []
    let from = 0
    for (const cut of cuts) {
      // A chunk with memory of its own, as a socket read gives (small Buffer.from copies share a pool).
      const chunk = Buffer.allocUnsafeSlow(cut - from)
      stream.copy(chunk, 0, from, cut)
      decoder.push(chunk, (frame) => seen.push({ frame, chunk }))
      from = cut
    }
    expect(seen).toHaveLength(50)
    for (const [i, { frame, chunk }] of seen.entries()) {
      const cmd = decodeFrame(frame)
      expect(cmd.ext('i')).toBe(String(i))
      expect(cmd.body?.equals(Buffer.alloc(100, i))).toBe(true)
      // Frames 0 and 10 were gathered into buffers of their own; every other one is a view of its chunk.
      if (i === 0 || i === 10) expect(frame.buffer).not.toBe(chunk.buffer)
      else expect(frame.buffer).toBe(chunk.buffer)
    }
    expect(decoder.pendingBytes()).toBe(0)
  })

  it('reports the bytes of an incomplete frame as pending', () => {
    const frame = encodeFrameToBuffer(RemotingCommand.createRequest(1, { a: 'b' }))
    const decoder = new FrameDecoder()
    decoder.push(frame.subarray(0, 10), () => expect.unreachable())
    expect(decoder.pendingBytes()).toBe(10)
  })

  it('refuses a frame length below the header word', () => {
    for (const length of [0, 1, 3]) {
      const chunk = Buffer.alloc(8)
      chunk.writeInt32BE(length, 0)
      expectProtocolError(() => new FrameDecoder().push(chunk, () => {}), 'RMQ_ERR_MALFORMED_FRAME', /outside/)
    }
  })

  it('refuses a negative frame length', () => {
    const chunk = Buffer.from('ffffffff00000000', 'hex')
    expectProtocolError(() => new FrameDecoder().push(chunk, () => {}), 'RMQ_ERR_MALFORMED_FRAME')
  })

  it('refuses a frame over 16 MiB counting its length word, before its bytes arrive', () => {
    const over = Buffer.alloc(4)
    over.writeInt32BE(FRAME_BYTES_MAX - 4 + 1, 0)
    expectProtocolError(() => new FrameDecoder().push(over, () => {}), 'RMQ_ERR_MALFORMED_FRAME', /16777212/)
    const atLimit = Buffer.alloc(4)
    atLimit.writeInt32BE(FRAME_BYTES_MAX - 4, 0)
    const decoder = new FrameDecoder()
    decoder.push(atLimit, () => expect.unreachable())
    expect(decoder.pendingBytes()).toBe(4)
  })

  it('applies a configured frame limit', () => {
    const decoder = new FrameDecoder(64)
    const ok = rawFrame(0, Buffer.from('{"code":1,"opaque":1}'), Buffer.alloc(64 - 8 - 21))
    expect(ok.length).toBe(64)
    const got: Buffer[] = []
    decoder.push(ok, (f) => got.push(f))
    expect(got).toHaveLength(1)
    const tooLong = rawFrame(0, Buffer.from('{"code":1,"opaque":1}'), Buffer.alloc(64 - 8 - 21 + 1))
    expectProtocolError(() => new FrameDecoder(64).push(tooLong, () => {}), 'RMQ_ERR_MALFORMED_FRAME')
  })

  it('refuses a bad length found after good frames in the same chunk', () => {
    const good = encodeFrameToBuffer(RemotingCommand.createRequest(1))
    const got: Buffer[] = []
    const bad = Buffer.from('00000002aabb', 'hex')
    expectProtocolError(
      () => new FrameDecoder().push(Buffer.concat([good, bad]), (f) => got.push(f)),
      'RMQ_ERR_MALFORMED_FRAME',
    )
    expect(got).toHaveLength(1)
  })
})

describe('decodeFrame', () => {
  it('refuses a frame shorter than its header word', () => {
    expectProtocolError(() => decodeFrame(Buffer.alloc(3)), 'RMQ_ERR_MALFORMED_FRAME')
  })

  it('refuses a header length larger than the frame', () => {
    const frame = Buffer.alloc(4 + 10)
    frame.writeUInt32BE(11, 0)
    expectProtocolError(() => decodeFrame(frame), 'RMQ_ERR_MALFORMED_FRAME', /header length 11/)
  })

  it('refuses an unknown serialize type', () => {
    const frame = rawFrame(2, Buffer.from('{"code":1,"opaque":1}')).subarray(4)
    expectProtocolError(() => decodeFrame(frame), 'RMQ_ERR_MALFORMED_FRAME', /serialize type 2/)
    const high = rawFrame(0x80, Buffer.from('{"code":1,"opaque":1}')).subarray(4)
    expectProtocolError(() => decodeFrame(high), 'RMQ_ERR_MALFORMED_FRAME', /serialize type 128/)
  })

  it('refuses an empty JSON header', () => {
    expectProtocolError(() => decodeFrame(Buffer.alloc(4)), 'RMQ_ERR_MALFORMED_HEADER')
  })

  it('treats a zero-length body as no body and keeps a non-empty one as a view', () => {
    const frame = rawFrame(0, Buffer.from('{"code":1,"opaque":1}')).subarray(4)
    expect(decodeFrame(frame).body).toBeNull()
    const withBody = rawFrame(0, Buffer.from('{"code":1,"opaque":1}'), Buffer.from([0, 1, 2, 3, 4])).subarray(4)
    const body = decodeFrame(withBody).body!
    expect([...body]).toEqual([0, 1, 2, 3, 4])
    expect(body.buffer).toBe(withBody.buffer)
  })
})

describe('encodeFrame', () => {
  it('round-trips a request without a body (RemotingCommandTest#testEncodeAndDecode_EmptyBody)', () => {
    const cmd = RemotingCommand.createRequest(103)
    const decoded = decodeWhole(encodeFrameToBuffer(cmd))
    expect(decoded.serializeType).toBe(SerializeType.JSON)
    expect(decoded.body).toBeNull()
    expect(decoded.opaque).toBe(cmd.opaque)
  })

  it('round-trips a request with a body (RemotingCommandTest#testEncodeAndDecode_FilledBody)', () => {
    const cmd = RemotingCommand.createRequest(103, null, Buffer.from([0, 1, 2, 3, 4]))
    const decoded = decodeWhole(encodeFrameToBuffer(cmd))
    expect(decoded.serializeType).toBe(SerializeType.JSON)
    expect([...decoded.body!]).toEqual([0, 1, 2, 3, 4])
  })

  it('round-trips ext fields of every Java field type (RemotingCommandTest#testEncodeAndDecode_FilledBodyWithExtFields)', () => {
    for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
      const cmd = RemotingCommand.createRequest(103)
      cmd.serializeType = type
      cmd.putExt('stringValue', 'bilibili').putExt('intValue', 2333).putExt('longValue', 23333333)
      cmd.putExt('booleanValue', true).putExt('doubleValue', 0.618).putExt('key', 'value')
      const decoded = decodeWhole(encodeFrameToBuffer(cmd))
      expect({ ...decoded.extFields }).toEqual({
        stringValue: 'bilibili',
        intValue: '2333',
        longValue: '23333333',
        booleanValue: 'true',
        doubleValue: '0.618',
        key: 'value',
      })
    }
  })

  it('marks the JSON serialize type in the header word (RemotingCommandTest#testMarkProtocolType_JSONProtocolType)', () => {
    // A remark that makes the header exactly 261 bytes, so the word reads 00 00 01 05.
    const cmd = new RemotingCommand(1)
    cmd.remark = ''
    const emptyRemarkHeaderBytes = encodeFrameToBuffer(cmd).readUInt32BE(4)
    cmd.remark = 'r'.repeat(261 - emptyRemarkHeaderBytes)
    expect([...encodeFrameToBuffer(cmd).subarray(4, 8)]).toEqual([0, 0, 1, 5])
  })

  it('marks the ROCKETMQ serialize type beside a 24-bit header length (RemotingCommandTest#testMarkProtocolType_ROCKETMQProtocolType)', () => {
    const cmd = new RemotingCommand(1)
    cmd.serializeType = SerializeType.ROCKETMQ
    cmd.remark = 'r'.repeat(HEADER_BYTES_MAX - 21)
    const parts = encodeFrame(cmd, 32 * 1024 * 1024)
    expect([...parts[0]!.subarray(4, 8)]).toEqual([1, 0xff, 0xff, 0xff])
  })

  it('refuses a header longer than the 24-bit header length (regression: spilled into the type byte)', () => {
    const cmd = new RemotingCommand(1)
    cmd.serializeType = SerializeType.ROCKETMQ
    cmd.remark = 'r'.repeat(HEADER_BYTES_MAX - 21 + 1)
    expectProtocolError(() => encodeFrame(cmd, 64 * 1024 * 1024), 'RMQ_ERR_HEADER_TOO_LARGE')
  })

  it('refuses a frame over the limit', () => {
    const cmd = RemotingCommand.createRequest(1, null, Buffer.alloc(FRAME_BYTES_MAX))
    expectProtocolError(() => encodeFrame(cmd), 'RMQ_ERR_FRAME_TOO_LARGE')
    const small = RemotingCommand.createRequest(1, null, Buffer.alloc(100))
    expectProtocolError(() => encodeFrame(small, 64), 'RMQ_ERR_FRAME_TOO_LARGE', /64-byte limit/)
  })

  it('accepts a frame of exactly the limit', () => {
    const cmd = RemotingCommand.createRequest(1)
    const headBytes = encodeFrameToBuffer(cmd).length
    cmd.body = Buffer.alloc(1000 - headBytes)
    expect(encodeFrame(cmd, 1000).reduce((n, p) => n + p.length, 0)).toBe(1000)
  })

  it('copies a small body into the head and hands a large one over as is', () => {
    const small = Buffer.alloc(16 * 1024, 1)
    expect(encodeFrame(RemotingCommand.createRequest(1, null, small))).toHaveLength(1)
    const large = Buffer.alloc(16 * 1024 + 1, 2)
    const parts = encodeFrame(RemotingCommand.createRequest(1, null, large))
    expect(parts).toHaveLength(2)
    expect(parts[1]).toBe(large)
    const decoded = decodeWhole(Buffer.concat(parts))
    expect(decoded.body?.equals(large)).toBe(true)
  })

  it('writes an empty body as no body', () => {
    const frame = encodeFrameToBuffer(RemotingCommand.createRequest(1, null, Buffer.alloc(0)))
    expect(decodeWhole(frame).body).toBeNull()
  })
})
