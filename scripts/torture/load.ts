/**
 * Scenario 4, load: three parts, each against a broker in a child process, each reporting throughput, p99 ack
 * latency and the broker's memory.
 *
 * - Connections: N raw remoting connections from this process, each a client with a producer group and a consumer
 *   group, heartbeating periodically, plus sends spread over all of them at a modest overall rate. Consumer groups
 *   have 50 members: each member that joins makes the broker notify the whole group (NOTIFY_CONSUMER_IDS_CHANGED),
 *   so one group of 1,000 would test a burst of half a million notifications rather than many clients. Every
 *   connection must still be open at the end (`connections_held`), and the broker must list each one in its
 *   producer and consumer tables.
 * - Topics: T topics × 8 queues created with UPDATE_AND_CREATE_TOPIC; then how long the name server takes to route
 *   them all, how fast routes answer, how big one registration of the whole table is and how long a name server
 *   takes to answer it, `topics.json`, and a restart: stop, start, the time until the broker answers and until
 *   every route is back; then a send to and a pull from each of a sample of the topics.
 * - Backlog: B bytes of 4 KiB messages produced as fast as batches go, then a push consumer from the first offset
 *   consumes everything while a producer keeps sending at a steady rate. Every queue offset must be consumed.
 *
 * Memory: VmRSS counts the resident pages of mapped files too (commit log, consume queues), which are page cache,
 * not the broker's own memory; so the check is on RssAnon (heaps and buffers) ≤ 500 MiB, with RssFile beside it.
 * The time limits (see `LIMITS`) are checked at the quick and full sizes only: at test size, inside `npm test` on a
 * shared machine, they are reported and not asserted.
 */
