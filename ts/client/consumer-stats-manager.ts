/**
 * Per-topic consumption rates of one consumer group (`ConsumerStatsManager` over `StatsItemSet`), reported in the
 * `statusTable` of GET_CONSUMER_RUNNING_INFO: pull and consume RT (average ms per call), pull / consume-OK /
 * consume-failed TPS (messages per second), all over the last minute, and the failed messages of the last hour.
 *
 * Java keeps 10-second snapshots and divides by their exact time span; one-second buckets over 60 s, and
 * one-minute buckets over 60 min, give the same figures to within a bucket.
 */
import type { ConsumeStatus } from './consumer-running-info.js'

const SECONDS_KEPT = 60
const MINUTES_KEPT = 60

/** Sums and counts in a ring of time buckets. */
class Window {
  private readonly tags: Float64Array
  private readonly sums: Float64Array
  private readonly counts: Float64Array

  constructor(
    private readonly bucketMs: number,
    private readonly buckets: number,
  ) {
    this.tags = new Float64Array(buckets).fill(-1)
    this.sums = new Float64Array(buckets)
    this.counts = new Float64Array(buckets)
  }

  add(value: number, count: number, now: number): void {
    const tag = Math.floor(now / this.bucketMs)
    const i = tag % this.buckets
    if (this.tags[i] !== tag) {
      this.tags[i] = tag
      this.sums[i] = 0
      this.counts[i] = 0
    }
    this.sums[i]! += value
    this.counts[i]! += count
  }

  /** Sum and count of the buckets within the window ending now. */
  total(now: number): { sum: number; count: number } {
    const current = Math.floor(now / this.bucketMs)
    let sum = 0
    let count = 0
    for (let i = 0; i < this.buckets; i++) {
      const tag = this.tags[i]!
      if (tag > current - this.buckets && tag <= current) {
        sum += this.sums[i]!
        count += this.counts[i]!
      }
    }
    return { sum, count }
  }
}

class StatsItem {
  readonly minute = new Window(1000, SECONDS_KEPT)
  readonly hour = new Window(60_000, MINUTES_KEPT)

  add(value: number, count: number, now: number): void {
    this.minute.add(value, count, now)
    this.hour.add(value, count, now)
  }
}

type Kind = 'pullRT' | 'pullTPS' | 'consumeRT' | 'consumeOKTPS' | 'consumeFailedTPS'

export class ConsumerStatsManager {
  private readonly items = new Map<string, StatsItem>()

  constructor(private readonly now: () => number = Date.now) {}

  incPullRT(topic: string, rtMs: number): void {
    this.add('pullRT', topic, rtMs, 1)
  }

  incPullTPS(topic: string, msgs: number): void {
    this.add('pullTPS', topic, msgs, 1)
  }

  incConsumeRT(topic: string, rtMs: number): void {
    this.add('consumeRT', topic, rtMs, 1)
  }

  incConsumeOKTPS(topic: string, msgs: number): void {
    this.add('consumeOKTPS', topic, msgs, 1)
  }

  incConsumeFailedTPS(topic: string, msgs: number): void {
    this.add('consumeFailedTPS', topic, msgs, 1)
  }

  /** `consumeStatus(group, topic)`: RTs are averages per call, TPS per second; consume RT falls back to the hour. */
  consumeStatus(topic: string): ConsumeStatus {
    const now = this.now()
    const minute = (kind: Kind): { sum: number; count: number } =>
      this.items.get(`${kind}|${topic}`)?.minute.total(now) ?? { sum: 0, count: 0 }
    const hour = (kind: Kind): { sum: number; count: number } =>
      this.items.get(`${kind}|${topic}`)?.hour.total(now) ?? { sum: 0, count: 0 }
    const avg = (t: { sum: number; count: number }): number => (t.count === 0 ? 0 : t.sum / t.count)
    const tps = (t: { sum: number }): number => t.sum / SECONDS_KEPT
    let consumeRT = minute('consumeRT')
    if (consumeRT.sum === 0) consumeRT = hour('consumeRT')
    return {
      pullRT: avg(minute('pullRT')),
      pullTPS: tps(minute('pullTPS')),
      consumeRT: avg(consumeRT),
      consumeOKTPS: tps(minute('consumeOKTPS')),
      consumeFailedTPS: tps(minute('consumeFailedTPS')),
      consumeFailedMsgs: hour('consumeFailedTPS').sum,
    }
  }

  private add(kind: Kind, topic: string, value: number, count: number): void {
    const key = `${kind}|${topic}`
    let item = this.items.get(key)
    if (item === undefined) {
      item = new StatsItem()
      this.items.set(key, item)
    }
    item.add(value, count, this.now())
  }
}
