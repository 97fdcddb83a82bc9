/**
 * Scenario 1, the crash loop: a broker under steady produce and consume load is killed with SIGKILL at random
 * moments and restarted each time, first with `SYNC_FLUSH` (nothing acknowledged may be lost), then with
 * `ASYNC_FLUSH` (loss bounded by the unflushed window; a SIGKILL leaves the page cache, so normally none).
 *
 * After each restart the tail of every consume queue is read back through the broker and checked against the
 * commit log (each unit's record has the queue, topic and queue offset the unit says). At the end every queue is
 * read from the start: each acknowledged key must be there. The consumer's duplicate deliveries (offsets
 * committed every 5 s roll back with the crash) are counted, not failed.
 */
import { join } from 'node:path'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { loadBinding } from '../../ts/native/binding.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { BrokerProcess, freePortPairs } from './broker-process.js'
import { pullRequest, queueOffset } from './queue-reader.js'
import { ReportBuilder, seededRandom, type Scenario, type ScenarioContext, type Size } from './report.js'
import { until } from './machine.js'

const TOPIC = 'TortureCrash'
const QUEUES = 4
const LANES = 4
/** Units read back from the end of each queue after every restart. */
const TAIL_CHECK_UNITS = 64
const PULL_BATCH = 32

const CYCLES: Record<Size, { sync: number; async: number }> = {
  test: { sync: 3, async: 2 },
  quick: { sync: 8, async: 4 },
  full: { sync: 50, async: 10 },
}

interface PhaseResult {
  cycles: number
  acked: number
  lost: string[]
  duplicates: number
  recoveryMs: number[]
  inconsistent: string[]
  /** Records read back whose body does not match their BODYCRC. */
  badCrc: number
}

export const crashLoop: Scenario = {
  name: 'crash-loop',
  title: 'SIGKILL under load, restart, check nothing acknowledged is lost',
  async run(ctx: ScenarioContext) {
    const r = new ReportBuilder('crash-loop')
    const cycles = CYCLES[ctx.size]
    const random = seededRandom(ctx.seed)
    for (const [flush, n] of [
      ['SYNC_FLUSH', cycles.sync],
      ['ASYNC_FLUSH', cycles.async],
    ] as const) {
      const p = await runPhase(ctx, flush, n, random)
      const sync = flush === 'SYNC_FLUSH'
      const sorted = [...p.recoveryMs].sort((a, b) => a - b)
      r.row(`${flush}: crash cycles`, p.cycles)
        .row(`${flush}: acknowledged`, p.acked)
        .row(`${flush}: lost`, p.lost.length)
        .row(`${flush}: duplicate deliveries`, p.duplicates)
        .row(
          `${flush}: recovery ms p50 / max`,
          `${Math.round(sorted[sorted.length >> 1] ?? 0)} / ${Math.round(sorted.at(-1) ?? 0)}`,
        )
        .row(`${flush}: queue tails inconsistent`, p.inconsistent.length)
        .row(`${flush}: records with a bad CRC`, p.badCrc)
      r.total('crash_cycles', p.cycles)
        .total('acked', p.acked)
        .total(sync ? 'lost_sync' : 'lost_async', p.lost.length)
        .total('duplicates', p.duplicates)
        .total('recovery_ms_max', Math.round(sorted.at(-1) ?? 0))
      if (sync)
        r.check(
          p.lost.length === 0,
          `SYNC_FLUSH lost ${p.lost.length} acknowledged message(s), e.g. ${p.lost.slice(0, 5).join(', ')}`,
        )
      r.check(
        p.inconsistent.length === 0,
        `${flush}: consume queues disagree with the commit log: ${p.inconsistent.slice(0, 5).join('; ')}`,
      )
    }
    return r.build()
  },
}

