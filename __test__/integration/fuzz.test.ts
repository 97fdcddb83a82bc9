/**
 * Protocol fuzz: well over 100,000 random, truncated, oversized and malformed frames and headers against a running
 * broker (protocol.md §1), over many connections at once. Throughout, a separate well-behaved client sends and
 * pulls back. Checked: nothing throws unhandled, malformed frames close their connection without a reply, every
 * well-formed request gets exactly one answer (unless oneway), in its own serialization, no file is named after a
 * hostile topic, memory stays bounded and no connection is left open.
 *
 * Reproduce a run with FUZZ_SEED=<seed printed in the failure>; session `i` of a run is
 * `drawSession(arbs, sessionSeed(seed, i))`.
 */
import { readdirSync, readFileSync, type Dirent } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import { afterEach, describe, expect, it } from 'vitest'

import type { Logger } from '../../ts/common/logger.js'
import { QUEUE_ID_MAX } from '../../ts/common/limits.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { MixAll } from '../../ts/common/mix-all.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { RemotingCommand as RemotingCommandClass, type RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import type { RemotingServer } from '../../ts/remoting/remoting-server.js'
import { heartbeat, pull, request, send } from '../helpers/broker-requests.js'
import { maxFrameSession, newFuzzStats, runSession, type SessionTarget } from '../../scripts/torture/frame-fuzz.js'
import {
  drawSession,
  encodeCommand,
  plainRequest,
  ReferenceFrameReader,
  SERIALIZE_JSON,
  SERIALIZE_ROCKETMQ,
  sessionArbitraries,
  sessionSeed,
} from '../helpers/frame-arbitraries.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const SEED = process.env.FUZZ_SEED === undefined ? 0x46_75_7a_7a : Number(process.env.FUZZ_SEED)
const CASES_MIN = 100_000
/** Connections fuzzing at once. */
const WORKERS = 16
const RSS_GROWTH_MAX = 300 * 1024 * 1024
const VALID_TOPIC_CHARS = /^[%|a-zA-Z0-9_-]+$/
interface LogSummary {
  counts: Map<string, number>
  errors: string[]
}

/** Counts warnings and keeps errors; drops the rest. Nothing here serializes the logged objects. */
function summarizingLogger(summary: LogSummary): Logger {
  const describe = (obj: object): string => {
    const err = (obj as { err?: unknown }).err
    if (err instanceof Error) return `${err.name}: ${err.message}\n${err.stack ?? ''}`
    return err === undefined ? '' : String(err)
  }
  const noop = (): void => {}
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: (obj, msg = '') => {
      const o = obj as { status?: unknown; err?: { code?: unknown } }
      const detail = [o.status, o.err?.code].filter((d) => d !== undefined).map((d) => ` ${String(d)}`)
      const key = `warn ${msg}${detail.join('')}`
      summary.counts.set(key, (summary.counts.get(key) ?? 0) + 1)
    },
    error: (obj, msg = '') => {
      summary.counts.set(`error ${msg}`, (summary.counts.get(`error ${msg}`) ?? 0) + 1)
      if (summary.errors.length < 20) summary.errors.push(`${msg} ${describe(obj)}`)
    },
    child: () => logger,
  }
  return logger
}

/** A send to the health topic read back by pull, retried while the broker answers "busy" (flow control). */
async function healthRound(c: TestCluster, topic: string, group: string, n: number): Promise<void> {
  const body = Buffer.from(`health ${n} ${Date.now()}`)
  const retry = async (what: string, call: () => Promise<RemotingCommand>, ok: number): Promise<RemotingCommand> => {
    return waitFor(
      async () => {
        const r = await call()
        if (r.code === ok) return r
        if (r.code === ResponseCode.SYSTEM_BUSY) return false
        throw new Error(`health ${what} ${n} answered ${r.code} ${r.remark}`)
      },
      { timeoutMs: 20_000, intervalMs: 10, what: `health ${what} ${n}` },
    )
  }
  const sent = await retry(
    'send',
    () => send(c.client, c.brokerAddr, { topic, body, queueId: 0 }),
    ResponseCode.SUCCESS,
  )
  const offset = Number(sent.ext('queueOffset'))
  const pulled = await retry(
    'pull',
    () => pull(c.client, c.brokerAddr, { group, topic, queueId: 0, offset, maxMsgNums: 1, sysFlag: 0x4 }),
    ResponseCode.SUCCESS,
  )
  const [m] = decodeMessages(pulled.body!)
  if (m === undefined || !m.body.equals(body) || m.queueOffset !== offset) {
    throw new Error(`health pull ${n} at offset ${offset} read ${m ? JSON.stringify(m.body.toString()) : 'nothing'}`)
  }
}

