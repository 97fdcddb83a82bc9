import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'

import { BrokerStats } from '../../../ts/broker/broker-stats.js'

describe('BrokerStats per-topic and per-group rates', () => {
  let stats: BrokerStats
  beforeEach(() => {
    vi.useFakeTimers()
    stats = new BrokerStats()
    stats.start()
  })
  afterEach(() => {
    stats.shutdown()
    vi.useRealTimers()
  })

  it('measures a topic put rate and a group get rate from the counters, per key', () => {
    stats.incPut('T', 30, 3000)
    stats.incPut('U', 3, 300)
    stats.incGet('G', 'T', 12, 1200)
    vi.advanceTimersByTime(30_000)
    expect(stats.topicPutRate('T')).toBeCloseTo(1, 5)
    expect(stats.topicPutRate('U')).toBeCloseTo(0.1, 5)
    expect(stats.topicPutRate('none')).toBe(0)
    expect(stats.groupGetRate('G', 'T')).toBeCloseTo(0.4, 5)
    expect(stats.groupGets.get('G@T')).toBe(12)
    expect(stats.topics.get('T')?.putMessages).toBe(30)
  })

  it('starts a new window every two minutes, so old puts stop counting', () => {
    stats.incPut('T', 1000, 1000)
    stats.incGet('G', 'T', 1000, 1000)
    vi.advanceTimersByTime(120_000)
    // The window restarted at 120 s: the first thousand puts are behind it.
    stats.incPut('T', 60, 60)
    stats.incGet('G', 'T', 30, 30)
    vi.advanceTimersByTime(60_000)
    expect(stats.topicPutRate('T')).toBeCloseTo(1, 5)
    expect(stats.groupGetRate('G', 'T')).toBeCloseTo(0.5, 5)
  })
})
