/**
 * A Zstandard frame decoder (RFC 8878): what RocketMQ 5.x producers send for `compressType=ZSTD`
 * (`ZstdCompressor` writes with zstd-jni's `ZstdOutputStream`, i.e. standard frames, usually with a content
 * checksum). Decoding only; dictionaries are refused.
 *
 * ```text
 * frame:    magic 28 B5 2F FD | descriptor | [window descriptor] | [dict id] | [content size] | blocks… | [XXH64 low 32]
 * block:    3-byte LE header: last (bit 0) | type (bits 1-2: raw, RLE, compressed) | size (bits 3-23)
 * compressed block: literals section (raw, RLE, Huffman with a tree, Huffman reusing the last tree)
 *           | sequences section (count, modes of the LL/OF/ML codes, their FSE tables, one backward bitstream)
 * ```
 *
 * Every size is checked before it is used: output is bounded by `maxBytes` (and by the frame's declared content
 * size), blocks by 128 KiB, tables by the RFC's accuracy limits. Corrupt input throws `CompressionError`.
 */
import { BoundedOutput, CompressionError, corrupt, tooLarge } from './compression-error.js'
import { skippableFrameEnd, u32le } from './frame-bytes.js'
import { xxh64 } from './xxhash.js'

const FORMAT = 'zstd'
export const ZSTD_MAGIC = 0xfd2fb528
const BLOCK_BYTES_MAX = 128 * 1024
/** Windows above 2^31 cannot be addressed by a JS buffer anyway; the RFC allows up to 2^41 (ZSTD_WINDOWLOG_MAX). */
const WINDOW_LOG_MAX = 41

const LL_MAX_SYMBOL = 35
const ML_MAX_SYMBOL = 52
const OF_MAX_SYMBOL = 31
const LL_LOG_MAX = 9
const ML_LOG_MAX = 9
const OF_LOG_MAX = 8
const HUF_WEIGHTS_LOG_MAX = 6
const HUF_BITS_MAX = 11

// prettier-ignore
export const LL_BASE = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128, 256,
  512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]
// prettier-ignore
export const LL_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13,
  14, 15, 16]
// prettier-ignore
export const ML_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
  31, 32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539]
// prettier-ignore
export const ML_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
  1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
/** Predefined distributions (RFC 8878 §3.1.1.3.2.2). */
// prettier-ignore
export const LL_DEFAULT = [4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1,
  -1, -1]
// prettier-ignore
export const ML_DEFAULT = [1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1]
// prettier-ignore
export const OF_DEFAULT = [1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1]

function need(end: number, p: number, n: number, what: string): void {
  if (p + n > end) throw corrupt(FORMAT, `truncated input: ${what}`)
}

function highBit(v: number): number {
  return 31 - Math.clz32(v)
}

/**
 * A bitstream read backwards (RFC 8878 §4.1): it starts at the highest set bit of its last byte (the end mark) and
 * each read takes the next most significant bits. Reads past the start yield zeros and leave `left` negative,
 * which callers treat as overflow.
 */
class BackwardBits {
  /** Bits not yet read; the next read takes bits [left - n, left). */
  left: number

  constructor(
    private readonly src: Uint8Array,
    private readonly start: number,
    private readonly end: number,
  ) {
    if (end <= start) throw corrupt(FORMAT, 'empty bitstream')
    const last = src[end - 1]!
    if (last === 0) throw corrupt(FORMAT, 'bitstream without its end mark')
    this.left = (end - start - 1) * 8 + highBit(last)
  }

  read(n: number): number {
    if (n === 0) return 0
    if (n > 24) {
      const high = this.read(n - 16)
      return high * 65536 + this.read(16)
    }
    this.left -= n
    return this.bitsAt(this.left, n)
  }

  peek(n: number): number {
    return this.bitsAt(this.left - n, n)
  }

  skip(n: number): void {
    this.left -= n
  }

  private bitsAt(pos: number, n: number): number {
    if (pos < 0) {
      if (pos + n <= 0) return 0
      return this.bitsAt(0, n + pos) << -pos
    }
    const s = this.src
    const e = this.end
    const i = this.start + (pos >>> 3)
    const v =
      (s[i]! |
        (i + 1 < e ? s[i + 1]! << 8 : 0) |
        (i + 2 < e ? s[i + 2]! << 16 : 0) |
        (i + 3 < e ? s[i + 3]! << 24 : 0)) >>>
      0
    return (v >>> (pos & 7)) & ((1 << n) - 1)
  }
}