import { readFileSync, rmSync, statfsSync, statSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'

import { createTopicRequest } from '../../ts/client/admin-api.js'
import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { parseJsonObject, stringifyJson } from '../../ts/common/fastjson.js'
import { noopLogger } from '../../ts/common/logger.js'
import { messageProperties2String } from '../../ts/common/message/message-properties.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { encodeBatchBody } from '../../ts/remoting/protocol/batch-message-codec.js'
import type { HeartbeatData } from '../../ts/remoting/protocol/heartbeat.js'
import {
  bodyCrc32,
  encodeRegisterBrokerBody,
  registerBrokerRequestExt,
  topicConfigSerializeWrapperFromJson,
} from '../../ts/remoting/protocol/namesrv.js'
import { decodeTopicList, decodeTopicRouteData } from '../../ts/remoting/protocol/route.js'
import { encodeSendMessageRequestHeader } from '../../ts/remoting/protocol/send-message-header.js'
import { RemotingChannel } from '../../ts/remoting/remoting-channel.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { percentile } from '../bench/bench-stats.js'
import { uniqKey } from '../bench/load-generator.js'
import { BrokerProcess, freePortPairs } from './broker-process.js'
import { ReportBuilder, seededRandom, type Scenario, type ScenarioContext, type Size } from './report.js'
import { readMemory, until, type ProcessMemory } from './machine.js'

const MIB = 1024 * 1024
/** The bound on the broker's own memory (page cache of the mapped files excluded). */
const RSS_ANON_MIB_MAX = 500
const QUEUES = 8
const REQUEST_TIMEOUT_MS = 10_000
const CONSUMERS_PER_GROUP = 50
/** Connections opened, and first heartbeats sent, at once. */
const CONNECT_WINDOW = 32

interface Sizes {
  connections: number
  holdMs: number
  heartbeatIntervalMs: number
  /** Sends per second over all the connections. */
  connectionSendRate: number
  topics: number
  /** Topics sent to and pulled from after the restart. */
  topicSamples: number
  backlogBytes: number
  /** Sends per second while the consumer catches up. */
  backlogSendRate: number
}

const SIZES: Record<Size, Sizes> = {
  test: {
    connections: 50,
    holdMs: 5_000,
    heartbeatIntervalMs: 1_000,
    connectionSendRate: 100,
    topics: 200,
    topicSamples: 8,
    backlogBytes: 32 * MIB,
    backlogSendRate: 200,
  },
  quick: {
    connections: 200,
    holdMs: 20_000,
    heartbeatIntervalMs: 5_000,
    connectionSendRate: 300,
    topics: 1_000,
    topicSamples: 16,
    backlogBytes: 256 * MIB,
    backlogSendRate: 500,
  },
  full: {
    connections: 1_000,
    holdMs: 60_000,
    heartbeatIntervalMs: 10_000,
    connectionSendRate: 1_000,
    topics: 10_000,
    topicSamples: 32,
    backlogBytes: 5 * 1024 * MIB,
    backlogSendRate: 1_000,
  },
}

/**
 * "Reasonable", made concrete for the topics part. Restart: RocketMQ clients poll the name server every 30 s
 * (`pollNameServerInterval`), so a broker that answers and has every route back within 30 s of its start is seen
 * again by every client's next poll. Creation: at least 20 topics/s (10,000 in under ~8 min) while each creation
 * waits for a registration that carries the whole table, since RocketMQ answers only once registered. Route
 * lookups read a table: p99 under 100 ms even with 10,000 topics.
 */
const LIMITS = {
  restartAnswerMs: 30_000,
  restartRoutesMs: 30_000,
  createTopicsPerSMin: 20,
  routeP99Ms: 100,
}

export const load: Scenario = {
  name: 'load',
  title: 'many connections, many topics, a large backlog consumed while producing',
  async run(ctx: ScenarioContext) {
    const r = new ReportBuilder('load')
    const sizes = SIZES[ctx.size]
    await connectionsPart(ctx, sizes, new PartReport(r, 'connections'))
    await topicsPart(ctx, sizes, new PartReport(r, 'topics', ctx.size !== 'test'))
    await backlogPart(ctx, sizes, new PartReport(r, 'backlog'))
    return r.build()
  },
}

// ---- shared ------------------------------------------------------------------------------------------------------

/** Rows and checks of one part, each labelled with the part's name. */
class PartReport {
  constructor(
    readonly r: ReportBuilder,
    readonly part: string,
    /** Whether the time limits are checked (see the file comment). */
    readonly timed = false,
  ) {}

  row(label: string, value: string | number): this {
    this.r.row(`${this.part}: ${label}`, value)
    return this
  }

  check(ok: boolean, problem: string): boolean {
    return this.r.check(ok, `${this.part}: ${problem}`)
  }

  /** A time limit: reported always, checked only when `timed`. */
  limit(ok: boolean, problem: string): void {
    if (this.timed) this.check(ok, problem)
  }

  /** The broker's memory figures, and the RssAnon check. */
  memory(m: ProcessMemory): void {
    const anonMiB = m.anonKiB / 1024
    this.row('broker RSS max MiB', Math.round(m.rssKiB / 1024))
    this.row('broker RssAnon / RssFile max MiB', `${Math.round(anonMiB)} / ${Math.round(m.fileKiB / 1024)}`)
    this.r.total('load_rss_anon_mib_max', Math.round(anonMiB)).total('load_rss_mib_max', Math.round(m.rssKiB / 1024))
    this.check(anonMiB <= RSS_ANON_MIB_MAX, `broker RssAnon reached ${Math.round(anonMiB)} MiB (> ${RSS_ANON_MIB_MAX})`)
  }
}

/** Samples a broker's memory every 250 ms (across restarts) and keeps the largest figures. */
class MemoryWatch {
  readonly max: ProcessMemory = { rssKiB: 0, anonKiB: 0, fileKiB: 0 }
  private readonly timer: NodeJS.Timeout

  constructor(private readonly broker: BrokerProcess) {
    this.timer = setInterval(() => this.sample(), 250)
    this.timer.unref()
    this.sample()
  }

  sample(): void {
    const pid = this.broker.pid
    const m = pid === undefined ? null : readMemory(pid)
    if (m === null) return
    this.max.rssKiB = Math.max(this.max.rssKiB, m.rssKiB)
    this.max.anonKiB = Math.max(this.max.anonKiB, m.anonKiB)
    this.max.fileKiB = Math.max(this.max.fileKiB, m.fileKiB)
  }

  stop(): ProcessMemory {
    this.sample()
    clearInterval(this.timer)
    return { ...this.max }
  }
}

/** Failures and the latencies of the answered requests. */
class RequestStats {
  readonly latencies: number[] = []
  errors = 0
  firstError = ''

  get count(): number {
    return this.latencies.length
  }

  /** Runs one request; a `RemotingCommand` it resolves with must be a success. */
  async time(run: () => Promise<RemotingCommand | void>): Promise<void> {
    const t0 = performance.now()
    try {
      const res = await run()
      if (res instanceof RemotingCommand && res.code !== ResponseCode.SUCCESS)
        throw new Error(`${res.code} ${res.remark ?? ''}`)
      this.latencies.push(performance.now() - t0)
    } catch (err) {
      this.errors++
      this.firstError ||= (err as Error).message
    }
  }

  p(q: number): number {
    const sorted = [...this.latencies].sort((a, b) => a - b)
    return sorted.length === 0 ? 0 : percentile(sorted, q)
  }

  /** `p50 / p99` in ms. */
  text(): string {
    return `${ms(this.p(0.5))} / ${ms(this.p(0.99))}`
  }
}

function ms(n: number): string {
  return n.toFixed(n < 10 ? 2 : 0)
}

function perS(count: number, elapsedMs: number): number {
  return Math.round(count / (elapsedMs / 1000))
}

/** Runs `task(0..count-1)` with at most `window` running at once. */
async function inWindow(count: number, window: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane))
}

interface Parts {
  namesrv: NamesrvController
  namesrvAddr: string
  broker: BrokerProcess
}

/** A name server here and a broker in a child process, under `<dir>/<part>`. */
async function startParts(ctx: ScenarioContext, part: string, conf: Record<string, number> = {}): Promise<Parts> {
  const dir = join(ctx.dir, part)
  const namesrv = await NamesrvController.start({ listenPort: 0, kvConfigPath: join(dir, 'namesrv', 'kv.json') })
  const namesrvAddr = `127.0.0.1:${namesrv.port()}`
  const [port] = await freePortPairs(1)
  const broker = new BrokerProcess({
    brokerName: `broker-load-${part}`,
    brokerId: 0,
    brokerRole: 'ASYNC_MASTER',
    clusterName: 'LoadCluster',
    port: port!,
    namesrvAddr,
    dataDir: join(dir, 'broker'),
    conf: { defaultTopicQueueNums: QUEUES, ...conf },
  })
  try {
    await broker.start()
  } catch (err) {
    await namesrv.shutdown()
    throw err
  }
  return { namesrv, namesrvAddr, broker }
}

