/**
 * Scenario 5, network faults, in four parts:
 *
 * 1. Broker restarts under clients: a `SYNC_FLUSH` broker with an SDK producer (sync sends; a key counts once its
 *    send returned SEND_OK) and a push consumer is stopped (SIGTERM and SIGKILL in turn) and started again. After
 *    each restart sends must succeed again and the consumer must receive a message sent after the restart; the
 *    time to both is the resume time. At the end every queue is read: no acknowledged key may be missing.
 * 2. Name server down: it stops for minutes while a producer and a push consumer keep working on the routes they
 *    have; it comes back on the same port, the broker registers again within its `registerNameServerPeriod`, and
 *    clients started after that find their routes.
 * 3. Half-open connections: clients register through a proxy that then drops every byte while keeping both
 *    connections open; the broker's idle timeout (`serverChannelMaxIdleTimeSeconds`, set low) must close them and
 *    take them out of its producer and consumer tables, and leave a client that keeps talking alone.
 * 4. Slow readers: raw connections pipeline pulls of 128 KiB answers and never read; the broker's memory (VmRSS,
 *    RssAnon) must level off while it keeps serving others.
 */

import net from 'node:net'
import { join } from 'node:path'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { stringifyJson } from '../../ts/common/fastjson.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { encodeFrameToBuffer } from '../../ts/remoting/frame-codec.js'
import type { ConsumerData, HeartbeatData } from '../../ts/remoting/protocol/heartbeat.js'
import { RemotingClient, type RemotingClientOptions } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { BrokerProcess, freePortPairs } from './broker-process.js'
import { pullRequest as pullQueue, queueOffset } from './queue-reader.js'
import { ReportBuilder, seededRandom, type Scenario, type ScenarioContext, type Size } from './report.js'
import { TcpProxy } from './tcp-proxy.js'
import { establishedTo, kernelQueuedBytes, readMemory, sleep, until } from './machine.js'

const QUEUES = 4
const LANES = 2
const SEND_PAUSE_MS = 2
const PULL_BATCH = 32
const MIB = 1024 * 1024
/** Longest wait for clients to resume after a fault is over; beyond it the part fails. */
const RESUME_DEADLINE_MS = 60_000

interface Sizes {
  /** Broker restarts, SIGTERM and SIGKILL in turn. */
  restarts: number
  namesrvDownMs: number
  /** Connections made half-open at once. */
  halfOpen: number
  /** The broker's `serverChannelMaxIdleTimeSeconds` in the half-open part. */
  idleSeconds: number
  slowReaders: number
  slowReadMs: number
}

const SIZES: Record<Size, Sizes> = {
  test: { restarts: 2, namesrvDownMs: 4000, halfOpen: 30, idleSeconds: 1, slowReaders: 1, slowReadMs: 4000 },
  quick: { restarts: 3, namesrvDownMs: 20_000, halfOpen: 50, idleSeconds: 3, slowReaders: 2, slowReadMs: 15_000 },
  full: { restarts: 10, namesrvDownMs: 120_000, halfOpen: 400, idleSeconds: 5, slowReaders: 4, slowReadMs: 45_000 },
}

export const networkFaults: Scenario = {
  name: 'network-faults',
  title: 'broker restarts under clients, name server down, half-open connections, slow readers',
  async run(ctx: ScenarioContext) {
    const r = new ReportBuilder('network-faults')
    const sizes = SIZES[ctx.size]
    await brokerRestarts(ctx, sizes, r)
    await namesrvDown(ctx, sizes, r)
    await halfOpen(ctx, sizes, r)
    await slowReaders(ctx, sizes, r)
    return r.build()
  },
}

// ---- part 1: broker restarts ------------------------------------------------------------------------------------

