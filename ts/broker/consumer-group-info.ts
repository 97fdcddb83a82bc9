/**
 * One consumer group on this broker (`ConsumerGroupInfo`): its connections and what it subscribes.
 */
import type { ConsumeType, MessageModel, SubscriptionData } from '../remoting/protocol/heartbeat.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import type { ClientChannelInfo } from './client-channel-info.js'
import { registerFilter, type ConsumerFilterData } from './consumer-filter-manager.js'

export class ConsumerGroupInfo {
  readonly channels = new Map<RemotingChannel, ClientChannelInfo>()
  readonly subscriptions = new Map<string, SubscriptionData>()
  /** Compiled SQL92 subscriptions by topic (`ConsumerFilterManager`); TAG subscriptions have none. */
  readonly filters = new Map<string, ConsumerFilterData>()
  consumeType: ConsumeType
  messageModel: MessageModel
  consumeFromWhere: string
  lastUpdateTimestamp = Date.now()

  constructor(
    readonly groupName: string,
    consumeType: ConsumeType,
    messageModel: MessageModel,
    consumeFromWhere: string,
  ) {
    this.consumeType = consumeType
    this.messageModel = messageModel
    this.consumeFromWhere = consumeFromWhere
  }

  /** Adds or refreshes a connection; true when the connection is new to the group (`updateChannel`). */
  updateChannel(
    info: ClientChannelInfo,
    consumeType: ConsumeType,
    messageModel: MessageModel,
    consumeFromWhere: string,
  ): boolean {
    this.consumeType = consumeType
    this.messageModel = messageModel
    this.consumeFromWhere = consumeFromWhere
    const old = this.channels.get(info.channel)
    let isNew = false
    if (old === undefined || old.clientId !== info.clientId) {
      this.channels.set(info.channel, info)
      isNew = true
    } else {
      old.lastUpdateTimestamp = info.lastUpdateTimestamp
    }
    this.lastUpdateTimestamp = Date.now()
    return isNew
  }

  /**
   * Takes the subscriptions of a heartbeat: adds new topics, replaces a topic's subscription when the new one has
   * a larger `subVersion`, drops topics no longer listed; true when the set of topics changed (`updateSubscription`).
   * SQL92 subscriptions are compiled here, once per new expression (`ConsumerFilterManager#register`).
   */
  updateSubscription(subs: readonly SubscriptionData[]): boolean {
    let changed = false
    const topics = new Set<string>()
    for (const sub of subs) {
      topics.add(sub.topic)
      const old = this.subscriptions.get(sub.topic)
      if (old === undefined) {
        this.subscriptions.set(sub.topic, sub)
        changed = true
      } else if (sub.subVersion > old.subVersion) {
        this.subscriptions.set(sub.topic, sub)
      }
      if (sub.expressionType === 'SQL92') registerFilter(this.filters, sub)
      else this.filters.delete(sub.topic)
    }
    for (const topic of [...this.subscriptions.keys()]) {
      if (!topics.has(topic)) {
        this.subscriptions.delete(topic)
        this.filters.delete(topic)
        changed = true
      }
    }
    this.lastUpdateTimestamp = Date.now()
    return changed
  }

  findSubscriptionData(topic: string): SubscriptionData | undefined {
    return this.subscriptions.get(topic)
  }

  findFilterData(topic: string): ConsumerFilterData | undefined {
    return this.filters.get(topic)
  }

  findChannel(clientId: string): ClientChannelInfo | undefined {
    for (const info of this.channels.values()) if (info.clientId === clientId) return info
    return undefined
  }

  allClientIds(): string[] {
    return [...this.channels.values()].map((i) => i.clientId)
  }

  allChannels(): RemotingChannel[] {
    return [...this.channels.keys()]
  }

  /** Removes the connection; true when it was a member. */
  removeChannel(channel: RemotingChannel): boolean {
    return this.channels.delete(channel)
  }
}
