import { describe, expect, it } from 'vitest'

import { ConsumerStatsManager } from '../../../ts/client/consumer-stats-manager.js'

describe('ConsumerStatsManager (statusTable of GET_CONSUMER_RUNNING_INFO)', () => {
  it('reports minute TPS, average RTs and the failed messages of the hour', () => {
    let now = 1_000_000_000
    const s = new ConsumerStatsManager(() => now)
    expect(s.consumeStatus('T')).toEqual({
      pullRT: 0,
      pullTPS: 0,
      consumeRT: 0,
      consumeOKTPS: 0,
      consumeFailedTPS: 0,
      consumeFailedMsgs: 0,
    })
    s.incPullRT('T', 10)
    s.incPullRT('T', 30)
    s.incPullTPS('T', 60)
    now += 30_000
    s.incPullTPS('T', 60)
    s.incConsumeRT('T', 4)
    s.incConsumeRT('T', 8)
    s.incConsumeOKTPS('T', 90)
    s.incConsumeFailedTPS('T', 6)
    s.incConsumeOKTPS('Other', 1000)
    const st = s.consumeStatus('T')
    expect(st.pullRT).toBe(20)
    expect(st.pullTPS).toBe(2)
    expect(st.consumeRT).toBe(6)
    expect(st.consumeOKTPS).toBe(1.5)
    expect(st.consumeFailedTPS).toBe(0.1)
    expect(st.consumeFailedMsgs).toBe(6)

    // A minute later the minute figures are gone; the hour still counts the failures, and consume RT falls back
    // to the hour as in Java.
    now += 60_000
    const later = s.consumeStatus('T')
    expect([later.pullRT, later.pullTPS, later.consumeOKTPS, later.consumeFailedTPS]).toEqual([0, 0, 0, 0])
    expect(later.consumeRT).toBe(6)
    expect(later.consumeFailedMsgs).toBe(6)
    now += 3_600_000
    expect(s.consumeStatus('T').consumeFailedMsgs).toBe(0)
  })
})
