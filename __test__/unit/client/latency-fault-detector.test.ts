import { afterEach, describe, expect, it, vi } from 'vitest'

import {
  DETECT_ROUND_INTERVAL_MS,
  LatencyFaultTolerance,
  MQFaultStrategy,
} from '../../../ts/client/latency-fault-tolerance.js'
import { TopicPublishInfo } from '../../../ts/client/topic-publish-info.js'
import type { TopicRouteData } from '../../../ts/remoting/protocol/route.js'

const CONFIG = { detectInterval: 2000, detectTimeout: 200 }

describe('latency fault detector: one round (detectByOneRound)', () => {
  it('probes each due broker with the detect timeout; an answer makes an unreachable broker reachable', async () => {
    let now = 1_000_000
    const ft = new LatencyFaultTolerance(() => now)
    ft.updateFaultItem('a', 10, 30_000, false)
    ft.updateFaultItem('b', 10, 30_000, false)
    const probes: string[] = []
    const answers = new Map([
      ['a', true],
      ['b', false],
    ])
    const resolve = (name: string): string => `${name}-addr:10911`
    const detect = async (name: string, addr: string, timeoutMs: number): Promise<boolean> => {
      probes.push(`${name}@${addr}/${timeoutMs}`)
      return answers.get(name)!
    }
    await ft.detectByOneRound(resolve, detect, CONFIG)
    expect(probes).toEqual(['a@a-addr:10911/200', 'b@b-addr:10911/200'])
    expect(ft.isReachable('a')).toBe(true)
    expect(ft.isReachable('b')).toBe(false)
    // Reachability does not end an isolation: that ends by time.
    expect(ft.isAvailable('a')).toBe(false)
    expect(ft.item('a')!.checkStamp).toBe(now + 2000)

    // Within detectInterval nobody is probed again.
    now += 1999
    await ft.detectByOneRound(resolve, detect, CONFIG)
    expect(probes).toHaveLength(2)
    now += 1
    answers.set('b', true)
    await ft.detectByOneRound(resolve, detect, CONFIG)
    expect(probes).toHaveLength(4)
    expect(ft.isReachable('b')).toBe(true)
  })

  it('forgets a broker no route knows any more, without probing it', async () => {
    const ft = new LatencyFaultTolerance(() => 5000)
    ft.updateFaultItem('gone', 10, 30_000, false)
    ft.updateFaultItem('here', 10, 30_000, false)
    const detect = vi.fn(async () => true)
    await ft.detectByOneRound((name) => (name === 'here' ? 'h:1' : undefined), detect, CONFIG)
    expect(ft.item('gone')).toBeUndefined()
    expect(ft.isReachable('gone')).toBe(true)
    expect(detect).toHaveBeenCalledTimes(1)
    expect(ft.isReachable('here')).toBe(true)
  })
})

describe('latency fault detector: schedule (startDetector)', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('is off by default: no timer, no probes', async () => {
    vi.useFakeTimers()
    const s = new MQFaultStrategy(true)
    expect(s.startDetectorEnable).toBe(false)
    expect(s.detector).toEqual({ startDetectorEnable: false, detectTimeout: 200, detectInterval: 2000 })
    const detect = vi.fn(async () => true)
    s.startDetector(() => 'x:1', detect)
    expect(vi.getTimerCount()).toBe(0)
    s.updateFaultItem('a', 10, true, false)
    await vi.advanceTimersByTimeAsync(10 * DETECT_ROUND_INTERVAL_MS)
    expect(detect).not.toHaveBeenCalled()
    expect(s.faultTolerance.isReachable('a')).toBe(false)
  })

  it('runs a round every 3 s when enabled, and shutdown stops it', async () => {
    vi.useFakeTimers()
    const s = new MQFaultStrategy(true, Date.now, { startDetectorEnable: true, detectInterval: 0 })
    const detect = vi.fn(async () => false)
    s.startDetector(() => 'x:1', detect)
    expect(vi.getTimerCount()).toBe(1)
    s.updateFaultItem('a', 10, true, false)
    await vi.advanceTimersByTimeAsync(DETECT_ROUND_INTERVAL_MS - 1)
    expect(detect).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(detect).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(2 * DETECT_ROUND_INTERVAL_MS)
    expect(detect).toHaveBeenCalledTimes(3)
    await s.shutdown()
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(5 * DETECT_ROUND_INTERVAL_MS)
    expect(detect).toHaveBeenCalledTimes(3)
  })

  it('skips a round while the previous one is still probing', async () => {
    vi.useFakeTimers()
    const s = new MQFaultStrategy(true, Date.now, { startDetectorEnable: true, detectInterval: 0 })
    let release: (ok: boolean) => void = () => {}
    const detect = vi.fn(() => new Promise<boolean>((r) => (release = r)))
    s.startDetector(() => 'x:1', detect)
    s.updateFaultItem('a', 10, true, false)
    await vi.advanceTimersByTimeAsync(4 * DETECT_ROUND_INTERVAL_MS)
    expect(detect).toHaveBeenCalledTimes(1)
    release(true)
    await vi.advanceTimersByTimeAsync(DETECT_ROUND_INTERVAL_MS)
    expect(detect).toHaveBeenCalledTimes(2)
    expect(s.faultTolerance.isReachable('a')).toBe(true)
    release(true)
    await s.shutdown()
  })

  it('selection (5.x) prefers an available broker, then a reachable one; a probe brings an unreachable one back', async () => {
    let now = 0
    const route: TopicRouteData = {
      orderTopicConf: null,
      queueDatas: ['a', 'b'].map((brokerName) => ({
        brokerName,
        readQueueNums: 2,
        writeQueueNums: 2,
        perm: 6,
        topicSysFlag: 0,
      })),
      brokerDatas: ['a', 'b'].map((brokerName) => ({
        cluster: 'C',
        brokerName,
        brokerAddrs: new Map([[0, `${brokerName}:1`]]),
      })),
      filterServerTable: new Map(),
    }
    const info = new TopicPublishInfo('T', route)
    const s = new MQFaultStrategy(true, () => now, { startDetectorEnable: true })
    s.updateFaultItem('a', 10, true, false) // a network failure with the detector on: isolated, unreachable
    s.updateFaultItem('b', 10, true, true) // isolated, reachable
    for (let n = 0; n < 10; n++) expect(s.selectOneMessageQueue(info, undefined, true).brokerName).toBe('b')
    await s.faultTolerance.detectByOneRound(
      (name) => `${name}:1`,
      async () => true,
      CONFIG,
    )
    expect(s.faultTolerance.isReachable('a')).toBe(true)
    const picked = new Set(Array.from({ length: 20 }, () => s.selectOneMessageQueue(info, undefined, false).brokerName))
    expect(picked).toEqual(new Set(['a', 'b']))
    now = 10_000
    expect(s.faultTolerance.isAvailable('a')).toBe(true)
  })
})
