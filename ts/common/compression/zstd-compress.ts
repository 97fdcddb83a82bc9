/**
 * A small Zstandard compressor (RFC 8878) for producers with `compressType=ZSTD`: one single-segment frame with the
 * content size and an XXH64 checksum; each block of up to 128 KiB is LZ77-matched greedily (one hash probe per
 * position, offsets below 4 MiB), its literals stored raw and its sequences FSE-coded with the predefined tables.
 * A block that does not shrink is stored raw. Ratios are below libzstd's (no Huffman literals, no repeat offsets, no
 * tuned tables) but every conforming decoder reads the output. `level` is accepted and ignored.
 */
import { LL_BASE, LL_BITS, LL_DEFAULT, ML_BASE, ML_BITS, ML_DEFAULT, OF_DEFAULT, ZSTD_MAGIC } from './zstd.js'
import { u32le } from './frame-bytes.js'
import { xxh64 } from './xxhash.js'

const BLOCK_BYTES_MAX = 128 * 1024
const MIN_MATCH = 4
const HASH_LOG = 16
/** Offsets stay below 2^22, well inside the predefined offset table (codes up to 28). */
const MAX_OFFSET = (1 << 22) - 1

/** An FSE encoding table (`FSE_buildCTable`): next-state table plus per-symbol transforms. */
interface FseCTable {
  log: number
  stateTable: Uint16Array
  deltaNbBits: Int32Array
  deltaFindState: Int32Array
}

function highBit(v: number): number {
  return 31 - Math.clz32(v)
}

function buildCTable(norm: readonly number[], log: number): FseCTable {
  const size = 1 << log
  const symbols = norm.length
  const tableSymbol = new Uint8Array(size)
  const cumul = new Uint32Array(symbols + 1)
  let high = size - 1
  for (let u = 1; u <= symbols; u++) {
    if (norm[u - 1] === -1) {
      cumul[u] = cumul[u - 1]! + 1
      tableSymbol[high--] = u - 1
    } else {
      cumul[u] = cumul[u - 1]! + norm[u - 1]!
    }
  }
  // The same spread as the decoder's table (RFC 8878 §4.1.1).
  const step = (size >>> 1) + (size >>> 3) + 3
  const mask = size - 1
  let pos = 0
  for (let s = 0; s < symbols; s++) {
    for (let i = 0; i < norm[s]!; i++) {
      tableSymbol[pos] = s
      do pos = (pos + step) & mask
      while (pos > high)
    }
  }
  const stateTable = new Uint16Array(size)
  for (let u = 0; u < size; u++) stateTable[cumul[tableSymbol[u]!]!++] = size + u
  const deltaNbBits = new Int32Array(symbols)
  const deltaFindState = new Int32Array(symbols)
  let total = 0
  for (let s = 0; s < symbols; s++) {
    const n = norm[s]!
    if (n === 0) {
      deltaNbBits[s] = ((log + 1) << 16) - size
    } else if (n === -1 || n === 1) {
      deltaNbBits[s] = (log << 16) - size
      deltaFindState[s] = total - 1
      total++
    } else {
      const maxBitsOut = log - highBit(n - 1)
      deltaNbBits[s] = (maxBitsOut << 16) - (n << maxBitsOut)
      deltaFindState[s] = total - n
      total += n
    }
  }
  return { log, stateTable, deltaNbBits, deltaFindState }
}

let tables: { ll: FseCTable; ml: FseCTable; of: FseCTable } | undefined

function predefinedCTables(): { ll: FseCTable; ml: FseCTable; of: FseCTable } {
  tables ??= { ll: buildCTable(LL_DEFAULT, 6), ml: buildCTable(ML_DEFAULT, 6), of: buildCTable(OF_DEFAULT, 5) }
  return tables
}

/** A forward bit writer: bits go in from the least significant end, as zstd's `BIT_CStream`. */
class BitWriter {
  private readonly bytes: number[] = []
  private acc = 0
  private accBits = 0

  add(value: number, n: number): void {
    if (n === 0) return
    this.acc += (value % 2 ** n) * 2 ** this.accBits
    this.accBits += n
    while (this.accBits >= 8) {
      this.bytes.push(this.acc % 256)
      this.acc = Math.floor(this.acc / 256)
      this.accBits -= 8
    }
  }

  /** Adds the end mark and returns the stream. */
  close(): number[] {
    this.add(1, 1)
    if (this.accBits > 0) this.bytes.push(this.acc)
    this.acc = 0
    this.accBits = 0
    return this.bytes
  }
}

class FseEncoder {
  private value = 0

  constructor(private readonly t: FseCTable) {}

  /** `FSE_initCState2`: the state for the last symbol encoded first. */
  init(symbol: number): void {
    const t = this.t
    const nbBitsOut = (t.deltaNbBits[symbol]! + (1 << 15)) >> 16
    const v = (nbBitsOut << 16) - t.deltaNbBits[symbol]!
    this.value = t.stateTable[(v >> nbBitsOut) + t.deltaFindState[symbol]!]!
  }

  encode(bits: BitWriter, symbol: number): void {
    const t = this.t
    const nbBitsOut = (this.value + t.deltaNbBits[symbol]!) >> 16
    bits.add(this.value, nbBitsOut)
    this.value = t.stateTable[(this.value >> nbBitsOut) + t.deltaFindState[symbol]!]!
  }

  flush(bits: BitWriter): void {
    bits.add(this.value, this.t.log)
  }
}

/** The largest code whose baseline is at most `value`. */
function codeOf(base: readonly number[], value: number): number {
  let c = base.length - 1
  while (base[c]! > value) c--
  return c
}

interface Sequence {
  literalLength: number
  matchLength: number
  offset: number
}

