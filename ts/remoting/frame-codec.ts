/**
 * Frames on the wire (protocol.md §1.2):
 *
 *   | totalLength int32 | headerWord int32 | header (headerLength bytes) | body |
 *
 * `totalLength` counts everything after itself; the header word carries the serialize type in its top byte and
 * the header length in the low 24 bits. The decoder bounds every length before trusting it: a frame over
 * `FRAME_BYTES_MAX`, a header longer than its frame or an unknown serialize type is a `ProtocolError`, and the
 * connection is closed without a reply (`NettyDecoder`).
 */
import { ProtocolError } from '../common/errors.js'
import { FRAME_BODY_BYTES_MIN, FRAME_BYTES_MAX, HEADER_BYTES_MAX } from '../common/limits.js'
import {
  decodeJsonHeader,
  decodeRocketMQHeader,
  encodeJsonHeader,
  lastJsonHeaderWasAscii,
  rocketMQHeaderBytes,
  writeRocketMQHeader,
} from './header-codec.js'
import { RemotingCommand, SerializeType } from './remoting-command.js'

const LENGTH_BYTES = 4
/** Bodies up to this size are copied into the frame's head buffer: one write instead of two. */
export const INLINE_BODY_BYTES_MAX = 16 * 1024

/** A command measured for writing: its header in encoded form and the byte counts of its frame. */
export interface MeasuredFrame {
  /** The JSON header text (JSON serialization), else ''. */
  json: string
  /** True when `json` is pure ASCII: its byte length is its length, and it can be written byte per character. */
  ascii: boolean
  /** Remark and ext byte counts of a ROCKETMQ header, else null. */
  sizes: ReturnType<typeof rocketMQHeaderBytes> | null
  headerBytes: number
  bodyBytes: number
  /** The whole frame, length word included. */
  frameBytes: number
}

/**
 * Measures `cmd` as a frame. Throws `ProtocolError` when its header does not fit the header word or the frame
 * exceeds `frameBytesMax`.
 */
export function measureFrame(cmd: RemotingCommand, frameBytesMax = FRAME_BYTES_MAX): MeasuredFrame {
  const bodyBytes = cmd.body === null ? 0 : cmd.body.length
  let json = ''
  let ascii = false
  let sizes: ReturnType<typeof rocketMQHeaderBytes> | null = null
  let headerBytes: number
  if (cmd.serializeType === SerializeType.ROCKETMQ) {
    sizes = rocketMQHeaderBytes(cmd)
    headerBytes = sizes.total
  } else {
    json = encodeJsonHeader(cmd)
    ascii = lastJsonHeaderWasAscii()
    headerBytes = ascii ? json.length : Buffer.byteLength(json)
  }
  // The header length has 24 bits in the header word; a longer one would spill into the serialize type byte.
  if (headerBytes > HEADER_BYTES_MAX) {
    throw new ProtocolError(
      'RMQ_ERR_HEADER_TOO_LARGE',
      `header of ${headerBytes} bytes exceeds the ${HEADER_BYTES_MAX}-byte limit of the header word`,
    )
  }
  const frameBytes = LENGTH_BYTES + 4 + headerBytes + bodyBytes
  if (frameBytes > frameBytesMax) {
    throw new ProtocolError(
      'RMQ_ERR_FRAME_TOO_LARGE',
      `frame of ${frameBytes} bytes exceeds the ${frameBytesMax}-byte limit`,
    )
  }
  return { json, ascii, sizes, headerBytes, bodyBytes, frameBytes }
}

/**
 * Writes the measured frame's length word, header word and header at `at`, and its body too unless `withBody` is
 * false; returns the offset after what was written. `out` must have room.
 */
export function writeFrame(cmd: RemotingCommand, m: MeasuredFrame, out: Buffer, at: number, withBody = true): number {
  out.writeInt32BE(m.frameBytes - LENGTH_BYTES, at)
  out.writeInt32BE(((cmd.serializeType & 0xff) << 24) | m.headerBytes, at + 4)
  let p = at + 8
  if (m.sizes !== null) p = writeRocketMQHeader(cmd, out, p, m.sizes.remarkBytes, m.sizes.extBytes)
  else p += m.ascii ? (out as Latin1Writable).latin1Write(m.json, p) : out.write(m.json, p, 'utf8')
  if (withBody && m.bodyBytes > 0) p += cmd.body!.copy(out, p)
  return p
}

/** Node's Buffer method behind `Buffer#write(s, offset, 'latin1')`, without the argument checks. */
type Latin1Writable = Buffer & { latin1Write(s: string, offset: number): number }

/**
 * Encodes a command as one or two buffers to write in order: the head (length, header word, header, and a small
 * body) and, for a large body, the body itself, never copied.
 */
