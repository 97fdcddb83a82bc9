/**
 * The LZ4 frame format (lz4 `doc/lz4_Frame_format.md`) and the LZ4 block format inside it
 * (`doc/lz4_Block_format.md`): what RocketMQ 5.x producers send for `compressType=LZ4` (`Lz4Compressor` writes
 * with lz4-java's `LZ4FrameOutputStream`, which produces standard frames).
 *
 * ```text
 * frame:  magic 04 22 4D 18 | FLG | BD | [content size u64 LE] | [dict id u32] | HC | blocks… | 00 00 00 00
 *         | [content checksum u32 = XXH32(content)]
 * FLG:    version (bits 7-6) = 01 | block independence (5) | block checksum (4) | content size (3)
 *         | content checksum (2) | reserved (1) = 0 | dict id (0)
 * BD:     block max size (bits 6-4): 4 = 64 KiB, 5 = 256 KiB, 6 = 1 MiB, 7 = 4 MiB
 * HC:     (XXH32(FLG … dict id) >> 8) & 0xFF
 * block:  size u32 LE (high bit set: stored uncompressed) | data | [block checksum u32 = XXH32(data)]
 * ```
 */
import { BoundedOutput, CompressionError, corrupt, tooLarge } from './compression-error.js'
import { skippableFrameEnd, u32le } from './frame-bytes.js'
import { xxh32 } from './xxhash.js'

const FORMAT = 'lz4'
export const LZ4_FRAME_MAGIC = 0x184d2204

const FLG_VERSION = 0x40
const FLG_BLOCK_INDEPENDENCE = 0x20
const FLG_BLOCK_CHECKSUM = 0x10
const FLG_CONTENT_SIZE = 0x08
const FLG_CONTENT_CHECKSUM = 0x04
const FLG_RESERVED = 0x02
const FLG_DICT_ID = 0x01
/** BD for 4 MiB blocks, lz4-java's default (`BLOCKSIZE.SIZE_4MB`). */
const BD_4MB = 0x70
const BLOCK_BYTES_4MB = 4 * 1024 * 1024
const BLOCK_UNCOMPRESSED_BIT = 0x80000000

/** Block format constants: matches are at least 4 bytes; the last 5 bytes are literals; no match starts later. */
const MIN_MATCH = 4
const LAST_LITERALS = 5
const MF_LIMIT = 12
const MAX_OFFSET = 65535
const HASH_LOG = 14

function need(src: Uint8Array, p: number, n: number, what: string): void {
  if (p + n > src.length) throw corrupt(FORMAT, `truncated frame: ${what}`)
}

/** Decodes one compressed block `src[start, end)`; matches may reach back to `windowStart` in `out`. */
function decodeBlock(src: Uint8Array, start: number, end: number, out: BoundedOutput, windowStart: number): void {
  let ip = start
  for (;;) {
    if (ip >= end) throw corrupt(FORMAT, 'block ends inside a sequence')
    const token = src[ip++]!
    let literals = token >>> 4
    if (literals === 15) {
      let b: number
      do {
        if (ip >= end) throw corrupt(FORMAT, 'block ends inside a literal length')
        b = src[ip++]!
        literals += b
      } while (b === 255)
    }
    if (ip + literals > end) throw corrupt(FORMAT, 'literals run past the block')
    out.append(src, ip, ip + literals)
    ip += literals
    // The last sequence has literals only.
    if (ip === end) return
    if (ip + 2 > end) throw corrupt(FORMAT, 'block ends inside a match offset')
    const offset = src[ip]! | (src[ip + 1]! << 8)
    ip += 2
    if (offset === 0 || offset > out.pos - windowStart) throw corrupt(FORMAT, `match offset ${offset} out of range`)
    let matchLength = token & 15
    if (matchLength === 15) {
      let b: number
      do {
        if (ip >= end) throw corrupt(FORMAT, 'block ends inside a match length')
        b = src[ip++]!
        matchLength += b
      } while (b === 255)
    }
    out.copyMatch(offset, matchLength + MIN_MATCH)
  }
}