async function invokeOk(client: RemotingClient, addr: string, req: RemotingCommand): Promise<RemotingCommand> {
  const res = await client.invoke(addr, req, REQUEST_TIMEOUT_MS)
  if (res.code !== ResponseCode.SUCCESS)
    throw new Error(`request ${req.code} to ${addr}: ${res.code} ${res.remark ?? ''}`)
  return res
}

function createRequest(topic: string): RemotingCommand {
  return createTopicRequest(newTopicConfig(topic, { readQueueNums: QUEUES, writeQueueNums: QUEUES }))
}

function sendRequest(code: number, topic: string, queueId: number, properties: string, body: Buffer): RemotingCommand {
  const ext = encodeSendMessageRequestHeader(
    {
      producerGroup: 'TortureLoadPG',
      topic,
      defaultTopic: 'TBW102',
      defaultTopicQueueNums: QUEUES,
      queueId,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties,
      reconsumeTimes: 0,
      unitMode: false,
      maxReconsumeTimes: undefined,
      batch: code === RequestCode.SEND_BATCH_MESSAGE,
    },
    true,
  )
  return RemotingCommand.createRequest(code, ext, body)
}

/** Numbers the unique keys of the messages this process sends raw. */
let messageCounter = 0

async function namesrvTopics(client: RemotingClient, namesrvAddr: string, prefix: string): Promise<number> {
  const req = RemotingCommand.createRequest(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
  const res = await invokeOk(client, namesrvAddr, req)
  return decodeTopicList(res.body).topicList.filter((t) => t.startsWith(prefix)).length
}

// ---- part 1: connections -----------------------------------------------------------------------------------------

const CONN_TOPIC = 'TortureLoadConn'
const CONN_PRODUCER_GROUP = 'TortureLoadPG'
const CONN_BODY = Buffer.alloc(1024, 0x63)

/** One client connection: a raw channel, its heartbeat body, and what happened to it. */
interface ClientConnection {
  channel: RemotingChannel
  heartbeat: Buffer
  closedReason: string | null
  notifications: number
}

function consumerGroupOf(i: number): string {
  return `TortureLoadCG-${Math.floor(i / CONSUMERS_PER_GROUP)}`
}

function heartbeatBody(i: number): Buffer {
  const subscription = {
    topic: CONN_TOPIC,
    subString: '*',
    tagsSet: [],
    codeSet: [],
    subVersion: Date.now(),
    expressionType: 'TAG' as const,
    classFilterMode: false,
  }
  const data: HeartbeatData = {
    clientID: `127.0.0.1@torture-load-${i}`,
    producerDataSet: [{ groupName: CONN_PRODUCER_GROUP }],
    consumerDataSet: [
      {
        groupName: consumerGroupOf(i),
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
        subscriptionDataSet: [subscription],
        unitMode: false,
      },
    ],
  }
  return Buffer.from(stringifyJson(data))
}

function openConnection(port: number, i: number): Promise<ClientConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      const state = { heartbeat: heartbeatBody(i), closedReason: null as string | null, notifications: 0 }
      const channel = new RemotingChannel(socket, {
        idleTimeMs: 0,
        logger: noopLogger,
        // The broker's only requests to these clients are NOTIFY_CONSUMER_IDS_CHANGED, which are oneway.
        onRequest: (_ch, req) => {
          if (req.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) state.notifications++
        },
        onClose: (_ch, reason) => {
          state.closedReason ??= reason
        },
      })
      resolve(Object.assign(state, { channel }))
    })
  })
}

interface HoldResult {
  heartbeats: RequestStats
  sends: RequestStats
  holdMs: number
}

/**
 * Keeps the connections busy for `holdMs`: heartbeat k is due at k × interval / N, so each connection beats once per
 * interval, spread evenly; send k is due at k / rate, round-robin over the connections.
 */
async function hold(open: ClientConnection[], s: Sizes): Promise<HoldResult> {
  const heartbeats = new RequestStats()
  const sends = new RequestStats()
  const pending = new Set<Promise<void>>()
  const track = (work: Promise<void>): void => {
    pending.add(work)
    void work.finally(() => pending.delete(work))
  }
  const heartbeat = (c: ClientConnection): Promise<void> =>
    heartbeats.time(() =>
      c.channel.invoke(RemotingCommand.createRequest(RequestCode.HEART_BEAT, {}, c.heartbeat), REQUEST_TIMEOUT_MS),
    )
  // Every client introduces itself first, as a starting client does.
  await inWindow(open.length, CONNECT_WINDOW, (i) => heartbeat(open[i]!))
  let beats = 0
  let sent = 0
  const t0 = performance.now()
  for (let elapsed = 0; elapsed < s.holdMs; elapsed = performance.now() - t0) {
    for (; beats < Math.floor((elapsed * open.length) / s.heartbeatIntervalMs); beats++)
      track(heartbeat(open[beats % open.length]!))
    for (; sent < Math.floor((elapsed * s.connectionSendRate) / 1000); sent++) {
      const properties = messageProperties2String({ UNIQ_KEY: uniqKey(messageCounter++), WAIT: 'true' })
      const req = sendRequest(RequestCode.SEND_MESSAGE_V2, CONN_TOPIC, sent % QUEUES, properties, CONN_BODY)
      const c = open[sent % open.length]!
      track(sends.time(() => c.channel.invoke(req, REQUEST_TIMEOUT_MS)))
    }
    await delay(10)
  }
  await Promise.all([...pending])
  return { heartbeats, sends, holdMs: performance.now() - t0 }
}