async function runPhase(
  ctx: ScenarioContext,
  flush: 'SYNC_FLUSH' | 'ASYNC_FLUSH',
  cycles: number,
  random: () => number,
): Promise<PhaseResult> {
  const dir = join(ctx.dir, flush.toLowerCase())
  const namesrv = await NamesrvController.start({ listenPort: 0, kvConfigPath: join(dir, 'namesrv', 'kv.json') })
  const namesrvAddr = `127.0.0.1:${namesrv.port()}`
  const [port] = await freePortPairs(1)
  const broker = new BrokerProcess({
    brokerName: 'broker-crash',
    brokerId: 0,
    brokerRole: 'ASYNC_MASTER',
    port: port!,
    namesrvAddr,
    dataDir: join(dir, 'broker'),
    conf: { flushDiskType: flush, defaultTopicQueueNums: QUEUES, mappedFileSizeCommitLog: 4 * 1024 * 1024 },
  })
  const client = new RemotingClient()
  // Routes are re-read every second, so that clients notice the restarted broker at once.
  const producer = new Producer({
    producerGroup: 'TorturePG',
    namesrvAddr,
    sendMsgTimeout: 3000,
    retryTimesWhenSendFailed: 0,
    pollNameServerInterval: 1000,
  })
  const consumer = new PushConsumer({
    consumerGroup: 'TortureCG',
    namesrvAddr,
    consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    pollNameServerInterval: 1000,
  })
  const acked = new Set<string>()
  const delivered = new Map<string, number>()
  const result: PhaseResult = {
    cycles: 0,
    acked: 0,
    lost: [],
    duplicates: 0,
    recoveryMs: [],
    inconsistent: [],
    badCrc: 0,
  }
  let stop = false
  const lanes: Promise<void>[] = []
  try {
    result.recoveryMs.push(await broker.start())
    await producer.start()
    consumer.subscribe(TOPIC, '*')
    consumer.registerMessageListener((msgs) => {
      for (const m of msgs) {
        const key = m.body.toString()
        delivered.set(key, (delivered.get(key) ?? 0) + 1)
      }
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await consumer.start()
    for (let lane = 0; lane < LANES; lane++) {
      lanes.push(
        (async () => {
          for (let i = 0; !stop; i++) {
            const key = `${flush}-${lane}-${i}`
            try {
              const sent = await producer.send(new Message({ topic: TOPIC, body: key, keys: key }))
              if (sent.sendStatus === SendStatus.SEND_OK) acked.add(key)
            } catch {
              // The broker is down: not acknowledged. Wait a little instead of spinning on refusals.
              await new Promise((res) => setTimeout(res, 20))
            }
          }
        })(),
      )
    }
    for (let c = 0; c < cycles; c++) {
      const runFor = 300 + Math.floor(random() * 1200)
      const before = acked.size
      await until(() => acked.size > before + 20, 30_000, 'sends acknowledged before the kill')
      await new Promise((res) => setTimeout(res, runFor))
      await broker.kill()
      result.cycles++
      const ms = await broker.start()
      result.recoveryMs.push(ms)
      ctx.log(
        `cycle ${c + 1}/${cycles}: killed after ${runFor} ms, recovered in ${Math.round(ms)} ms, ${acked.size} acknowledged`,
      )
      result.inconsistent.push(...(await checkTails(client, broker.addr)))
    }
    stop = true
    await Promise.all(lanes)
    // Everything acknowledged must be in the queues; the consumer then catches up.
    const { keys: stored, badCrc } = await readAll(client, broker.addr)
    result.badCrc = badCrc
    result.acked = acked.size
    result.lost = [...acked].filter((k) => !stored.has(k))
    await until(
      () => [...stored.keys()].every((k) => delivered.has(k)),
      60_000,
      'the consumer to see every stored message',
    )
    for (const n of delivered.values()) result.duplicates += n - 1
  } finally {
    stop = true
    await Promise.allSettled(lanes)
    await consumer.shutdown().catch(() => {})
    await producer.shutdown().catch(() => {})
    client.shutdown()
    await broker.stop()
    await namesrv.shutdown()
  }
  return result
}

function maxOffset(client: RemotingClient, addr: string, queueId: number): Promise<number> {
  return queueOffset(client, addr, TOPIC, queueId, RequestCode.GET_MAX_OFFSET)
}

function pullFrom(client: RemotingClient, addr: string, queueId: number, offset: number): Promise<RemotingCommand> {
  return client.invoke(addr, pullRequest('TortureScan', TOPIC, queueId, offset, PULL_BATCH), 10_000)
}

/** Reads the last units of each queue; returns what disagrees with the unit it was read through. */
async function checkTails(client: RemotingClient, addr: string): Promise<string[]> {
  const problems: string[] = []
  for (let q = 0; q < QUEUES; q++) {
    const max = await maxOffset(client, addr, q)
    let at = Math.max(0, max - TAIL_CHECK_UNITS)
    while (at < max) {
      const r = await pullFrom(client, addr, q, at)
      if (r.code !== ResponseCode.SUCCESS) {
        problems.push(`queue ${q} offset ${at}: pull answered ${r.code} ${r.remark ?? ''}`)
        break
      }
      const msgs = decodeMessages(r.body!)
      msgs.forEach((m, i) => {
        if (m.topic !== TOPIC || m.queueId !== q || m.queueOffset !== at + i) {
          problems.push(`queue ${q} unit ${at + i} holds ${m.topic}/${m.queueId}/${m.queueOffset}`)
        }
      })
      if (msgs.length === 0) break
      at += msgs.length
    }
  }
  return problems
}

/** Every key in the topic, with how many times it is stored, and how many records fail their body CRC. */
async function readAll(client: RemotingClient, addr: string): Promise<{ keys: Map<string, number>; badCrc: number }> {
  const out = new Map<string, number>()
  const crc32 = loadBinding().crc32
  let badCrc = 0
  for (let q = 0; q < QUEUES; q++) {
    const max = await maxOffset(client, addr, q)
    let at = 0
    while (at < max) {
      const r = await pullFrom(client, addr, q, at)
      if (r.code !== ResponseCode.SUCCESS) throw new Error(`reading queue ${q} at ${at}: ${r.code} ${r.remark ?? ''}`)
      const next = Number(r.extFields?.nextBeginOffset ?? at)
      for (const m of decodeMessages(r.body!, { decompressBody: false })) {
        if ((crc32(m.body) & 0x7fffffff) !== m.bodyCRC) badCrc++
        const key = m.body.toString()
        out.set(key, (out.get(key) ?? 0) + 1)
      }
      if (next <= at) break
      at = next
    }
  }
  return { keys: out, badCrc }
}