async function brokerRestarts(ctx: ScenarioContext, sizes: Sizes, r: ReportBuilder): Promise<void> {
  const dir = join(ctx.dir, 'restart')
  const random = seededRandom(ctx.seed)
  const sendResumeMs: number[] = []
  const consumeResumeMs: number[] = []
  const d = new Deferred()
  try {
    const namesrv = await startNamesrv(d, dir, 0)
    const namesrvAddr = `127.0.0.1:${namesrv.port()}`
    const broker = await startBroker(d, dir, namesrvAddr, {
      flushDiskType: 'SYNC_FLUSH',
      defaultTopicQueueNums: QUEUES,
    })
    const client = d.client()
    // Clients with RocketMQ's defaults: routes every 30 s, heartbeats every 30 s, two retries per send.
    const traffic = new Traffic('NetRestart', namesrvAddr, 'restart', {})
    d.defer(() => traffic.shutdown())
    await traffic.start()
    await traffic.waitFlowing(0)
    for (let i = 0; i < sizes.restarts; i++) {
      await sleep(300 + Math.floor(random() * 1200))
      const how = i % 2 === 0 ? 'SIGTERM' : 'SIGKILL'
      const downAt = performance.now()
      if (how === 'SIGTERM') await broker.stop()
      else await broker.kill()
      // Resume times count from the moment the broker answers; clients with cached routes do not need more.
      await broker.start(60_000, { waitRegistered: false })
      const upAt = performance.now()
      const epoch = traffic.nextEpoch()
      await traffic.waitFlowing(epoch)
      const e = traffic.epochs[epoch]!
      sendResumeMs.push(e.firstAckAt! - upAt)
      consumeResumeMs.push(e.firstDeliveryAt! - upAt)
      ctx.log(
        `restart ${i + 1}/${sizes.restarts} (${how}): down ${Math.round(upAt - downAt)} ms, sends resumed after ` +
          `${Math.round(e.firstAckAt! - upAt)} ms, consumption after ${Math.round(e.firstDeliveryAt! - upAt)} ms`,
      )
    }
    const end = await traffic.finish(client, broker.addr)
    const resume = sendResumeMs.map((s, i) => Math.max(s, consumeResumeMs[i]!))
    r.row('restart: restarts (SIGTERM, SIGKILL in turn)', sizes.restarts)
      .row('restart: acknowledged', end.acked)
      .row('restart: lost (SYNC_FLUSH)', end.lost.length)
      .row('restart: stored twice (send retries)', end.storedTwice)
      .row('restart: duplicate deliveries', end.duplicates)
      .row('restart: send resume ms p50 / max', p50max(sendResumeMs))
      .row('restart: consume resume ms p50 / max', p50max(consumeResumeMs))
      .row('restart: send failures while down', traffic.sendFailures)
    r.total('acked', end.acked)
      .total('lost_sync', end.lost.length)
      .total('duplicates', end.duplicates)
      .total('recovery_ms_max', Math.round(Math.max(0, ...resume)))
      .total('broker_restarts', sizes.restarts)
    r.check(
      end.lost.length === 0,
      `broker restarts: ${end.lost.length} acknowledged SYNC_FLUSH message(s) lost, e.g. ${end.lost.slice(0, 5).join(', ')}`,
    )
  } finally {
    await d.run()
  }
}

// ---- part 2: name server down -----------------------------------------------------------------------------------