/** An FSE decoding table: per state, its symbol, the bits to read and the base of the next state. */
interface FseTable {
  log: number
  symbol: Uint8Array
  nbBits: Uint8Array
  base: Int32Array
}

function buildFseTable(norm: ArrayLike<number>, symbols: number, log: number): FseTable {
  const size = 1 << log
  const symbol = new Uint8Array(size)
  const nbBits = new Uint8Array(size)
  const base = new Int32Array(size)
  const next = new Uint32Array(symbols)
  let high = size - 1
  for (let s = 0; s < symbols; s++) {
    if (norm[s] === -1) {
      symbol[high--] = s
      next[s] = 1
    } else {
      next[s] = Math.max(0, norm[s]!)
    }
  }
  const step = (size >>> 1) + (size >>> 3) + 3
  const mask = size - 1
  let pos = 0
  for (let s = 0; s < symbols; s++) {
    for (let i = 0; i < norm[s]!; i++) {
      symbol[pos] = s
      do pos = (pos + step) & mask
      while (pos > high)
    }
  }
  if (pos !== 0) throw corrupt(FORMAT, 'FSE distribution does not fill its table')
  for (let u = 0; u < size; u++) {
    const ns = next[symbol[u]!]!++
    const nb = log - highBit(ns)
    nbBits[u] = nb
    base[u] = (ns << nb) - size
  }
  return { log, symbol, nbBits, base }
}

function rleTable(symbol: number): FseTable {
  return { log: 0, symbol: Uint8Array.of(symbol), nbBits: new Uint8Array(1), base: new Int32Array(1) }
}

/** Reads an FSE table description (RFC 8878 §4.1.1) at `p`; returns the table and the first byte after it. */
function readFseTable(src: Uint8Array, p: number, end: number, maxSymbol: number, maxLog: number): [FseTable, number] {
  let bitPos = 0
  const peek = (n: number): number => {
    let v = 0
    for (let i = 0; i < n; i++) {
      const bit = bitPos + i
      const byte = p + (bit >>> 3)
      if (byte < end && (src[byte]! >>> (bit & 7)) & 1) v |= 1 << i
    }
    return v
  }
  const read = (n: number): number => {
    const v = peek(n)
    bitPos += n
    return v
  }
  const log = read(4) + 5
  if (log > maxLog) throw corrupt(FORMAT, `FSE accuracy log ${log} over ${maxLog}`)
  const norm = new Int16Array(maxSymbol + 1)
  let remaining = (1 << log) + 1
  let threshold = 1 << log
  let nbBits = log + 1
  let symbol = 0
  while (remaining > 1) {
    if (symbol > maxSymbol) throw corrupt(FORMAT, 'FSE table has too many symbols')
    const max = 2 * threshold - 1 - remaining
    let value = peek(nbBits - 1)
    if (value < max) {
      bitPos += nbBits - 1
    } else {
      value = peek(nbBits)
      if (value >= threshold) value -= max
      bitPos += nbBits
    }
    const count = value - 1
    remaining -= count < 0 ? -count : count
    if (remaining < 1) throw corrupt(FORMAT, 'FSE probabilities overflow the table')
    norm[symbol++] = count
    if (count === 0) {
      let repeat: number
      do {
        repeat = read(2)
        symbol += repeat
      } while (repeat === 3)
      if (symbol > maxSymbol + 1) throw corrupt(FORMAT, 'FSE zero run past the last symbol')
    }
    while (remaining < threshold) {
      nbBits--
      threshold >>>= 1
    }
  }
  const next = p + ((bitPos + 7) >>> 3)
  if (next > end) throw corrupt(FORMAT, 'truncated FSE table description')
  return [buildFseTable(norm, symbol, log), next]
}

let predefined: { ll: FseTable; ml: FseTable; of: FseTable } | undefined

function predefinedTables(): { ll: FseTable; ml: FseTable; of: FseTable } {
  predefined ??= {
    ll: buildFseTable(LL_DEFAULT, LL_DEFAULT.length, 6),
    ml: buildFseTable(ML_DEFAULT, ML_DEFAULT.length, 6),
    of: buildFseTable(OF_DEFAULT, OF_DEFAULT.length, 5),
  }
  return predefined
}

