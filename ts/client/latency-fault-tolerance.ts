/**
 * Latency fault tolerance (`MQFaultStrategy`, `LatencyFaultToleranceImpl`, client.md §3.6–§3.7): a slow or
 * failing broker is kept out of queue selection for a while, then re-admitted automatically. With the detector
 * (`startDetectorEnable`, 5.x) a broker a send could not reach is marked unreachable and probed until it answers.
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
  /** When the detector may probe this broker next (`checkStamp`); 0: at its next round. */
  checkStamp: number
}

/** The detector's settings (`ClientConfig`: `startDetectorEnable`, `detectTimeout`, `detectInterval`). */
export interface DetectorConfig {
  startDetectorEnable: boolean
  /** Probe timeout, ms (default 200). */
  detectTimeout: number
  /** Least time between two probes of one broker, ms (default 2000). */
  detectInterval: number
}

export const DEFAULT_DETECTOR_CONFIG: Readonly<DetectorConfig> = {
  startDetectorEnable: false,
  detectTimeout: 200,
  detectInterval: 2000,
}
/** `LatencyFaultToleranceImpl#startDetector`: a round every 3 s, the first 3 s after start. */
export const DETECT_ROUND_INTERVAL_MS = 3000

/** A broker name's master address, or undefined when no route knows the broker any more. */
export type BrokerResolver = (brokerName: string) => string | undefined
/** Probes a broker; resolves true when it answered within `timeoutMs`. Must not reject. */
export type ServiceDetector = (brokerName: string, addr: string, timeoutMs: number) => Promise<boolean>

export class LatencyFaultTolerance {
  private readonly items = new Map<string, FaultItem>()

  constructor(private readonly now: () => number = Date.now) {}

  updateFaultItem(brokerName: string, currentLatency: number, notAvailableDuration: number, reachable: boolean): void {
    const now = this.now()
    let item = this.items.get(brokerName)
    if (item === undefined) {
      item = { currentLatency, startTimestamp: 0, reachable, checkStamp: 0 }
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

  /**
   * One detector round (`detectByOneRound`): each broker whose check time has come is due again `detectInterval`
   * later; one no route knows any more is forgotten; the others are probed one after another, and an answer makes
   * an unreachable broker reachable again. Isolation periods are left alone: they end by time.
   */
  async detectByOneRound(
    resolve: BrokerResolver,
    detect: ServiceDetector,
    config: Pick<DetectorConfig, 'detectInterval' | 'detectTimeout'>,
  ): Promise<void> {
    for (const [name, item] of [...this.items]) {
      const now = this.now()
      if (now - item.checkStamp < 0) continue
      item.checkStamp = now + config.detectInterval
      const addr = resolve(name)
      if (addr === undefined) {
        this.items.delete(name)
        continue
      }
      const ok = await detect(name, addr, config.detectTimeout)
      if (ok && !item.reachable) item.reachable = true
    }
  }
}

export class MQFaultStrategy {
  readonly faultTolerance: LatencyFaultTolerance
  readonly detector: Readonly<DetectorConfig>
  private detectTimer: NodeJS.Timeout | undefined
  private detectRound: Promise<void> | undefined

  constructor(
    readonly sendLatencyFaultEnable: boolean,
    now: () => number = Date.now,
    detector: Partial<DetectorConfig> = {},
  ) {
    this.faultTolerance = new LatencyFaultTolerance(now)
    this.detector = { ...DEFAULT_DETECTOR_CONFIG, ...detector }
  }

  get startDetectorEnable(): boolean {
    return this.detector.startDetectorEnable
  }

  /**
   * Starts the detector rounds when `startDetectorEnable` (`startDetector`); a round still probing when the next
   * is due makes that one skip. `shutdown()` stops them.
   */
  startDetector(resolve: BrokerResolver, detect: ServiceDetector, onError?: (err: unknown) => void): void {
    if (!this.detector.startDetectorEnable || this.detectTimer !== undefined) return
    this.detectTimer = setInterval(() => {
      if (this.detectRound !== undefined) return
      this.detectRound = this.faultTolerance
        .detectByOneRound(resolve, detect, this.detector)
        .catch((err: unknown) => onError?.(err))
        .finally(() => {
          this.detectRound = undefined
        })
    }, DETECT_ROUND_INTERVAL_MS)
    this.detectTimer.unref()
  }

  /** Stops the detector and waits for a round in progress. */
  async shutdown(): Promise<void> {
    clearInterval(this.detectTimer)
    this.detectTimer = undefined
    await this.detectRound
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
