/**
 * Scenario 6, hostile input: what clients, operators and files may throw at a broker.
 *
 * 1. Frame and header fuzz (`frame-fuzz.ts`) against a broker in a child process, over several connections: the
 *    broker must answer or close only the offending connection, serve a sentinel after every batch, never crash or
 *    log an error, and end with its connection count back to the baseline and its memory bounded.
 * 2. Hostile topic and group names (`name-fuzz.ts`) in every request and admin route that names one: refused, and
 *    nothing named after them on disk or in the broker's tables (the frame fuzz's names are checked the same way).
 * 3. The admin API fuzzed from its own OpenAPI document (`admin-fuzz.ts`).
 * 4. Malformed `broker.conf` and `plain_acl.yml` files (`config-fuzz.ts`): a clear error, nothing half-started. A
 *    key given twice is no error: the last one wins, as in Java (not at `test` size: it starts a broker).
 * 5. ACL (`acl-fuzz.ts`): every request code that needs a permission refused without it, with the 4.x answer.
 *
 * Sizes: `test` a few thousand frame cases and a few hundred admin requests (seconds); `quick` 50,000 and 2,000;
 * `full` 1,000,000 and 5,000. Names, bad files (a subset at `test`) and ACL checks are the same at every size.
 */

import { join } from 'node:path'

import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import type { RemotingChannel } from '../../ts/remoting/remoting-channel.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { ACL_ACCOUNTS, prepareAclBroker, runAclChecks, startAclBroker } from './acl-fuzz.js'
import { runAdminFuzz } from './admin-fuzz.js'
import { BrokerProcess, freePortPairs } from './broker-process.js'
import { BAD_CONFIGS, BAD_CONFIGS_TEST, duplicateKeyLastWins, runBadConfigs } from './config-fuzz.js'
import { runFrameFuzz } from './frame-fuzz.js'
import { leftBehind, runHostileNames } from './name-fuzz.js'
import { pullRequest } from './queue-reader.js'
import { ReportBuilder, type Scenario, type ScenarioContext, type Size } from './report.js'
import { establishedTo, readMemory } from './machine.js'
import { createTopicRequest } from '../../ts/client/admin-api.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'

const SIZES: Record<Size, { frameCases: number; connections: number; adminCases: number; badConfigs: number }> = {
  test: { frameCases: 5000, connections: 4, adminCases: 300, badConfigs: BAD_CONFIGS_TEST },
  quick: { frameCases: 50_000, connections: 8, adminCases: 2000, badConfigs: BAD_CONFIGS.length },
  full: { frameCases: 1_000_000, connections: 8, adminCases: 5000, badConfigs: BAD_CONFIGS.length },
}
/** Fuzz sessions (connections) between two sentinel rounds. */
const SESSIONS_PER_BATCH = 25
const ADMIN_CASES_PER_BATCH = 200
const TIMEOUT_MS = 10_000
const SETTLE_DEADLINE_MS = 30_000
/**
 * Anonymous memory the broker may have grown by at the end of the fuzz. The heap grows and shrinks with the garbage
 * collector (a million cases peak some 400 MiB over a 60 MiB start, and end lower), so this is a bound, not a leak
 * detector: at the full size a leak of more than some 500 bytes a case fails it; smaller sizes catch gross leaks only.
 */
const RSS_GROWTH_BYTES_MAX = 512 * 1024 * 1024
const HEALTH_TOPIC = 'TortureHostileHealth'
const HEALTH_GROUP = 'TortureHostileHealthGroup'
const FUZZ_TOPICS = ['FzT0', 'FzT1', 'FzT2', 'FzT3']
const FUZZ_GROUPS = ['FzG0', 'FzG1', 'FzG2']

export const hostileInput: Scenario = {
  name: 'hostile-input',
  title: 'frame and header fuzz, hostile names, admin API fuzz, bad config and ACL files, ACL refusals',
  async run(ctx: ScenarioContext) {
    const r = new ReportBuilder('hostile-input')
    const size = SIZES[ctx.size]
    // Every hostile name carries it; nothing else on the machine does.
    const marker = `hstl${ctx.seed.toString(36)}x${process.pid.toString(36)}`
    const namesrv = await NamesrvController.start({ listenPort: 0, kvConfigPath: join(ctx.dir, 'namesrv', 'kv.json') })
    const namesrvAddr = `127.0.0.1:${namesrv.port()}`
    try {
      await brokerParts(ctx, r, namesrvAddr, marker)
      await badConfigs(ctx, r, namesrv, size.badConfigs)
      if (ctx.size !== 'test') {
        const duplicate = await duplicateKeyLastWins(join(ctx.dir, 'duplicate-key'), namesrvAddr)
        r.row('a key given twice: the last wins, as in Java', duplicate.length === 0 ? 'yes' : 'no')
        for (const p of duplicate) r.check(false, `a key given twice: ${p}`)
      }
      await acl(ctx, r, namesrvAddr)
    } finally {
      await namesrv.shutdown()
    }
    return r.build()
  },
}

