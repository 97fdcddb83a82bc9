/**
 * A topic's publish queues (`TopicPublishInfo`, client.md §1.5) and round-robin selection over them (§3.6).
 */
import { MixAll } from '../common/mix-all.js'
import { isWriteable } from '../common/constant/perm-name.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { TopicRouteData } from '../remoting/protocol/route.js'

/** A fresh round-robin index: a random non-negative int (`ThreadLocalIndex`). */
export function randomIndex(): number {
  return Math.floor(Math.random() * 0x7fffffff)
}

export class TopicPublishInfo {
  /** True when the queues come from `orderTopicConf`. */
  readonly orderTopic: boolean
  readonly messageQueues: readonly MessageQueue[]
  readonly route: TopicRouteData
  private index = randomIndex()

  constructor(topic: string, route: TopicRouteData) {
    this.route = route
    const queues: MessageQueue[] = []
    const conf = route.orderTopicConf
    if (conf !== null && conf.length > 0) {
      // "brokerA:4;brokerB:4": exactly these, in this order.
      for (const item of conf.split(';')) {
        const [brokerName, nums] = item.split(':')
        const n = Number.parseInt(nums ?? '', 10)
        if (!brokerName || !Number.isFinite(n)) continue
        for (let i = 0; i < n; i++) queues.push({ topic, brokerName, queueId: i })
      }
      this.orderTopic = true
    } else {
      const sorted = [...route.queueDatas].sort((a, b) =>
        a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0,
      )
      for (const qd of sorted) {
        if (!isWriteable(qd.perm)) continue
        const bd = route.brokerDatas.find((b) => b.brokerName === qd.brokerName)
        if (bd === undefined || !bd.brokerAddrs.has(MixAll.MASTER_ID)) continue
        for (let i = 0; i < qd.writeQueueNums; i++) queues.push({ topic, brokerName: qd.brokerName, queueId: i })
      }
      this.orderTopic = false
    }
    this.messageQueues = queues
  }

  ok(): boolean {
    return this.messageQueues.length > 0
  }

  /** The master address of a broker of this route, if it has one. */
  brokerAddr(brokerName: string): string | undefined {
    return this.route.brokerDatas.find((b) => b.brokerName === brokerName)?.brokerAddrs.get(MixAll.MASTER_ID)
  }

  resetIndex(): void {
    this.index = randomIndex()
  }

  private nextPos(): number {
    this.index = (this.index + 1) | 0
    return (this.index & 0x7fffffff) % this.messageQueues.length
  }

  /** Plain round robin. */
  selectOne(): MessageQueue {
    return this.messageQueues[this.nextPos()]!
  }

  /**
   * Round robin over at most `size` queues, the first one every filter accepts; `undefined` when none does.
   */
  selectFiltered(...filters: ((mq: MessageQueue) => boolean)[]): MessageQueue | undefined {
    for (let i = 0; i < this.messageQueues.length; i++) {
      const mq = this.messageQueues[this.nextPos()]!
      if (filters.every((f) => f(mq))) return mq
    }
    return undefined
  }

  /** Round robin avoiding `lastBrokerName` when possible (`TopicPublishInfo#selectOneMessageQueue(String)`). */
  selectAvoiding(lastBrokerName: string | undefined): MessageQueue {
    if (lastBrokerName === undefined) return this.selectOne()
    return this.selectFiltered((mq) => mq.brokerName !== lastBrokerName) ?? this.selectOne()
  }
}

/**
 * The route of the default topic turned into one for a new topic (`updateTopicRouteInfoFromNameServer` with
 * `isDefault`): every queue count becomes `min(defaultTopicQueueNums, readQueueNums)`.
 */
export function routeFromDefaultTopic(defaultRoute: TopicRouteData, defaultTopicQueueNums: number): TopicRouteData {
  return {
    ...defaultRoute,
    queueDatas: defaultRoute.queueDatas.map((q) => {
      const n = Math.min(defaultTopicQueueNums, q.readQueueNums)
      return { ...q, readQueueNums: n, writeQueueNums: n }
    }),
  }
}