async function namesrvDown(ctx: ScenarioContext, sizes: Sizes, r: ReportBuilder): Promise<void> {
  const dir = join(ctx.dir, 'namesrv-down')
  const registerPeriodMs = 10_000
  const d = new Deferred()
  try {
    const first = await startNamesrv(d, dir, 0)
    const namesrvPort = first.port()
    const namesrvAddr = `127.0.0.1:${namesrvPort}`
    const broker = await startBroker(d, dir, namesrvAddr, {
      flushDiskType: 'SYNC_FLUSH',
      defaultTopicQueueNums: QUEUES,
      registerNameServerPeriod: registerPeriodMs,
    })
    const client = d.client()
    // Routes refreshed every second: the clients ask the missing name server again and again.
    const traffic = new Traffic('NetNsDown', namesrvAddr, 'nsdown', { pollNameServerInterval: 1000 })
    d.defer(() => traffic.shutdown())
    await traffic.start()
    await traffic.waitFlowing(0)
    await first.shutdown()
    const downAt = performance.now()
    const failuresBefore = traffic.sendFailures
    const during = { acked: traffic.acked.size, delivered: traffic.deliveries }
    let ackGapMs = 0
    let deliveryGapMs = 0
    while (performance.now() - downAt < sizes.namesrvDownMs) {
      await sleep(100)
      const now = performance.now()
      ackGapMs = Math.max(ackGapMs, now - Math.max(traffic.lastAckAt, downAt))
      deliveryGapMs = Math.max(deliveryGapMs, now - Math.max(traffic.lastDeliveryAt, downAt))
    }
    during.acked = traffic.acked.size - during.acked
    during.delivered = traffic.deliveries - during.delivered
    const failuresDuring = traffic.sendFailures - failuresBefore
    ctx.log(
      `name server down ${sizes.namesrvDownMs} ms: ${during.acked} sends acknowledged, ${during.delivered} consumed`,
    )

    await startNamesrv(d, dir, namesrvPort)
    const upAt = performance.now()
    const after = traffic.nextEpoch()
    await until(
      async () => (await routeBrokers(client, namesrvAddr, traffic.topic)).includes(broker.addr),
      registerPeriodMs * 3,
      'the broker to register again',
    )
    const reregisterMs = performance.now() - upAt
    // Clients started now know nothing but the name server: a new topic, produced and consumed by new clients.
    const freshTopic = 'NetNsFresh'
    const seen = new Set<string>()
    const freshConsumer = new PushConsumer({
      consumerGroup: 'NetNsFreshCG',
      namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      pollNameServerInterval: 1000,
    })
    d.defer(() => freshConsumer.shutdown())
    freshConsumer.subscribe(freshTopic, '*')
    freshConsumer.registerMessageListener((msgs) => {
      for (const m of msgs) seen.add(m.body.toString())
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await freshConsumer.start()
    const freshProducer = new Producer({ producerGroup: 'NetNsFreshPG', namesrvAddr })
    d.defer(() => freshProducer.shutdown())
    await freshProducer.start()
    const freshKeys: string[] = []
    for (let i = 0; i < 20; i++) {
      const key = `fresh-${i}`
      const sent = await freshProducer.send(new Message({ topic: freshTopic, body: key, keys: key }))
      if (sent.sendStatus === SendStatus.SEND_OK) freshKeys.push(key)
    }
    await until(async () => freshKeys.every((k) => seen.has(k)), RESUME_DEADLINE_MS, 'new clients to consume')
    const freshMs = performance.now() - upAt
    // The clients that lived through it go on too.
    await traffic.waitFlowing(after)
    const end = await traffic.finish(client, broker.addr)
    r.row('namesrv down: ms down', sizes.namesrvDownMs)
      .row('namesrv down: acknowledged while down', during.acked)
      .row('namesrv down: consumed while down', during.delivered)
      .row('namesrv down: send failures while down', failuresDuring)
      .row('namesrv down: longest gap ms sends / consumption', `${Math.round(ackGapMs)} / ${Math.round(deliveryGapMs)}`)
      .row('namesrv down: broker registered again after ms', Math.round(reregisterMs))
      .row('namesrv down: new clients produced+consumed after ms', Math.round(freshMs))
      .row('namesrv down: acknowledged / lost', `${end.acked} / ${end.lost.length}`)
      .row('namesrv down: duplicate deliveries', end.duplicates)
    r.total('acked', end.acked)
      .total('lost_sync', end.lost.length)
      .total('duplicates', end.duplicates)
      .total('namesrv_down_ms', sizes.namesrvDownMs)
      .total('namesrv_reregister_ms_max', Math.round(reregisterMs))
    r.check(during.acked > 0, 'name server down: no send was acknowledged while it was down')
    r.check(during.delivered > 0, 'name server down: nothing was consumed while it was down')
    r.check(failuresDuring === 0, `name server down: ${failuresDuring} send(s) failed on cached routes`)
    r.check(end.lost.length === 0, `name server down: ${end.lost.length} acknowledged message(s) lost`)
  } finally {
    await d.run()
  }
}

// ---- part 3: half-open connections ------------------------------------------------------------------------------

async function halfOpen(ctx: ScenarioContext, sizes: Sizes, r: ReportBuilder): Promise<void> {
  const dir = join(ctx.dir, 'half-open')
  const producerGroup = 'NetHalfOpenPG'
  const consumerGroup = 'NetHalfOpenCG'
  const d = new Deferred()
  try {
    const namesrv = await startNamesrv(d, dir, 0)
    const broker = await startBroker(d, dir, `127.0.0.1:${namesrv.port()}`, {
      serverChannelMaxIdleTimeSeconds: sizes.idleSeconds,
    })
    const port = broker.spec.port
    const proxy = await TcpProxy.start(broker.addr)
    d.defer(() => proxy.close())
    for (let i = 0; i < sizes.halfOpen; i++) {
      // Each on a connection of its own, which it never closes.
      const c = d.client({ idleTimeMs: 0 })
      await heartbeat(c, proxy.addr, `halfopen-${i}`, producerGroup, consumerGroup)
    }
    // The harness's own requests: the admin client's come every 20 ms while it waits, the control client's every
    // quarter of the idle time.
    const admin = d.client()
    const control = d.client()
    await heartbeat(control, broker.addr, 'control', producerGroup, null)
    const controlChannel = await control.channel(broker.addr)
    let stopControl = false
    const controlLoop = (async () => {
      while (!stopControl) {
        await sleep((sizes.idleSeconds * 1000) / 4)
        await heartbeat(control, broker.addr, 'control', producerGroup, null).catch(() => {})
      }
    })()
    d.defer(() => {
      stopControl = true
      return controlLoop
    })
    const producersBefore = (await groupClientIds(admin, broker.addr, 'producer', producerGroup)).length
    const consumersBefore = (await groupClientIds(admin, broker.addr, 'consumer', consumerGroup)).length
    const establishedBefore = establishedTo(port)
    r.check(
      producersBefore === sizes.halfOpen + 1 && consumersBefore === sizes.halfOpen,
      `half-open: the broker knew ${producersBefore} producer and ${consumersBefore} consumer connection(s) ` +
        `before, not ${sizes.halfOpen + 1} and ${sizes.halfOpen}`,
    )
    proxy.blackhole()
    const silentAt = performance.now()
    let producersLeft: string[] = []
    let consumersLeft: string[] = []
    // Each should go after one idle period; the heartbeat expiry (120 s) would take them all in the end anyway.
    const deadlineMs = sizes.idleSeconds * 2000 + 5000
    await until(
      async () => {
        producersLeft = await groupClientIds(admin, broker.addr, 'producer', producerGroup)
        consumersLeft = await groupClientIds(admin, broker.addr, 'consumer', consumerGroup)
        return producersLeft.length <= 1 && consumersLeft.length === 0 && proxy.connections === 0
      },
      deadlineMs,
      'the broker to close the silent connections',
    ).catch((err: unknown) => ctx.log((err as Error).message))
    const reapedMs = performance.now() - silentAt
    const reaped = proxy.closedByUpstream
    const establishedAfter = establishedTo(port)
    const controlKept = controlChannel.isActive() && producersLeft.includes('control')
    ctx.log(`half-open: ${reaped} of ${sizes.halfOpen} closed by the broker after ${Math.round(reapedMs)} ms`)
    r.row('half-open: connections made silent', sizes.halfOpen)
      .row('half-open: serverChannelMaxIdleTimeSeconds', sizes.idleSeconds)
      .row('half-open: closed by the broker', reaped)
      .row('half-open: all closed after ms', reaped === sizes.halfOpen ? Math.round(reapedMs) : 'not all')
      .row('half-open: established at the broker before / after', `${establishedBefore} / ${establishedAfter}`)
      .row('half-open: producer / consumer entries left', `${producersLeft.length} / ${consumersLeft.length}`)
      .row('half-open: client that kept talking kept', controlKept ? 'yes' : 'no')
    r.total('half_open_reaped', reaped)
    r.check(
      reaped === sizes.halfOpen,
      `half-open: the broker closed ${reaped} of ${sizes.halfOpen} silent connections within ${deadlineMs} ms`,
    )
    r.check(
      producersLeft.length <= 1 && consumersLeft.length === 0,
      `half-open: ${producersLeft.length - 1} producer and ${consumersLeft.length} consumer entries of silent ` +
        `connections left`,
    )
    r.check(controlKept, 'half-open: the connection of a client that kept talking was closed too')
    r.check(
      establishedBefore - establishedAfter >= sizes.halfOpen,
      `half-open: the broker still holds ${sizes.halfOpen - (establishedBefore - establishedAfter)} silent socket(s)`,
    )
  } finally {
    await d.run()
  }
}

/** A heartbeat that puts `clientID` in the producer group and, unless null, in the consumer group. */
async function heartbeat(
  client: RemotingClient,
  addr: string,
  clientID: string,
  producerGroup: string,
  consumerGroup: string | null,
): Promise<void> {
  const subscription = { topic: 'NetHalfOpen', subString: '*', tagsSet: [], codeSet: [], subVersion: 0 }
  const consumer: ConsumerData = {
    groupName: consumerGroup ?? '',
    consumeType: 'CONSUME_PASSIVELY',
    messageModel: 'CLUSTERING',
    consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
    subscriptionDataSet: [{ ...subscription, expressionType: 'TAG', classFilterMode: false }],
    unitMode: false,
  }
  const data: HeartbeatData = {
    clientID,
    producerDataSet: [{ groupName: producerGroup }],
    consumerDataSet: consumerGroup === null ? [] : [consumer],
  }
  const req = RemotingCommand.createRequest(RequestCode.HEART_BEAT, {}, Buffer.from(stringifyJson(data)))
  const res = await client.invoke(addr, req, 5000)
  if (res.code !== ResponseCode.SUCCESS) throw new Error(`HEART_BEAT answered ${res.code} ${res.remark ?? ''}`)
}

/**
 * Client ids of a group's connections at the broker (GET_PRODUCER_CONNECTION_LIST or GET_CONSUMER_CONNECTION_LIST);
 * none when the broker answers that the group has none (SYSTEM_ERROR for producers, CONSUMER_NOT_ONLINE).
 */
async function groupClientIds(client: RemotingClient, addr: string, kind: 'producer' | 'consumer', group: string) {
  const req =
    kind === 'producer'
      ? RemotingCommand.createRequest(RequestCode.GET_PRODUCER_CONNECTION_LIST, { producerGroup: group })
      : RemotingCommand.createRequest(RequestCode.GET_CONSUMER_CONNECTION_LIST, { consumerGroup: group })
  const res = await client.invoke(addr, req, 5000)
  if (res.code !== ResponseCode.SUCCESS || res.body === null) return []
  const body = JSON.parse(res.body.toString()) as { connectionSet: { clientId: string }[] }
  return body.connectionSet.map((c) => c.clientId)
}

// ---- part 4: slow readers ---------------------------------------------------------------------------------------

const SLOW_TOPIC = 'NetSlowRead'
const SLOW_BODY_BYTES = 4096
const SLOW_MESSAGES = 512
const RSS_SAMPLE_MS = 200

async function slowReaders(ctx: ScenarioContext, sizes: Sizes, r: ReportBuilder): Promise<void> {
  const dir = join(ctx.dir, 'slow-reader')
  const d = new Deferred()
  try {
    const namesrv = await startNamesrv(d, dir, 0)
    const namesrvAddr = `127.0.0.1:${namesrv.port()}`
    const broker = await startBroker(d, dir, namesrvAddr, { defaultTopicQueueNums: 1 })
    const port = broker.spec.port
    const pid = broker.pid!
    const client = d.client()
    // The topic, and a warm-up by a client that reads: the baseline is a broker that has served these pulls.
    const producer = new Producer({ producerGroup: 'NetSlowPG', namesrvAddr, defaultTopicQueueNums: 1 })
    d.defer(() => producer.shutdown())
    await producer.start()
    for (let i = 0; i < SLOW_MESSAGES; i++) {
      await producer.send(new Message({ topic: SLOW_TOPIC, body: Buffer.alloc(SLOW_BODY_BYTES, i & 0xff) }))
    }
    let answerBytes = 0
    for (let i = 0; i < 200; i++) {
      const res = await client.invoke(
        broker.addr,
        pullRequest(SLOW_TOPIC, 0, (i * 7) % (SLOW_MESSAGES - PULL_BATCH)),
        10_000,
      )
      if (res.code !== ResponseCode.SUCCESS) throw new Error(`warm-up pull answered ${res.code} ${res.remark}`)
      answerBytes = Math.max(answerBytes, res.body?.length ?? 0)
    }
    const baseline = bytesOf(pid)
    const getBefore = await getMessagesTotal(client, broker.addr)
    const readers: SlowReader[] = []
    d.defer(() => Promise.all(readers.map((s) => s.close())))
    for (let i = 0; i < sizes.slowReaders; i++) readers.push(await SlowReader.open(port))
    const samples: { atMs: number; rss: number; anon: number }[] = []
    let healthOk = 0
    let healthFailed = 0
    const startedAt = performance.now()
    let nextHealthAt = startedAt
    while (performance.now() - startedAt < sizes.slowReadMs) {
      await sleep(RSS_SAMPLE_MS)
      const m = bytesOf(pid)
      samples.push({ atMs: performance.now() - startedAt, rss: m.rssBytes, anon: m.rssAnonBytes })
      if (performance.now() >= nextHealthAt) {
        nextHealthAt += 1000
        // Everybody else is still served: a send and a pull on another connection.
        const ok = await healthRound(producer, client, broker.addr).catch(() => false)
        if (ok) healthOk++
        else healthFailed++
      }
    }
    const getAfter = await getMessagesTotal(client, broker.addr)
    const kernel = readers.reduce((n, s) => n + kernelQueuedBytes(port, s.localPort), 0)
    const requestBytes = readers.reduce((n, s) => n + s.requestBytesSent(), 0)
    const peakAnon = Math.max(...samples.map((s) => s.anon))
    const peakRss = Math.max(...samples.map((s) => s.rss))
    const third = Math.max(1, Math.floor(samples.length / 3))
    const earlyPeak = Math.max(...samples.slice(0, samples.length - third).map((s) => s.anon))
    const lateGrowth = Math.max(0, peakAnon - earlyPeak)
    const answeredBytes = ((getAfter - getBefore) / PULL_BATCH) * answerBytes
    // Per slow connection: the write backlog at which reading stops, one socket read's worth of answers past it,
    // and the kernel buffers; plus room for the heap to grow.
    const boundBytes = sizes.slowReaders * 64 * MIB + 128 * MIB
    ctx.log(
      `slow readers: RssAnon ${mib(baseline.rssAnonBytes)} → peak ${mib(peakAnon)} MiB, ` +
        `${mib(answeredBytes)} MiB of answers produced, ${mib(kernel)} MiB in kernel buffers`,
    )
    r.row('slow readers: connections not reading', sizes.slowReaders)
      .row('slow readers: seconds', sizes.slowReadMs / 1000)
      .row('slow readers: request bytes sent', requestBytes)
      .row('slow readers: answer bytes produced (MiB)', +mib(answeredBytes))
      .row('slow readers: answer bytes in kernel buffers (MiB)', +mib(kernel))
      .row('slow readers: answer bytes queued in the broker (MiB)', +mib(Math.max(0, answeredBytes - kernel)))
      .row('slow readers: broker VmRSS MiB baseline / peak', `${mib(baseline.rssBytes)} / ${mib(peakRss)}`)
      .row('slow readers: broker RssAnon MiB baseline / peak', `${mib(baseline.rssAnonBytes)} / ${mib(peakAnon)}`)
      .row('slow readers: RssAnon growth in the last third (MiB)', +mib(lateGrowth))
      .row('slow readers: health rounds ok / failed', `${healthOk} / ${healthFailed}`)
    r.total('slow_reader_rss_peak_mib', Math.round(peakRss / MIB))
      .total('slow_reader_rss_anon_peak_mib', Math.round(peakAnon / MIB))
      .total('slow_reader_answer_mib', Math.round(answeredBytes / MIB))
    r.check(
      peakAnon - baseline.rssAnonBytes <= boundBytes,
      `slow readers: the broker's RssAnon grew by ${mib(peakAnon - baseline.rssAnonBytes)} MiB, over ${mib(boundBytes)}`,
    )
    r.check(
      lateGrowth <= 32 * MIB,
      `slow readers: the broker's RssAnon still grew by ${mib(lateGrowth)} MiB in the last third of the run`,
    )
    r.check(healthFailed === 0 && healthOk > 0, `slow readers: ${healthFailed} health round(s) failed`)
  } finally {
    await d.run()
  }
}

/** A connection that pipelines pulls as fast as the broker reads them and never reads an answer. */
class SlowReader {
  private stopped = false
  private readonly loop: Promise<void>

  private constructor(private readonly socket: net.Socket) {
    this.loop = this.writeLoop()
  }

  static async open(port: number): Promise<SlowReader> {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
    socket.pause()
    socket.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new SlowReader(socket)
  }

  get localPort(): number {
    return this.socket.localPort ?? 0
  }

  /** Request bytes the kernel took (the broker read them, or they wait in its receive buffer). */
  requestBytesSent(): number {
    return this.socket.bytesWritten - this.socket.writableLength
  }

  private async writeLoop(): Promise<void> {
    for (let i = 0; !this.stopped && !this.socket.destroyed; i++) {
      const frames = Array.from({ length: 64 }, (_, j) =>
        encodeFrameToBuffer(pullRequest(SLOW_TOPIC, 0, ((i * 64 + j) * 13) % (SLOW_MESSAGES - PULL_BATCH))),
      )
      if (this.socket.write(Buffer.concat(frames))) {
        await new Promise((resolve) => setImmediate(resolve))
      } else {
        // The broker stopped reading: wait until it reads again, or the connection is closed.
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.socket.off('drain', done).off('close', done)
            resolve()
          }
          this.socket.on('drain', done).on('close', done)
        })
      }
    }
  }

  /** Closes the connection; resolves once the write loop has ended. */
  close(): Promise<void> {
    this.stopped = true
    this.socket.destroy()
    return this.loop
  }
}