/** Parts 1-3 against one broker process with its admin API: frames, names, admin requests, then what they left. */
async function brokerParts(ctx: ScenarioContext, r: ReportBuilder, namesrvAddr: string, marker: string): Promise<void> {
  const [port, adminPort] = (await freePortPairs(2)) as [number, number]
  const broker = new BrokerProcess({
    brokerName: 'torture-hostile',
    brokerId: 0,
    brokerRole: 'ASYNC_MASTER',
    port,
    namesrvAddr,
    dataDir: join(ctx.dir, 'broker'),
    clusterName: 'TortureHostile',
    conf: { adminPort, defaultTopicQueueNums: 4, mappedFileSizeCommitLog: 64 * 1024 * 1024 },
  })
  const client = new RemotingClient()
  const adminUrl = `http://127.0.0.1:${adminPort}`
  try {
    await broker.start()
    for (const topic of [HEALTH_TOPIC, ...FUZZ_TOPICS]) await createTopic(client, broker.addr, topic)
    const health = new Health(client, broker)
    await health.round()

    await frameFuzz(ctx, r, broker, health, marker, SIZES[ctx.size])
    if (!alive(broker.pid)) {
      r.check(false, `the broker process died during the frame fuzz: ${broker.log.join('').slice(-3000)}`)
      return
    }
    await hostileNames(ctx, r, client, broker, adminUrl, marker)
    await adminFuzz(ctx, r, adminUrl, marker, SIZES[ctx.size].adminCases)
    const left = await leftBehind({ client, brokerAddr: broker.addr, marker }, ctx.dir, broker.storeDir)
    r.row('paths and table entries named after hostile names', left.length)
    for (const p of left.slice(0, 10)) r.check(false, p)
    await health.round().catch((err: Error) => r.check(false, `the broker stopped serving: ${err.message}`))
    health.scanLog()
    r.row('broker errors logged', health.errors.length)
    r.row('answers over the frame limit, refused', health.oversizedResponses)
    for (const e of health.errors.slice(0, 5)) r.check(false, `the broker logged an error: ${e.slice(0, 500)}`)
  } finally {
    client.shutdown()
    await broker.stop()
  }
}

async function frameFuzz(
  ctx: ScenarioContext,
  r: ReportBuilder,
  broker: BrokerProcess,
  health: Health,
  marker: string,
  size: (typeof SIZES)[Size],
): Promise<void> {
  const connectionsBefore = establishedTo(broker.spec.port)
  const rssBefore = (readMemory(broker.pid)?.anonKiB ?? 0) * 1024
  let rssPeak = rssBefore
  const started = performance.now()
  const result = await runFrameFuzz({
    host: '127.0.0.1',
    port: broker.spec.port,
    casesMin: size.frameCases,
    connections: size.connections,
    seed: ctx.seed,
    names: { topics: FUZZ_TOPICS, groups: FUZZ_GROUPS, marker },
    sentinel: async () => {
      await health.round()
      rssPeak = Math.max(rssPeak, (readMemory(broker.pid)?.anonKiB ?? 0) * 1024)
    },
    sessionsPerBatch: SESSIONS_PER_BATCH,
    log: ctx.log,
  })
  const seconds = (performance.now() - started) / 1000
  // Every fuzz connection is closed on the broker's side too: only the sentinel's is left.
  let connectionsAfter = establishedTo(broker.spec.port)
  const deadline = Date.now() + SETTLE_DEADLINE_MS
  while (connectionsAfter > connectionsBefore && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 100))
    connectionsAfter = establishedTo(broker.spec.port)
  }
  const rssAfter = (readMemory(broker.pid)?.anonKiB ?? 0) * 1024
  const e = result.endings
  r.row('frame fuzz: cases', result.cases)
    .row('frame fuzz: cases per second', Math.round(result.cases / seconds))
    .row('frame fuzz: sessions (connections)', result.sessions)
    .row(
      'frame fuzz: endings',
      `clean ${e.clean ?? 0}, malformed ${e.malformed ?? 0}, debatable ${e.debatable ?? 0}, truncated ${e.truncated ?? 0}, garbage ${e.garbage ?? 0}`,
    )
    .row('frame fuzz: debatable answered / closed', `${result.debatableAnswered} / ${result.debatableClosed}`)
    .row('frame fuzz: sentinel rounds served', result.sentinelRounds)
    .row('frame fuzz: connections before / after', `${connectionsBefore} / ${connectionsAfter}`)
    .row('frame fuzz: broker anon RSS MiB start/peak/end', `${mib(rssBefore)} / ${mib(rssPeak)} / ${mib(rssAfter)}`)
  r.total('fuzz_cases', result.cases)
  for (const p of result.problems.slice(0, 20)) r.check(false, `frame fuzz: ${p}`)
  r.check(result.cases >= size.frameCases, `frame fuzz: only ${result.cases} of ${size.frameCases} cases went out`)
  r.check(
    connectionsAfter <= connectionsBefore,
    `frame fuzz: ${connectionsAfter} connections open on the broker after the fuzz (${connectionsBefore} before)`,
  )
  r.check(
    rssAfter - rssBefore < RSS_GROWTH_BYTES_MAX,
    `frame fuzz: the broker's anonymous memory grew from ${mib(rssBefore)} to ${mib(rssAfter)} MiB`,
  )
  r.check(
    health.sameChannel(),
    'frame fuzz: the sentinel connection was closed (the broker closed more than the offender)',
  )
  health.scanLog()
}

