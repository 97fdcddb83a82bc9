/**
 * The body of `SEND_BATCH_MESSAGE` (protocol.md §5.2, `MessageDecoder#decodeMessages`): elements back to back,
 *
 *   | totalSize i32 | magic i32 (0) | bodyCRC i32 (0) | flag i32 | bodyLength i32 | body | propertiesLength i16 | properties |
 *
 * Every length is checked against the bytes left, so a malformed batch is refused as a whole.
 */
import { BATCH_MESSAGES_MAX } from '../../common/limits.js'

export interface BatchElement {
  flag: number
  body: Buffer
  properties: string
}

const ELEMENT_FIXED_BYTES = 22

/** The elements, or the reason the body is malformed. */
export function decodeBatchBody(body: Buffer): BatchElement[] | string {
  const out: BatchElement[] = []
  let p = 0
  while (p < body.length) {
    if (out.length >= BATCH_MESSAGES_MAX) return `a batch may hold at most ${BATCH_MESSAGES_MAX} messages`
    if (body.length - p < ELEMENT_FIXED_BYTES) return `batch element ${out.length} is truncated`
    const totalSize = body.readInt32BE(p)
    if (totalSize < ELEMENT_FIXED_BYTES || totalSize > body.length - p) return `batch element ${out.length} has a bad size ${totalSize}`
    const end = p + totalSize
    const flag = body.readInt32BE(p + 12)
    const bodyLength = body.readInt32BE(p + 16)
    let q = p + 20
    if (bodyLength < 0 || bodyLength > end - q - 2) return `batch element ${out.length} has a bad body length ${bodyLength}`
    const elementBody = body.subarray(q, q + bodyLength)
    q += bodyLength
    const propsLength = body.readInt16BE(q)
    q += 2
    if (propsLength < 0 || q + propsLength !== end) return `batch element ${out.length} has a bad properties length ${propsLength}`
    out.push({ flag, body: elementBody, properties: body.toString('utf8', q, end) })
    p = end
  }
  if (out.length === 0) return 'the batch is empty'
  return out
}

/** Encodes elements as a client sends them (tests, the SDK). */
export function encodeBatchBody(elements: readonly BatchElement[]): Buffer {
  const parts: Buffer[] = []
  for (const e of elements) {
    const props = Buffer.from(e.properties, 'utf8')
    const b = Buffer.alloc(ELEMENT_FIXED_BYTES + e.body.length + props.length)
    b.writeInt32BE(b.length, 0)
    b.writeInt32BE(e.flag, 12)
    b.writeInt32BE(e.body.length, 16)
    e.body.copy(b, 20)
    b.writeInt16BE(props.length, 20 + e.body.length)
    props.copy(b, 22 + e.body.length)
    parts.push(b)
  }
  return Buffer.concat(parts)
}