function pullRequest(topic: string, queueId: number, offset: number): RemotingCommand {
  return pullQueue('NetScan', topic, queueId, offset, PULL_BATCH)
}

async function healthRound(producer: Producer, client: RemotingClient, addr: string): Promise<boolean> {
  const sent = await producer.send(new Message({ topic: 'NetSlowHealth', body: 'health' }))
  if (sent.sendStatus !== SendStatus.SEND_OK) return false
  const pulled = await client.invoke(addr, pullRequest(SLOW_TOPIC, 0, 0), 5000)
  return pulled.code === ResponseCode.SUCCESS
}

async function getMessagesTotal(client: RemotingClient, addr: string): Promise<number> {
  const res = await client.invoke(addr, RemotingCommand.createRequest(RequestCode.GET_BROKER_RUNTIME_INFO, {}), 5000)
  const table = (JSON.parse(res.body!.toString()) as { table: Record<string, string> }).table
  return Number(table.msgGetTotalTodayNow ?? 0)
}

// ---- clients under faults ---------------------------------------------------------------------------------------

interface Epoch {
  firstAckAt?: number
  firstDeliveryAt?: number
}

interface TrafficEnd {
  acked: number
  lost: string[]
  duplicates: number
  storedTwice: number
}

/**
 * An SDK producer sending in `LANES` loops (a key counts once its send returned SEND_OK) and a push consumer
 * counting deliveries. Keys carry the epoch they were sent in; an epoch starts when a fault ends, so the first
 * acknowledgement and delivery of an epoch's keys show when the clients resumed.
 */
