import { readFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'

import { describe, expect, it } from 'vitest'

import { CompressionError } from '../../../ts/common/compression/compression-error.js'
import {
  CompressionType,
  compressionSysFlag,
  compressionTypeOf,
  compressionTypeOfSysFlag,
  decompress,
} from '../../../ts/common/compression/compression-type.js'
import { lz4FrameCompress, lz4FrameDecompress } from '../../../ts/common/compression/lz4.js'
import { xxh32, xxh64BigInt } from '../../../ts/common/compression/xxhash.js'
import { zstdDecompress } from '../../../ts/common/compression/zstd.js'
import { zstdCompress } from '../../../ts/common/compression/zstd-compress.js'
import { MESSAGE_BODY_BYTES_MAX_DEFAULT } from '../../../ts/common/limits.js'
import { decodeMessage } from '../../../ts/common/message/message-record.js'
import { sampleText } from '../../fixtures/compression/sample-text.js'

const fixture = (name: string): Buffer => readFileSync(new URL(`../../fixtures/compression/${name}`, import.meta.url))
const MAX = MESSAGE_BODY_BYTES_MAX_DEFAULT
const SAMPLE = sampleText()

/** A deterministic generator, so failures reproduce. */
function prng(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x1_0000_0000
  }
}

/** Bytes with runs, repeats and noise in proportions chosen by `seed`. */
function mixedBytes(rnd: () => number, length: number): Buffer {
  const b = Buffer.alloc(length)
  const alphabet = 1 + Math.floor(rnd() * 255)
  let i = 0
  while (i < length) {
    const r = rnd()
    const n = Math.min(length - i, 1 + Math.floor(rnd() * 300))
    if (r < 0.3 && i > 0) {
      const back = 1 + Math.floor(rnd() * Math.min(i, 70_000))
      for (let k = 0; k < n; k++, i++) b[i] = b[i - back]!
    } else if (r < 0.4) {
      b.fill(Math.floor(rnd() * 256), i, i + n)
      i += n
    } else {
      for (let k = 0; k < n; k++, i++) b[i] = Math.floor(rnd() * alphabet)
    }
  }
  return b
}

/** `fn` throws a CompressionError with `code`. */
function expectCompressionError(fn: () => unknown, code: string): void {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(CompressionError)
  expect((caught as CompressionError).code).toBe(code)
}

/** Decoding must either fail with a CompressionError or give back exactly `original`; nothing else may escape. */
function decodesOrRefuses(decode: () => Buffer, original: Buffer): void {
  let out: Buffer
  try {
    out = decode()
  } catch (err) {
    expect(err).toBeInstanceOf(CompressionError)
    return
  }
  expect(out.equals(original)).toBe(true)
}

describe('xxhash', () => {
  it('matches the reference values of the xxHash test vectors', () => {
    expect(xxh32(Buffer.alloc(0))).toBe(0x02cc5d05)
    expect(xxh32(Buffer.from('abc'))).toBe(0x32d153ff)
    expect(xxh64BigInt(Buffer.alloc(0))).toBe(0xef46db3751d8e999n)
    expect(xxh64BigInt(Buffer.from('abc'))).toBe(0x44bc2cf5ad770999n)
  })

  it('agrees with a BigInt XXH64 on every length up to 100 (all tail paths) and on a long input', () => {
    const M = (1n << 64n) - 1n
    const P1 = 0x9e3779b185ebca87n
    const P2 = 0xc2b2ae3d27d4eb4fn
    const P3 = 0x165667b19e3779f9n
    const P4 = 0x85ebca77c2b2ae63n
    const P5 = 0x27d4eb2f165667c5n
    const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M
    const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & M, 31n) * P1) & M
    const reference = (b: Buffer): bigint => {
      let p = 0
      let h: bigint
      if (b.length >= 32) {
        const v = [(P1 + P2) & M, P2, 0n, (M + 1n - P1) & M]
        for (; p + 32 <= b.length; p += 32)
          for (let i = 0; i < 4; i++) v[i] = round(v[i]!, b.readBigUInt64LE(p + 8 * i))
        h = (rotl(v[0]!, 1n) + rotl(v[1]!, 7n) + rotl(v[2]!, 12n) + rotl(v[3]!, 18n)) & M
        for (const x of v) h = (((h ^ round(0n, x)) * P1 + P4) & M) as bigint
      } else {
        h = P5
      }
      h = (h + BigInt(b.length)) & M
      for (; p + 8 <= b.length; p += 8) h = (rotl(h ^ round(0n, b.readBigUInt64LE(p)), 27n) * P1 + P4) & M
      if (p + 4 <= b.length) {
        h = (rotl(h ^ ((BigInt(b.readUInt32LE(p)) * P1) & M), 23n) * P2 + P3) & M
        p += 4
      }
      for (; p < b.length; p++) h = (rotl(h ^ ((BigInt(b[p]!) * P5) & M), 11n) * P1) & M
      h = ((h ^ (h >> 33n)) * P2) & M
      h = ((h ^ (h >> 29n)) * P3) & M
      return h ^ (h >> 32n)
    }
    const rnd = prng(7)
    for (let n = 0; n <= 100; n++) {
      const b = mixedBytes(rnd, n)
      expect(xxh64BigInt(b)).toBe(reference(b))
    }
    const long = mixedBytes(rnd, 10_007)
    expect(xxh64BigInt(long)).toBe(reference(long))
  })
})