/**
 * Decompresses one or more concatenated LZ4 frames (skippable frames are skipped), verifying the header checksum
 * and any block and content checksums. Throws `CompressionError` on corrupt input or output over `maxBytes`.
 */
export function lz4FrameDecompress(src: Uint8Array, maxBytes: number): Buffer {
  if (src.length === 0) throw corrupt(FORMAT, 'empty input, no frame')
  const out = new BoundedOutput(FORMAT, maxBytes, src.length * 3)
  let p = 0
  while (p < src.length) {
    need(src, p, 4, 'magic number')
    const skipped = skippableFrameEnd(src, p, src.length, FORMAT)
    if (skipped >= 0) {
      p = skipped
      continue
    }
    const magic = u32le(src, p)
    if (magic !== LZ4_FRAME_MAGIC) throw corrupt(FORMAT, `bad magic number 0x${magic.toString(16)}`)
    need(src, p, 7, 'frame descriptor')
    const flg = src[p + 4]!
    const bd = src[p + 5]!
    if ((flg & 0xc0) !== FLG_VERSION) throw corrupt(FORMAT, `unsupported frame version ${flg >>> 6}`)
    if ((flg & FLG_RESERVED) !== 0 || (bd & 0x8f) !== 0) throw corrupt(FORMAT, 'reserved descriptor bits set')
    const blockCode = (bd >>> 4) & 7
    if (blockCode < 4) throw corrupt(FORMAT, `bad block maximum size code ${blockCode}`)
    const blockMaxBytes = 1 << (8 + 2 * blockCode)
    let q = p + 6
    let contentSize = -1
    if ((flg & FLG_CONTENT_SIZE) !== 0) {
      need(src, q, 8, 'content size')
      contentSize = u32le(src, q) + u32le(src, q + 4) * 0x1_0000_0000
      if (contentSize > maxBytes - out.pos) throw tooLarge(FORMAT, out.pos + contentSize, maxBytes)
      q += 8
    }
    if ((flg & FLG_DICT_ID) !== 0) {
      throw new CompressionError('RMQ_ERR_COMPRESSION_UNSUPPORTED', `${FORMAT}: frames with a dictionary id`)
    }
    need(src, q, 1, 'header checksum')
    if (((xxh32(src, 0, p + 4, q) >>> 8) & 0xff) !== src[q]) throw corrupt(FORMAT, 'header checksum mismatch')
    q++
    const frameStart = out.pos
    for (;;) {
      need(src, q, 4, 'block size')
      const word = u32le(src, q)
      q += 4
      if (word === 0) break
      const size = word & 0x7fffffff
      if (size > blockMaxBytes) throw corrupt(FORMAT, `block of ${size} bytes over the frame's ${blockMaxBytes}`)
      need(src, q, size, 'block data')
      const blockStart = out.pos
      if ((word & BLOCK_UNCOMPRESSED_BIT) !== 0) out.append(src, q, q + size)
      else decodeBlock(src, q, q + size, out, frameStart)
      if (out.pos - blockStart > blockMaxBytes) throw corrupt(FORMAT, 'a block decodes to more than the maximum')
      if ((flg & FLG_BLOCK_CHECKSUM) !== 0) {
        need(src, q + size, 4, 'block checksum')
        if (xxh32(src, 0, q, q + size) !== u32le(src, q + size)) throw corrupt(FORMAT, 'block checksum mismatch')
        q += 4
      }
      q += size
    }
    if ((flg & FLG_CONTENT_CHECKSUM) !== 0) {
      need(src, q, 4, 'content checksum')
      if (xxh32(out.buf, 0, frameStart, out.pos) !== u32le(src, q)) throw corrupt(FORMAT, 'content checksum mismatch')
      q += 4
    }
    if (contentSize >= 0 && out.pos - frameStart !== contentSize) {
      throw corrupt(FORMAT, `content size ${out.pos - frameStart} differs from the declared ${contentSize}`)
    }
    p = q
  }
  return out.result()
}

/** Worst-case compressed size of a block of `n` bytes (`LZ4_compressBound`). */
function compressBound(n: number): number {
  return n + Math.floor(n / 255) + 16
}

