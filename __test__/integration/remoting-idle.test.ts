/**
 * When a channel is idle: only the peer's life counts (bytes read from it, or a write backlog it drains), not our
 * own writes. Regression, found by the torture harness (network-faults): a broker's notifications to a group's
 * half-open consumers, each sent when another one was closed, kept the rest open one idle period longer each.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'

import { afterEach, describe, expect, it, vi } from 'vitest'

import { noopLogger } from '../../ts/common/logger.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { RemotingChannel } from '../../ts/remoting/remoting-channel.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { waitFor } from '../helpers/wait-for.js'

interface Pair {
  /** Our end of the connection, as a channel with `idleTimeMs`. */
  channel: RemotingChannel
  socket: Socket
  /** The peer: reads everything it is sent, sends nothing. */
  peer: Socket
  peerReceivedBytes(): number
  closeReasons: string[]
}

const cleanups: (() => Promise<void> | void)[] = []

afterEach(async () => {
  vi.useRealTimers()
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function pair(idleTimeMs: number): Promise<Pair> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const peer = connect((server.address() as { port: number }).port, '127.0.0.1')
  cleanups.push(() => void peer.destroy())
  let received = 0
  peer.on('data', (d: Buffer) => (received += d.length))
  const socket = await accepted
  const closeReasons: string[] = []
  const channel = new RemotingChannel(socket, {
    idleTimeMs,
    logger: noopLogger,
    onRequest: () => {},
    onClose: (_ch, reason) => closeReasons.push(reason),
  })
  cleanups.push(() => channel.close())
  return { channel, socket, peer, peerReceivedBytes: () => received, closeReasons }
}

describe('RemotingChannel idle', () => {
  it('closes a connection whose peer is silent while we keep writing to it', async () => {
    const p = await pair(300)
    const notify = setInterval(() => {
      p.channel.invokeOneway(
        RemotingCommand.createRequest(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, { consumerGroup: 'G' }),
      )
    }, 50)
    cleanups.push(() => clearInterval(notify))
    await waitFor(() => p.closeReasons.length > 0, { timeoutMs: 10_000, what: 'the idle close' })
    expect(p.closeReasons).toEqual(['idle'])
    // Our writes went out all along: the peer read them.
    expect(p.peerReceivedBytes()).toBeGreaterThan(0)
  })

  it('keeps a connection while the peer drains our write backlog, and closes it once the backlog stops moving', async () => {
    vi.useFakeTimers()
    const p = await pair(1000)
    // The backlog as the socket reports it: a peer reading slowly takes a little of it at a time.
    let backlogBytes = 10_000_000
    Object.defineProperty(p.socket, 'writableLength', { get: () => backlogBytes, configurable: true })
    for (let i = 0; i < 10; i++) {
      backlogBytes -= 100_000
      await vi.advanceTimersByTimeAsync(500)
    }
    // Five idle periods without a byte from the peer, but it took some of our bytes in each.
    expect(p.closeReasons).toEqual([])
    expect(p.channel.isActive()).toBe(true)
    await vi.advanceTimersByTimeAsync(1600)
    expect(p.closeReasons).toEqual(['idle'])
  })
})
