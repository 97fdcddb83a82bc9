/**
 * The HA wire exchange (store.md §11.2): plain TCP, no handshake, big-endian like Java.
 *
 * Slave → master, a report: the slave's commit-log max offset as one 8-byte long.
 * Master → slave, a transfer: the physical offset of the first body byte (long), the body size (int), then that
 * many raw commit-log bytes; size 0 is a heartbeat.
 */

export const REPORT_BYTES = 8
export const TRANSFER_HEADER_BYTES = 12

export function encodeReport(maxOffset: number): Buffer {
  const b = Buffer.allocUnsafe(REPORT_BYTES)
  b.writeBigInt64BE(BigInt(maxOffset), 0)
  return b
}

export function encodeTransferHeader(offset: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(TRANSFER_HEADER_BYTES)
  b.writeBigInt64BE(BigInt(offset), 0)
  b.writeInt32BE(size, 8)
  return b
}

/**
 * The master's reader: only the last complete report in what has arrived counts (a slow master skips stale
 * ones); a partial report waits for its remaining bytes.
 */
export class ReportReader {
  private partial: Buffer = Buffer.alloc(0)

  /** Feeds received bytes; returns the newest complete report, or null if none completed. */
  push(chunk: Buffer): number | null {
    const data = this.partial.length === 0 ? chunk : Buffer.concat([this.partial, chunk])
    const whole = data.length - (data.length % REPORT_BYTES)
    this.partial = Buffer.from(data.subarray(whole))
    if (whole === 0) return null
    return Number(data.readBigInt64BE(whole - REPORT_BYTES))
  }
}

export interface TransferFrame {
  offset: number
  /** Empty for a heartbeat. A view into received data: valid as long as the caller keeps it. */
  body: Buffer
}

/** Frames a too-large size claims are refused: a master never sends more than this in one frame. */
export const TRANSFER_FRAME_BYTES_MAX = 64 * 1024 * 1024

export class TransferFrameError extends Error {}

/**
 * The slave's reader: whole frames out of arbitrarily split chunks. Bodies of frames that arrived whole in one
 * chunk are views into it (no copy).
 */
export class TransferReader {
  private pending: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): TransferFrame[] {
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    const frames: TransferFrame[] = []
    let at = 0
    while (data.length - at >= TRANSFER_HEADER_BYTES) {
      const offset = Number(data.readBigInt64BE(at))
      const size = data.readInt32BE(at + 8)
      if (offset < 0 || size < 0 || size > TRANSFER_FRAME_BYTES_MAX) {
        throw new TransferFrameError(`bad transfer frame header: offset ${offset}, size ${size}`)
      }
      if (data.length - at - TRANSFER_HEADER_BYTES < size) break
      const start = at + TRANSFER_HEADER_BYTES
      frames.push({ offset, body: data.subarray(start, start + size) })
      at = start + size
    }
    data = data.subarray(at)
    // What stays behind is copied, so that a big chunk is not kept alive by its last few bytes.
    this.pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data)
    return frames
  }
}