class Traffic {
  readonly acked = new Set<string>()
  readonly delivered = new Map<string, number>()
  readonly epochs: Epoch[] = [{}]
  deliveries = 0
  sendFailures = 0
  lastAckAt = 0
  lastDeliveryAt = 0
  private readonly producer: Producer
  private readonly consumer: PushConsumer
  private lanes: Promise<void>[] = []
  private stopped = false

  constructor(
    readonly topic: string,
    namesrvAddr: string,
    name: string,
    options: { pollNameServerInterval?: number },
  ) {
    this.producer = new Producer({ producerGroup: `${topic}PG`, namesrvAddr, ...options })
    this.consumer = new PushConsumer({
      consumerGroup: `${topic}CG`,
      namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      instanceName: name,
      ...options,
    })
  }

  async start(): Promise<void> {
    await this.producer.start()
    this.consumer.subscribe(this.topic, '*')
    this.consumer.registerMessageListener((msgs) => {
      const now = performance.now()
      for (const m of msgs) {
        const key = m.body.toString()
        this.delivered.set(key, (this.delivered.get(key) ?? 0) + 1)
        this.deliveries++
        const e = this.epochs[Number(key.split('-')[0])]
        if (e !== undefined && e.firstDeliveryAt === undefined) e.firstDeliveryAt = now
      }
      this.lastDeliveryAt = now
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await this.consumer.start()
    for (let lane = 0; lane < LANES; lane++) this.lanes.push(this.sendLoop(lane))
  }

  private async sendLoop(lane: number): Promise<void> {
    for (let i = 0; !this.stopped; i++) {
      const epoch = this.epochs.length - 1
      const key = `${epoch}-${lane}-${i}`
      try {
        const sent = await this.producer.send(new Message({ topic: this.topic, body: key, keys: key }))
        if (sent.sendStatus !== SendStatus.SEND_OK) continue
        const now = performance.now()
        this.acked.add(key)
        this.lastAckAt = now
        const e = this.epochs[epoch]!
        if (e.firstAckAt === undefined) e.firstAckAt = now
        // Steady traffic rather than the most the machine can take: what matters here is that it keeps flowing.
        await sleep(SEND_PAUSE_MS)
      } catch {
        // The broker is down: not acknowledged. Wait a little instead of spinning on refusals.
        this.sendFailures++
        await sleep(20)
      }
    }
  }

  /** A fault ended: keys sent from now on belong to a new epoch. */
  nextEpoch(): number {
    this.epochs.push({})
    return this.epochs.length - 1
  }

  /** Waits until a key of `epoch` was acknowledged and one was consumed. */
  async waitFlowing(epoch: number): Promise<void> {
    const e = this.epochs[epoch]!
    await until(
      async () => e.firstAckAt !== undefined && e.firstDeliveryAt !== undefined,
      RESUME_DEADLINE_MS,
      `sends and consumption to resume (epoch ${epoch})`,
    )
  }

  /** Stops sending, reads every queue, waits for the consumer to have seen everything stored. */
  async finish(client: RemotingClient, brokerAddr: string): Promise<TrafficEnd> {
    this.stopped = true
    await Promise.all(this.lanes)
    const stored = await readAll(client, brokerAddr, this.topic)
    await until(
      async () => [...stored.keys()].every((k) => this.delivered.has(k)),
      RESUME_DEADLINE_MS,
      'the consumer to see every stored message',
    )
    let duplicates = 0
    for (const n of this.delivered.values()) duplicates += n - 1
    return {
      acked: this.acked.size,
      lost: [...this.acked].filter((k) => !stored.has(k)),
      duplicates,
      storedTwice: [...stored.values()].filter((n) => n > 1).length,
    }
  }

  async shutdown(): Promise<void> {
    this.stopped = true
    await Promise.allSettled(this.lanes)
    await this.consumer.shutdown().catch(() => {})
    await this.producer.shutdown().catch(() => {})
  }
}

/** Every key in `topic`, with how many times it is stored. */
async function readAll(client: RemotingClient, addr: string, topic: string): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (let q = 0; q < QUEUES; q++) {
    const max = await queueOffset(client, addr, topic, q, RequestCode.GET_MAX_OFFSET)
    let at = 0
    while (at < max) {
      const res = await client.invoke(addr, pullRequest(topic, q, at), 10_000)
      if (res.code !== ResponseCode.SUCCESS) throw new Error(`reading ${topic} queue ${q} at ${at}: ${res.code}`)
      for (const m of decodeMessages(res.body!)) {
        const key = m.body.toString()
        out.set(key, (out.get(key) ?? 0) + 1)
      }
      const next = Number(res.extFields?.nextBeginOffset ?? at)
      if (next <= at) break
      at = next
    }
  }
  return out
}

/** The broker addresses the name server gives for `topic`; none while it knows no route. */
async function routeBrokers(client: RemotingClient, namesrvAddr: string, topic: string): Promise<string[]> {
  const req = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })
  const res = await client.invoke(namesrvAddr, req, 3000).catch(() => null)
  if (res === null || res.code !== ResponseCode.SUCCESS || res.body === null) return []
  return [...res.body.toString().matchAll(/"(\d+\.\d+\.\d+\.\d+:\d+)"/g)].map((m) => m[1]!)
}