async function hostileNames(
  ctx: ScenarioContext,
  r: ReportBuilder,
  client: RemotingClient,
  broker: BrokerProcess,
  adminUrl: string,
  marker: string,
): Promise<void> {
  const topic = FUZZ_TOPICS[0]!
  // The health group exists (the sentinel's pulls created it): requests naming a hostile topic pair with it.
  const result = await runHostileNames({
    client,
    brokerAddr: broker.addr,
    adminUrl,
    marker,
    topic,
    group: HEALTH_GROUP,
  })
  r.row('hostile names', result.names)
    .row('hostile names: requests', result.tried)
    .row('hostile names: refused', result.refused)
    .row('hostile names: accepted as Java, nothing stored', result.acceptedAsJava)
    .row('hostile names: admin reads that found nothing', result.emptyReads)
  r.total('hostile_names_refused', result.refused)
  for (const p of result.problems.slice(0, 20)) r.check(false, `hostile names: ${p}`)
  ctx.log(`hostile names: ${result.refused} of ${result.tried} requests refused`)
}

async function adminFuzz(
  ctx: ScenarioContext,
  r: ReportBuilder,
  adminUrl: string,
  marker: string,
  cases: number,
): Promise<void> {
  const names = [...FUZZ_TOPICS, ...FUZZ_GROUPS, `../${marker}`, `${marker}/x`, `${marker}\u0000`, 'A'.repeat(128)]
  const result = await runAdminFuzz({
    baseUrl: adminUrl,
    cases,
    seed: ctx.seed,
    names,
    casesPerBatch: ADMIN_CASES_PER_BATCH,
    log: ctx.log,
  })
  const statuses = Object.entries(result.statuses)
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ')
  r.row('admin fuzz: routes', result.routes)
    .row('admin fuzz: requests', result.cases)
    .row('admin fuzz: answers by status', statuses)
    .row('admin fuzz: undeclared 4xx (checked as 400)', result.undeclared.join('; ') || 'none')
  r.total('admin_fuzz_cases', result.cases)
  for (const p of result.problems.slice(0, 20)) r.check(false, `admin fuzz: ${p}`)
  r.check(result.cases >= cases, `admin fuzz: only ${result.cases} of ${cases} requests answered`)
}

async function badConfigs(
  ctx: ScenarioContext,
  r: ReportBuilder,
  namesrv: NamesrvController,
  n: number,
): Promise<void> {
  const outcomes = await runBadConfigs({
    dir: join(ctx.dir, 'bad-configs'),
    namesrv,
    cases: BAD_CONFIGS.slice(0, n),
    parallel: 2,
    log: ctx.log,
  })
  const skipped = outcomes.filter((o) => o.skipped)
  const refused = outcomes.filter((o) => !o.skipped && o.problems.length === 0)
  r.row('bad config files tried', outcomes.length)
    .row('bad config files refused, nothing half-started', refused.length)
    .row('bad config files skipped', skipped.map((o) => `${o.name} ${o.message}`).join('; ') || 'none')
  r.total('bad_configs_refused', refused.length)
  for (const o of outcomes) for (const p of o.problems) r.check(false, `bad config "${o.name}": ${p}`)
}