/** A Huffman decoding table indexed by the next `maxBits` bits. */
interface HuffmanTable {
  maxBits: number
  symbol: Uint8Array
  nbBits: Uint8Array
}

/** Reads a Huffman tree description (RFC 8878 §4.2.1) at `p`; returns the table and the first byte after it. */
function readHuffmanTable(src: Uint8Array, p: number, end: number): [HuffmanTable, number] {
  need(end, p, 1, 'Huffman tree header')
  const header = src[p]!
  const weights: number[] = []
  let next: number
  if (header < 128) {
    // FSE-compressed weights: a table description, then one backward bitstream read by two interleaved states.
    const wEnd = p + 1 + header
    need(end, p + 1, header, 'compressed Huffman weights')
    const [table, streamStart] = readFseTable(src, p + 1, wEnd, 255, HUF_WEIGHTS_LOG_MAX)
    const bits = new BackwardBits(src, streamStart, wEnd)
    let s1 = bits.read(table.log)
    let s2 = bits.read(table.log)
    for (;;) {
      if (weights.length > 253) throw corrupt(FORMAT, 'too many Huffman weights')
      weights.push(table.symbol[s1]!)
      s1 = table.base[s1]! + bits.read(table.nbBits[s1]!)
      if (bits.left < 0) {
        weights.push(table.symbol[s2]!)
        break
      }
      weights.push(table.symbol[s2]!)
      s2 = table.base[s2]! + bits.read(table.nbBits[s2]!)
      if (bits.left < 0) {
        weights.push(table.symbol[s1]!)
        break
      }
    }
    next = wEnd
  } else {
    const count = header - 127
    need(end, p + 1, (count + 1) >>> 1, 'Huffman weights')
    for (let i = 0; i < count; i++) {
      const b = src[p + 1 + (i >>> 1)]!
      weights.push(i % 2 === 0 ? b >>> 4 : b & 15)
    }
    next = p + 1 + ((count + 1) >>> 1)
  }
  let total = 0
  for (const w of weights) {
    if (w > HUF_BITS_MAX) throw corrupt(FORMAT, `Huffman weight ${w} over ${HUF_BITS_MAX}`)
    if (w > 0) total += 1 << (w - 1)
  }
  if (total === 0) throw corrupt(FORMAT, 'Huffman weights are all zero')
  const maxBits = highBit(total) + 1
  if (maxBits > HUF_BITS_MAX) throw corrupt(FORMAT, `Huffman codes longer than ${HUF_BITS_MAX} bits`)
  const rest = (1 << maxBits) - total
  if ((rest & (rest - 1)) !== 0) throw corrupt(FORMAT, 'Huffman weights do not complete a tree')
  // The last symbol's weight is implied: whatever completes the tree.
  weights.push(highBit(rest) + 1)
  const size = 1 << maxBits
  const symbol = new Uint8Array(size)
  const nbBits = new Uint8Array(size)
  let pos = 0
  // Codes are assigned by increasing weight, then increasing symbol; a weight-w symbol spans 2^(w-1) entries.
  for (let w = 1; w <= maxBits; w++) {
    const span = 1 << (w - 1)
    for (let s = 0; s < weights.length; s++) {
      if (weights[s] !== w) continue
      symbol.fill(s, pos, pos + span)
      nbBits.fill(maxBits + 1 - w, pos, pos + span)
      pos += span
    }
  }
  if (pos !== size) throw corrupt(FORMAT, 'Huffman table is not full')
  return [{ maxBits, symbol, nbBits }, next]
}

function decodeHuffmanStream(
  src: Uint8Array,
  start: number,
  end: number,
  table: HuffmanTable,
  out: Uint8Array,
  outStart: number,
  count: number,
): void {
  const bits = new BackwardBits(src, start, end)
  const { maxBits, symbol, nbBits } = table
  for (let i = 0; i < count; i++) {
    const v = bits.peek(maxBits)
    out[outStart + i] = symbol[v]!
    bits.skip(nbBits[v]!)
  }
  if (bits.left !== 0) throw corrupt(FORMAT, 'Huffman stream not consumed exactly')
}

/** What persists from block to block within a frame. */
interface FrameState {
  reps: [number, number, number]
  huffman: HuffmanTable | undefined
  ll: FseTable | undefined
  of: FseTable | undefined
  ml: FseTable | undefined
}

