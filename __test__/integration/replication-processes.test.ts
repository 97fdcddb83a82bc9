/**
 * Replication with brokers in child processes, killed with SIGKILL (store.md §11): a slave catching up 100 MiB
 * and following live, byte-for-byte equal logs, `SYNC_MASTER` without and with its slave, failover of consumers to
 * the slave with nothing acknowledged lost, and producers moving to the other broker group of a topic.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import {
  BrokerProcess,
  freePortPairs,
  stopAllBrokerProcesses,
  type BrokerProcessSpec,
} from '../helpers/broker-process.js'
import { createTopic, pull, request, send } from '../helpers/broker-requests.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

const MiB = 1024 * 1024

let namesrv: NamesrvController
let namesrvAddr: string
let dir: TempDir
let client: RemotingClient
const closers: (() => Promise<void>)[] = []

beforeEach(async () => {
  dir = tempDir('ferrymq-ha-proc-')
  namesrv = await NamesrvController.start({ listenPort: 0, kvConfigPath: join(dir.path, 'namesrv', 'kv.json') })
  namesrvAddr = `127.0.0.1:${namesrv.port()}`
  client = new RemotingClient()
})

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  await stopAllBrokerProcesses()
  client.shutdown()
  await namesrv.shutdown()
  dir.remove()
})

async function brokers(specs: Omit<BrokerProcessSpec, 'port' | 'namesrvAddr' | 'dataDir'>[]): Promise<BrokerProcess[]> {
  const ports = await freePortPairs(specs.length)
  return specs.map(
    (s, i) =>
      new BrokerProcess({
        ...s,
        port: ports[i]!,
        namesrvAddr,
        dataDir: join(dir.path, `${s.brokerName}-${s.brokerId}`),
      }),
  )
}

async function runtime(addr: string): Promise<Record<string, string>> {
  const r = await request(client, addr, RequestCode.GET_BROKER_RUNTIME_INFO)
  expect(r.code).toBe(ResponseCode.SUCCESS)
  return (JSON.parse(r.body!.toString()) as { table: Record<string, string> }).table
}

async function maxPhyOffset(b: BrokerProcess): Promise<number> {
  return Number((await runtime(b.addr)).commitLogMaxOffset)
}

async function waitSameOffset(master: BrokerProcess, slave: BrokerProcess, timeoutMs = 60_000): Promise<number> {
  return waitFor(
    async () => {
      const [m, s] = await Promise.all([maxPhyOffset(master), maxPhyOffset(slave)])
      return m === s && m
    },
    { timeoutMs, intervalMs: 50, what: 'the slave to have everything the master has' },
  )
}

/** Sends `n` messages of `size` bytes to the master, `window` at a time; returns the response codes. */
async function blast(addr: string, topic: string, n: number, size: number, window = 64): Promise<number[]> {
  const codes: number[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++
      const r = await send(client, addr, { topic, queueId: i % 4, body: Buffer.alloc(size, i % 251) })
      codes.push(r.code)
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return codes
}

function commitLogBytes(b: BrokerProcess): Buffer {
  const d = join(b.storeDir, 'commitlog')
  return Buffer.concat(
    readdirSync(d)
      .sort()
      .map((f) => readFileSync(join(d, f))),
  )
}

describe('replication between broker processes', () => {
  it('an empty slave catches up 100 MiB, follows live traffic, and its commit log equals the master’s byte for byte', async () => {
    const conf = { mappedFileSizeCommitLog: 128 * MiB }
    const [master, slave] = await brokers([
      { brokerName: 'broker-a', brokerId: 0, brokerRole: 'ASYNC_MASTER', conf },
      { brokerName: 'broker-a', brokerId: 1, brokerRole: 'SLAVE', conf },
    ])
    await master!.start()
    const codes = await blast(master!.addr, 'Bulk', 1700, 64 * 1024 - 200)
    expect(codes.every((c) => c === ResponseCode.SUCCESS)).toBe(true)
    expect(await maxPhyOffset(master!)).toBeGreaterThan(100 * MiB)
    await slave!.start()
    const caughtUp = await waitSameOffset(master!, slave!, 120_000)
    expect(caughtUp).toBeGreaterThan(100 * MiB)
    // Live: the slave follows while the master takes more.
    const live = await blast(master!.addr, 'Bulk', 500, 1000, 16)
    expect(live.every((c) => c === ResponseCode.SUCCESS)).toBe(true)
    const end = await waitSameOffset(master!, slave!)
    expect(end).toBeGreaterThan(caughtUp)
    // The slave built its own consume queues: the last message of each queue reads there.
    for (let q = 0; q < 4; q++) {
      const max = await request(client, slave!.addr, RequestCode.GET_MAX_OFFSET, { topic: 'Bulk', queueId: q })
      expect(max.extFields?.offset).toBe(String(550))
    }
    await slave!.stop()
    await master!.stop()
    expect(commitLogBytes(slave!).equals(commitLogBytes(master!))).toBe(true)
  })

  it('SYNC_MASTER answers SLAVE_NOT_AVAILABLE once its slave is killed, and SUCCESS after it restarts and catches up', async () => {
    const [master, slave] = await brokers([
      { brokerName: 'broker-s', brokerId: 0, brokerRole: 'SYNC_MASTER' },
      { brokerName: 'broker-s', brokerId: 1, brokerRole: 'SLAVE' },
    ])
    await master!.start()
    await slave!.start()
    await waitFor(async () => (await send(client, master!.addr, { topic: 'SyncT' })).code === ResponseCode.SUCCESS, {
      timeoutMs: 30_000,
      what: 'a send confirmed by the slave',
    })
    expect(await blast(master!.addr, 'SyncT', 50, 500, 8)).toEqual(Array(50).fill(ResponseCode.SUCCESS))
    await slave!.kill()
    const refused = await waitFor(
      async () => {
        const r = await send(client, master!.addr, { topic: 'SyncT' })
        return r.code === ResponseCode.SLAVE_NOT_AVAILABLE && r
      },
      { timeoutMs: 10_000, what: 'SLAVE_NOT_AVAILABLE' },
    )
    // Stored on the master all the same: the answer carries its message id.
    expect(refused.extFields?.msgId).toMatch(/^[0-9A-F]{32}$/)
    await slave!.start()
    await waitFor(async () => (await send(client, master!.addr, { topic: 'SyncT' })).code === ResponseCode.SUCCESS, {
      timeoutMs: 30_000,
      what: 'SUCCESS again after the slave came back',
    })
    await waitSameOffset(master!, slave!)
  })

  it('after the master is killed mid-send, every message acknowledged by SYNC_MASTER is consumed exactly once from the slave', async () => {
    const [master, slave] = await brokers([
      { brokerName: 'broker-f', brokerId: 0, brokerRole: 'SYNC_MASTER' },
      { brokerName: 'broker-f', brokerId: 1, brokerRole: 'SLAVE' },
    ])
    await master!.start()
    await slave!.start()
    const producer = new Producer({ producerGroup: 'FailPG', namesrvAddr, sendMsgTimeout: 3000 })
    await producer.start()
    closers.push(() => producer.shutdown())
    const topic = 'FailoverT'
    // Until the slave is connected, sends are stored but answered SLAVE_NOT_AVAILABLE: each gets its own body.
    const acked = new Set<string>()
    let warmUp = 0
    await waitFor(
      async () => {
        const body = `warm-up-${warmUp++}`
        const r = await producer.send(new Message({ topic, body }))
        if (r.sendStatus === SendStatus.SEND_OK) acked.add(body)
        return acked.size > 0
      },
      { timeoutMs: 30_000, what: 'a confirmed send' },
    )
    // The slave serves the topic once it has copied the master's topic table.
    await waitFor(
      async () =>
        (await pull(client, slave!.addr, { group: 'Probe', topic, offset: 0 })).code !== ResponseCode.TOPIC_NOT_EXIST,
      {
        timeoutMs: 30_000,
        what: 'the topic on the slave',
      },
    )
    let sent = 0
    let stop = false
    const loop = async (lane: number): Promise<void> => {
      for (let i = 0; !stop; i++) {
        const key = `k-${lane}-${i}`
        sent++
        try {
          const r = await producer.send(new Message({ topic, body: key, keys: key }))
          if (r.sendStatus === SendStatus.SEND_OK) acked.add(key)
        } catch {
          // The master is gone: not acknowledged, so it may or may not have been kept.
        }
      }
    }
    const lanes = [0, 1, 2, 3].map(loop)
    await waitFor(() => acked.size > 300, { timeoutMs: 30_000, what: 'acknowledged sends before the kill' })
    await master!.kill()
    await waitFor(() => sent > acked.size + 8, { timeoutMs: 30_000, what: 'sends attempted after the kill' })
    stop = true
    await Promise.all(lanes)
    const onSlave = async (): Promise<number> => {
      let total = 0
      for (let q = 0; q < 4; q++) {
        const r = await request(client, slave!.addr, RequestCode.GET_MAX_OFFSET, { topic, queueId: q })
        total += Number(r.extFields?.offset ?? 0)
      }
      return total
    }
    const stored = await onSlave()
    expect(stored).toBeGreaterThanOrEqual(acked.size)

    const seen = new Map<string, number>()
    const consumer = new PushConsumer({
      consumerGroup: 'FailCG',
      namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    })
    consumer.subscribe(topic, '*')
    consumer.registerMessageListener((msgs) => {
      for (const m of msgs) {
        const key = m.body.toString()
        seen.set(key, (seen.get(key) ?? 0) + 1)
      }
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await consumer.start()
    closers.push(() => consumer.shutdown())
    await waitFor(() => [...seen.values()].reduce((a, b) => a + b, 0) >= stored, {
      timeoutMs: 60_000,
      what: 'every message on the slave consumed',
    })
    const missing = [...acked].filter((k) => !seen.has(k))
    expect(missing).toEqual([])
    expect([...seen].filter(([, n]) => n > 1)).toEqual([])
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBe(stored)

    // The master comes back: the slave follows it again, sends are confirmed again, and the consumer goes on
    // without consuming anything twice.
    await master!.start()
    let probe = 0
    await waitFor(
      async () => {
        try {
          return (
            (await producer.send(new Message({ topic, body: `probe-${probe++}` }))).sendStatus === SendStatus.SEND_OK
          )
        } catch {
          return false
        }
      },
      { timeoutMs: 60_000, what: 'confirmed sends after the master returned' },
    )
    for (let i = 0; i < 20; i++) {
      expect((await producer.send(new Message({ topic, body: `back-${i}` }))).sendStatus).toBe(SendStatus.SEND_OK)
    }
    await waitSameOffset(master!, slave!)
    await waitFor(() => Array.from({ length: 20 }, (_, i) => seen.has(`back-${i}`)).every(Boolean), {
      timeoutMs: 60_000,
      what: 'the messages sent after the return consumed',
    })
    expect([...seen].filter(([, n]) => n > 1)).toEqual([])
  })

  it('a topic on two broker groups keeps taking sends on one when the other is killed', async () => {
    const [a, b] = await brokers([
      { brokerName: 'broker-a', brokerId: 0, brokerRole: 'ASYNC_MASTER' },
      { brokerName: 'broker-b', brokerId: 0, brokerRole: 'ASYNC_MASTER' },
    ])
    await a!.start()
    await b!.start()
    const producer = new Producer({ producerGroup: 'TwoPG', namesrvAddr, sendMsgTimeout: 2000 })
    await producer.start()
    closers.push(() => producer.shutdown())
    const topic = 'SharedT'
    for (const broker of [a!, b!]) {
      const created = await createTopic(client, broker.addr, topic)
      expect(created.code).toBe(ResponseCode.SUCCESS)
    }
    const landed = new Set<string>()
    await waitFor(
      async () => {
        const r = await producer.send(new Message({ topic, body: 'x' }))
        landed.add(r.messageQueue.brokerName)
        return landed.size === 2
      },
      { timeoutMs: 60_000, what: 'sends landing on both broker groups' },
    )
    await b!.kill()
    const after: string[] = []
    for (let i = 0; i < 100; i++) {
      const r = await producer.send(new Message({ topic, body: `after-${i}` }))
      expect(r.sendStatus).toBe(SendStatus.SEND_OK)
      after.push(r.messageQueue.brokerName)
    }
    expect(new Set(after)).toEqual(new Set(['broker-a']))
  })
})