/** How many connections the broker lists for a group; 0 when it lists none. */
async function listed(
  client: RemotingClient,
  addr: string,
  code: number,
  ext: Record<string, string>,
): Promise<number> {
  const res = await client.invoke(addr, RemotingCommand.createRequest(code, ext), REQUEST_TIMEOUT_MS)
  if (res.code !== ResponseCode.SUCCESS) return 0
  const set = parseJsonObject(res.body, 'connection list').connectionSet
  return Array.isArray(set) ? set.length : 0
}

async function connectionsPart(ctx: ScenarioContext, s: Sizes, r: PartReport): Promise<void> {
  const n = s.connections
  const { namesrv, broker } = await startParts(ctx, 'connections')
  const watch = new MemoryWatch(broker)
  const admin = new RemotingClient()
  const conns: ClientConnection[] = []
  try {
    await invokeOk(admin, broker.addr, createRequest(CONN_TOPIC))
    const t0 = performance.now()
    let connectFailures = 0
    await inWindow(n, CONNECT_WINDOW, async (i) => {
      try {
        conns.push(await openConnection(broker.spec.port, i))
      } catch {
        // Counted, and checked below.
        connectFailures++
      }
    })
    const connectMs = performance.now() - t0
    const open = conns
    ctx.log(`${open.length} connections open in ${Math.round(connectMs)} ms`)
    const { heartbeats, sends, holdMs } = await hold(open, s)
    // What the broker itself lists while every connection is still open.
    const producers = await listed(admin, broker.addr, RequestCode.GET_PRODUCER_CONNECTION_LIST, {
      producerGroup: CONN_PRODUCER_GROUP,
    })
    let consumers = 0
    for (let i = 0; i < n; i += CONSUMERS_PER_GROUP) {
      const ext = { consumerGroup: consumerGroupOf(i) }
      consumers += await listed(admin, broker.addr, RequestCode.GET_CONSUMER_CONNECTION_LIST, ext)
    }
    const held = open.filter((c) => c.closedReason === null && c.channel.isActive()).length
    const closed = open.find((c) => c.closedReason !== null)
    const notifications = open.reduce((a, c) => a + c.notifications, 0)
    r.row('opened / wanted', `${open.length} / ${n}`)
      .row(`connect ms (all, ${CONNECT_WINDOW} at a time)`, Math.round(connectMs))
      .row('held to the end', held)
      .row('broker lists producers / consumers', `${producers} / ${consumers}`)
      .row('consumer groups / notifications received', `${Math.ceil(n / CONSUMERS_PER_GROUP)} / ${notifications}`)
      .row('heartbeats (interval ms)', `${heartbeats.count + heartbeats.errors} (${s.heartbeatIntervalMs})`)
      .row('heartbeat p50 / p99 ms', heartbeats.text())
      .row('sends acknowledged / failed', `${sends.count} / ${sends.errors}`)
      .row('send rate msgs/s (target)', `${perS(sends.count, holdMs)} (${s.connectionSendRate})`)
      .row('send ack p50 / p99 ms', sends.text())
      .memory(watch.stop())
    r.r
      .total('connections_held', held)
      .total('acked', sends.count)
      .total('load_connections', n)
      .total('load_send_errors', sends.errors + heartbeats.errors)
      .total('load_conn_send_p99_ms_max', Math.round(sends.p(0.99)))
    r.check(connectFailures === 0, `${connectFailures} of ${n} connections could not be opened`)
    r.check(held === n, `${n - held} of ${n} connections closed, e.g. ${closed?.closedReason ?? 'never opened'}`)
    r.check(producers === n && consumers === n, `the broker lists ${producers} producers, ${consumers} consumers`)
    r.check(sends.errors === 0, `${sends.errors} send(s) failed, e.g. ${sends.firstError}`)
    r.check(heartbeats.errors === 0, `${heartbeats.errors} heartbeat(s) failed, e.g. ${heartbeats.firstError}`)
  } finally {
    watch.stop()
    for (const c of conns) c.channel.close('scenario done')
    admin.shutdown()
    await broker.stop()
    await namesrv.shutdown()
  }
}

// ---- part 2: topics ----------------------------------------------------------------------------------------------

const TOPIC_PREFIX = 'TortureLoadT-'
const CREATE_WINDOW = 16
const ROUTE_SAMPLES_MAX = 200
const SINGLE_CREATES = 10

interface TopicsRun {
  ctx: ScenarioContext
  client: RemotingClient
  parts: Parts
  names: string[]
  random: () => number
  r: PartReport
}

async function topicsPart(ctx: ScenarioContext, s: Sizes, r: PartReport): Promise<void> {
  const names = Array.from({ length: s.topics }, (_, i) => `${TOPIC_PREFIX}${String(i).padStart(5, '0')}`)
  const parts = await startParts(ctx, 'topics')
  const watch = new MemoryWatch(parts.broker)
  const client = new RemotingClient()
  const run: TopicsRun = { ctx, client, parts, names, random: seededRandom(ctx.seed), r }
  try {
    await createTopics(run)
    await measureRoutes(run)
    await measureRegistration(run)
    await restart(run)
    await sendAndPullSample(run, s.topicSamples)
    r.memory(watch.stop())
    r.r.total('load_topics', names.length)
  } finally {
    watch.stop()
    client.shutdown()
    await parts.broker.stop()
    await parts.namesrv.shutdown()
  }
}

