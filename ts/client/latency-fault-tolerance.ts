/**
 * Latency fault tolerance (`MQFaultStrategy`, `LatencyFaultToleranceImpl`, client.md §3.6–§3.7): a slow or
 * failing broker is kept out of queue selection for a while, then re-admitted automatically.
 */
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { TopicPublishInfo } from './topic-publish-info.js'

export const LATENCY_MAX: readonly number[] = [50, 100, 550, 1800, 3000, 5000, 15000]
export const NOT_AVAILABLE_DURATION: readonly number[] = [0, 0, 2000, 5000, 6000, 10000, 30000]
/** The latency an isolated broker is charged with. */
export const ISOLATION_LATENCY = 10_000

/** How long a broker is kept out after a send that took `latency` ms. */
export function computeNotAvailableDuration(latency: number): number {
  for (let i = LATENCY_MAX.length - 1; i >= 0; i--) {
    if (latency >= LATENCY_MAX[i]!) return NOT_AVAILABLE_DURATION[i]!
  }
  return 0
}

export interface FaultItem {
  currentLatency: number
  startTimestamp: number
  reachable: boolean
}

export class LatencyFaultTolerance {
  private readonly items = new Map<string, FaultItem>()

  constructor(private readonly now: () => number = Date.now) {}

  updateFaultItem(brokerName: string, currentLatency: number, notAvailableDuration: number, reachable: boolean): void {
    const now = this.now()
    let item = this.items.get(brokerName)
    if (item === undefined) {
      item = { currentLatency, startTimestamp: 0, reachable }
      this.items.set(brokerName, item)
    }
    item.currentLatency = currentLatency
    // Isolation only ever extends.
    if (notAvailableDuration > 0 && now + notAvailableDuration > item.startTimestamp) {
      item.startTimestamp = now + notAvailableDuration
    }
    item.reachable = reachable
  }

  isAvailable(brokerName: string): boolean {
    const item = this.items.get(brokerName)
    return item === undefined || this.now() >= item.startTimestamp
  }

  isReachable(brokerName: string): boolean {
    const item = this.items.get(brokerName)
    return item === undefined || item.reachable
  }

  remove(brokerName: string): void {
    this.items.delete(brokerName)
  }

  item(brokerName: string): Readonly<FaultItem> | undefined {
    return this.items.get(brokerName)
  }
}

export class MQFaultStrategy {
  readonly faultTolerance: LatencyFaultTolerance

  constructor(
    readonly sendLatencyFaultEnable: boolean,
    now: () => number = Date.now,
  ) {
    this.faultTolerance = new LatencyFaultTolerance(now)
  }

  /** §3.6: the queue for the next attempt. */
  selectOneMessageQueue(info: TopicPublishInfo, lastBrokerName: string | undefined, resetIndex: boolean): MessageQueue {
    if (!this.sendLatencyFaultEnable) return info.selectAvoiding(lastBrokerName)
    if (resetIndex) info.resetIndex()
    const notLast = (mq: MessageQueue): boolean => mq.brokerName !== lastBrokerName
    const ft = this.faultTolerance
    return (
      info.selectFiltered((mq) => ft.isAvailable(mq.brokerName), notLast) ??
      info.selectFiltered((mq) => ft.isReachable(mq.brokerName), notLast) ??
      info.selectOne()
    )
  }

  /** §3.7: record an attempt; `isolation` charges the broker 10 s. No-op unless latency tolerance is on. */
  updateFaultItem(brokerName: string, currentLatency: number, isolation: boolean, reachable: boolean): void {
    if (!this.sendLatencyFaultEnable) return
    const duration = computeNotAvailableDuration(isolation ? ISOLATION_LATENCY : currentLatency)
    this.faultTolerance.updateFaultItem(brokerName, currentLatency, duration, reachable)
  }
}
