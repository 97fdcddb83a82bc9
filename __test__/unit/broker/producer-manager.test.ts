import { describe, expect, it } from 'vitest'

import { ProducerManager } from '../../../ts/broker/producer-manager.js'
import { noopLogger } from '../../../ts/common/logger.js'
import type { RemotingChannel } from '../../../ts/remoting/remoting-channel.js'

function channel(name: string, active: boolean): RemotingChannel {
  return { remoteAddress: name, isActive: () => active } as unknown as RemotingChannel
}

describe('ProducerManager#getAvailableChannel', () => {
  it('picks the live connections of the group in turn and skips closed ones', () => {
    const m = new ProducerManager(120_000, noopLogger)
    const [a, b, dead] = [channel('a', true), channel('b', true), channel('dead', false)]
    for (const ch of [a, dead, b]) {
      m.registerProducer('PG', { channel: ch, clientId: ch.remoteAddress, lastUpdateTimestamp: Date.now() } as never)
    }
    const picked = Array.from({ length: 6 }, () => m.getAvailableChannel('PG')!.remoteAddress)
    expect(new Set(picked)).toEqual(new Set(['a', 'b']))
    expect(m.getAvailableChannel('other')).toBeUndefined()
  })

  it('finds none when every connection of the group is closed', () => {
    const m = new ProducerManager(120_000, noopLogger)
    m.registerProducer('PG', { channel: channel('x', false), clientId: 'x', lastUpdateTimestamp: 0 } as never)
    expect(m.getAvailableChannel('PG')).toBeUndefined()
  })
})