function writeLength(dst: Uint8Array, op: number, n: number): number {
  while (n >= 255) {
    dst[op++] = 255
    n -= 255
  }
  dst[op++] = n
  return op
}

/** Appends a sequence (literals `src[anchor, ip)`, then a match unless `matchLength` is 0); returns the new `op`. */
function writeSequence(
  src: Uint8Array,
  anchor: number,
  ip: number,
  dst: Uint8Array,
  op: number,
  offset: number,
  matchLength: number,
): number {
  const literals = ip - anchor
  const tokenPos = op++
  let token = (literals >= 15 ? 15 : literals) << 4
  if (literals >= 15) op = writeLength(dst, op, literals - 15)
  dst.set(src.subarray(anchor, ip), op)
  op += literals
  if (matchLength > 0) {
    dst[op++] = offset & 0xff
    dst[op++] = offset >>> 8
    const ml = matchLength - MIN_MATCH
    token |= ml >= 15 ? 15 : ml
    if (ml >= 15) op = writeLength(dst, op, ml - 15)
  }
  dst[tokenPos] = token
  return op
}

/**
 * Compresses `src[start, end)` as one independent block into `dst` at `op` (greedy, one hash probe per position);
 * returns the end of what was written.
 */
function compressBlock(
  src: Uint8Array,
  start: number,
  end: number,
  dst: Uint8Array,
  op: number,
  table: Int32Array,
): number {
  table.fill(-1)
  let anchor = start
  let ip = start
  const matchLimit = end - LAST_LITERALS
  const searchLimit = end - MF_LIMIT
  while (ip < searchLimit) {
    const seq = u32le(src, ip)
    const h = Math.imul(seq, 2654435761) >>> (32 - HASH_LOG)
    const ref = table[h]!
    table[h] = ip
    if (ref < 0 || ip - ref > MAX_OFFSET || u32le(src, ref) !== seq) {
      ip++
      continue
    }
    let length = MIN_MATCH
    while (ip + length < matchLimit && src[ref + length] === src[ip + length]) length++
    op = writeSequence(src, anchor, ip, dst, op, ip - ref, length)
    ip += length
    anchor = ip
  }
  return writeSequence(src, anchor, end, dst, op, 0, 0)
}

/**
 * One LZ4 frame of `src` as lz4-java's `LZ4FrameOutputStream(out)` writes it (`DEFAULT_FEATURES`): the block
 * independence flag alone, 4 MiB blocks, no block or content checksums (the broker's BODYCRC covers the stored
 * bytes). A block that does not shrink is stored uncompressed.
 */
export function lz4FrameCompress(src: Uint8Array): Buffer {
  const blocks = Math.max(1, Math.ceil(src.length / BLOCK_BYTES_4MB))
  const dst = Buffer.allocUnsafe(7 + blocks * 4 + compressBound(src.length) + blocks * 16 + 8)
  dst.writeUInt32LE(LZ4_FRAME_MAGIC, 0)
  dst[4] = FLG_VERSION | FLG_BLOCK_INDEPENDENCE
  dst[5] = BD_4MB
  dst[6] = (xxh32(dst, 0, 4, 6) >>> 8) & 0xff
  let op = 7
  const table = new Int32Array(1 << HASH_LOG)
  for (let start = 0; start < src.length; start += BLOCK_BYTES_4MB) {
    const end = Math.min(src.length, start + BLOCK_BYTES_4MB)
    const dataStart = op + 4
    const dataEnd = compressBlock(src, start, end, dst, dataStart, table)
    if (dataEnd - dataStart < end - start) {
      dst.writeUInt32LE(dataEnd - dataStart, op)
      op = dataEnd
    } else {
      dst.writeUInt32LE((BLOCK_UNCOMPRESSED_BIT | (end - start)) >>> 0, op)
      dst.set(src.subarray(start, end), dataStart)
      op = dataStart + (end - start)
    }
  }
  dst.writeUInt32LE(0, op)
  return dst.subarray(0, op + 4)
}
