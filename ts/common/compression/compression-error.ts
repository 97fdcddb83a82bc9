import { RocketMQError } from '../errors.js'

/**
 * A compressed body that cannot be decoded: corrupt or truncated input (`RMQ_ERR_CORRUPT_COMPRESSED_DATA`), a
 * feature the decoder does not implement (`RMQ_ERR_COMPRESSION_UNSUPPORTED`, e.g. a zstd dictionary), or output
 * over the caller's bound (`RMQ_ERR_DECOMPRESSED_TOO_LARGE`).
 */
export class CompressionError extends RocketMQError {}

export function corrupt(format: string, what: string): CompressionError {
  return new CompressionError('RMQ_ERR_CORRUPT_COMPRESSED_DATA', `${format}: ${what}`)
}

export function tooLarge(format: string, bytes: number, maxBytes: number): CompressionError {
  return new CompressionError(
    'RMQ_ERR_DECOMPRESSED_TOO_LARGE',
    `${format}: decompressed size ${bytes} is over the limit of ${maxBytes} bytes`,
  )
}

/**
 * The output of a decoder: grows by doubling but never past `maxBytes`, so a hostile frame cannot make us allocate
 * more than the limit.
 */
export class BoundedOutput {
  buf: Buffer
  pos = 0

  constructor(
    private readonly format: string,
    readonly maxBytes: number,
    initialBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(64, Math.min(initialBytes, maxBytes)))
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    const need = this.pos + n
    if (need <= this.buf.length) return
    if (need > this.maxBytes) throw tooLarge(this.format, need, this.maxBytes)
    const next = Buffer.allocUnsafe(Math.min(this.maxBytes, Math.max(need, this.buf.length * 2)))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Appends `src[start, end)`. */
  append(src: Uint8Array, start: number, end: number): void {
    const n = end - start
    this.reserve(n)
    this.buf.set(src.subarray(start, end), this.pos)
    this.pos += n
  }

  /** Copies `length` bytes starting `offset` back; overlapping copies repeat the pattern, as LZ77 means. */
  copyMatch(offset: number, length: number): void {
    this.reserve(length)
    const b = this.buf
    let src = this.pos - offset
    let dst = this.pos
    if (offset >= length) {
      b.copyWithin(dst, src, src + length)
    } else {
      const end = dst + length
      while (dst < end) b[dst++] = b[src++]!
    }
    this.pos += length
  }

  fill(value: number, length: number): void {
    this.reserve(length)
    this.buf.fill(value, this.pos, this.pos + length)
    this.pos += length
  }

  result(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}
