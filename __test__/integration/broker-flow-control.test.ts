import { afterEach, describe, expect, it } from 'vitest'

import { ResponseCode } from '../../ts/common/response-code.js'
import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { heartbeat, request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

describe('broker: flow control', () => {
  let c: TestCluster | undefined
  afterEach(async () => {
    await c?.stop()
    c = undefined
  })

  it('answers SYSTEM_BUSY when the send queue is full, when a send waited too long, and while the page cache is busy', async () => {
    c = await startCluster({
      broker: { sendMessageConcurrency: 2, sendThreadPoolQueueCapacity: 3, waitTimeMillsInSendQueue: 200 },
      store: { testHooksEnable: true, osPageCacheBusyTimeOutMills: 1000 },
    })
    const cluster = c
    await send(cluster.client, cluster.brokerAddr, { topic: 'FC' })
    ;(cluster.broker.store as NativeMessageStore).stallForTest('put', 2500)
    const results: Promise<{ code: number; remark: string | null }>[] = []
    const fire = (): void => {
      results.push(send(cluster.client, cluster.brokerAddr, { topic: 'FC' }).then((r) => ({ code: r.code, remark: r.remark })))
    }
    fire() // stuck inside the put lock
    fire() // the second slot: waits in the store behind the first
    await waitFor(() => cluster.broker.store.stats().putMessages >= 1 && results.length === 2, { what: 'two sends in flight' })
    for (let i = 0; i < 3; i++) fire() // the queue (capacity 3)
    fire() // no room: refused at once
    const overload = await results[5]!
    expect(overload.code).toBe(ResponseCode.SYSTEM_BUSY)
    expect(overload.remark).toMatch(/^\[OVERLOAD\]/)
    for (const r of await Promise.all(results.slice(2, 5))) {
      expect(r.code).toBe(ResponseCode.SYSTEM_BUSY)
      expect(r.remark).toMatch(/^\[TIMEOUT_CLEAN_QUEUE\]broker busy, start flow control for a while, period in queue: \d+ms/)
    }
    await waitFor(() => cluster.broker.store.isOSPageCacheBusy(), { what: 'page cache busy', timeoutMs: 5000 })
    const rejected = await send(cluster.client, cluster.brokerAddr, { topic: 'FC' })
    expect(rejected.code).toBe(ResponseCode.SYSTEM_BUSY)
    expect(rejected.remark).toBe('[REJECTREQUEST]system busy, start flow control for a while')
    const [stuck, second] = await Promise.all(results.slice(0, 2))
    expect(stuck!.code).toBe(ResponseCode.SUCCESS)
    expect(second!.code).toBe(ResponseCode.SUCCESS)
    expect((await send(cluster.client, cluster.brokerAddr, { topic: 'FC' })).code).toBe(ResponseCode.SUCCESS)
  })

  it('answers the queued sends [PCBUSY_CLEAN_QUEUE] once the page cache turns busy', async () => {
    c = await startCluster({
      broker: { sendMessageConcurrency: 1, sendThreadPoolQueueCapacity: 100, waitTimeMillsInSendQueue: 60_000 },
      store: { testHooksEnable: true, osPageCacheBusyTimeOutMills: 500 },
    })
    const cluster = c
    ;(cluster.broker.store as NativeMessageStore).stallForTest('put', 1500)
    const stuck = send(cluster.client, cluster.brokerAddr, { topic: 'PB' })
    const queued = [0, 1, 2].map(() => send(cluster.client, cluster.brokerAddr, { topic: 'PB' }))
    for (const r of await Promise.all(queued)) {
      expect(r.code).toBe(ResponseCode.SYSTEM_BUSY)
      expect(r.remark).toMatch(/^\[PCBUSY_CLEAN_QUEUE\]/)
    }
    expect((await stuck).code).toBe(ResponseCode.SUCCESS)
  })

  it('closes idle connections and tells the rest of the group', async () => {
    c = await startCluster({ broker: { serverChannelMaxIdleTimeSeconds: 1 } })
    const cluster = c
    const notified: string[] = []
    const active = new RemotingClient()
    active.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {
      processRequest: (_ch, req) => {
        notified.push(req.ext('consumerGroup')!)
        return null
      },
    })
    const idle = new RemotingClient()
    try {
      await heartbeat(idle, cluster.brokerAddr, 'idle-client', [{ group: 'IG', topics: { IT: '*' } }])
      await heartbeat(active, cluster.brokerAddr, 'active-client', [{ group: 'IG', topics: { IT: '*' } }])
      notified.length = 0
      // Keep the active connection busy while the other one says nothing.
      const ids = await waitFor(
        async () => {
          const r = await request(active, cluster.brokerAddr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'IG' })
          const list = JSON.parse(r.body!.toString()).consumerIdList as string[]
          return list.length === 1 && list
        },
        { what: 'the idle consumer removed', timeoutMs: 10_000, intervalMs: 100 },
      )
      expect(ids).toEqual(['active-client'])
      expect(notified).toContain('IG')
    } finally {
      active.shutdown()
      idle.shutdown()
    }
  })
})