/** Decodes the literals section at `p`; returns the literals and the first byte after the section. */
function decodeLiterals(src: Uint8Array, p: number, end: number, fs: FrameState): [Uint8Array, number] {
  need(end, p, 1, 'literals header')
  const b0 = src[p]!
  const type = b0 & 3
  const sizeFormat = (b0 >>> 2) & 3
  if (type <= 1) {
    let regenerated: number
    let header: number
    if (sizeFormat === 1) {
      need(end, p, 2, 'literals header')
      header = 2
      regenerated = (b0 >>> 4) + (src[p + 1]! << 4)
    } else if (sizeFormat === 3) {
      need(end, p, 3, 'literals header')
      header = 3
      regenerated = (b0 >>> 4) + (src[p + 1]! << 4) + (src[p + 2]! << 12)
    } else {
      header = 1
      regenerated = b0 >>> 3
    }
    if (regenerated > BLOCK_BYTES_MAX) throw corrupt(FORMAT, `${regenerated} literals in one block`)
    if (type === 0) {
      need(end, p + header, regenerated, 'raw literals')
      return [src.subarray(p + header, p + header + regenerated), p + header + regenerated]
    }
    need(end, p + header, 1, 'RLE literal')
    return [new Uint8Array(regenerated).fill(src[p + header]!), p + header + 1]
  }
  const header = sizeFormat <= 1 ? 3 : sizeFormat + 2
  const fieldBits = header === 3 ? 10 : header === 4 ? 14 : 18
  need(end, p, header, 'literals header')
  let v = 0
  for (let i = header - 1; i >= 0; i--) v = v * 256 + src[p + i]!
  const regenerated = Math.floor(v / 16) % 2 ** fieldBits
  const compressed = Math.floor(v / 2 ** (4 + fieldBits)) % 2 ** fieldBits
  if (regenerated > BLOCK_BYTES_MAX) throw corrupt(FORMAT, `${regenerated} literals in one block`)
  let q = p + header
  const cEnd = q + compressed
  need(end, q, compressed, 'compressed literals')
  if (type === 2) {
    const [table, after] = readHuffmanTable(src, q, cEnd)
    fs.huffman = table
    q = after
  } else if (fs.huffman === undefined) {
    throw corrupt(FORMAT, 'treeless literals without a previous Huffman tree')
  }
  const table = fs.huffman!
  const literals = new Uint8Array(regenerated)
  if (sizeFormat === 0) {
    decodeHuffmanStream(src, q, cEnd, table, literals, 0, regenerated)
  } else {
    need(cEnd, q, 6, 'Huffman jump table')
    const s1 = src[q]! | (src[q + 1]! << 8)
    const s2 = src[q + 2]! | (src[q + 3]! << 8)
    const s3 = src[q + 4]! | (src[q + 5]! << 8)
    const starts = [q + 6, q + 6 + s1, q + 6 + s1 + s2, q + 6 + s1 + s2 + s3, cEnd]
    if (starts[3]! >= cEnd) throw corrupt(FORMAT, 'Huffman jump table points past the literals')
    const per = (regenerated + 3) >>> 2
    if (3 * per > regenerated) throw corrupt(FORMAT, 'too few literals for four streams')
    for (let i = 0; i < 4; i++) {
      const count = i < 3 ? per : regenerated - 3 * per
      decodeHuffmanStream(src, starts[i]!, starts[i + 1]!, table, literals, i * per, count)
    }
  }
  return [literals, cEnd]
}

function sequenceTable(
  mode: number,
  src: Uint8Array,
  p: number,
  end: number,
  previous: FseTable | undefined,
  fallback: FseTable,
  maxSymbol: number,
  maxLog: number,
): [FseTable, number] {
  switch (mode) {
    case 0:
      return [fallback, p]
    case 1:
      need(end, p, 1, 'RLE sequence symbol')
      if (src[p]! > maxSymbol) throw corrupt(FORMAT, `RLE code ${src[p]} over ${maxSymbol}`)
      return [rleTable(src[p]!), p + 1]
    case 2:
      return readFseTable(src, p, end, maxSymbol, maxLog)
    default:
      if (previous === undefined) throw corrupt(FORMAT, 'repeat mode without a previous table')
      return [previous, p]
  }
}

