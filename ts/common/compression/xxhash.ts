/**
 * XXH32 and XXH64 (xxHash by Yann Collet, spec: `doc/xxhash_spec.md` of Cyan4973/xxHash). LZ4 frames carry XXH32
 * header, block and content checksums; zstd frames carry the low 32 bits of XXH64 of the content.
 *
 * XXH64 runs on pairs of unsigned 32-bit halves instead of `bigint`: a 4 MiB body is 128 Ki stripes, and BigInt
 * arithmetic made checksumming slower than decompressing.
 */

const P32_1 = 0x9e3779b1
const P32_2 = 0x85ebca77
const P32_3 = 0xc2b2ae3d
const P32_4 = 0x27d4eb2f
const P32_5 = 0x165667b1

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r))
}

function round32(acc: number, lane: number): number {
  return Math.imul(rotl32((acc + Math.imul(lane, P32_2)) | 0, 13), P32_1)
}

/** XXH32 of `b[start, end)`, unsigned. */
export function xxh32(b: Uint8Array, seed = 0, start = 0, end = b.length): number {
  const len = end - start
  let p = start
  let h: number
  const u32 = (i: number): number => b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24) | 0
  if (len >= 16) {
    let v1 = (seed + P32_1 + P32_2) | 0
    let v2 = (seed + P32_2) | 0
    let v3 = seed | 0
    let v4 = (seed - P32_1) | 0
    const limit = end - 16
    while (p <= limit) {
      v1 = round32(v1, u32(p))
      v2 = round32(v2, u32(p + 4))
      v3 = round32(v3, u32(p + 8))
      v4 = round32(v4, u32(p + 12))
      p += 16
    }
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0
  } else {
    h = (seed + P32_5) | 0
  }
  h = (h + len) | 0
  while (p + 4 <= end) {
    h = Math.imul(rotl32((h + Math.imul(u32(p), P32_3)) | 0, 17), P32_4)
    p += 4
  }
  while (p < end) {
    h = Math.imul(rotl32((h + Math.imul(b[p]!, P32_5)) | 0, 11), P32_1)
    p++
  }
  h ^= h >>> 15
  h = Math.imul(h, P32_2)
  h ^= h >>> 13
  h = Math.imul(h, P32_3)
  h ^= h >>> 16
  return h >>> 0
}

// ----- XXH64 on 32-bit halves --------------------------------------------------------------------------------

/** A 64-bit value as unsigned halves. Operations below write their result into the first argument. */
interface U64 {
  hi: number
  lo: number
}

const P64_1: U64 = { hi: 0x9e3779b1, lo: 0x85ebca87 }
const P64_2: U64 = { hi: 0xc2b2ae3d, lo: 0x27d4eb4f }
const P64_3: U64 = { hi: 0x165667b1, lo: 0x9e3779f9 }
const P64_4: U64 = { hi: 0x85ebca77, lo: 0xc2b2ae63 }
const P64_5: U64 = { hi: 0x27d4eb2f, lo: 0x165667c5 }

function add(a: U64, b: U64): void {
  const lo = a.lo + b.lo
  a.hi = (a.hi + b.hi + (lo > 0xffffffff ? 1 : 0)) >>> 0
  a.lo = lo >>> 0
}

function sub(a: U64, b: U64): void {
  const lo = a.lo - b.lo
  a.hi = (a.hi - b.hi - (lo < 0 ? 1 : 0)) >>> 0
  a.lo = lo >>> 0
}

function mul(a: U64, b: U64): void {
  const a0 = a.lo & 0xffff
  const a1 = a.lo >>> 16
  const b0 = b.lo & 0xffff
  const b1 = b.lo >>> 16
  const p00 = a0 * b0
  const p01 = a0 * b1
  const p10 = a1 * b0
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff)
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)
  // Every term is an exact integer below 2^53; ToUint32 (>>> 0) reduces the sum modulo 2^32.
  a.hi = (carry + Math.imul(a.hi, b.lo) + Math.imul(a.lo, b.hi)) >>> 0
  a.lo = (((mid & 0xffff) << 16) | (p00 & 0xffff)) >>> 0
}

function rotl(a: U64, r: number): void {
  let hi = a.hi
  let lo = a.lo
  if (r >= 32) {
    const t = hi
    hi = lo
    lo = t
    r -= 32
  }
  if (r > 0) {
    const nhi = ((hi << r) | (lo >>> (32 - r))) >>> 0
    lo = ((lo << r) | (hi >>> (32 - r))) >>> 0
    hi = nhi
  }
  a.hi = hi
  a.lo = lo
}