/** Creates every topic; each answer comes once a registration that carries the topic has reached the name server. */
async function createTopics({ ctx, client, parts, names, r }: TopicsRun): Promise<void> {
  const t = names.length
  const creates = new RequestStats()
  const t0 = performance.now()
  await inWindow(t, CREATE_WINDOW, (i) =>
    creates.time(() => client.invoke(parts.broker.addr, createRequest(names[i]!), 60_000)),
  )
  const createMs = performance.now() - t0
  await until(async () => (await namesrvTopics(client, parts.namesrvAddr, TOPIC_PREFIX)) === t, 120_000, 'routes')
  const routedMs = performance.now() - t0
  ctx.log(`${t} topics created in ${Math.round(createMs)} ms, all routed after ${Math.round(routedMs)} ms`)
  const rate = perS(t, createMs)
  r.row(`created (8 queues each, ${CREATE_WINDOW} at a time)`, t)
    .row('creation ms / topics per s (limit)', `${Math.round(createMs)} / ${rate} (${LIMITS.createTopicsPerSMin})`)
    .row('create ack p50 / p99 ms', creates.text())
    .row('all in the name server after ms', Math.round(routedMs))
  r.check(creates.errors === 0, `${creates.errors} creation(s) failed, e.g. ${creates.firstError}`)
  r.limit(rate >= LIMITS.createTopicsPerSMin, `created ${rate} topics/s (< ${LIMITS.createTopicsPerSMin})`)
  // Then a few one at a time, as `mqadmin updateTopic` creates them: each waits for its own registration, which
  // carries the whole table (outside the T counted everywhere else).
  const single = new RequestStats()
  for (let i = 0; i < SINGLE_CREATES; i++)
    await single.time(() => client.invoke(parts.broker.addr, createRequest(`TortureLoadS-${i}`), 60_000))
  r.row(`${SINGLE_CREATES} more one at a time: create ack p50 / p99 ms`, single.text())
  r.check(single.errors === 0, `${single.errors} creation(s) failed, e.g. ${single.firstError}`)
}

/** Route lookups of a sample of topics, and the whole topic list, from the name server. */
async function measureRoutes({ client, parts, names, random, r }: TopicsRun): Promise<void> {
  const routes = new RequestStats()
  let wrong = ''
  for (let i = 0; i < Math.min(names.length, ROUTE_SAMPLES_MAX); i++) {
    const topic = names[Math.floor(random() * names.length)]!
    await routes.time(async () => {
      const req = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })
      const res = await client.invoke(parts.namesrvAddr, req, REQUEST_TIMEOUT_MS)
      if (res.code !== ResponseCode.SUCCESS) return res
      const route = decodeTopicRouteData(res.body)
      const q = route.queueDatas[0]
      const addr = route.brokerDatas[0]?.brokerAddrs.get(0)
      if (q?.readQueueNums !== QUEUES || q.writeQueueNums !== QUEUES || addr !== parts.broker.addr) wrong ||= topic
      return res
    })
  }
  const t0 = performance.now()
  const req = RemotingCommand.createRequest(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
  const list = await invokeOk(client, parts.namesrvAddr, req)
  const listMs = performance.now() - t0
  const p99 = routes.p(0.99)
  r.row('route lookups (sampled)', routes.count + routes.errors)
    .row('route lookup p50 / p99 ms (limit)', `${routes.text()} (${LIMITS.routeP99Ms})`)
    .row('topic list ms / bytes', `${ms(listMs)} / ${list.body?.length ?? 0}`)
  r.check(routes.errors === 0, `${routes.errors} route lookup(s) failed, e.g. ${routes.firstError}`)
  r.check(wrong === '', `the route of ${wrong} is not 8 queues on the broker`)
  r.limit(p99 <= LIMITS.routeP99Ms, `route lookup p99 ${ms(p99)} ms (> ${LIMITS.routeP99Ms})`)
}

/**
 * One registration of the whole table: the body, built by the broker's own encoder from the broker's table
 * (GET_ALL_TOPIC_CONFIG), and the time a fresh name server takes to answer it.
 */
async function measureRegistration({ ctx, client, parts, names, r }: TopicsRun): Promise<void> {
  const req = RemotingCommand.createRequest(RequestCode.GET_ALL_TOPIC_CONFIG)
  const all = await invokeOk(client, parts.broker.addr, req)
  const wrapper = topicConfigSerializeWrapperFromJson(parseJsonObject(all.body, 'GET_ALL_TOPIC_CONFIG'), Date.now())
  const register = { topicConfigSerializeWrapper: wrapper, filterServerList: [] }
  const plain = encodeRegisterBrokerBody(register, false)
  const compressed = encodeRegisterBrokerBody(register, true)
  const kvConfigPath = join(ctx.dir, 'topics', 'scratch-namesrv', 'kv.json')
  const scratch = await NamesrvController.start({ listenPort: 0, kvConfigPath })
  try {
    const scratchAddr = `127.0.0.1:${scratch.port()}`
    const ext = registerBrokerRequestExt({
      brokerName: 'broker-scratch',
      brokerAddr: '127.0.0.1:1',
      clusterName: 'ScratchCluster',
      haServerAddr: '127.0.0.1:2',
      brokerId: 0,
      compressed: false,
      bodyCrc32: bodyCrc32(plain),
    })
    const t0 = performance.now()
    await invokeOk(client, scratchAddr, RemotingCommand.createRequest(RequestCode.REGISTER_BROKER, ext, plain))
    const registerMs = performance.now() - t0
    const routed = await namesrvTopics(client, scratchAddr, TOPIC_PREFIX)
    r.row('registration body bytes (zlib)', `${plain.length} (${compressed.length})`)
    r.row('registration answered by a name server ms', ms(registerMs))
    r.check(routed === names.length, `one registration of the whole table routed ${routed} of ${names.length}`)
  } finally {
    await scratch.shutdown()
  }
}

