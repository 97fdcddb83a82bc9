/**
 * Producer groups and their connections (`ProducerManager`), known from heartbeats. A producer may send before
 * its first heartbeat (protocol.md Appendix A): sends never require one.
 */
import type { Logger } from '../common/logger.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import type { ClientChannelInfo } from './client-channel-info.js'

/** Extra connections `getAvailableChannel` tries after the first (`GET_AVAILABLE_CHANNEL_RETRY_COUNT`). */
const GET_AVAILABLE_CHANNEL_RETRY_COUNT = 3

export class ProducerManager {
  private channelCounter = 0
  private readonly table = new Map<string, Map<RemotingChannel, ClientChannelInfo>>()
  private readonly log: Logger

  constructor(
    private readonly channelExpiredTimeoutMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'producer-manager' })
  }

  registerProducer(group: string, info: ClientChannelInfo): void {
    let g = this.table.get(group)
    if (g === undefined) {
      g = new Map()
      this.table.set(group, g)
    }
    const old = g.get(info.channel)
    if (old === undefined || old.clientId !== info.clientId) {
      g.set(info.channel, info)
      this.log.debug({ group, clientId: info.clientId }, 'producer registered')
    } else {
      old.lastUpdateTimestamp = info.lastUpdateTimestamp
    }
  }

  unregisterProducer(group: string, channel: RemotingChannel): void {
    const g = this.table.get(group)
    if (g === undefined) return
    g.delete(channel)
    if (g.size === 0) this.table.delete(group)
  }

  getGroup(group: string): ReadonlyMap<RemotingChannel, ClientChannelInfo> | undefined {
    return this.table.get(group)
  }

  /**
   * A live connection of the group for a transaction check (`getAvailableChannel`): round robin from a shared
   * counter, trying up to three more connections when the picked one is closed; undefined when none is live.
   */
  getAvailableChannel(group: string): RemotingChannel | undefined {
    const g = this.table.get(group)
    if (g === undefined || g.size === 0) return undefined
    const channels = [...g.keys()]
    let index = this.channelCounter++ % channels.length
    for (let tries = 0; tries <= GET_AVAILABLE_CHANNEL_RETRY_COUNT; tries++) {
      const channel = channels[index]!
      if (channel.isActive()) return channel
      index = (index + 1) % channels.length
    }
    return undefined
  }

  groups(): IterableIterator<[string, Map<RemotingChannel, ClientChannelInfo>]> {
    return this.table.entries()
  }

  doChannelCloseEvent(channel: RemotingChannel): void {
    for (const [group, g] of [...this.table]) {
      if (g.delete(channel) && g.size === 0) this.table.delete(group)
    }
  }

  scanNotActiveChannel(now = Date.now()): void {
    for (const [group, g] of [...this.table]) {
      for (const [channel, info] of [...g]) {
        if (now - info.lastUpdateTimestamp <= this.channelExpiredTimeoutMs) continue
        this.log.warn(
          { group, clientId: info.clientId, remote: channel.remoteAddress },
          'producer heartbeat expired, closing its connection',
        )
        g.delete(channel)
        channel.close('producer heartbeat expired')
      }
      if (g.size === 0) this.table.delete(group)
    }
  }
}
