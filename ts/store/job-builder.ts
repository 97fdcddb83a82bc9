/**
 * Encodes puts into the byte layout the native writer takes (native/writer.rs): for each put,
 * `recordCount u32 LE | byteLength u32 LE | records`, each record as store.md §1 lays it out with zeroes where
 * the writer stamps (body CRC, queue offset, physical offset, store timestamp, store host).
 *
 * Records go into large reusable slabs. A job is the run of puts encoded since the last `takeJob()`; the native
 * side keeps the job's Buffer referenced until the job completes, and the slab returns to the pool once every job
 * cut from it has completed.
 */
import { MessageSysFlag } from '../common/message/message-sys-flag.js'
import {
  MESSAGE_MAGIC_CODE,
  MESSAGE_MAGIC_CODE_V2,
  POS_BORN_HOST,
  POS_BORN_TIMESTAMP,
  POS_BODY_CRC,
  POS_FLAG,
  POS_MAGIC,
  POS_QUEUE_ID,
  POS_QUEUE_OFFSET,
  POS_SYS_FLAG,
  POS_TOTAL_SIZE,
  RECORD_FIXED_BYTES_V4,
} from '../common/message/message-record.js'
import { PROPERTIES_BYTES_MAX } from '../common/limits.js'
import type { MessageExtBrokerInner } from './message-store.js'

const PUT_HEADER_BYTES = 8
const TWO_POW_32 = 0x1_0000_0000
const V1_TOPIC_BYTES_MAX = 127
const HOST_V6_FLAGS = MessageSysFlag.BORNHOST_V6_FLAG | MessageSysFlag.STOREHOSTADDRESS_V6_FLAG

/** Node's Buffer method behind `Buffer#write(s, offset, 'utf8')`, without the argument checks. */
type Utf8Writable = Buffer & { utf8Write(s: string, offset: number, length: number): number }

export class Slab {
  readonly bytes: Buffer
  readonly view: DataView
  /** Jobs cut from this slab that have not completed yet. */
  outstanding = 0

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafeSlow(size)
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength)
  }
}

export interface Job {
  bytes: Buffer
  slab: Slab
}

/** Why a record was not encoded. */
export type EncodeRefusal = 'PROPERTIES_SIZE_EXCEEDED'

export class JobBuilder {
  private slab: Slab
  private readonly pool: Slab[] = []
  private jobStart = 0
  private pos = 0
  private putHeader = -1
  private putRecords = 0
  private readonly storeHostBytes: number
  private readonly storeV6: boolean

  constructor(
    storeHost: Buffer,
    private readonly slabBytes: number,
    private readonly autoMessageVersionOnTopicLen = true,
  ) {
    this.storeHostBytes = storeHost.length
    this.storeV6 = storeHost.length === 20
    this.slab = new Slab(slabBytes)
  }

  hasPendingJob(): boolean {
    return this.pos > this.jobStart
  }

  /** Bytes encoded since the last `takeJob()`. */
  pendingJobBytes(): number {
    return this.pos - this.jobStart
  }

  /**
   * Starts a put whose records need at most `maxBytes`; the put's bytes stay contiguous with the rest of the
   * current job, moving the job to a new slab if this one is too full.
   */
  beginPut(maxBytes: number): void {
    const need = PUT_HEADER_BYTES + maxBytes
    if (this.pos + need > this.slab.bytes.length) this.moveToNewSlab(need)
    this.putHeader = this.pos
    this.putRecords = 0
    this.pos += PUT_HEADER_BYTES
  }

  /** Finishes the current put; returns its record bytes. */
  endPut(): number {
    const bytes = this.pos - this.putHeader - PUT_HEADER_BYTES
    this.slab.view.setUint32(this.putHeader, this.putRecords, true)
    this.slab.view.setUint32(this.putHeader + 4, bytes, true)
    this.putHeader = -1
    return bytes
  }

  /** Drops the current put (after an encoding refusal). */
  abandonPut(): void {
    this.pos = this.putHeader
    this.putHeader = -1
  }

  /** Upper bound of a record's size before its properties are encoded (UTF-8 is at most 3 bytes per unit). */
  static maxRecordBytes(msg: MessageExtBrokerInner, topicBytes: number, storeHostBytes: number): number {
    return (
      RECORD_FIXED_BYTES_V4 + 1 + msg.body.length + topicBytes + msg.propertiesString.length * 3 + msg.bornHost.length - 8 + storeHostBytes - 8
    )
  }