function persistedTopics(path: string): number {
  try {
    const table = parseJsonObject(readFileSync(path), 'topics.json').topicConfigTable
    return Object.keys(table ?? {}).filter((k) => k.startsWith(TOPIC_PREFIX)).length
  } catch {
    // Not written yet, or being replaced: counts as none, and the caller polls again.
    return 0
  }
}

/** `topics.json`, then SIGTERM (the broker persists and unregisters), start, and every route back. */
async function restart({ ctx, client, parts, names, r }: TopicsRun): Promise<void> {
  const t = names.length
  const { broker, namesrvAddr } = parts
  const topicsJson = join(broker.storeDir, 'config', 'topics.json')
  await until(() => persistedTopics(topicsJson) === t, 30_000, 'topics.json to hold every topic')
  r.row('topics.json bytes', statSync(topicsJson).size)
  const t0 = performance.now()
  await broker.stop()
  const stopMs = performance.now() - t0
  const persisted = persistedTopics(topicsJson)
  const routedWhileDown = await namesrvTopics(client, namesrvAddr, TOPIC_PREFIX)
  const t1 = performance.now()
  const answerMs = await broker.start()
  await until(async () => (await namesrvTopics(client, namesrvAddr, TOPIC_PREFIX)) === t, 120_000, 'routes back')
  const routesMs = performance.now() - t1
  ctx.log(`restart: answering after ${Math.round(answerMs)} ms, routes back after ${Math.round(routesMs)} ms`)
  r.row('stop ms (SIGTERM to exit)', Math.round(stopMs))
    .row('in topics.json after stop', persisted)
    .row('routes while the broker was down', routedWhileDown)
    .row('restart ms until answering (limit)', `${Math.round(answerMs)} (${LIMITS.restartAnswerMs})`)
    .row('restart ms until every route is back (limit)', `${Math.round(routesMs)} (${LIMITS.restartRoutesMs})`)
  r.r.total('load_restart_ms_max', Math.round(routesMs))
  r.check(persisted === t, `topics.json holds ${persisted} of ${t} topics after stop`)
  r.limit(answerMs <= LIMITS.restartAnswerMs, `the broker answered ${Math.round(answerMs)} ms after start`)
  r.limit(routesMs <= LIMITS.restartRoutesMs, `every route was back ${Math.round(routesMs)} ms after start`)
}

/** After the restart: a message to each of a sample of topics through the SDK (routes from the name server), pulled back. */
async function sendAndPullSample({ ctx, client, parts, names, random, r }: TopicsRun, samples: number): Promise<void> {
  const producer = new Producer({
    producerGroup: 'TortureLoadTopicsPG',
    namesrvAddr: parts.namesrvAddr,
    sendMsgTimeout: REQUEST_TIMEOUT_MS,
  })
  await producer.start()
  const failures: string[] = []
  try {
    for (let i = 0; i < samples; i++) {
      const topic = names[Math.floor(random() * names.length)]!
      const body = `after-restart-${ctx.seed}-${i}`
      try {
        const sent = await producer.send(new Message({ topic, body }))
        if (sent.sendStatus !== SendStatus.SEND_OK) throw new Error(sent.sendStatus)
        const pulled = await pullOne(client, parts.broker.addr, topic, sent.messageQueue.queueId, sent.queueOffset)
        if (pulled !== body) throw new Error(`pulled ${pulled ?? 'nothing'}`)
      } catch (err) {
        failures.push(`${topic}: ${(err as Error).message}`)
      }
    }
  } finally {
    await producer.shutdown()
  }
  r.row('sample sent and pulled after restart', `${samples - failures.length} / ${samples}`)
  r.check(failures.length === 0, `after the restart ${failures.slice(0, 3).join('; ')}`)
}

async function pullOne(
  client: RemotingClient,
  addr: string,
  topic: string,
  queueId: number,
  offset: number,
): Promise<string | null> {
  const ext = {
    consumerGroup: 'TortureLoadScan',
    topic,
    queueId: String(queueId),
    queueOffset: String(offset),
    maxMsgNums: '1',
    // FLAG_SUBSCRIPTION: the subscription comes with the pull, so the group need not be online.
    sysFlag: '4',
    commitOffset: '0',
    suspendTimeoutMillis: '0',
    subscription: '*',
    subVersion: '0',
    expressionType: 'TAG',
  }
  const res = await invokeOk(client, addr, RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, ext))
  return res.body === null ? null : (decodeMessages(res.body)[0]?.body.toString() ?? null)
}

// ---- part 3: backlog ---------------------------------------------------------------------------------------------