/** `a ^= a >>> r` for 0 < r < 64. */
function xorShiftRight(a: U64, r: number): void {
  if (r >= 32) {
    a.lo = (a.lo ^ (a.hi >>> (r - 32))) >>> 0
  } else {
    a.lo = (a.lo ^ ((a.lo >>> r) | (a.hi << (32 - r)))) >>> 0
    a.hi = (a.hi ^ (a.hi >>> r)) >>> 0
  }
}

function xor(a: U64, b: U64): void {
  a.hi = (a.hi ^ b.hi) >>> 0
  a.lo = (a.lo ^ b.lo) >>> 0
}

function read64(b: Uint8Array, p: number, out: U64): U64 {
  out.lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
  out.hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0
  return out
}

/** `acc = rotl(acc + lane * P2, 31) * P1`; clobbers `lane`. */
function round64(acc: U64, lane: U64): void {
  mul(lane, P64_2)
  add(acc, lane)
  rotl(acc, 31)
  mul(acc, P64_1)
}

function mergeRound(h: U64, v: U64): void {
  const k: U64 = { hi: 0, lo: 0 }
  const t: U64 = { hi: v.hi, lo: v.lo }
  round64(k, t)
  xor(h, k)
  mul(h, P64_1)
  add(h, P64_4)
}

/** XXH64 of `b[start, end)` with seed 0, as its unsigned halves. */
export function xxh64(b: Uint8Array, start = 0, end = b.length): U64 {
  const len = end - start
  let p = start
  const h: U64 = { hi: 0, lo: 0 }
  const lane: U64 = { hi: 0, lo: 0 }
  if (len >= 32) {
    const v1: U64 = { hi: P64_1.hi, lo: P64_1.lo }
    add(v1, P64_2)
    const v2: U64 = { hi: P64_2.hi, lo: P64_2.lo }
    const v3: U64 = { hi: 0, lo: 0 }
    const v4: U64 = { hi: 0, lo: 0 }
    sub(v4, P64_1)
    const limit = end - 32
    while (p <= limit) {
      round64(v1, read64(b, p, lane))
      round64(v2, read64(b, p + 8, lane))
      round64(v3, read64(b, p + 16, lane))
      round64(v4, read64(b, p + 24, lane))
      p += 32
    }
    const t: U64 = { hi: 0, lo: 0 }
    for (const [v, r] of [
      [v1, 1],
      [v2, 7],
      [v3, 12],
      [v4, 18],
    ] as const) {
      t.hi = v.hi
      t.lo = v.lo
      rotl(t, r)
      add(h, t)
    }
    mergeRound(h, v1)
    mergeRound(h, v2)
    mergeRound(h, v3)
    mergeRound(h, v4)
  } else {
    h.hi = P64_5.hi
    h.lo = P64_5.lo
  }
  add(h, { hi: Math.floor(len / 0x1_0000_0000) >>> 0, lo: len >>> 0 })
  const k: U64 = { hi: 0, lo: 0 }
  while (p + 8 <= end) {
    k.hi = 0
    k.lo = 0
    round64(k, read64(b, p, lane))
    xor(h, k)
    rotl(h, 27)
    mul(h, P64_1)
    add(h, P64_4)
    p += 8
  }
  if (p + 4 <= end) {
    k.hi = 0
    k.lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0
    mul(k, P64_1)
    xor(h, k)
    rotl(h, 23)
    mul(h, P64_2)
    add(h, P64_3)
    p += 4
  }
  while (p < end) {
    k.hi = 0
    k.lo = b[p]!
    mul(k, P64_5)
    xor(h, k)
    rotl(h, 11)
    mul(h, P64_1)
    p++
  }
  xorShiftRight(h, 33)
  mul(h, P64_2)
  xorShiftRight(h, 29)
  mul(h, P64_3)
  xorShiftRight(h, 32)
  return h
}

/** XXH64 as a `bigint` (tests, and anyone who wants the whole value). */
export function xxh64BigInt(b: Uint8Array, start = 0, end = b.length): bigint {
  const h = xxh64(b, start, end)
  return (BigInt(h.hi) << 32n) | BigInt(h.lo)
}