describe('zstd frames made by the reference tools', () => {
  it.each(['sample.l19.zst', 'sample.stream.l3.zst', 'sample.fast5-nocheck.zst', 'sample.zstd-jni-l5.zst'])(
    '%s decodes to the sample text',
    (name) => {
      expect(zstdDecompress(fixture(name), MAX).equals(SAMPLE)).toBe(true)
    },
  )

  it('decodes RLE blocks and concatenated frames around a skippable frame', () => {
    expect(zstdDecompress(fixture('zeros-300000.zst'), MAX).equals(Buffer.alloc(300_000))).toBe(true)
    const small = SAMPLE.subarray(0, 1000)
    expect(zstdDecompress(fixture('small-x2-skippable.zst'), MAX).equals(Buffer.concat([small, small]))).toBe(true)
  })

  it('refuses a frame whose declared content size is over the limit before allocating it', () => {
    const frame = fixture('zeros-5000000-declared.zst')
    expectCompressionError(() => zstdDecompress(frame, MAX), 'RMQ_ERR_DECOMPRESSED_TOO_LARGE')
    expect(zstdDecompress(frame, 5_000_000).length).toBe(5_000_000)
  })

  it('refuses output over the limit when no size is declared', () => {
    expectCompressionError(() => zstdDecompress(fixture('zeros-300000.zst'), 299_999), 'RMQ_ERR_DECOMPRESSED_TOO_LARGE')
  })

  it('detects a damaged byte through the content checksum', () => {
    const frame = Buffer.from(fixture('sample.l19.zst'))
    // The checksum itself: the content decodes, the check fails.
    frame[frame.length - 1]! ^= 0x01
    expectCompressionError(() => zstdDecompress(frame, MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
  })

  it('refuses bad magic, reserved bits, dictionaries and empty input with clear errors', () => {
    expectCompressionError(() => zstdDecompress(Buffer.alloc(0), MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
    expectCompressionError(() => zstdDecompress(Buffer.from('not a frame'), MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
    const reserved = Buffer.from(fixture('small-x2-skippable.zst'))
    reserved[4]! |= 0x08
    expectCompressionError(() => zstdDecompress(reserved, MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
    // Descriptor 0x01: one dictionary-id byte (7), a window descriptor, then a raw last block of 0 bytes.
    const withDict = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x01, 0x00, 0x07, 0x01, 0x00, 0x00])
    expectCompressionError(() => zstdDecompress(withDict, MAX), 'RMQ_ERR_COMPRESSION_UNSUPPORTED')
  })

  it('fails with a CompressionError at every truncation point', () => {
    const frame = fixture('small-x2-skippable.zst')
    const firstFrame = frame.subarray(0, frame.indexOf(Buffer.from([0x50, 0x2a, 0x4d, 0x18])))
    for (let n = 0; n < firstFrame.length; n++) {
      expectCompressionError(() => zstdDecompress(firstFrame.subarray(0, n), MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
    }
  })

  it('either refuses or reproduces the content when any single byte is flipped', () => {
    const frame = fixture('sample.l19.zst')
    const rnd = prng(11)
    for (let i = 0; i < 400; i++) {
      const damaged = Buffer.from(frame)
      damaged[Math.floor(rnd() * damaged.length)]! ^= 1 + Math.floor(rnd() * 255)
      decodesOrRefuses(() => zstdDecompress(damaged, MAX), SAMPLE)
    }
  })
})

describe('zstd compressor', () => {
  it('writes one single-segment frame with the content size and checksum, and shrinks text', () => {
    const frame = zstdCompress(SAMPLE)
    expect(frame.readUInt32LE(0)).toBe(0xfd2fb528)
    expect(frame[4]).toBe(0xa4) // 4-byte content size, single segment, checksum
    expect(frame.readUInt32LE(5)).toBe(SAMPLE.length)
    expect(frame.readUInt32LE(frame.length - 4)).toBe(Number(xxh64BigInt(SAMPLE) & 0xffffffffn))
    expect(frame.length).toBeLessThan(SAMPLE.length * 0.6)
    expect(zstdDecompress(frame, MAX).equals(SAMPLE)).toBe(true)
  })

  it('round-trips inputs of every shape: empty, tiny, runs, noise, several blocks', () => {
    const rnd = prng(17)
    const sizes = [0, 1, 3, 4, 5, 31, 32, 255, 256, 4095, 4096, 65_791, 65_792, 131_072, 131_073, 400_000]
    for (let i = 0; i < 40; i++) sizes.push(Math.floor(rnd() * 30_000))
    for (const n of sizes) {
      const input = mixedBytes(rnd, n)
      expect(zstdDecompress(zstdCompress(input), MAX).equals(input)).toBe(true)
    }
    expect(zstdDecompress(zstdCompress(Buffer.alloc(1_000_000)), 1_000_000).length).toBe(1_000_000)
  })

  it('stores incompressible blocks raw', () => {
    const rnd = prng(19)
    const noise = Buffer.alloc(200_000)
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rnd() * 256)
    const frame = zstdCompress(noise)
    // Header 9, two block headers, checksum 4: nothing else is added.
    expect(frame.length).toBe(9 + 3 + 3 + 4 + noise.length)
    expect(zstdDecompress(frame, MAX).equals(noise)).toBe(true)
  })
})

describe('lz4 frames', () => {
  it.each(['sample.l9.lz4', 'sample.linked-64k-blockcrc.lz4'])('%s (lz4 CLI) decodes to the sample text', (name) => {
    expect(lz4FrameDecompress(fixture(name), MAX).equals(SAMPLE)).toBe(true)
  })

  it('decodes concatenated frames around a skippable frame', () => {
    const small = SAMPLE.subarray(0, 1000)
    expect(lz4FrameDecompress(fixture('small-x2-skippable.lz4'), MAX).equals(Buffer.concat([small, small]))).toBe(true)
  })

  it('writes the frame lz4-java writes by default: independent 4 MiB blocks, no checksums', () => {
    const frame = lz4FrameCompress(SAMPLE)
    expect(frame.readUInt32LE(0)).toBe(0x184d2204)
    expect(frame[4]).toBe(0x60) // version 01, block independence
    expect(frame[5]).toBe(0x70) // 4 MiB blocks
    expect(frame[6]).toBe((xxh32(frame, 0, 4, 6) >>> 8) & 0xff)
    expect(frame.readUInt32LE(frame.length - 4)).toBe(0) // end mark, nothing after it
    expect(frame.length).toBeLessThan(SAMPLE.length / 2)
    expect(lz4FrameDecompress(frame, MAX).equals(SAMPLE)).toBe(true)
  })

  it('round-trips random inputs of every shape, stored blocks included', () => {
    const rnd = prng(3)
    const sizes = [0, 1, 4, 5, 12, 13, 16, 64, 255, 256, 270, 65_535, 65_536, 70_000, 300_000]
    for (let i = 0; i < 60; i++) sizes.push(Math.floor(rnd() * 20_000))
    for (const n of sizes) {
      const input = mixedBytes(rnd, n)
      expect(lz4FrameDecompress(lz4FrameCompress(input), MAX).equals(input)).toBe(true)
    }
    const noise = Buffer.alloc(10_000)
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(rnd() * 256)
    const stored = lz4FrameCompress(noise)
    expect(stored.readUInt32LE(7) >>> 31).toBe(1) // incompressible: one block stored as is
    expect(lz4FrameDecompress(stored, MAX).equals(noise)).toBe(true)
  })

  it('round-trips a body over one 4 MiB block', () => {
    const input = mixedBytes(prng(5), 4 * 1024 * 1024 + 1000)
    expect(lz4FrameDecompress(lz4FrameCompress(input), input.length).equals(input)).toBe(true)
  })

  it('refuses declared or actual output over the limit', () => {
    expectCompressionError(
      () => lz4FrameDecompress(fixture('zeros-5000000-declared.lz4'), MAX),
      'RMQ_ERR_DECOMPRESSED_TOO_LARGE',
    )
    const frame = lz4FrameCompress(Buffer.alloc(100_000))
    expectCompressionError(() => lz4FrameDecompress(frame, 99_999), 'RMQ_ERR_DECOMPRESSED_TOO_LARGE')
  })

  it('fails with a CompressionError at every truncation point and on a bad header checksum', () => {
    const frame = lz4FrameCompress(SAMPLE.subarray(0, 2000))
    for (let n = 0; n < frame.length; n++) {
      expectCompressionError(() => lz4FrameDecompress(frame.subarray(0, n), MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
    }
    const badHeader = Buffer.from(frame)
    badHeader[6]! ^= 0xff
    expectCompressionError(() => lz4FrameDecompress(badHeader, MAX), 'RMQ_ERR_CORRUPT_COMPRESSED_DATA')
  })

  it('either refuses or reproduces the content when any single byte is flipped', () => {
    const frame = fixture('sample.linked-64k-blockcrc.lz4')
    const rnd = prng(13)
    for (let i = 0; i < 400; i++) {
      const damaged = Buffer.from(frame)
      damaged[Math.floor(rnd() * damaged.length)]! ^= 1 + Math.floor(rnd() * 255)
      decodesOrRefuses(() => lz4FrameDecompress(damaged, MAX), SAMPLE)
    }
  })
})

describe('compression types in SYSFLAG', () => {
  it('maps names and flag bits as CompressionType does (0 with COMPRESSED is ZLIB)', () => {
    expect(compressionTypeOf(' lz4 ')).toBe(CompressionType.LZ4)
    expect(compressionTypeOf('ZSTD')).toBe(CompressionType.ZSTD)
    expect(() => compressionTypeOf('snappy')).toThrow(CompressionError)
    expect(compressionSysFlag(CompressionType.LZ4)).toBe(0x101)
    expect(compressionSysFlag(CompressionType.ZSTD)).toBe(0x201)
    expect(compressionSysFlag(CompressionType.ZLIB)).toBe(0x301)
    expect(compressionTypeOfSysFlag(0x1)).toBe(CompressionType.ZLIB)
    expect(compressionTypeOfSysFlag(0x201 | 0x10)).toBe(CompressionType.ZSTD)
    expect(() => compressionTypeOfSysFlag(0x401)).toThrow(CompressionError)
  })

  it('bounds zlib output as well', () => {
    const z = deflateSync(Buffer.alloc(100_000))
    expect(decompress(CompressionType.ZLIB, z, 100_000).length).toBe(100_000)
    expectCompressionError(() => decompress(CompressionType.ZLIB, z, 1000), 'RMQ_ERR_DECOMPRESSED_TOO_LARGE')
    expectCompressionError(
      () => decompress(CompressionType.ZLIB, Buffer.from('xx'), 1000),
      'RMQ_ERR_CORRUPT_COMPRESSED_DATA',
    )
  })
})

/** A V1 record with IPv4 hosts around `body` (store.md §1.1), topic `T`, no properties. */
function record(body: Buffer, sysFlag: number): Buffer {
  const size = 91 + body.length + 1 + 0
  const b = Buffer.alloc(size)
  b.writeInt32BE(size, 0)
  b.writeInt32BE(-626843481, 4)
  b.writeInt32BE(2, 12) // queue id
  b.writeBigInt64BE(7n, 20) // queue offset
  b.writeInt32BE(sysFlag, 36)
  b.writeInt32BE(0x7f000001, 64) // store host 127.0.0.1:10911
  b.writeInt32BE(10911, 68)
  b.writeInt32BE(body.length, 84)
  body.copy(b, 88)
  b.writeInt8(1, 88 + body.length)
  b.write('T', 89 + body.length)
  b.writeInt16BE(0, 90 + body.length)
  return b
}

describe('decodeMessage with compressed bodies', () => {
  it.each([
    ['ZLIB legacy (type 0)', 0x1, (b: Buffer) => deflateSync(b)],
    ['ZLIB', 0x301, (b: Buffer) => deflateSync(b)],
    ['LZ4', 0x101, (b: Buffer) => lz4FrameCompress(b)],
    ['ZSTD', 0x201, () => fixture('sample.zstd-jni-l5.zst')],
  ])('%s: the body is decompressed and COMPRESSED cleared, the type bits kept', (_name, sysFlag, compress) => {
    const m = decodeMessage(record(compress(SAMPLE), sysFlag), 0)!
    expect(m.body.equals(SAMPLE)).toBe(true)
    expect(m.sysFlag).toBe(sysFlag & ~0x1)
  })

  it('keeps an undecodable body as stored, flag set, and reports it', () => {
    const garbage = Buffer.from('definitely not zstd')
    const errors: unknown[] = []
    const m = decodeMessage(record(garbage, 0x201), 0, { onDecompressError: (err, at) => errors.push([err, at]) })!
    expect(m.body.equals(garbage)).toBe(true)
    expect(m.sysFlag).toBe(0x201)
    expect(errors).toHaveLength(1)
    expect((errors[0] as [unknown, unknown])[0]).toBeInstanceOf(CompressionError)
    expect((errors[0] as [unknown, unknown])[1]).toEqual({ topic: 'T', queueId: 2, queueOffset: 7 })
  })

  it('treats a body over decompressedBytesMax as undecodable', () => {
    const errors: unknown[] = []
    const z = lz4FrameCompress(SAMPLE)
    const m = decodeMessage(record(z, 0x101), 0, {
      decompressedBytesMax: 1000,
      onDecompressError: (e) => errors.push(e),
    })!
    expect(m.body.equals(z)).toBe(true)
    expect((errors[0] as CompressionError).code).toBe('RMQ_ERR_DECOMPRESSED_TOO_LARGE')
  })
})
