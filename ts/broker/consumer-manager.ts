/**
 * Consumer groups and their connections (`ConsumerManager`). Membership changes notify the group's other members
 * (`NOTIFY_CONSUMER_IDS_CHANGED`) so they rebalance at once instead of waiting for their timer (protocol.md §8.2).
 */
import type { Logger } from '../common/logger.js'
import type { ConsumeType, MessageModel, SubscriptionData } from '../remoting/protocol/heartbeat.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import type { ClientChannelInfo } from './client-channel-info.js'
import { ConsumerGroupInfo } from './consumer-group-info.js'

/** Told when a group's membership changes; the broker sends the notifications. */
export type ConsumerIdsChangeListener = (group: string, channels: RemotingChannel[]) => void

export class ConsumerManager {
  private readonly table = new Map<string, ConsumerGroupInfo>()
  private readonly log: Logger

  constructor(
    private readonly onIdsChanged: ConsumerIdsChangeListener,
    private readonly channelExpiredTimeoutMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'consumer-manager' })
  }

  getConsumerGroupInfo(group: string): ConsumerGroupInfo | undefined {
    return this.table.get(group)
  }

  groups(): IterableIterator<ConsumerGroupInfo> {
    return this.table.values()
  }

  findChannel(group: string, clientId: string): ClientChannelInfo | undefined {
    return this.table.get(group)?.findChannel(clientId)
  }

  findSubscriptionData(group: string, topic: string): SubscriptionData | undefined {
    return this.table.get(group)?.findSubscriptionData(topic)
  }

  /**
   * Registers a heartbeat's consumer data; true when the group's members or topics changed (`registerConsumer`).
   * `notify` is the group's `notifyConsumerIdsChangedEnable`.
   */
  registerConsumer(
    group: string,
    info: ClientChannelInfo,
    consumeType: ConsumeType,
    messageModel: MessageModel,
    consumeFromWhere: string,
    subscriptions: readonly SubscriptionData[],
    notify: boolean,
  ): boolean {
    let g = this.table.get(group)
    if (g === undefined) {
      g = new ConsumerGroupInfo(group, consumeType, messageModel, consumeFromWhere)
      this.table.set(group, g)
    }
    const newChannel = g.updateChannel(info, consumeType, messageModel, consumeFromWhere)
    const newTopics = g.updateSubscription(subscriptions)
    if (newChannel) this.log.info({ group, clientId: info.clientId, remote: info.channel.remoteAddress }, 'consumer joined')
    if ((newChannel || newTopics) && notify) this.onIdsChanged(group, g.allChannels())
    return newChannel || newTopics
  }

  unregisterConsumer(group: string, channel: RemotingChannel, notify: boolean): void {
    const g = this.table.get(group)
    if (g === undefined || !g.removeChannel(channel)) return
    this.log.info({ group, remote: channel.remoteAddress }, 'consumer left')
    if (g.channels.size === 0) this.table.delete(group)
    if (notify && g.channels.size > 0) this.onIdsChanged(group, g.allChannels())
  }

  /** A connection closed: remove it everywhere and tell the survivors (`doChannelCloseEvent`). */
  doChannelCloseEvent(channel: RemotingChannel): void {
    for (const [group, g] of [...this.table]) {
      if (!g.removeChannel(channel)) continue
      this.log.info({ group, remote: channel.remoteAddress }, 'consumer connection closed')
      if (g.channels.size === 0) this.table.delete(group)
      else this.onIdsChanged(group, g.allChannels())
    }
  }

  /** Closes connections that sent no heartbeat for `channelExpiredTimeout` (`scanNotActiveChannel`). */
  scanNotActiveChannel(now = Date.now()): void {
    for (const [group, g] of [...this.table]) {
      for (const [channel, info] of [...g.channels]) {
        if (now - info.lastUpdateTimestamp <= this.channelExpiredTimeoutMs) continue
        this.log.warn({ group, clientId: info.clientId, remote: channel.remoteAddress }, 'consumer heartbeat expired, closing its connection')
        g.removeChannel(channel)
        channel.close('consumer heartbeat expired')
      }
      if (g.channels.size === 0) this.table.delete(group)
    }
  }

  /** Groups with an online subscription to the topic (`queryTopicConsumeByWho`). */
  queryTopicConsumeByWho(topic: string): Set<string> {
    const out = new Set<string>()
    for (const [group, g] of this.table) if (g.subscriptions.has(topic)) out.add(group)
    return out
  }
}