/** Decodes the sequences section and executes it: literals and matches go to `out`. */
function decodeSequences(
  src: Uint8Array,
  p: number,
  end: number,
  fs: FrameState,
  literals: Uint8Array,
  out: BoundedOutput,
  frameStart: number,
): void {
  need(end, p, 1, 'sequence count')
  const b0 = src[p]!
  let count: number
  if (b0 < 128) {
    count = b0
    p += 1
  } else if (b0 < 255) {
    need(end, p, 2, 'sequence count')
    count = ((b0 - 128) << 8) + src[p + 1]!
    p += 2
  } else {
    need(end, p, 3, 'sequence count')
    count = src[p + 1]! + (src[p + 2]! << 8) + 0x7f00
    p += 3
  }
  if (count === 0) {
    if (p !== end) throw corrupt(FORMAT, 'bytes after an empty sequences section')
    out.append(literals, 0, literals.length)
    return
  }
  need(end, p, 1, 'sequence compression modes')
  const modes = src[p++]!
  if ((modes & 3) !== 0) throw corrupt(FORMAT, 'reserved bits of the compression modes set')
  const pre = predefinedTables()
  let ll: FseTable
  let of: FseTable
  let ml: FseTable
  ;[ll, p] = sequenceTable(modes >>> 6, src, p, end, fs.ll, pre.ll, LL_MAX_SYMBOL, LL_LOG_MAX)
  ;[of, p] = sequenceTable((modes >>> 4) & 3, src, p, end, fs.of, pre.of, OF_MAX_SYMBOL, OF_LOG_MAX)
  ;[ml, p] = sequenceTable((modes >>> 2) & 3, src, p, end, fs.ml, pre.ml, ML_MAX_SYMBOL, ML_LOG_MAX)
  fs.ll = ll
  fs.of = of
  fs.ml = ml
  const bits = new BackwardBits(src, p, end)
  let llState = bits.read(ll.log)
  let ofState = bits.read(of.log)
  let mlState = bits.read(ml.log)
  const reps = fs.reps
  let litPos = 0
  for (let i = 0; i < count; i++) {
    const llCode = ll.symbol[llState]!
    const ofCode = of.symbol[ofState]!
    const mlCode = ml.symbol[mlState]!
    if (llCode > LL_MAX_SYMBOL || mlCode > ML_MAX_SYMBOL || ofCode > OF_MAX_SYMBOL) {
      throw corrupt(FORMAT, 'sequence code out of range')
    }
    const offsetValue = 2 ** ofCode + bits.read(ofCode)
    const matchLength = ML_BASE[mlCode]! + bits.read(ML_BITS[mlCode]!)
    const literalLength = LL_BASE[llCode]! + bits.read(LL_BITS[llCode]!)
    let offset: number
    if (offsetValue > 3) {
      offset = offsetValue - 3
      reps[2] = reps[1]
      reps[1] = reps[0]
      reps[0] = offset
    } else {
      // With no literals before the match, the repeat offsets shift by one (RFC 8878 §3.1.1.5).
      const index = offsetValue - 1 + (literalLength === 0 ? 1 : 0)
      if (index === 0) {
        offset = reps[0]
      } else {
        offset = index === 3 ? reps[0] - 1 : reps[index]!
        if (offset === 0) throw corrupt(FORMAT, 'repeat offset of zero')
        if (index !== 1) reps[2] = reps[1]
        reps[1] = reps[0]
        reps[0] = offset
      }
    }
    if (i + 1 < count) {
      llState = ll.base[llState]! + bits.read(ll.nbBits[llState]!)
      mlState = ml.base[mlState]! + bits.read(ml.nbBits[mlState]!)
      ofState = of.base[ofState]! + bits.read(of.nbBits[ofState]!)
    }
    if (bits.left < 0) throw corrupt(FORMAT, 'sequence bitstream overflow')
    if (litPos + literalLength > literals.length) throw corrupt(FORMAT, 'sequences use more literals than decoded')
    out.append(literals, litPos, litPos + literalLength)
    litPos += literalLength
    if (offset > out.pos - frameStart) throw corrupt(FORMAT, `match offset ${offset} before the frame start`)
    out.copyMatch(offset, matchLength)
  }
  if (bits.left !== 0) throw corrupt(FORMAT, 'sequence bitstream not consumed exactly')
  out.append(literals, litPos, literals.length)
}

/**
 * Decompresses one or more concatenated zstd frames (skippable frames are skipped), verifying content sizes and
 * checksums. Throws `CompressionError` on corrupt input, dictionaries, or output over `maxBytes`.
 */
