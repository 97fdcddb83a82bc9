/**
 * Scenario 3, disk full: a broker process keeps its store on a small filesystem, a producer fills it until sends
 * are refused, and then:
 *
 * - every refusal is one of RocketMQ's two for a full disk: `CREATE_MAPPED_FILE_FAILED` (answered `SYSTEM_ERROR`,
 *   "create mapped file failed…", when the next commit-log segment cannot be reserved) or `SERVICE_NOT_AVAILABLE`
 *   (once the disk watermark check sees usage above `diskSpaceWarningLevelRatio`, 90 %);
 * - reads and consumers keep working: a push consumer receives every acknowledged message while the disk is full,
 *   and every queue reads back whole;
 * - once space is freed, sends succeed again by themselves, without a restart (the time this takes is reported),
 *   and at the end (and again after a clean restart) nothing acknowledged is missing.
 *
 * How the disk is made full, best first:
 *
 * - `tmpfs`: a size-limited tmpfs mounted for the run (needs the right to mount, as root has). A filler file takes
 *   the space but one and three quarter segments; the store fills that and its next segment cannot be reserved
 *   (`posix_fallocate` fails with ENOSPC): `CREATE_MAPPED_FILE_FAILED`, with usage still under the watermark. Then
 *   the filler grows to leave under 10 % free: the watermark check (`cleanResourceInterval` 1 s here) flags the disk
 *   full: `SERVICE_NOT_AVAILABLE`. Deleting the filler frees the space. `cleanFileForciblyEnable` is off, so the
 *   store's forced clean-up never deletes acknowledged segments to make room (it would with RocketMQ's default).
 * - `blocked-segments`, where mounting is not allowed: the names of the commit-log segments the store will need
 *   next are taken by directories, so creating them fails (EISDIR, not ENOSPC) just as a full disk makes it fail:
 *   `CREATE_MAPPED_FILE_FAILED`. Removing the directories frees the way. The watermark cannot be reached this way.
 */
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, statfsSync, writeSync } from 'node:fs'
import { join } from 'node:path'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { BrokerResponseError } from '../../ts/common/errors.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { BrokerProcess } from './broker-process.js'
import { ReportBuilder, seededRandom, type Scenario, type ScenarioContext, type Size } from './report.js'
import { readQueues, stablePortPairs } from './store-damage.js'
import { until } from './machine.js'

const TOPIC = 'TortureDiskFull'
const QUEUES = 4
const LANES = 4
const MIB = 1024 * 1024
/** A refused lane waits this long before it tries again, instead of spinning on refusals. */
const REFUSED_PAUSE_MS = 50
/** Single sends made while the disk is full, each expected to be refused. */
const PROBES_WHILE_FULL = 5
/** Segment names blocked ahead of the writer (`blocked-segments`). */
const BLOCKED_SEGMENTS = 8
const WAIT_MS = 60_000

export type DiskFullMethod = 'tmpfs' | 'blocked-segments'

/** Bodies stay under the producer's compression threshold (`compressMsgBodyOverHowmuch`, 4 KiB) to fill the disk. */
const SIZES: Record<Size, { fsBytes: number; segmentBytes: number; bodyBytes: number; afterResume: number }> = {
  test: { fsBytes: 20 * MIB, segmentBytes: 4 * MIB, bodyBytes: 3500, afterResume: 300 },
  quick: { fsBytes: 40 * MIB, segmentBytes: 8 * MIB, bodyBytes: 3500, afterResume: 600 },
  full: { fsBytes: 160 * MIB, segmentBytes: 32 * MIB, bodyBytes: 3500, afterResume: 3000 },
}

/** What a refused send was answered, in RocketMQ's terms. */
function refusalName(err: unknown): string {
  const code = (err as { responseCode?: number }).responseCode
  const cause = (err as { cause?: unknown }).cause
  const remark =
    err instanceof BrokerResponseError ? err.remark : cause instanceof BrokerResponseError ? cause.remark : null
  if (code === ResponseCode.SYSTEM_ERROR && remark?.startsWith('create mapped file failed'))
    return 'CREATE_MAPPED_FILE_FAILED'
  if (code === ResponseCode.SERVICE_NOT_AVAILABLE) return 'SERVICE_NOT_AVAILABLE'
  return code !== undefined ? `code ${code}: ${remark ?? ''}` : `error: ${(err as Error).message}`
}

