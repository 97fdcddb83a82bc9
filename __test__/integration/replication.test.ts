/**
 * Master/slave replication in one process (store.md §11): the slave catches up and follows, refuses writes,
 * serves reads, copies the master's tables; `SYNC_MASTER` answers by the slave's acknowledgement.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import net from 'node:net'

import { afterEach, describe, expect, it } from 'vitest'

import { encodeReport } from '../../ts/broker/ha/ha-frame.js'

import { ResponseCode } from '../../ts/common/response-code.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { decodeTopicRouteData } from '../../ts/remoting/protocol/route.js'
import { createTopic, pull, request, send } from '../helpers/broker-requests.js'
import { startHAPair, type HAPair } from '../helpers/ha-pair.js'
import { startCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

let pair: HAPair | null = null

afterEach(async () => {
  await pair?.stop()
  pair = null
})

function commitLog(storeDir: string): Buffer {
  const dir = join(storeDir, 'commitlog')
  return Buffer.concat(
    readdirSync(dir)
      .sort()
      .map((f) => readFileSync(join(dir, f))),
  )
}

async function sendMany(p: HAPair, topic: string, n: number, queueId = 0): Promise<number[]> {
  const codes: number[] = []
  for (let i = 0; i < n; i++) {
    const r = await send(p.cluster.client, p.master.brokerAddr, {
      topic,
      queueId,
      body: Buffer.alloc(300 + (i % 700), i),
    })
    codes.push(r.code)
  }
  return codes
}

describe('replication', () => {
  it('a slave catches up from zero, follows live, and ends byte for byte equal to its master', async () => {
    pair = await startHAPair()
    const p = pair
    expect(await sendMany(p, 'HaTopic', 200)).toEqual(Array(200).fill(ResponseCode.SUCCESS))
    await p.waitCaughtUp()
    expect(await sendMany(p, 'HaTopic', 100, 1)).toEqual(Array(100).fill(ResponseCode.SUCCESS))
    await p.waitCaughtUp()
    expect(p.slave.store.getMaxOffsetInQueue('HaTopic', 0)).toBe(200)
    expect(p.slave.store.getMaxOffsetInQueue('HaTopic', 1)).toBe(100)
    const status = p.master.replicationStatus()
    expect(status.slaves).toHaveLength(1)
    expect(status.slaves[0]!.lagBytes).toBe(0)
    expect(p.slave.replicationStatus().master?.connected).toBe(true)
    const masterDir = p.master.storeConfig.storePathRootDir
    const slaveDir = p.slave.storeConfig.storePathRootDir
    await p.stopSlave()
    await p.cluster.stopBroker()
    expect(commitLog(slaveDir).equals(commitLog(masterDir))).toBe(true)
  })

  it('a slave refuses sends and topic changes, serves pulls, and wakes held pulls when data arrives', async () => {
    pair = await startHAPair()
    const p = pair
    await sendMany(p, 'ReadTopic', 3)
    await p.waitCaughtUp()
    const refused = await send(p.cluster.client, p.slave.brokerAddr, { topic: 'ReadTopic' })
    expect(refused.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE)
    const create = await createTopic(p.cluster.client, p.slave.brokerAddr, 'NewOnSlave')
    expect(create.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(create.remark).toContain('slave')
    // Topic configs reach the slave with its table copy; then it serves the queue.
    await waitFor(() => p.slave.topicConfigManager.selectTopicConfig('ReadTopic') !== undefined, {
      timeoutMs: 20_000,
      what: 'topic config on slave',
    })
    // The route shows the broker group with its master and its slave.
    const route = await waitFor(
      async () => {
        const r = await request(p.cluster.client, p.cluster.namesrvAddr, RequestCode.GET_ROUTEINFO_BY_TOPIC, {
          topic: 'ReadTopic',
        })
        const data = decodeTopicRouteData(r.body)
        const addrs = data.brokerDatas[0]?.brokerAddrs
        return addrs?.size === 2 && addrs
      },
      { timeoutMs: 40_000, what: 'the slave in the route' },
    )
    expect(Object.fromEntries(route)).toEqual({ 0: p.master.brokerAddr, 1: p.slave.brokerAddr })
    const found = await pull(p.cluster.client, p.slave.brokerAddr, { group: 'G', topic: 'ReadTopic', offset: 0 })
    expect(found.code).toBe(ResponseCode.SUCCESS)
    expect(found.extFields?.nextBeginOffset).toBe('3')
    expect(found.extFields?.suggestWhichBrokerId).toBe('0')
    const held = pull(
      p.cluster.client,
      p.slave.brokerAddr,
      { group: 'G', topic: 'ReadTopic', offset: 3, sysFlag: 0x2 | 0x4, suspendTimeoutMillis: 10_000 },
      15_000,
    )
    await waitFor(() => p.slave.pullRequestHoldService.size === 1, { what: 'the pull to be held on the slave' })
    const startedAt = Date.now()
    await sendMany(p, 'ReadTopic', 1)
    const woken = await held
    expect(woken.code).toBe(ResponseCode.SUCCESS)
    expect(woken.extFields?.nextBeginOffset).toBe('4')
    expect(Date.now() - startedAt).toBeLessThan(5000)
  })

  it('a slave copies consumer offsets from its master', async () => {
    pair = await startHAPair()
    const p = pair
    await sendMany(p, 'OffTopic', 5)
    const commit = await request(p.cluster.client, p.master.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: 'OffGroup',
      topic: 'OffTopic',
      queueId: 0,
      commitOffset: 4,
    })
    expect(commit.code).toBe(ResponseCode.SUCCESS)
    await waitFor(() => p.slave.consumerOffsetManager.queryOffset('OffGroup', 'OffTopic', 0) === 4, {
      timeoutMs: 20_000,
      what: 'offset on slave',
    })
  })

  it('with slave reading on, a master behind on cold data sends consumers to the slave, and they consume there', async () => {
    // Ratio 0: every unread byte counts as out of memory, so the master always suggests the slave.
    pair = await startHAPair({
      master: { slaveReadEnable: true },
      slave: { slaveReadEnable: true },
      store: { accessMessageInMemoryMaxRatio: 0 },
    })
    const p = pair
    await sendMany(p, 'ColdTopic', 10)
    await p.waitCaughtUp()
    await waitFor(() => p.slave.topicConfigManager.selectTopicConfig('ColdTopic') !== undefined, {
      timeoutMs: 20_000,
      what: 'topic config on slave',
    })
    const fromMaster = await pull(p.cluster.client, p.master.brokerAddr, {
      group: 'ColdG',
      topic: 'ColdTopic',
      offset: 0,
      maxMsgNums: 1,
    })
    expect(fromMaster.code).toBe(ResponseCode.SUCCESS)
    expect(fromMaster.extFields?.suggestWhichBrokerId).toBe('1')
    const consumer = new PushConsumer({
      consumerGroup: 'ColdG',
      namesrvAddr: p.cluster.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      pullBatchSize: 1,
    })
    consumer.subscribe('ColdTopic', '*')
    let consumed = 0
    consumer.registerMessageListener((msgs) => {
      consumed += msgs.length
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await consumer.start()
    try {
      await waitFor(() => consumed >= 10, { what: 'the cold messages consumed' })
      expect(p.slave.store.stats().getMessages).toBeGreaterThan(0)
    } finally {
      await consumer.shutdown()
    }
  })

  it.each(['ASYNC_FLUSH', 'SYNC_FLUSH'] as const)(
    'SYNC_MASTER (%s) answers SLAVE_NOT_AVAILABLE without a slave and SUCCESS again once it is back',
    async (flushDiskType) => {
      pair = await startHAPair({ master: { brokerRole: 'SYNC_MASTER' }, store: { flushDiskType } })
      const p = pair
      await waitFor(() => p.master.replicationStatus().slaves.some((s) => s.ackOffset >= 0), {
        what: 'the slave to connect',
      })
      expect(await sendMany(p, 'SyncTopic', 20)).toEqual(Array(20).fill(ResponseCode.SUCCESS))
      expect(p.slave.store.getMaxPhyOffset()).toBe(p.master.store.getMaxPhyOffset())
      await p.stopSlave()
      await waitFor(() => p.master.replicationStatus().slaves.length === 0, { what: 'the master to see the slave go' })
      const r = await send(p.cluster.client, p.master.brokerAddr, { topic: 'SyncTopic' })
      expect(r.code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE)
      expect(r.extFields?.msgId).toBeTruthy()
      await p.restartSlave()
      await waitFor(() => p.master.replicationStatus().slaves.some((s) => s.ackOffset >= 0), {
        what: 'the slave to reconnect',
      })
      expect(await sendMany(p, 'SyncTopic', 5)).toEqual(Array(5).fill(ResponseCode.SUCCESS))
      // The message answered SLAVE_NOT_AVAILABLE was stored on the master and reached the slave afterwards.
      // (With SYNC_FLUSH a slave's consumers see what it has flushed: its group commit runs every few ms.)
      await waitFor(() => p.slave.store.getMaxOffsetInQueue('SyncTopic', 0) === 26, {
        what: '26 messages on the slave',
      })
    },
  )

  it('SYNC_MASTER with a slave that stops acknowledging answers FLUSH_SLAVE_TIMEOUT, and SLAVE_NOT_AVAILABLE once it is too far behind, and is dropped when silent', async () => {
    const c = await startCluster({
      broker: { brokerRole: 'SYNC_MASTER', haMaxGapNotInSync: 4000, haHousekeepingInterval: 2000 },
      store: { syncFlushTimeout: 300 },
    })
    const fakeSlave = net.connect({ host: '127.0.0.1', port: c.broker.replicationStatus().haPort! })
    try {
      await new Promise<void>((resolve) => fakeSlave.once('connect', () => resolve()))
      // One report (an empty slave), then silence: the master streams to it but never hears an ack.
      fakeSlave.write(encodeReport(0))
      fakeSlave.resume()
      await waitFor(() => c.broker.replicationStatus().slaves.some((s) => s.ackOffset === 0), {
        what: 'the fake slave',
      })
      const startedAt = Date.now()
      const late = await send(c.client, c.brokerAddr, { topic: 'LateTopic', body: Buffer.alloc(1000) })
      expect(late.code).toBe(ResponseCode.FLUSH_SLAVE_TIMEOUT)
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250)
      expect(late.extFields?.msgId).toMatch(/^[0-9A-F]{32}$/)
      await send(c.client, c.brokerAddr, { topic: 'LateTopic', body: Buffer.alloc(3000) })
      // More than haMaxGapNotInSync past what the slave acknowledged: refused the wait at once.
      const far = await send(c.client, c.brokerAddr, { topic: 'LateTopic', body: Buffer.alloc(1000) })
      expect(far.code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE)
      expect(c.broker.store.getMaxOffsetInQueue('LateTopic', 0)).toBe(3)
      // A slave silent for haHousekeepingInterval is dropped.
      await waitFor(() => c.broker.replicationStatus().slaves.length === 0, {
        timeoutMs: 5000,
        what: 'the silent slave dropped',
      })
    } finally {
      fakeSlave.destroy()
      await c.stop()
    }
  })
})
