/**
 * A lean remoting load generator for the broker benchmark. It sends real, complete requests (every message has
 * its own unique key and born timestamp, headers as a Java client writes them), but encodes them from a template
 * and reads only the code and opaque of each response, so that on a 2-core machine the client leaves as much CPU
 * as it can to the broker being measured. The SDK's own client is measured separately.
 */
import net from 'node:net'

import { FrameDecoder } from '../../ts/remoting/frame-codec.js'

/** The fields of a SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE header that change per request. */
export interface SendTemplate {
  code: number
  producerGroup: string
  topic: string
  queues: number
  batch: boolean
}

const DIGIT_0 = 48

/** Encodes `{"code":…,"extFields":{…},"flag":0,…}` for one send, the way fastjson writes it. */
export function encodeSendHeader(t: SendTemplate, opaque: number, queueId: number, bornTimestamp: number, propertiesJson: string): string {
  return (
    `{"code":${t.code},"extFields":{"a":"${t.producerGroup}","b":"${t.topic}","c":"TBW102","d":"4","e":"${queueId}",` +
    `"f":"0","g":"${bornTimestamp}","h":"0","i":${propertiesJson},"j":"0","k":"false","m":"${t.batch}"},` +
    `"flag":0,"language":"JAVA","opaque":${opaque},"serializeTypeCurrentRPC":"JSON","version":409}`
  )
}

/** A whole frame: length, header word, header, body. */
/** The unique key of the n-th message, as a Java producer's `MessageClientIDSetter` makes them (32 hex digits). */
export function uniqKey(n: number): string {
  return `7F00000100010000000000${n.toString(16).toUpperCase().padStart(10, '0')}`
}

export function encodeFrameBytes(header: string, body: Buffer): Buffer {
  const headerBytes = Buffer.byteLength(header)
  const out = Buffer.allocUnsafe(8 + headerBytes + body.length)
  out.writeInt32BE(4 + headerBytes + body.length, 0)
  out.writeInt32BE(headerBytes, 4)
  out.write(header, 8, 'latin1')
  body.copy(out, 8 + headerBytes)
  return out
}

/** `"code":0` first, then the opaque: what a Java peer's (and ferrymq's) JSON response header starts with. */
function readCodeAndOpaque(frame: Buffer): [number, number] {
  // frame: header word (4) then the JSON header; `{"code":` is 8 bytes.
  let p = 4 + 8
  let code = 0
  let negative = false
  if (frame[p] === 45) {
    negative = true
    p++
  }
  for (let c = frame[p]!; c >= DIGIT_0 && c <= DIGIT_0 + 9; c = frame[++p]!) code = code * 10 + c - DIGIT_0
  const at = frame.indexOf('"opaque":', p, 'latin1') + 9
  let opaque = 0
  for (let q = at, c = frame[q]!; c >= DIGIT_0 && c <= DIGIT_0 + 9; c = frame[++q]!) opaque = opaque * 10 + c - DIGIT_0
  return [negative ? -code : code, opaque]
}

export class LoadConnection {
  private readonly socket: net.Socket
  private readonly decoder = new FrameDecoder()
  private readonly waiting = new Map<number, (code: number) => void>()
  private corked = false

  private constructor(socket: net.Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk, this.onFrame))
  }

  static connect(port: number): Promise<LoadConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
      socket.once('connect', () => resolve(new LoadConnection(socket)))
      socket.once('error', reject)
    })
  }

  private readonly onFrame = (frame: Buffer): void => {
    const [code, opaque] = readCodeAndOpaque(frame)
    const done = this.waiting.get(opaque)
    if (done === undefined) return
    this.waiting.delete(opaque)
    done(code)
  }

  /** Writes a request frame; resolves with the response code. */
  request(opaque: number, frame: Buffer): Promise<number> {
    return new Promise((resolve) => {
      this.waiting.set(opaque, resolve)
      if (!this.corked) {
        this.corked = true
        this.socket.cork()
        process.nextTick(() => {
          this.corked = false
          this.socket.uncork()
        })
      }
      this.socket.write(frame)
    })
  }

  close(): void {
    this.socket.destroy()
  }
}