export function encodeFrame(cmd: RemotingCommand, frameBytesMax = FRAME_BYTES_MAX): Buffer[] {
  const m = measureFrame(cmd, frameBytesMax)
  const inline = m.bodyBytes <= INLINE_BODY_BYTES_MAX
  const head = Buffer.allocUnsafe(inline ? m.frameBytes : m.frameBytes - m.bodyBytes)
  writeFrame(cmd, m, head, 0, inline)
  return inline ? [head] : [head, cmd.body!]
}

/** Encodes a command as a single buffer (tests, golden vectors). */
export function encodeFrameToBuffer(cmd: RemotingCommand): Buffer {
  const parts = encodeFrame(cmd)
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
}

/**
 * Decodes one frame without its length word. The body is a view into `frame`; the header's strings are copies.
 */
export function decodeFrame(frame: Buffer): RemotingCommand {
  if (frame.length < FRAME_BODY_BYTES_MIN)
    throw new ProtocolError('RMQ_ERR_MALFORMED_FRAME', 'frame shorter than its header word')
  const word = frame.readUInt32BE(0)
  const type = word >>> 24
  const headerBytes = word & 0xffffff
  if (headerBytes > frame.length - 4) {
    throw new ProtocolError(
      'RMQ_ERR_MALFORMED_FRAME',
      `header length ${headerBytes} exceeds the frame (${frame.length - 4} bytes)`,
    )
  }
  let cmd: RemotingCommand
  if (type === SerializeType.JSON) cmd = decodeJsonHeader(frame, 4, 4 + headerBytes)
  else if (type === SerializeType.ROCKETMQ) cmd = decodeRocketMQHeader(frame, 4, 4 + headerBytes)
  else throw new ProtocolError('RMQ_ERR_MALFORMED_FRAME', `unknown serialize type ${type}`)
  const bodyStart = 4 + headerBytes
  if (bodyStart < frame.length) cmd.body = frame.subarray(bodyStart)
  return cmd
}

/**
 * Splits a byte stream into frames. Frames that lie within one chunk are sliced without copying; a frame split
 * across chunks is gathered once it is complete, copying only its own bytes: the frames after it in the last chunk
 * are sliced from that chunk as usual (copying the whole chunk instead doubled the bytes copied, and the external
 * memory whose churn drives V8's full collections, at 100k sends/s).
 */
export class FrameDecoder {
  /** Pieces of the frame (or length word) begun in earlier chunks. */
  private chunks: Buffer[] = []
  private buffered = 0
  /** Bytes of the partial frame, length word included, once its length word is known; else the word's 4. */
  private needed = LENGTH_BYTES

  constructor(private readonly frameBytesMax = FRAME_BYTES_MAX) {}

  /** Feeds a chunk; calls `onFrame` with each complete frame (without its length word). Throws `ProtocolError`. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let at = 0
    while (this.buffered > 0) {
      const take = Math.min(this.needed - this.buffered, chunk.length - at)
      this.chunks.push(chunk.subarray(at, at + take))
      this.buffered += take
      at += take
      if (this.buffered < this.needed) return
      const gathered = Buffer.concat(this.chunks, this.buffered)
      if (this.needed === LENGTH_BYTES) {
        this.needed = LENGTH_BYTES + this.frameLength(gathered, 0)
        this.chunks = [gathered]
        continue
      }
      this.chunks = []
      this.buffered = 0
      this.needed = LENGTH_BYTES
      onFrame(gathered.subarray(LENGTH_BYTES))
    }
    const end = chunk.length
    while (end - at >= LENGTH_BYTES) {
      const length = this.frameLength(chunk, at)
      if (end - at - LENGTH_BYTES < length) {
        this.needed = LENGTH_BYTES + length
        break
      }
      onFrame(chunk.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length))
      at += LENGTH_BYTES + length
    }
    if (at < end) {
      if (end - at < LENGTH_BYTES) this.needed = LENGTH_BYTES
      // Copy a small remainder so it does not pin a large chunk; a large one is kept as a view.
      const rest = chunk.subarray(at)
      this.chunks.push(rest.length < 4096 ? Buffer.from(rest) : rest)
      this.buffered = rest.length
    }
  }

  /** The frame length in the word at `at`, checked against the bounds. */
  private frameLength(data: Buffer, at: number): number {
    const length = data.readInt32BE(at)
    if (length < FRAME_BODY_BYTES_MIN || length > this.frameBytesMax - LENGTH_BYTES) {
      throw new ProtocolError(
        'RMQ_ERR_MALFORMED_FRAME',
        `frame length ${length} outside [${FRAME_BODY_BYTES_MIN}, ${this.frameBytesMax - LENGTH_BYTES}]`,
      )
    }
    return length
  }

  /** Bytes received but not yet part of a complete frame. */
  pendingBytes(): number {
    return this.buffered
  }
}
