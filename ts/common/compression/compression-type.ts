/**
 * Body compression types (`CompressionType`, `CompressorFactory`; client.md §3.8, store.md §1.3): the value sits
 * in SYSFLAG bits 8-10 next to `COMPRESSED_FLAG`; 0 there with the flag set is ZLIB (producers before 5.x).
 */
import { deflateSync, inflateSync } from 'node:zlib'

import { MessageSysFlag } from '../message/message-sys-flag.js'
import { CompressionError } from './compression-error.js'
import { lz4FrameCompress, lz4FrameDecompress } from './lz4.js'
import { zstdDecompress } from './zstd.js'
import { zstdCompress } from './zstd-compress.js'

export const CompressionType = { LZ4: 1, ZSTD: 2, ZLIB: 3 } as const
export type CompressionTypeName = keyof typeof CompressionType
export type CompressionTypeValue = (typeof CompressionType)[CompressionTypeName]

/** `CompressionType.of`: a name as Java accepts it (trimmed, any case). */
export function compressionTypeOf(name: string): CompressionTypeValue {
  const key = name.trim().toUpperCase()
  if (key === 'LZ4' || key === 'ZSTD' || key === 'ZLIB') return CompressionType[key]
  throw new CompressionError('RMQ_ERR_COMPRESSION_UNSUPPORTED', `Unsupported compress type name: ${name}`)
}

/** The type a compressed record's SYSFLAG names (`MessageSysFlag.getCompressionType`, `findByValue`). */
export function compressionTypeOfSysFlag(sysFlag: number): CompressionTypeValue {
  const value = (sysFlag & MessageSysFlag.COMPRESSION_TYPE_MASK) >>> 8
  if (value === 0 || value === CompressionType.ZLIB) return CompressionType.ZLIB
  if (value === CompressionType.LZ4 || value === CompressionType.ZSTD) return value
  throw new CompressionError('RMQ_ERR_COMPRESSION_UNSUPPORTED', `Unknown compress type value: ${value}`)
}

/** The SYSFLAG bits a body compressed with `type` carries: `COMPRESSED_FLAG | type << 8`. */
export function compressionSysFlag(type: CompressionTypeValue): number {
  return MessageSysFlag.COMPRESSED_FLAG | (type << 8)
}

/** Decompresses `body`; output over `maxBytes` or corrupt input throws `CompressionError`. */
export function decompress(type: CompressionTypeValue, body: Uint8Array, maxBytes: number): Buffer {
  switch (type) {
    case CompressionType.LZ4:
      return lz4FrameDecompress(body, maxBytes)
    case CompressionType.ZSTD:
      return zstdDecompress(body, maxBytes)
    default:
      try {
        return inflateSync(body, { maxOutputLength: maxBytes })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === 'ERR_BUFFER_TOO_LARGE') {
          throw new CompressionError('RMQ_ERR_DECOMPRESSED_TOO_LARGE', `zlib: output over ${maxBytes} bytes`, {
            cause: err,
          })
        }
        throw new CompressionError('RMQ_ERR_CORRUPT_COMPRESSED_DATA', `zlib: ${(err as Error).message}`, { cause: err })
      }
  }
}

/**
 * Compresses `body` as a producer does (`Compressor.compress(src, level)`). ZLIB uses `level`; LZ4 frames have no
 * level in lz4-java's default stream either, and the small zstd compressor here has a single one.
 */
export function compress(type: CompressionTypeValue, body: Uint8Array, level: number): Buffer {
  switch (type) {
    case CompressionType.LZ4:
      return lz4FrameCompress(body)
    case CompressionType.ZSTD:
      return zstdCompress(body, level)
    default:
      return deflateSync(body, { level })
  }
}