async function acl(ctx: ScenarioContext, r: ReportBuilder, namesrvAddr: string): Promise<void> {
  const [port] = await freePortPairs(1)
  const broker = await startAclBroker(join(ctx.dir, 'acl-broker'), port!, namesrvAddr)
  try {
    const o = { brokerAddr: broker.addr, topic: 'TortureAclTopic', group: 'TortureAclGroup' }
    await prepareAclBroker(o)
    const result = await runAclChecks(o)
    r.row('ACL: codes that need a permission', result.codes.length)
      .row('ACL: codes', result.codes.join(' '))
      .row(`ACL: refused (${ACL_ACCOUNTS.none.accessKey}, non-admin; JSON and ROCKETMQ)`, result.refused)
      .row('ACL: controls with the permission passed', result.allowed)
      .row('ACL: unsigned requests refused (every code)', result.unsignedRefused)
      .row('ACL: wrong-secret signatures refused', result.wrongSecretRefused)
    if (result.problems.length === 0) r.total('acl_codes_refused', result.codes.length)
    r.total('acl_requests_refused', result.refused + result.unsignedRefused + result.wrongSecretRefused)
    for (const p of result.problems.slice(0, 20)) r.check(false, `ACL: ${p}`)
  } finally {
    await broker.stop()
  }
}

/**
 * The sentinel: a send to the health topic, read back by pull, on a connection of its own that must stay open
 * through the fuzz. Also watches the broker's log for errors as it goes (the log keeps only its last chunks).
 */
class Health {
  readonly errors: string[] = []
  /**
   * Answers over the frame limit, logged at error level and refused with SYSTEM_ERROR: a valid request can ask for
   * one (GET_CONSUME_STATS of a topic with 65,536 queues and a long name comes to 15-17 MiB), and Java sends it
   * anyway, for its client to refuse.
   */
  oversizedResponses = 0
  private n = 0
  private channel: RemotingChannel | null = null
  private channelReplaced = false
  private logSeen = 0

  constructor(
    private readonly client: RemotingClient,
    private readonly broker: BrokerProcess,
  ) {}

  sameChannel(): boolean {
    return !this.channelReplaced
  }

  async round(): Promise<void> {
    const channel = await this.client.channel(this.broker.addr)
    if (this.channel !== null && channel !== this.channel) this.channelReplaced = true
    this.channel = channel
    const body = Buffer.from(`health ${this.n++} ${Date.now()}`)
    const sent = await this.retryBusy(
      () => this.client.invoke(this.broker.addr, sendRequest(HEALTH_TOPIC, body), TIMEOUT_MS),
      'send',
    )
    const offset = sent.ext('queueOffset')
    const pulled = await this.retryBusy(
      () =>
        this.client.invoke(this.broker.addr, pullRequest(HEALTH_GROUP, HEALTH_TOPIC, 0, Number(offset), 1), TIMEOUT_MS),
      'pull',
    )
    const [m] = decodeMessages(pulled.body ?? Buffer.alloc(0))
    if (m === undefined || !m.body.equals(body)) throw new Error(`health pull at offset ${offset} read something else`)
    this.scanLog()
  }

  /** Error lines (pino level 50 and 60) logged since the last scan. */
  scanLog(): void {
    const log = this.broker.log
    // The process keeps its last 1,000-2,000 chunks, dropping 1,000 at a time.
    if (log.length < this.logSeen) this.logSeen = Math.max(0, this.logSeen - 1000)
    for (const chunk of log.slice(this.logSeen)) {
      for (const line of chunk.split('\n')) {
        if (!/"level":(50|60)/.test(line)) continue
        if (/"msg":"response too large"/.test(line)) this.oversizedResponses++
        else if (this.errors.length < 20) this.errors.push(line)
      }
    }
    this.logSeen = log.length
  }

  /** Flow control may answer SYSTEM_BUSY under the fuzz's load: asked again until the deadline. */
  private async retryBusy(call: () => Promise<RemotingCommand>, what: string): Promise<RemotingCommand> {
    const deadline = Date.now() + 2 * TIMEOUT_MS
    for (;;) {
      const r = await call()
      if (r.code === ResponseCode.SUCCESS) return r
      if (r.code !== ResponseCode.SYSTEM_BUSY || Date.now() > deadline) {
        throw new Error(`health ${what} answered ${r.code} ${r.remark}`)
      }
      await new Promise((res) => setTimeout(res, 20))
    }
  }
}

async function createTopic(client: RemotingClient, addr: string, topic: string): Promise<void> {
  const request = createTopicRequest(newTopicConfig(topic, { readQueueNums: 4, writeQueueNums: 4 }))
  const r = await client.invoke(addr, request, TIMEOUT_MS)
  if (r.code !== ResponseCode.SUCCESS) throw new Error(`creating ${topic}: ${r.code} ${r.remark}`)
}

function sendRequest(topic: string, body: Buffer): RemotingCommand {
  const ext = { a: 'TortureHealthPG', b: topic, c: 'TBW102', d: '4', e: '0', f: '0', g: String(Date.now()), h: '0' }
  return RemotingCommand.createRequest(RequestCode.SEND_MESSAGE_V2, ext, body)
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / 2 ** 20)
}