export function zstdDecompress(src: Uint8Array, maxBytes: number): Buffer {
  const end = src.length
  if (end === 0) throw corrupt(FORMAT, 'empty input, no frame')
  const out = new BoundedOutput(FORMAT, maxBytes, end * 4)
  let p = 0
  while (p < end) {
    need(end, p, 4, 'magic number')
    const skipped = skippableFrameEnd(src, p, end, FORMAT)
    if (skipped >= 0) {
      p = skipped
      continue
    }
    const magic = u32le(src, p)
    if (magic !== ZSTD_MAGIC) throw corrupt(FORMAT, `bad magic number 0x${magic.toString(16)}`)
    need(end, p, 5, 'frame header')
    const fhd = src[p + 4]!
    let q = p + 5
    const fcsFlag = fhd >>> 6
    const singleSegment = (fhd & 0x20) !== 0
    if ((fhd & 0x08) !== 0) throw corrupt(FORMAT, 'reserved frame header bit set')
    const hasChecksum = (fhd & 0x04) !== 0
    const dictFlag = fhd & 3
    let windowSize = 0
    if (!singleSegment) {
      need(end, q, 1, 'window descriptor')
      const wd = src[q++]!
      const windowLog = 10 + (wd >>> 3)
      if (windowLog > WINDOW_LOG_MAX) throw corrupt(FORMAT, `window log ${windowLog} over ${WINDOW_LOG_MAX}`)
      const windowBase = 2 ** windowLog
      windowSize = windowBase + (windowBase / 8) * (wd & 7)
    }
    const dictBytes = [0, 1, 2, 4][dictFlag]!
    need(end, q, dictBytes, 'dictionary id')
    let dictId = 0
    for (let i = dictBytes - 1; i >= 0; i--) dictId = dictId * 256 + src[q + i]!
    q += dictBytes
    if (dictId !== 0) {
      throw new CompressionError('RMQ_ERR_COMPRESSION_UNSUPPORTED', `${FORMAT}: frame needs dictionary ${dictId}`)
    }
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag]!
    need(end, q, fcsBytes, 'frame content size')
    let contentSize = -1
    if (fcsBytes > 0) {
      contentSize = 0
      for (let i = fcsBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + src[q + i]!
      if (fcsBytes === 2) contentSize += 256
      q += fcsBytes
    }
    if (singleSegment) windowSize = contentSize
    if (contentSize > maxBytes - out.pos) throw tooLarge(FORMAT, out.pos + contentSize, maxBytes)
    if (contentSize > 0) out.reserve(contentSize)
    const blockMaxBytes = Math.min(windowSize, BLOCK_BYTES_MAX)
    const frameStart = out.pos
    const fs: FrameState = { reps: [1, 4, 8], huffman: undefined, ll: undefined, of: undefined, ml: undefined }
    let last = false
    while (!last) {
      need(end, q, 3, 'block header')
      const bh = src[q]! | (src[q + 1]! << 8) | (src[q + 2]! << 16)
      q += 3
      last = (bh & 1) === 1
      const type = (bh >>> 1) & 3
      const size = bh >>> 3
      if (size > blockMaxBytes) throw corrupt(FORMAT, `block of ${size} bytes over the maximum ${blockMaxBytes}`)
      if (type === 0) {
        need(end, q, size, 'raw block')
        out.append(src, q, q + size)
        q += size
      } else if (type === 1) {
        need(end, q, 1, 'RLE block')
        out.fill(src[q]!, size)
        q += 1
      } else if (type === 2) {
        need(end, q, size, 'compressed block')
        const blockStart = out.pos
        const [literals, next] = decodeLiterals(src, q, q + size, fs)
        decodeSequences(src, next, q + size, fs, literals, out, frameStart)
        if (out.pos - blockStart > blockMaxBytes) throw corrupt(FORMAT, 'a block decodes to more than the maximum')
        q += size
      } else {
        throw corrupt(FORMAT, 'reserved block type')
      }
    }
    if (contentSize >= 0 && out.pos - frameStart !== contentSize) {
      throw corrupt(FORMAT, `content size ${out.pos - frameStart} differs from the declared ${contentSize}`)
    }
    if (hasChecksum) {
      need(end, q, 4, 'content checksum')
      if (xxh64(out.buf, frameStart, out.pos).lo !== u32le(src, q)) throw corrupt(FORMAT, 'content checksum mismatch')
      q += 4
    }
    p = q
  }
  return out.result()
}