// ---- processes and cleanup ---------------------------------------------------------------------------------------

/** Cleanups, run newest first by `run()`, each even when an earlier one failed. */
class Deferred {
  private readonly cleanups: (() => unknown)[] = []

  defer(cleanup: () => unknown): void {
    this.cleanups.push(cleanup)
  }

  /** A remoting client shut down with the rest. */
  client(options: RemotingClientOptions = {}): RemotingClient {
    const c = new RemotingClient(options)
    this.defer(() => c.shutdown())
    return c
  }

  async run(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      try {
        await cleanup()
      } catch {
        // Best effort: what is left is a process the harness kills (`stopAllBrokerProcesses`) or a socket.
      }
    }
  }
}

/** A name server in this process, on `port` (0: any). */
async function startNamesrv(d: Deferred, dir: string, port: number): Promise<NamesrvController> {
  const namesrv = await NamesrvController.start({ listenPort: port, kvConfigPath: join(dir, 'namesrv', 'kv.json') })
  d.defer(() => namesrv.shutdown())
  return namesrv
}

/**
 * A broker in a child process on a free port, registered with the name server; the HA port is left to the system.
 * Other processes on the machine may take the port between the check and the listen: then another one is tried.
 */
async function startBroker(
  d: Deferred,
  dir: string,
  namesrvAddr: string,
  conf: Record<string, string | number | boolean>,
): Promise<BrokerProcess> {
  for (let attempt = 1; ; attempt++) {
    const [port] = await freePortPairs(1)
    const broker = new BrokerProcess({
      brokerName: 'broker-net',
      brokerId: 0,
      brokerRole: 'ASYNC_MASTER',
      clusterName: 'NetCluster',
      port: port!,
      namesrvAddr,
      dataDir: join(dir, 'broker'),
      conf: { haListenPort: 0, ...conf },
    })
    try {
      await broker.start()
      d.defer(() => broker.stop())
      // Answering is not enough for a client that starts now: it finds the broker through the name server.
      const client = d.client()
      await until(
        async () => (await routeBrokers(client, namesrvAddr, 'TBW102')).includes(broker.addr),
        RESUME_DEADLINE_MS,
        'the broker to register',
      )
      return broker
    } catch (err) {
      await broker.kill()
      if (attempt >= 3 || !String(err).includes('EADDRINUSE')) throw err
    }
  }
}

// ---- the machine's view ------------------------------------------------------------------------------------------

/** VmRSS and RssAnon of a running process, in bytes. */
function bytesOf(pid: number): { rssBytes: number; rssAnonBytes: number } {
  const m = readMemory(pid)
  if (m === null) throw new Error(`process ${pid} is gone`)
  return { rssBytes: m.rssKiB * 1024, rssAnonBytes: m.anonKiB * 1024 }
}

// ---- small helpers ----------------------------------------------------------------------------------------------

function p50max(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b)
  return `${Math.round(sorted[sorted.length >> 1] ?? 0)} / ${Math.round(sorted.at(-1) ?? 0)}`
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1)
}