/** Greedy matches within `src[start, end)`, reaching back anywhere earlier in `src` (the frame is one segment). */
function findSequences(src: Uint8Array, start: number, end: number, table: Int32Array): [Sequence[], number[]] {
  const sequences: Sequence[] = []
  const literals: number[] = []
  let anchor = start
  let ip = start
  while (ip + MIN_MATCH <= end) {
    const seq = u32le(src, ip)
    const h = Math.imul(seq, 2654435761) >>> (32 - HASH_LOG)
    const ref = table[h]!
    table[h] = ip
    if (ref < 0 || ip - ref > MAX_OFFSET || u32le(src, ref) !== seq) {
      ip++
      continue
    }
    let length = MIN_MATCH
    while (ip + length < end && src[ref + length] === src[ip + length]) length++
    for (let i = anchor; i < ip; i++) literals.push(src[i]!)
    sequences.push({ literalLength: ip - anchor, matchLength: length, offset: ip - ref })
    ip += length
    anchor = ip
  }
  for (let i = anchor; i < end; i++) literals.push(src[i]!)
  return [sequences, literals]
}

function literalsHeader(n: number): number[] {
  // Raw literals (type 0) with the smallest size format that holds n.
  if (n < 32) return [n << 3]
  if (n < 4096) return [(1 << 2) | ((n & 0xf) << 4), n >>> 4]
  return [(3 << 2) | ((n & 0xf) << 4), (n >>> 4) & 0xff, n >>> 12]
}

function sequenceCount(n: number): number[] {
  if (n < 128) return [n]
  if (n < 0x7f00) return [(n >>> 8) + 128, n & 0xff]
  return [255, (n - 0x7f00) & 0xff, (n - 0x7f00) >>> 8]
}

/** The content of a compressed block, or null when there is nothing to gain. */
function compressBlock(src: Uint8Array, start: number, end: number, table: Int32Array): number[] | null {
  const [sequences, literals] = findSequences(src, start, end, table)
  if (sequences.length === 0) return null
  const out = literalsHeader(literals.length)
  for (const b of literals) out.push(b)
  out.push(...sequenceCount(sequences.length), 0) // modes: LL, OF, ML all predefined
  const t = predefinedCTables()
  const ll = new FseEncoder(t.ll)
  const ml = new FseEncoder(t.ml)
  const of = new FseEncoder(t.of)
  const bits = new BitWriter()
  const n = sequences.length
  const codes = sequences.map((s) => {
    const offBase = s.offset + 3
    return { ll: codeOf(LL_BASE, s.literalLength), ml: codeOf(ML_BASE, s.matchLength), of: highBit(offBase), offBase }
  })
  const extraBits = (i: number): void => {
    const s = sequences[i]!
    const c = codes[i]!
    bits.add(s.literalLength - LL_BASE[c.ll]!, LL_BITS[c.ll]!)
    bits.add(s.matchLength - ML_BASE[c.ml]!, ML_BITS[c.ml]!)
    bits.add(c.offBase - 2 ** c.of, c.of)
  }
  // Sequences are written last first: the decoder reads the stream backwards.
  ml.init(codes[n - 1]!.ml)
  of.init(codes[n - 1]!.of)
  ll.init(codes[n - 1]!.ll)
  extraBits(n - 1)
  for (let i = n - 2; i >= 0; i--) {
    of.encode(bits, codes[i]!.of)
    ml.encode(bits, codes[i]!.ml)
    ll.encode(bits, codes[i]!.ll)
    extraBits(i)
  }
  ml.flush(bits)
  of.flush(bits)
  ll.flush(bits)
  for (const b of bits.close()) out.push(b)
  return out
}

/** One zstd frame holding `src`. */
export function zstdCompress(src: Uint8Array, _level = 3): Buffer {
  const chunks: Uint8Array[] = []
  // Header: single segment, content checksum, content size in the smallest field that holds it.
  const n = src.length
  const header: number[] = []
  let fcsFlag: number
  const fcs: number[] = []
  if (n < 256) {
    fcsFlag = 0
    fcs.push(n)
  } else if (n < 65536 + 256) {
    fcsFlag = 1
    fcs.push((n - 256) & 0xff, (n - 256) >>> 8)
  } else if (n <= 0xffffffff) {
    fcsFlag = 2
    fcs.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24)
  } else {
    fcsFlag = 3
    let v = n
    for (let i = 0; i < 8; i++) {
      fcs.push(v % 256)
      v = Math.floor(v / 256)
    }
  }
  const magic = Buffer.alloc(4)
  magic.writeUInt32LE(ZSTD_MAGIC)
  header.push(...magic, (fcsFlag << 6) | 0x20 | 0x04, ...fcs)
  chunks.push(Uint8Array.from(header))
  const table = new Int32Array(1 << HASH_LOG).fill(-1)
  let start = 0
  do {
    const end = Math.min(n, start + BLOCK_BYTES_MAX)
    const last = end === n ? 1 : 0
    const block = compressBlock(src, start, end, table)
    const blockHeader = Buffer.alloc(3)
    if (block !== null && block.length < end - start) {
      blockHeader.writeUIntLE((block.length << 3) | (2 << 1) | last, 0, 3)
      chunks.push(blockHeader, Uint8Array.from(block))
    } else {
      blockHeader.writeUIntLE(((end - start) << 3) | last, 0, 3)
      chunks.push(blockHeader, src.subarray(start, end))
    }
    start = end
  } while (start < n)
  const checksum = Buffer.alloc(4)
  checksum.writeUInt32LE(xxh64(src).lo)
  chunks.push(checksum)
  return Buffer.concat(chunks)
}