const BACKLOG_TOPIC = 'TortureLoadBacklog'
const BACKLOG_BODY = Buffer.alloc(4096, 0x62)
const FILL_BATCH = 16
const FILL_IN_FLIGHT = 8
/** Disk left free besides the backlog (other scenarios, the rest of the machine). */
const DISK_SLACK_BYTES = 1024 * MIB
/** Stored bytes per body byte: record header, properties, consume queue unit, index entry (measured ~1.06). */
const DISK_BYTES_PER_BODY_BYTE = 1.15

/** Which offsets of each queue were consumed, and how often. */
class QueueTally {
  private readonly counts: Uint8Array[] = Array.from({ length: QUEUES }, () => new Uint8Array(1024))
  distinct = 0
  duplicates = 0

  add(queueId: number, offset: number): void {
    let c = this.counts[queueId]!
    if (offset >= c.length) {
      const grown = new Uint8Array(Math.max(offset + 1, c.length * 2))
      grown.set(c)
      this.counts[queueId] = c = grown
    }
    if (c[offset] === 0) this.distinct++
    else this.duplicates++
    if (c[offset]! < 255) c[offset]!++
  }

  /** Offsets below `max[q]` never consumed. */
  missing(max: number[]): number {
    let n = 0
    for (let q = 0; q < QUEUES; q++) {
      const c = this.counts[q]!
      for (let o = 0; o < max[q]!; o++) if (o >= c.length || c[o] === 0) n++
    }
    return n
  }
}

/** The backlog size that fits on the disk: the wanted one, or less with a row that says so. */
function backlogBytesThatFit(ctx: ScenarioContext, wanted: number, r: PartReport): number {
  const fs = statfsSync(ctx.dir)
  const freeBytes = fs.bavail * fs.bsize
  const room = Math.floor((freeBytes - DISK_SLACK_BYTES) / DISK_BYTES_PER_BODY_BYTE / MIB) * MIB
  if (room >= wanted) return wanted
  const bytes = Math.max(16 * MIB, room)
  r.row(
    'SCALED DOWN to fit the free disk space: MiB',
    `${bytes / MIB} of ${wanted / MIB} (free ${Math.round(freeBytes / MIB)})`,
  )
  return bytes
}

