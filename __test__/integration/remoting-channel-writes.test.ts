/**
 * How a channel writes: the frames of one tick go out as one socket write, in order and byte for byte as
 * `encodeFrameToBuffer` makes them; a frame with a large body goes out after those before it, its body uncopied.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

import { afterEach, describe, expect, it } from 'vitest'

import { noopLogger } from '../../ts/common/logger.js'
import { decodeFrame, encodeFrameToBuffer, FrameDecoder, INLINE_BODY_BYTES_MAX } from '../../ts/remoting/frame-codec.js'
import { RemotingChannel } from '../../ts/remoting/remoting-channel.js'
import { RemotingCommand, SerializeType } from '../../ts/remoting/remoting-command.js'

interface Pair {
  channel: RemotingChannel
  serverSocket: Socket
  /** Every byte the peer received so far. */
  received(): Buffer
  close(): Promise<void>
}

const open: Pair[] = []

async function pair(): Promise<Pair> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const port = (server.address() as { port: number }).port
  const peer = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  peer.on('data', (c: Buffer) => chunks.push(c))
  const serverSocket = await accepted
  const channel = new RemotingChannel(serverSocket, { logger: noopLogger, onRequest: () => {}, onClose: () => {} })
  const p: Pair = {
    channel,
    serverSocket,
    received: () => Buffer.concat(chunks),
    close: async () => {
      channel.close()
      peer.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  open.push(p)
  return p
}

async function waitForBytes(p: Pair, bytes: number): Promise<Buffer> {
  const deadline = Date.now() + 5000
  while (p.received().length < bytes) {
    if (Date.now() > deadline) throw new Error(`received ${p.received().length} of ${bytes} bytes`)
    await new Promise((r) => setImmediate(r))
  }
  return p.received()
}

function response(
  opaque: number,
  bodyBytes: number,
  serializeType: SerializeType,
  remark: string | null = null,
): RemotingCommand {
  const cmd = RemotingCommand.createResponse(0, remark, { msgId: `ID${opaque}`, queueOffset: String(opaque) })
  cmd.opaque = opaque
  cmd.serializeType = serializeType
  cmd.markResponse()
  if (bodyBytes > 0) cmd.body = Buffer.alloc(bodyBytes, opaque & 0xff)
  return cmd
}

afterEach(async () => {
  for (const p of open.splice(0)) await p.close()
})

describe('RemotingChannel writes', () => {
  it('sends the frames of one tick as one socket write, in order, byte for byte', async () => {
    const p = await pair()
    let writes = 0
    const write = p.serverSocket.write.bind(p.serverSocket)
    p.serverSocket.write = ((...args: Parameters<Socket['write']>) => {
      writes++
      return write(...args)
    }) as Socket['write']
    const cmds = Array.from({ length: 100 }, (_, i) =>
      // Both serializations, bodies, and non-ASCII remarks (whose UTF-8 length differs from their length).
      response(
        i + 1,
        i % 7 === 0 ? 300 : 0,
        i % 2 ? SerializeType.JSON : SerializeType.ROCKETMQ,
        i % 5 === 0 ? `ошибка ${i} ✓` : null,
      ),
    )
    for (const c of cmds) expect(p.channel.write(c)).toBe(true)
    const expected = Buffer.concat(cmds.map((c) => encodeFrameToBuffer(c)))
    const got = await waitForBytes(p, expected.length)
    expect(writes).toBe(1)
    expect(got.equals(expected)).toBe(true)
  })

  it('keeps order around a frame whose large body is written without copying, and across full chunks', async () => {
    const p = await pair()
    const cmds: RemotingCommand[] = []
    // 1 KiB bodies fill several 64 KiB output chunks; a body over the inline limit goes out on its own.
    for (let i = 1; i <= 200; i++)
      cmds.push(response(i, i === 70 ? INLINE_BODY_BYTES_MAX + 1 : 1024, SerializeType.JSON))
    for (const c of cmds) p.channel.write(c)
    const expected = Buffer.concat(cmds.map((c) => encodeFrameToBuffer(c)))
    const got = await waitForBytes(p, expected.length)
    expect(got.equals(expected)).toBe(true)
    // And the stream decodes back to the same opaques, in order.
    const opaques: number[] = []
    new FrameDecoder().push(got, (frame) => opaques.push(decodeFrame(frame).opaque))
    expect(opaques).toEqual(cmds.map((c) => c.opaque))
  })

  it('writes frames of later ticks after those already sent, and nothing once closed', async () => {
    const p = await pair()
    const first = response(1, 10, SerializeType.JSON)
    p.channel.write(first)
    await waitForBytes(p, encodeFrameToBuffer(first).length)
    const second = response(2, 0, SerializeType.ROCKETMQ)
    p.channel.write(second)
    const got = await waitForBytes(p, encodeFrameToBuffer(first).length + encodeFrameToBuffer(second).length)
    expect(got.equals(Buffer.concat([encodeFrameToBuffer(first), encodeFrameToBuffer(second)]))).toBe(true)
    p.channel.close()
    expect(p.channel.write(response(3, 0, SerializeType.JSON))).toBe(false)
  })
})