/** A size-limited tmpfs on `dir`, or null when this process may not mount one. */
function mountTmpfs(dir: string, bytes: number): { unmount: () => void } | null {
  mkdirSync(dir, { recursive: true })
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { encoding: 'utf8' })
  if (r.status !== 0) return null
  return {
    unmount: () => {
      // Still busy means a process of the run holds a file there: detach it anyway.
      if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir])
    },
  }
}

/** Free bytes of the filesystem holding `path`. */
function freeBytes(path: string): number {
  const s = statfsSync(path)
  return s.bavail * s.bsize
}

/** Appends `bytes` zeroes to the filler file (stops early, without error, when the filesystem is full). */
function growFiller(path: string, bytes: number): void {
  const fd = openSync(path, 'a')
  const chunk = Buffer.alloc(MIB)
  try {
    for (let left = bytes; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    closeSync(fd)
  }
}

function segmentName(offset: number): string {
  return String(offset).padStart(20, '0')
}

/** Takes the names of the next segments after the newest existing one; returns the directories made. */
function blockSegments(commitLogDir: string, segmentBytes: number): string[] {
  const newest = Math.max(...readdirSync(commitLogDir).map(Number).filter(Number.isFinite))
  const made: string[] = []
  for (let i = 1; i <= BLOCKED_SEGMENTS; i++) {
    const path = join(commitLogDir, segmentName(newest + i * segmentBytes))
    try {
      mkdirSync(path)
      made.push(path)
    } catch (err) {
      // The allocator created that one first: the next names are still blocked.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  return made
}

/** Whether this process may mount a tmpfs (the `tmpfs` method), tried once on a scratch directory. */
export function canMountTmpfs(scratch: string): boolean {
  const m = mountTmpfs(scratch, MIB)
  m?.unmount()
  rmSync(scratch, { recursive: true, force: true })
  return m !== null
}

/** The disk-full scenario with a given method, or the best this process is allowed. */
export function diskFullScenario(method?: DiskFullMethod): Scenario {
  return {
    name: 'disk-full',
    title: 'a full disk: sends refused in RocketMQ terms, reads and consumers go on, writing resumes once space frees',
    run: (ctx) => runDiskFull(ctx, method ?? (canMountTmpfs(join(ctx.dir, 'probe')) ? 'tmpfs' : 'blocked-segments')),
  }
}

export const diskFull: Scenario = diskFullScenario()

async function runDiskFull(ctx: ScenarioContext, method: DiskFullMethod) {
  const size = SIZES[ctx.size]
  const fsDir = join(ctx.dir, 'fs')
  const mount = method === 'tmpfs' ? mountTmpfs(fsDir, size.fsBytes) : null
  if (method === 'tmpfs' && mount === null) throw new Error('cannot mount a tmpfs (the tmpfs method needs root)')
  mkdirSync(fsDir, { recursive: true })
  const namesrv = await NamesrvController.start({ listenPort: 0, kvConfigPath: join(ctx.dir, 'namesrv', 'kv.json') })
  const [port] = await stablePortPairs(1, seededRandom(ctx.seed + 1))
  const run = new DiskFullRun(ctx, method, fsDir, `127.0.0.1:${namesrv.port()}`, port!)
  try {
    await run.start()
    await run.fillUntilRefused()
    await run.checkWhileFull()
    if (method === 'tmpfs') await run.reachWatermark()
    await run.freeSpaceAndResume()
    await run.checkNothingLost()
  } finally {
    await run.stop()
    await namesrv.shutdown()
    mount?.unmount()
  }
  return run.r.build()
}

/** One run of the scenario: the broker on the small filesystem, its clients, and what they saw. */
class DiskFullRun {
  readonly r = new ReportBuilder('disk-full')
  private readonly size: (typeof SIZES)[Size]
  private readonly broker: BrokerProcess
  private readonly client = new RemotingClient()
  private readonly producer: Producer
  private readonly consumer: PushConsumer
  private readonly acked = new Set<string>()
  private readonly delivered = new Set<string>()
  /** Refused sends by answer (`refusalName`). */
  private readonly refusals = new Map<string, number>()
  private readonly filler: string
  private readonly body: string
  private blocked: string[] = []
  private sent = 0

  constructor(
    private readonly ctx: ScenarioContext,
    private readonly method: DiskFullMethod,
    private readonly fsDir: string,
    namesrvAddr: string,
    port: number,
  ) {
    this.size = SIZES[ctx.size]
    this.filler = join(fsDir, 'filler')
    this.body = 'x'.repeat(this.size.bodyBytes)
    this.broker = new BrokerProcess({
      brokerName: 'broker-diskfull',
      brokerId: 0,
      brokerRole: 'ASYNC_MASTER',
      port,
      namesrvAddr,
      dataDir: join(fsDir, 'broker'),
      conf: {
        flushDiskType: 'SYNC_FLUSH',
        defaultTopicQueueNums: QUEUES,
        mappedFileSizeCommitLog: this.size.segmentBytes,
        maxHashSlotNum: 1000,
        maxIndexNum: 4000,
        cleanResourceInterval: 1000,
        cleanFileForciblyEnable: false,
        allocateMappedFileTimeoutMs: 5000,
      },
    })
    this.producer = new Producer({
      producerGroup: 'TortureDiskFullPG',
      namesrvAddr,
      sendMsgTimeout: 10_000,
      retryTimesWhenSendFailed: 0,
    })
    this.consumer = new PushConsumer({
      consumerGroup: 'TortureDiskFullCG',
      namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
    })
    this.r.row(
      'method',
      method === 'tmpfs' ? `tmpfs of ${this.size.fsBytes / MIB} MiB` : 'segment names blocked by directories',
    )
  }

  /** One send; returns the refusal's name, or null when acknowledged. */
  private async sendOne(): Promise<string | null> {
    const key = `full-${this.sent++}`
    try {
      const res = await this.producer.send(new Message({ topic: TOPIC, body: `${key}|${this.body}`, keys: key }))
      if (res.sendStatus === SendStatus.SEND_OK) {
        this.acked.add(key)
        return null
      }
      return res.sendStatus
    } catch (err) {
      const name = refusalName(err)
      this.refusals.set(name, (this.refusals.get(name) ?? 0) + 1)
      return name
    }
  }

  private consumedAll(): boolean {
    for (const k of this.acked) if (!this.delivered.has(k)) return false
    return true
  }

  async start(): Promise<void> {
    await this.broker.start()
    await this.producer.start()
    this.consumer.subscribe(TOPIC, '*')
    this.consumer.registerMessageListener((msgs) => {
      for (const m of msgs) this.delivered.add(m.body.toString('utf8', 0, m.body.indexOf('|')))
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await this.consumer.start()
  }

  /** Takes the space (or the segment names), then sends from several lanes until a send is refused. */
  async fillUntilRefused(): Promise<void> {
    // A first send makes the store create its first segments, index and queues; then the space is taken.
    this.r.check((await this.sendOne()) === null, 'the first send, on an empty disk, was refused')
    const segmentBytes = this.size.segmentBytes
    if (this.method === 'tmpfs') growFiller(this.filler, Math.max(0, freeBytes(this.fsDir) - 1.75 * segmentBytes))
    else this.blocked = blockSegments(join(this.broker.storeDir, 'commitlog'), segmentBytes)
    let full = false
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (!full) if ((await this.sendOne()) !== null) full = true
      }),
    )
    const first = [...this.refusals.keys()].join(', ')
    this.ctx.log(`refused after ${this.acked.size} acknowledged: ${first}`)
    this.r.row('acknowledged before the disk was full', this.acked.size).row('first refusal', first)
    for (let i = 0; i < PROBES_WHILE_FULL; i++) {
      this.r.check((await this.sendOne()) !== null, 'a send while the disk was full was acknowledged')
    }
  }

  /** Reads and consumers go on while the disk is full. */
  async checkWhileFull(): Promise<void> {
    const ms = await until(() => this.consumedAll(), WAIT_MS, 'the consumer to catch up while the disk is full')
    this.r.row('consumer caught up while full, ms', Math.round(ms))
    const lost = await missing(this.client, this.broker.addr, this.acked)
    this.r.check(
      lost.length === 0,
      `reading the queues while the disk was full missed ${lost.length} acknowledged message(s)`,
    )
  }

  /** Under 10 % free: the watermark check flags the disk full and sends get SERVICE_NOT_AVAILABLE. */
  async reachWatermark(): Promise<void> {
    growFiller(this.filler, Math.max(0, freeBytes(this.fsDir) - 0.05 * this.size.fsBytes))
    const ms = await until(
      async () => (await this.sendOne()) === 'SERVICE_NOT_AVAILABLE',
      WAIT_MS,
      'SERVICE_NOT_AVAILABLE',
    )
    this.r.row('SERVICE_NOT_AVAILABLE after the watermark, ms', Math.round(ms))
  }

  /** Frees the space; sends must be acknowledged again without a restart, and go on being. */
  async freeSpaceAndResume(): Promise<void> {
    const before = this.acked.size
    if (this.method === 'tmpfs') rmSync(this.filler)
    else for (const d of this.blocked) rmdirSync(d)
    const resumeMs = await until(
      async () => {
        if ((await this.sendOne()) === null) return true
        await new Promise((res) => setTimeout(res, REFUSED_PAUSE_MS))
        return false
      },
      WAIT_MS,
      'sends to be acknowledged again after space was freed',
    )
    this.ctx.log(`space freed: sends acknowledged again after ${Math.round(resumeMs)} ms`)
    let refused = 0
    for (let i = 0; i < this.size.afterResume; i++) if ((await this.sendOne()) !== null) refused++
    this.r.check(refused === 0, `${refused} send(s) refused after space was freed and sends had resumed`)
    this.r
      .row('resumed after space was freed, ms', Math.round(resumeMs))
      .row('acknowledged after resuming', this.acked.size - before)
      .total('disk_full_resume_ms_max', Math.round(resumeMs))
  }

  /** The consumer has everything acknowledged, the queues hold it, and so do they after a restart. */
  async checkNothingLost(): Promise<void> {
    await until(() => this.consumedAll(), WAIT_MS, 'the consumer to catch up after resuming')
    const lost = await missing(this.client, this.broker.addr, this.acked)
    await this.broker.stop()
    await this.broker.start()
    const lostAfterRestart = await missing(this.client, this.broker.addr, this.acked)
    const r = this.r
    for (const [name, n] of [...this.refusals].sort()) r.row(`refused: ${name}`, n)
    const other = [...this.refusals.keys()].filter(
      (k) => k !== 'CREATE_MAPPED_FILE_FAILED' && k !== 'SERVICE_NOT_AVAILABLE',
    )
    r.check(other.length === 0, `sends refused with other answers than a full disk's: ${other.join('; ')}`)
    r.check(
      (this.refusals.get('CREATE_MAPPED_FILE_FAILED') ?? 0) > 0,
      'no send was refused with CREATE_MAPPED_FILE_FAILED when no segment could be created',
    )
    r.row('acknowledged', this.acked.size)
      .row('lost', lost.length)
      .row('lost after a restart', lostAfterRestart.length)
      .row('consumed (distinct)', this.delivered.size)
    r.check(lost.length === 0, `lost ${lost.length} acknowledged message(s), e.g. ${lost.slice(0, 5).join(', ')}`)
    r.check(
      lostAfterRestart.length === 0,
      `after a restart ${lostAfterRestart.length} acknowledged message(s) were missing, e.g. ${lostAfterRestart.slice(0, 5).join(', ')}`,
    )
    r.total('acked', this.acked.size)
      .total('lost_sync', Math.max(lost.length, lostAfterRestart.length))
      .total(
        'disk_full_refusals',
        [...this.refusals.values()].reduce((a, b) => a + b, 0),
      )
  }

  async stop(): Promise<void> {
    await this.consumer.shutdown().catch(() => {})
    await this.producer.shutdown().catch(() => {})
    this.client.shutdown()
    await this.broker.stop()
  }
}

/** Acknowledged keys the broker's queues do not serve intact. */
async function missing(client: RemotingClient, addr: string, acked: Set<string>): Promise<string[]> {
  const scan = await readQueues(client, addr, TOPIC, QUEUES)
  const stored = new Set(scan.records.filter((x) => x.crcOk).map((x) => x.key))
  return [...acked].filter((k) => !stored.has(k))
}