/** Every path under `dir` whose name contains `needle`. */
function findNamed(dir: string, needle: string, depth = 8): string[] {
  const found: string[] = []
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return found
  }
  for (const e of entries) {
    const path = join(dir, e.name)
    if (e.name.includes(needle)) found.push(path)
    if (e.isDirectory() && depth > 0) found.push(...findNamed(path, needle, depth - 1))
  }
  return found
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20)
}

/**
 * Resident memory that is not file-backed (Linux `RssAnon`): the store's memory-mapped files count in `rss` as
 * soon as they are touched, and are not growth of the broker's own memory. Elsewhere, `rss`.
 */
function anonymousRss(): number {
  try {
    const m = /^RssAnon:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Number(m[1]) * 1024
  } catch {
    // Not Linux.
  }
  return process.memoryUsage().rss
}

/** A full garbage collection, so that memory is compared without garbage in it. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  gc()
}

/**
 * Delayed messages (consumer retries among them) that were due more than a second ago and are still not
 * delivered: each delay level delivers in store order, so one message that can never be delivered holds back every
 * message behind it.
 */
async function stuckDelayLevels(c: TestCluster): Promise<string[]> {
  const schedule = c.broker.scheduleMessageService
  const store = c.broker.store
  const stuck: string[] = []
  for (const [level, cursor] of schedule.offsetTable()) {
    if (cursor >= store.getMaxOffsetInQueue(MixAll.SCHEDULE_TOPIC, level - 1)) continue
    const r = await store.getMessage('', MixAll.SCHEDULE_TOPIC, level - 1, cursor, 1)
    const [m] = decodeMessages(r.buffer)
    if (m === undefined || m.storeTimestamp + schedule.delayMs(level) > Date.now() - 1000) continue
    const realTopic = JSON.stringify(m.properties.get('REAL_TOPIC'))
    const late = Date.now() - m.storeTimestamp - schedule.delayMs(level)
    stuck.push(`level ${level} stuck at offset ${cursor}: REAL_TOPIC ${realTopic}, due ${late} ms ago`)
  }
  return stuck
}

/** Topics with more queues than a queue id can name: every per-queue loop over them is unbounded. */
function oversizedTopics(c: TestCluster): string[] {
  return [...c.broker.topicConfigManager.topics()]
    .filter((t) => t.readQueueNums > QUEUE_ID_MAX + 1 || t.writeQueueNums > QUEUE_ID_MAX + 1)
    .map((t) => `${t.topicName}: ${t.readQueueNums} read / ${t.writeQueueNums} write queues`)
}

function brokerServers(c: TestCluster): readonly RemotingServer[] {
  return c.broker.remotingServers
}