  /** Encodes one record into the current put. */
  writeRecord(msg: MessageExtBrokerInner, topic: Buffer): EncodeRefusal | null {
    const { view, bytes } = this.slab
    const p = this.pos
    const v2 = this.autoMessageVersionOnTopicLen && topic.length > V1_TOPIC_BYTES_MAX
    const bornV6 = msg.bornHost.length === 20
    let sysFlag = msg.sysFlag & ~HOST_V6_FLAGS
    if (bornV6) sysFlag |= MessageSysFlag.BORNHOST_V6_FLAG
    if (this.storeV6) sysFlag |= MessageSysFlag.STOREHOSTADDRESS_V6_FLAG
    view.setInt32(p + POS_MAGIC, v2 ? MESSAGE_MAGIC_CODE_V2 : MESSAGE_MAGIC_CODE)
    view.setInt32(p + POS_BODY_CRC, 0)
    view.setInt32(p + POS_QUEUE_ID, msg.queueId)
    view.setInt32(p + POS_FLAG, msg.flag)
    view.setFloat64(p + POS_QUEUE_OFFSET, 0) // queue offset and physical offset: +0.0 is eight zero bytes
    view.setFloat64(p + POS_QUEUE_OFFSET + 8, 0)
    view.setInt32(p + POS_SYS_FLAG, sysFlag)
    setLong(view, p + POS_BORN_TIMESTAMP, msg.bornTimestamp)
    copySmall(bytes, msg.bornHost, p + POS_BORN_HOST)
    let q = p + POS_BORN_HOST + msg.bornHost.length
    view.setFloat64(q, 0) // store timestamp and store host: +0.0 is eight zero bytes
    view.setFloat64(q + 8, 0)
    if (this.storeV6) bytes.fill(0, q + 16, q + 28)
    q += 8 + this.storeHostBytes
    view.setInt32(q, msg.reconsumeTimes)
    setLong(view, q + 4, msg.preparedTransactionOffset)
    view.setInt32(q + 12, msg.body.length)
    q += 16
    bytes.set(msg.body, q)
    q += msg.body.length
    if (v2) {
      view.setInt16(q, topic.length)
      q += 2
    } else {
      view.setInt8(q, topic.length)
      q += 1
    }
    copySmall(bytes, topic, q)
    q += topic.length
    // `utf8Write` is what `Buffer#write` calls after checking its arguments; the capacity was ensured by beginPut.
    const propsLen =
      msg.propertiesString.length === 0 ? 0 : (bytes as Utf8Writable).utf8Write(msg.propertiesString, q + 2, bytes.length - q - 2)
    if (propsLen > PROPERTIES_BYTES_MAX) return 'PROPERTIES_SIZE_EXCEEDED'
    view.setInt16(q, propsLen)
    q += 2 + propsLen
    view.setInt32(p + POS_TOTAL_SIZE, q - p)
    this.pos = q
    this.putRecords++
    return null
  }

  /** Cuts the job encoded so far. */
  takeJob(): Job {
    const job = { bytes: this.slab.bytes.subarray(this.jobStart, this.pos), slab: this.slab }
    this.slab.outstanding++
    this.jobStart = this.pos
    return job
  }

  /** A job completed: its slab may be reused once nothing else holds it. */
  release(job: Job): void {
    const slab = job.slab
    slab.outstanding--
    if (slab.outstanding === 0 && slab !== this.slab && slab.bytes.length === this.slabBytes) {
      this.pool.push(slab)
    }
  }

  private moveToNewSlab(need: number): void {
    const pending = this.pos - this.jobStart
    const size = Math.max(this.slabBytes, pending + need)
    const next = size === this.slabBytes && this.pool.length > 0 ? this.pool.pop()! : new Slab(size)
    this.slab.bytes.copy(next.bytes, 0, this.jobStart, this.pos)
    const old = this.slab
    this.slab = next
    if (this.putHeader >= 0) this.putHeader -= this.jobStart
    this.jobStart = 0
    this.pos = pending
    if (old.outstanding === 0 && old.bytes.length === this.slabBytes) this.pool.push(old)
  }
}

/** Copies a few bytes: for short runs a loop beats the call into `TypedArray#set`. */
function copySmall(dst: Buffer, src: Buffer, at: number): void {
  const n = src.length
  if (n > 32) {
    dst.set(src, at)
    return
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[i]!
}

/** Writes a Java long (big-endian two's complement) from a safe integer. */
function setLong(view: DataView, pos: number, v: number): void {
  const hi = Math.floor(v / TWO_POW_32)
  view.setInt32(pos, hi)
  view.setUint32(pos + 4, v - hi * TWO_POW_32)
}
