/**
 * What the LZ4 and zstd frame formats share: little-endian words, and skippable frames (magic 0x184D2A5?, a 32-bit
 * size, then that many bytes to ignore; RFC 8878 §3.1.2, and LZ4's frame format adopts them as they are).
 */
import { corrupt } from './compression-error.js'

const SKIPPABLE_MAGIC_MASK = 0xfffffff0
const SKIPPABLE_MAGIC = 0x184d2a50

export function u32le(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
}

/**
 * Where the skippable frame at `p` ends, or -1 when the frame at `p` is not one (its 4 magic bytes must be there).
 * A size running past `end` is a `CompressionError` of `format`.
 */
export function skippableFrameEnd(src: Uint8Array, p: number, end: number, format: string): number {
  if ((u32le(src, p) & SKIPPABLE_MAGIC_MASK) >>> 0 !== SKIPPABLE_MAGIC) return -1
  if (p + 8 > end) throw corrupt(format, 'truncated frame: skippable frame size')
  const size = u32le(src, p + 4)
  if (p + 8 + size > end) throw corrupt(format, 'truncated frame: skippable frame')
  return p + 8 + size
}