describe('broker fuzz', () => {
  let cluster: TestCluster | undefined
  const sockets = new Set<net.Socket>()
  const clients = new Set<RemotingClient>()
  const unhandled: string[] = []
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err))
  }

  afterEach(async () => {
    for (const s of sockets) s.destroy()
    sockets.clear()
    for (const client of clients) client.shutdown()
    clients.clear()
    await cluster?.stop()
    cluster = undefined
    process.off('uncaughtException', onUnhandled)
    process.off('unhandledRejection', onUnhandled)
  })

  it('survives 100k random, truncated, oversized and malformed frames and keeps serving a well-behaved client', async () => {
    process.on('uncaughtException', onUnhandled)
    process.on('unhandledRejection', onUnhandled)
    const logs: LogSummary = { counts: new Map(), errors: [] }
    const c = await startCluster({ logger: summarizingLogger(logs) })
    cluster = c
    const ports = c.broker.ports
    const runId = Math.random().toString(36).slice(2, 8)
    const marker = `fzesc${runId}`
    const topics = ['FzT0', 'FzT1', 'FzT2', 'FzT3', 'FzT4', 'FzT5']
    const groups = ['FzG0', 'FzG1', 'FzG2', 'FzG3']
    const healthTopic = `Health_${runId}`
    const healthGroup = `HealthGroup_${runId}`
    for (const topic of [healthTopic, ...topics]) {
      const r = await request(c.client, c.brokerAddr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
        topic,
        readQueueNums: topic === healthTopic ? 1 : 4,
        writeQueueNums: topic === healthTopic ? 1 : 4,
        perm: 6,
      })
      expect(r.code).toBe(ResponseCode.SUCCESS)
    }
    let healthRounds = 0
    await healthRound(c, healthTopic, healthGroup, healthRounds++)
    const stats = newFuzzStats()
    const target: SessionTarget = { host: '127.0.0.1', ports, extFieldsMustBeStrings: true }
    const problems: string[] = []

    // The largest legal frame is read and answered; one byte more closes the connection unread.
    for (const extra of [0, 1]) {
      problems.push(...(await runSession(target, maxFrameSession(extra), `max frame + ${extra}`, stats, sockets)))
    }

    // The baseline is taken once the fuzz's own machinery is warm: arbitraries built, large buffers allocated once.
    const arbs = sessionArbitraries({ topics, groups, marker })
    drawSession(arbs, sessionSeed(SEED, -1))
    collectGarbage()
    const rssBefore = anonymousRss()
    const memBefore = process.memoryUsage()
    const started = Date.now()

    // Random sessions, WORKERS connections at a time, until enough cases went out.
    let nextSession = 0
    let fuzzing = true
    const worker = async (): Promise<void> => {
      while (stats.cases < CASES_MIN && problems.length === 0) {
        const index = nextSession++
        const session = drawSession(arbs, sessionSeed(SEED, index))
        stats.sessions++
        problems.push(...(await runSession(target, session, `seed ${SEED} session ${index}`, stats, sockets)))
      }
    }
    // Meanwhile the well-behaved client keeps sending and reading back on its own connection.
    const health = (async () => {
      let during = 0
      try {
        while (fuzzing) {
          await healthRound(c, healthTopic, healthGroup, healthRounds++)
          during++
        }
      } catch (err) {
        problems.push(`the well-behaved client was not served: ${(err as Error).message}`)
      }
      return during
    })()
    try {
      await Promise.all(Array.from({ length: WORKERS }, worker))
    } finally {
      fuzzing = false
    }
    const healthRoundsDuring = await health
    await healthRound(c, healthTopic, healthGroup, healthRounds++)
    const fuzzMs = Date.now() - started

    // Every fuzz connection is gone on the broker's side too; only the well-behaved client's remains.
    const servers = brokerServers(c)
    const openChannels = (): number => servers.reduce((n, s) => n + s.activeChannels().size, 0)
    await waitFor(() => openChannels() === 1 && servers.every((s) => s.pendingConnectionCount() === 0), {
      timeoutMs: 20_000,
      what: 'fuzz connections to close on the broker',
    }).catch(() => {
      problems.push(`${openChannels()} connections still open on the broker after the fuzz (expected 1)`)
    })
    // Delayed delivery still flows: every delayed message already due has been delivered.
    let stuck: string[] = []
    await waitFor(async () => (stuck = await stuckDelayLevels(c)).length === 0, {
      timeoutMs: 5000,
      intervalMs: 50,
    }).catch(() => {
      problems.push(...stuck.map((s) => `delayed delivery ${s}`))
    })
    collectGarbage()
    const rssAfter = anonymousRss()
    const memAfter = process.memoryUsage()

    console.info(
      [
        `fuzz seed ${SEED}: ${stats.cases} cases in ${stats.sessions} sessions, ${fuzzMs} ms`,
        `endings ${JSON.stringify(Object.fromEntries(stats.endings))}; debatable frames answered ${stats.debatableAnswered}, closed ${stats.debatableClosed}`,
        `response codes ${JSON.stringify(Object.fromEntries(stats.responseCodes))}; broker requests ${stats.brokerRequests}`,
        `health rounds ${healthRounds} (${healthRoundsDuring} during the fuzz); anonymous rss ${mib(rssBefore)} → ${mib(rssAfter)} MiB`,
        `memory before ${JSON.stringify(Object.fromEntries(Object.entries(memBefore).map(([k, v]) => [k, mib(v)])))}`,
        `memory after ${JSON.stringify(Object.fromEntries(Object.entries(memAfter).map(([k, v]) => [k, mib(v)])))} (MiB)`,
        `broker log ${JSON.stringify(Object.fromEntries(logs.counts))}`,
      ].join('\n'),
    )

    expect(problems.slice(0, 10), `seed ${SEED}`).toEqual([])
    expect(unhandled, `seed ${SEED}`).toEqual([])
    expect(logs.errors, `broker errors, seed ${SEED}`).toEqual([])
    expect(stats.cases).toBeGreaterThanOrEqual(CASES_MIN)
    expect(oversizedTopics(c), `seed ${SEED}`).toEqual([])
    expect(healthRoundsDuring).toBeGreaterThanOrEqual(3)

    // No file or directory was named after a hostile topic, inside the data dir or out of it.
    const storeDir = join(c.dataDir.path, 'store')
    const consumeQueues = join(storeDir, 'consumequeue')
    for (const topic of readdirSync(consumeQueues)) {
      expect(topic).toMatch(VALID_TOPIC_CHARS)
      for (const queue of readdirSync(join(consumeQueues, topic))) expect(queue).toMatch(/^\d+$/)
    }
    expect(findNamed(c.dataDir.path, marker)).toEqual([])
    expect(findNamed(tmpdir(), marker, 0)).toEqual([])
    expect(findNamed('/', marker, 0)).toEqual([])

    expect(rssAfter - rssBefore).toBeLessThan(RSS_GROWTH_MAX)
  })
  it('answers every pipelined request of a client that stopped reading for a while, once it reads again', async () => {
    const c = await startCluster()
    cluster = c
    const socket = net.connect({ host: '127.0.0.1', port: c.broker.ports[0]!, noDelay: true })
    sockets.add(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.pause()
    const count = 20_000
    const commands = Array.from({ length: count }, (_, i) =>
      plainRequest(i, i % 3 === 0 ? SERIALIZE_ROCKETMQ : SERIALIZE_JSON),
    )
    socket.write(Buffer.concat(commands.map(encodeCommand)))
    // Some 60 MiB of answers: the broker stops reading this connection once its write backlog passes 16 MiB.
    const servers = brokerServers(c)
    await waitFor(() => servers.some((s) => [...s.activeChannels()].some((ch) => ch.isReadPaused())), {
      what: 'the broker to stop reading the connection',
    })
    // It still serves everybody else.
    await healthRound(c, 'FzHealth', 'FzHealthGroup', 0)
    const reader = new ReferenceFrameReader()
    const answered = new Map<number, number>()
    socket.on('data', (chunk: Buffer) => {
      for (const f of reader.push(chunk)) answered.set(f.opaque, f.serializeType)
    })
    socket.resume()
    await waitFor(() => answered.size === count, { timeoutMs: 30_000, what: `${count} answers` })
    expect(commands.filter((cmd) => answered.get(cmd.opaque) !== cmd.serializeType)).toEqual([])
  })

  // Regressions the fuzz found, each as its smallest reproduction.

  it('keeps delivering delayed messages after a send-back to a group whose retry topic cannot be stored', async () => {
    const c = await startCluster()
    cluster = c
    const sent = await send(c.client, c.brokerAddr, { topic: 'FzOrigin', body: Buffer.from('one'), queueId: 0 })
    expect(sent.code).toBe(ResponseCode.SUCCESS)
    // The commit-log offset is the low 8 bytes of the offset msgId.
    const offset = Number.parseInt(sent.ext('msgId')!.slice(16), 16)
    const sendBack = (group: string): Promise<RemotingCommand> =>
      request(c.client, c.brokerAddr, RequestCode.CONSUMER_SEND_MSG_BACK, {
        offset,
        group,
        delayLevel: 1,
        originTopic: 'FzOrigin',
      })
    // `%RETRY%../x` is no topic the store will take: the send-back must be refused, or its delivery given up.
    await sendBack('../x')
    expect((await sendBack('FzGood')).code).toBe(ResponseCode.SUCCESS)
    await waitFor(
      async () => {
        const p = await pull(c.client, c.brokerAddr, {
          group: 'FzGood',
          topic: '%RETRY%FzGood',
          queueId: 0,
          offset: 0,
          sysFlag: 0x4,
        })
        return p.code === ResponseCode.SUCCESS
      },
      { timeoutMs: 6000, intervalMs: 100, what: 'the retry of FzGood, delayed 1 s' },
    )
  })

  it('answers a unique-key QUERY_MESSAGE whose endTimestamp is Long.MAX_VALUE, as the Java client sends it', async () => {
    const c = await startCluster()
    cluster = c
    const key = '7F00000100002A9F0000000000000001'
    const sent = await send(c.client, c.brokerAddr, { topic: 'FzQuery', properties: { UNIQ_KEY: key } })
    expect(sent.code).toBe(ResponseCode.SUCCESS)
    const query = (endTimestamp: string): Promise<RemotingCommand> =>
      request(c.client, c.brokerAddr, RequestCode.QUERY_MESSAGE, {
        topic: 'FzQuery',
        key,
        maxNum: 32,
        beginTimestamp: 0,
        endTimestamp,
        _UNIQUE_KEY_QUERY: true,
      })
    await waitFor(async () => (await query(String(Date.now() + 60_000))).code === ResponseCode.SUCCESS, {
      what: 'the index',
    })
    // `MQAdminImpl#queryMessageByUniqKey` asks for [sent time − 1 s, Long.MAX_VALUE].
    const r = await query('9223372036854775807')
    expect([r.code, r.remark]).toEqual([ResponseCode.SUCCESS, null])
  })

  it('never makes a retry topic with more queues than a queue id can name', async () => {
    const c = await startCluster()
    cluster = c
    // Refused or clamped: either way no topic may get 2^31 queues from it.
    await request(
      c.client,
      c.brokerAddr,
      RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
      {},
      {
        groupName: 'FzHuge',
        retryQueueNums: 2 ** 31,
      },
    )
    const hb = await heartbeat(c.client, c.brokerAddr, 'fz-client', [{ group: 'FzHuge', topics: { FzT: '*' } }])
    expect(hb.code).toBe(ResponseCode.SUCCESS)
    // GET_TOPIC_STATS_INFO, GET_CONSUME_STATS and INVOKE_BROKER_TO_RESET_OFFSET loop once per queue on the event
    // loop: with 5,000,000 queues one GET_TOPIC_STATS_INFO exhausts a 4 GiB heap and ends the broker process.
    expect(oversizedTopics(c)).toEqual([])
  })
  it('keeps serving other clients while a HEART_BEAT registers thousands of new consumer groups', async () => {
    const c = await startCluster()
    cluster = c
    // 3,000 groups in a 570 KB body. Each new group's retry topic re-registers the whole topic table with the name
    // servers at once, so the heartbeat holds the event loop for O(groups²): some 15 s here, 75 s for 4,000 groups.
    const consumerDataSet = Array.from({ length: 3000 }, (_, i) => ({
      groupName: `FzMany${i}`,
      subscriptionDataSet: [{ topic: 'FzT', subString: '*' }],
    }))
    const big = RemotingCommandClass.createRequest(
      RequestCode.HEART_BEAT,
      {},
      Buffer.from(JSON.stringify({ clientID: 'fz-many', consumerDataSet })),
    )
    let answered = false
    // From another connection than the well-behaved client's.
    const other = new RemotingClient()
    clients.add(other)
    const hb = other.invoke(c.brokerAddr, big, 300_000).finally(() => {
      answered = true
    })
    hb.catch(() => {})
    // Each round must finish within the client's request timeout (5 s) while the heartbeat is processed.
    for (let n = 0; !answered; n++) await healthRound(c, 'FzHealth', 'FzHealthGroup', n)
    expect((await hb).code).toBe(ResponseCode.SUCCESS)
  })
})