async function backlogPart(ctx: ScenarioContext, s: Sizes, r: PartReport): Promise<void> {
  const bytes = backlogBytesThatFit(ctx, s.backlogBytes, r)
  const messages = Math.ceil(bytes / BACKLOG_BODY.length)
  const large = bytes >= 256 * MIB
  const { namesrv, namesrvAddr, broker } = await startParts(ctx, 'backlog', {
    mappedFileSizeCommitLog: (large ? 128 : 16) * MIB,
    mappedFileSizeConsumeQueue: large ? 600_000 : 60_000,
  })
  const watch = new MemoryWatch(broker)
  const client = new RemotingClient()
  const producer = new Producer({
    producerGroup: 'TortureLoadBacklogPG',
    namesrvAddr,
    sendMsgTimeout: REQUEST_TIMEOUT_MS,
  })
  const consumer = new PushConsumer({
    consumerGroup: 'TortureLoadBacklogCG',
    namesrvAddr,
    consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    consumeMessageBatchMaxSize: 32,
    pollNameServerInterval: 1000,
  })
  let steady: SteadyProducer | null = null
  try {
    await invokeOk(client, broker.addr, createRequest(BACKLOG_TOPIC))
    const fill = await fillBacklog(client, broker.addr, messages)
    ctx.log(`backlog of ${bytes / MIB} MiB filled in ${Math.round(fill.ms)} ms`)
    r.row('filled MiB / messages (4 KiB)', `${bytes / MIB} / ${messages}`)
      .row(
        `fill MiB/s / msgs/s (batches of ${FILL_BATCH})`,
        `${perS(bytes / MIB, fill.ms)} / ${perS(messages, fill.ms)}`,
      )
      .row('fill batch ack p50 / p99 ms, busy answers retried', `${fill.stats.text()}, ${fill.busy}`)
      .row(
        'broker RssAnon / RssFile max MiB while filling',
        `${kibToMiB(watch.max.anonKiB)} / ${kibToMiB(watch.max.fileKiB)}`,
      )
    r.check(fill.stats.errors === 0, `${fill.stats.errors} fill batch(es) failed, e.g. ${fill.stats.firstError}`)

    // Catch-up: a consumer from offset 0 while a producer keeps sending `backlogSendRate` messages a second.
    const tally = new QueueTally()
    await producer.start()
    steady = new SteadyProducer(producer, s.backlogSendRate)
    consumer.subscribe(BACKLOG_TOPIC, '*')
    consumer.registerMessageListener((msgs) => {
      for (const m of msgs) tally.add(m.queueId, m.queueOffset)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    const t0 = performance.now()
    await consumer.start()
    // Caught up: the whole backlog consumed, and less than a second of production left behind.
    const filled = fill.acked
    const sends = steady.stats
    await until(
      () => tally.distinct >= filled && filled + sends.count - tally.distinct < s.backlogSendRate,
      60_000 + (bytes / MIB) * 1000,
      'the consumer to catch up',
    )
    const catchUpMs = performance.now() - t0
    const consumed = tally.distinct
    ctx.log(`caught up after ${Math.round(catchUpMs)} ms`)
    await steady.stop()
    const max = await maxOffsets(client, broker.addr)
    const stored = max.reduce((a, b) => a + b, 0)
    // Past the deadline, what is still missing is reported below.
    await until(() => tally.missing(max) === 0, 60_000, 'every stored message to be consumed').catch(() => {})
    const missing = tally.missing(max)
    const acked = filled + sends.count
    const unacked = messages - fill.acked + sends.errors
    r.row('catch-up ms', Math.round(catchUpMs))
      .row(
        'consume msgs/s / MiB/s while catching up',
        `${perS(consumed, catchUpMs)} / ${perS((consumed * BACKLOG_BODY.length) / MIB, catchUpMs)}`,
      )
      .row('produced meanwhile / failed (target msgs/s)', `${sends.count} / ${sends.errors} (${s.backlogSendRate})`)
      .row('produce ack p50 / p99 ms while catching up', sends.text())
      .row(
        'stored / consumed / missing / duplicates',
        `${stored} / ${tally.distinct} / ${missing} / ${tally.duplicates}`,
      )
      .memory(watch.stop())
    r.r
      .total('acked', acked)
      .total('duplicates', tally.duplicates)
      .total('load_backlog_mib', bytes / MIB)
      .total('load_backlog_missing', missing)
      .total('load_send_errors', sends.errors + fill.stats.errors)
      .total('load_consume_msgs_per_s', perS(consumed, catchUpMs))
    r.check(missing === 0, `${missing} stored message(s) never consumed`)
    // A send that timed out may be stored all the same; one acknowledged must be.
    r.check(stored >= acked && stored <= acked + unacked, `${stored} stored, ${acked} acknowledged, ${unacked} not`)
    r.check(sends.errors === 0, `${sends.errors} send(s) failed while catching up, e.g. ${sends.firstError}`)
  } finally {
    watch.stop()
    await steady?.stop()
    await consumer.shutdown().catch(() => {})
    await producer.shutdown().catch(() => {})
    client.shutdown()
    await broker.stop()
    await namesrv.shutdown()
    // Gigabytes are not left behind for the rest of the run.
    rmSync(join(ctx.dir, 'backlog'), { recursive: true, force: true })
  }
}

function kibToMiB(kib: number): number {
  return Math.round(kib / 1024)
}

async function maxOffsets(client: RemotingClient, addr: string): Promise<number[]> {
  const out: number[] = []
  for (let q = 0; q < QUEUES; q++) {
    const req = RemotingCommand.createRequest(RequestCode.GET_MAX_OFFSET, { topic: BACKLOG_TOPIC, queueId: String(q) })
    out.push(Number((await invokeOk(client, addr, req)).extFields?.offset ?? 0))
  }
  return out
}

interface FillResult {
  ms: number
  /** Latencies and failures of the batches. */
  stats: RequestStats
  /** Messages acknowledged. */
  acked: number
  /** SYSTEM_BUSY answers, each followed by the same batch again. */
  busy: number
}

/** Sends `messages` 4 KiB messages in batches, several in flight, over every queue in turn. */
async function fillBacklog(client: RemotingClient, addr: string, messages: number): Promise<FillResult> {
  const result: FillResult = { ms: 0, stats: new RequestStats(), acked: 0, busy: 0 }
  const properties = messageProperties2String({ WAIT: 'true' })
  const t0 = performance.now()
  await inWindow(Math.ceil(messages / FILL_BATCH), FILL_IN_FLIGHT, async (b) => {
    const count = Math.min(FILL_BATCH, messages - b * FILL_BATCH)
    const elements = Array.from({ length: count }, () => ({
      flag: 0,
      body: BACKLOG_BODY,
      properties: messageProperties2String({ UNIQ_KEY: uniqKey(messageCounter++) }),
    }))
    const body = encodeBatchBody(elements)
    const send = (): Promise<RemotingCommand> =>
      client.invoke(
        addr,
        sendRequest(RequestCode.SEND_BATCH_MESSAGE, BACKLOG_TOPIC, b % QUEUES, properties, body),
        REQUEST_TIMEOUT_MS,
      )
    await result.stats.time(async () => {
      let res = await send()
      // A busy broker (page cache busy, flow control) refuses a batch without storing it: it is sent again.
      for (; res.code === ResponseCode.SYSTEM_BUSY; res = await send()) {
        result.busy++
        await delay(10)
      }
      if (res.code === ResponseCode.SUCCESS) result.acked += count
      return res
    })
  })
  result.ms = performance.now() - t0
  return result
}

/** Sends `rate` 4 KiB messages a second through the SDK until stopped; each send's latency is kept. */
class SteadyProducer {
  readonly stats = new RequestStats()
  private readonly done: Promise<void>
  private stopped = false

  constructor(
    private readonly producer: Producer,
    private readonly rate: number,
  ) {
    this.done = this.run()
  }

  /** Stops sending; resolves once every send made has been answered. */
  stop(): Promise<void> {
    this.stopped = true
    return this.done
  }

  private async run(): Promise<void> {
    const pending = new Set<Promise<void>>()
    const t0 = performance.now()
    for (let sent = 0; !this.stopped; await delay(10)) {
      for (; sent < Math.floor(((performance.now() - t0) * this.rate) / 1000); sent++) {
        const work = this.stats.time(async () => {
          const res = await this.producer.send(new Message({ topic: BACKLOG_TOPIC, body: BACKLOG_BODY }))
          if (res.sendStatus !== SendStatus.SEND_OK) throw new Error(res.sendStatus)
        })
        pending.add(work)
        void work.finally(() => pending.delete(work))
      }
    }
    await Promise.all([...pending])
  }
}
