/**
 * Scenario 2, torn and rotten files: records are written through a broker process with `SYNC_FLUSH` and small
 * commit-log segments (so there are several files), the broker is stopped (SIGKILL, and cleanly), and a copy of its
 * files is damaged, one kind of damage per case:
 *
 * - `torn-tail`: the last record-holding segment ends mid-record (its bytes from a cut inside a record to the end of
 *   the written data are zero), as a write that never reached the disk leaves a pre-allocated file;
 * - `short-file`: that segment file itself is truncated mid-record (and the empty pre-allocated ones after it
 *   removed). RocketMQ refuses to load a segment whose length is not the configured size (store.md §2.4 step 3);
 *   ferrymq extends a short last segment with zeroes and says so, so the broker must start, log the extension, and
 *   keep every record before the cut;
 * - `zero-page`: one 4 KiB page of the written log is zeroed, anywhere;
 * - `bit-flip`: random bytes of old segments (which a clean restart does not scan) are flipped.
 *
 * The broker is then started on the damaged copy and checked: it starts; every acknowledged record before the damage
 * is still served; whatever is missing after the damage is explained by the recovery's log line (`recovery stopped
 * at offset …: <reason>`); and no record served — by pull, `VIEW_MESSAGE_BY_ID`, `QUERY_MESSAGE` by key, or the admin
 * API's message lookup — has a body whose CRC32 (masked `0x7FFFFFFF`, `UtilAll.crc32`) disagrees with its BODYCRC
 * field. A flip outside the body (header, topic, properties) is not covered by the body CRC: such records may be
 * served changed; they are counted, not failed.
 */
import { closeSync, cpSync, ftruncateSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'

import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { queryMessageRequest, viewMessageRequest } from '../../ts/client/admin-api.js'
import { MessageConst } from '../../ts/common/message/message-const.js'
import { decodeMessage, RECORD_FIXED_BYTES_V4 } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { BrokerProcess } from './broker-process.js'
import { pullRequest, queueOffset } from './queue-reader.js'
import { ReportBuilder, seededRandom, type Scenario, type ScenarioContext, type Size } from './report.js'

const TOPIC = 'TortureDamage'
const QUEUES = 4
const LANES = 8
/** Messages per pull when reading queues back (the broker's per-pull limits are raised to match). */
const PULL_BATCH = 256
/** Records looked up one by one in each case besides every damaged one. */
const LOOKUP_SAMPLE = 16
const PAGE_BYTES = 4096
const FLIPS_PER_CASE = 3
const BODY_BYTES_MIN = 40

const KINDS = ['torn-tail', 'short-file', 'zero-page', 'bit-flip'] as const
type DamageKind = (typeof KINDS)[number]
const STOPS = ['kill', 'clean'] as const
type StopKind = (typeof STOPS)[number]

const SIZES: Record<Size, { messages: number; segmentBytes: number; casesPerKind: number; bodyBytesMax: number }> = {
  test: { messages: 400, segmentBytes: 64 * 1024, casesPerKind: 1, bodyBytesMax: 600 },
  quick: { messages: 3000, segmentBytes: 256 * 1024, casesPerKind: 2, bodyBytesMax: 900 },
  full: { messages: 40_000, segmentBytes: 1024 * 1024, casesPerKind: 5, bodyBytesMax: 900 },
}

/** Ports below Linux's ephemeral range (32768–60999), where `listen(0)` and outgoing connections never land. */
const STABLE_PORT_MIN = 20_000
const STABLE_PORT_MAX = 32_000

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/**
 * Free loopback ports, each with the next one free too (a broker's HA port), outside the ephemeral range: a broker
 * restarted many times keeps its port, and while it is down another process's `listen(0)` or outgoing connection
 * could take a port from that range.
 */
export async function stablePortPairs(n: number, random: () => number): Promise<number[]> {
  const out: number[] = []
  for (let tries = 0; out.length < n; tries++) {
    if (tries > 1000) throw new Error('no free port pair below the ephemeral range')
    const p = STABLE_PORT_MIN + Math.floor(random() * (STABLE_PORT_MAX - STABLE_PORT_MIN))
    if (out.some((q) => Math.abs(q - p) < 3)) continue
    if ((await portFree(p)) && (await portFree(p + 1))) out.push(p)
  }
  return out
}

/** `UtilAll.crc32`: CRC32 masked to 31 bits, as BODYCRC holds it. */
export function bodyCrc(body: Buffer): number {
  return crc32(body) & 0x7fffffff
}

/** One record as a broker served it. */
export interface ServedRecord {
  phy: number
  size: number
  key: string
  msgId: string
  raw: Buffer
  /** Its body's CRC matches its BODYCRC field. */
  crcOk: boolean
}

/** Splits back-to-back records (a pull, QUERY_MESSAGE or VIEW_MESSAGE_BY_ID body); counts what is not a record. */
export function servedRecords(b: Buffer): { records: ServedRecord[]; malformed: number } {
  const records: ServedRecord[] = []
  let malformed = 0
  let pos = 0
  while (pos < b.length) {
    const size = pos + 8 <= b.length ? b.readInt32BE(pos) : 0
    if (size < RECORD_FIXED_BYTES_V4 || pos + size > b.length) {
      malformed++
      break
    }
    const m = decodeMessage(b, pos, { decompressBody: false, copyBody: false })
    if (m === null) malformed++
    else
      records.push({
        phy: m.commitLogOffset,
        size,
        key: m.properties.get(MessageConst.PROPERTY_KEYS) ?? '',
        msgId: m.msgId,
        raw: Buffer.from(b.subarray(pos, pos + size)),
        crcOk: bodyCrc(m.body) === m.bodyCRC,
      })
    pos += size
  }
  return { records, malformed }
}

export interface QueueScan {
  records: ServedRecord[]
  malformed: number
  /** Queues whose reading could not move on, in words. */
  stuck: string[]
}

/** Pulls every queue of `topic` from its min to its max offset, following `nextBeginOffset` past what is refused. */
export async function readQueues(
  client: RemotingClient,
  addr: string,
  topic: string,
  queues: number,
): Promise<QueueScan> {
  const out: QueueScan = { records: [], malformed: 0, stuck: [] }
  const moveOn = new Set<number>([
    ResponseCode.PULL_RETRY_IMMEDIATELY,
    ResponseCode.PULL_OFFSET_MOVED,
    ResponseCode.PULL_NOT_FOUND,
  ])
  for (let q = 0; q < queues; q++) {
    const max = await queueOffset(client, addr, topic, q, RequestCode.GET_MAX_OFFSET)
    let at = await queueOffset(client, addr, topic, q, RequestCode.GET_MIN_OFFSET)
    while (at < max) {
      const r = await client.invoke(addr, pullRequest('TortureScan', topic, q, at, PULL_BATCH), 10_000)
      const next = Number(r.extFields?.nextBeginOffset ?? at)
      if (r.code === ResponseCode.SUCCESS && r.body !== null) {
        const s = servedRecords(r.body)
        out.records.push(...s.records)
        out.malformed += s.malformed
      } else if (!moveOn.has(r.code)) {
        out.stuck.push(`queue ${q} at ${at}: pull answered ${r.code} ${r.remark ?? ''}`)
        break
      }
      if (next <= at) {
        out.stuck.push(`queue ${q} stays at offset ${at} (pull answered ${r.code})`)
        break
      }
      at = next
    }
  }
  return out
}

/** What was damaged, in commit-log offsets. */
interface Damage {
  what: string
  /** Damaged byte ranges [from, to). */
  ranges: [number, number][]
  /** Segments the damage cut short or removed: everything from here on is expected gone. */
  cutFrom?: number
}

interface Layout {
  dir: string
  segmentBytes: number
  records: ServedRecord[]
  writtenEnd: number
  /** Start of the segment holding the last record. */
  lastSegmentFrom: number
}

function segmentPath(dir: string, from: number): string {
  return join(dir, String(from).padStart(20, '0'))
}

/** Overwrites bytes at a commit-log offset (inside one segment). */
function patch(layout: Layout, offset: number, bytes: Buffer): void {
  const from = offset - (offset % layout.segmentBytes)
  const fd = openSync(segmentPath(layout.dir, from), 'r+')
  try {
    writeSync(fd, bytes, 0, bytes.length, offset - from)
  } finally {
    closeSync(fd)
  }
}

function readByte(layout: Layout, offset: number): number {
  const from = offset - (offset % layout.segmentBytes)
  const fd = openSync(segmentPath(layout.dir, from), 'r')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, offset - from)
    return b[0]!
  } finally {
    closeSync(fd)
  }
}

/** A cut inside one of the records of the last segment, past its first 8 bytes (fewer is a record never begun). */
function cutInLastSegment(layout: Layout, random: () => number): number {
  const last = layout.records.filter((r) => r.phy >= layout.lastSegmentFrom)
  const rec = last[Math.floor(random() * last.length)]!
  return rec.phy + 8 + Math.floor(random() * (rec.size - 8))
}

function applyDamage(kind: DamageKind, layout: Layout, random: () => number): Damage {
  switch (kind) {
    case 'torn-tail': {
      const cut = cutInLastSegment(layout, random)
      patch(layout, cut, Buffer.alloc(layout.writtenEnd - cut))
      return { what: `zeroed [${cut}, ${layout.writtenEnd})`, ranges: [[cut, layout.writtenEnd]] }
    }
    case 'short-file': {
      const cut = cutInLastSegment(layout, random)
      const fd = openSync(segmentPath(layout.dir, layout.lastSegmentFrom), 'r+')
      ftruncateSync(fd, cut - layout.lastSegmentFrom)
      closeSync(fd)
      for (const name of readdirSync(layout.dir)) {
        if (Number(name) > layout.lastSegmentFrom) rmSync(join(layout.dir, name))
      }
      return { what: `segment ${layout.lastSegmentFrom} truncated at ${cut}`, ranges: [[cut, Infinity]], cutFrom: cut }
    }
    case 'zero-page': {
      const page = Math.floor(random() * Math.ceil(layout.writtenEnd / PAGE_BYTES)) * PAGE_BYTES
      patch(layout, page, Buffer.alloc(PAGE_BYTES))
      return { what: `zeroed page [${page}, ${page + PAGE_BYTES})`, ranges: [[page, page + PAGE_BYTES]] }
    }
    case 'bit-flip': {
      // Old records: segments before the last one (all of the log when it has one segment only).
      const end = layout.lastSegmentFrom > 0 ? layout.lastSegmentFrom : layout.writtenEnd
      const ranges: [number, number][] = []
      for (let i = 0; i < FLIPS_PER_CASE; i++) {
        const at = Math.floor(random() * end)
        const mask = 1 + Math.floor(random() * 255)
        patch(layout, at, Buffer.from([readByte(layout, at) ^ mask]))
        ranges.push([at, at + 1])
      }
      return { what: `flipped bytes at ${ranges.map(([a]) => a).join(', ')}`, ranges }
    }
  }
}

/** The store's recovery line in a broker's JSON log (`NativeMessageStore#logRecovery`). */
export interface RecoveryLine {
  msg: string
  startOffset: number
  /** Where recovery found damage and truncated, else null. */
  stoppedAt: number | null
  reason: string | null
}

export function recoveryLine(log: string): RecoveryLine | null {
  for (const line of log.split('\n')) {
    if (!line.includes('"component":"store"')) continue
    let o: { msg?: string; startOffset?: number }
    try {
      o = JSON.parse(line) as typeof o
    } catch {
      continue // A line cut by the buffer or not JSON: not the recovery line.
    }
    const msg = o.msg ?? ''
    const stopped = /^recovery stopped at offset (\d+): (.*); the log was truncated there$/.exec(msg)
    if (stopped)
      return { msg, startOffset: o.startOffset ?? 0, stoppedAt: Number(stopped[1]), reason: stopped[2] ?? null }
    if (msg === 'store opened' || msg === 'recovered after an unclean shutdown')
      return { msg, startOffset: o.startOffset ?? 0, stoppedAt: null, reason: null }
  }
  return null
}

interface CaseResult {
  started: boolean
  /** Why it did not start: the error and the end of its log. */
  startFailure: string
  reported: boolean
  kept: number
  lostBefore: string[]
  lostTouched: number
  lostAfter: number
  keptAfter: number
  unexplained: string[]
  badServed: string[]
  altered: number
  lookups: number
  stuck: string[]
  tornReportedAtRecord: boolean | null
  /** short-file: the broker logged that it extended the short segment (null for other kinds). */
  shortSegmentReported: boolean | null
}

type KindFigures = Record<
  | 'cases'
  | 'kept'
  | 'lostTouched'
  | 'lostAfter'
  | 'keptAfter'
  | 'badServed'
  | 'altered'
  | 'reported'
  | 'lookups'
  | 'notStarted',
  number
>

/** The records as written, where they lie, and the two untouched copies of the store every case starts from. */
interface Baseline {
  records: ServedRecord[]
  writtenEnd: number
  lastSegmentFrom: number
  pristine: Record<StopKind, string>
}

export const storeDamage: Scenario = {
  name: 'store-damage',
  title:
    'torn, zeroed and bit-flipped commit-log files: the broker starts, keeps what precedes the damage, serves no bad CRC',
  async run(ctx: ScenarioContext) {
    const r = new ReportBuilder('store-damage')
    const size = SIZES[ctx.size]
    const random = seededRandom(ctx.seed)
    const namesrv = await NamesrvController.start({ listenPort: 0, kvConfigPath: join(ctx.dir, 'namesrv', 'kv.json') })
    const namesrvAddr = `127.0.0.1:${namesrv.port()}`
    const [port, adminPort] = await stablePortPairs(2, seededRandom(ctx.seed + 1))
    const client = new RemotingClient()
    const spec = (dataDir: string) =>
      new BrokerProcess({
        brokerName: 'broker-damage',
        brokerId: 0,
        brokerRole: 'ASYNC_MASTER',
        port: port!,
        namesrvAddr,
        dataDir,
        conf: {
          flushDiskType: 'SYNC_FLUSH',
          defaultTopicQueueNums: QUEUES,
          mappedFileSizeCommitLog: size.segmentBytes,
          adminPort: adminPort!,
          maxTransferCountOnMessageInMemory: PULL_BATCH,
          maxTransferBytesOnMessageInMemory: 1024 * 1024,
        },
      })
    try {
      const base = await writeBaseline(ctx, r, spec(join(ctx.dir, 'base')), client, random)
      let caseNo = 0
      for (const kind of KINDS) {
        const f: KindFigures = {
          cases: 0,
          kept: 0,
          lostTouched: 0,
          lostAfter: 0,
          keptAfter: 0,
          badServed: 0,
          altered: 0,
          reported: 0,
          lookups: 0,
          notStarted: 0,
        }
        for (const stop of STOPS) {
          for (let i = 0; i < size.casesPerKind; i++) {
            const caseDir = join(ctx.dir, `case-${caseNo++}`)
            cpSync(base.pristine[stop], caseDir, { recursive: true })
            const layout: Layout = {
              dir: join(caseDir, 'store', 'commitlog'),
              segmentBytes: size.segmentBytes,
              ...base,
            }
            const damage = applyDamage(kind, layout, random)
            const c = await runCase(spec(caseDir), client, layout, damage, kind, adminPort!)
            rmSync(caseDir, { recursive: true, force: true })
            const label = `${kind}/${stop}`
            ctx.log(
              `${label}: ${damage.what}: ${c.started ? 'started' : 'did not start'}, kept ${c.kept}, lost after ${c.lostAfter}, bad served ${c.badServed.length}`,
            )
            addFigures(f, c)
            checkCase(r, label, damage, c)
          }
        }
        reportFigures(r, kind, f)
      }
      r.total('damage_cases', caseNo)
    } finally {
      client.shutdown()
      await namesrv.shutdown()
    }
    return r.build()
  },
}

/** Writes the records, reads them back, and keeps a copy of the store as SIGKILL leaves it and after a clean stop. */
async function writeBaseline(
  ctx: ScenarioContext,
  r: ReportBuilder,
  broker: BrokerProcess,
  client: RemotingClient,
  random: () => number,
): Promise<Baseline> {
  const size = SIZES[ctx.size]
  await broker.start()
  const acked = await writeRecords(broker.spec.namesrvAddr, size.messages, size.bodyBytesMax, random)
  const before = await readQueues(client, broker.addr, TOPIC, QUEUES)
  const servedKeys = new Set(before.records.map((x) => x.key))
  const missing = [...acked].filter((k) => !servedKeys.has(k))
  r.check(missing.length === 0, `before any damage ${missing.length} acknowledged record(s) were not served`)
  const records = before.records.filter((x) => acked.has(x.key)).sort((a, b) => a.phy - b.phy)
  const last = records.at(-1)!
  const writtenEnd = last.phy + last.size
  const segments = Math.ceil(writtenEnd / size.segmentBytes)
  ctx.log(`${acked.size} records acknowledged, ${segments} segments`)
  r.row('records written (SYNC_FLUSH)', acked.size).row('commit-log segments', segments).total('acked', acked.size)
  const pristine: Record<StopKind, string> = {
    kill: join(ctx.dir, 'pristine-kill'),
    clean: join(ctx.dir, 'pristine-clean'),
  }
  await broker.kill()
  cpSync(broker.spec.dataDir, pristine.kill, { recursive: true })
  await broker.start()
  await broker.stop()
  cpSync(broker.spec.dataDir, pristine.clean, { recursive: true })
  rmSync(broker.spec.dataDir, { recursive: true, force: true })
  return { records, writtenEnd, lastSegmentFrom: writtenEnd - 1 - ((writtenEnd - 1) % size.segmentBytes), pristine }
}

function addFigures(f: KindFigures, c: CaseResult): void {
  f.cases++
  f.kept += c.kept
  f.lostTouched += c.lostTouched
  f.lostAfter += c.lostAfter
  f.keptAfter += c.keptAfter
  f.badServed += c.badServed.length
  f.altered += c.altered
  f.reported += c.reported ? 1 : 0
  f.lookups += c.lookups
  f.notStarted += c.started ? 0 : 1
}

function reportFigures(r: ReportBuilder, kind: DamageKind, f: KindFigures): void {
  r.row(`${kind}: cases`, f.cases)
  r.row(`${kind}: damage reported by recovery`, f.reported)
    .row(`${kind}: records kept`, f.kept)
    .row(`${kind}: damaged records not served`, f.lostTouched)
    .row(`${kind}: lost after the damage point`, f.lostAfter)
    .row(`${kind}: kept after the damage point`, f.keptAfter)
    .row(`${kind}: served changed outside the body CRC`, f.altered)
    .row(`${kind}: single lookups`, f.lookups)
    .row(`${kind}: bad records served`, f.badServed)
  r.total('bad_records_served', f.badServed)
}

function checkCase(r: ReportBuilder, label: string, damage: Damage, c: CaseResult): void {
  r.check(c.started, `${label} (${damage.what}): the broker did not start: ${c.startFailure}`)
  if (!c.started) return
  r.check(c.stuck.length === 0, `${label} (${damage.what}): ${c.stuck.slice(0, 3).join('; ')}`)
  r.check(
    c.lostBefore.length === 0,
    `${label} (${damage.what}): ${c.lostBefore.length} record(s) before the damage not served, e.g. ${c.lostBefore.slice(0, 3).join(', ')}`,
  )
  r.check(
    c.unexplained.length === 0,
    `${label} (${damage.what}): ${c.unexplained.length} record(s) after the damage lost without a recovery report, e.g. ${c.unexplained.slice(0, 3).join(', ')}`,
  )
  r.check(
    c.badServed.length === 0,
    `${label} (${damage.what}): served ${c.badServed.length} record(s) whose body CRC is wrong: ${c.badServed.slice(0, 3).join('; ')}`,
  )
  if (c.shortSegmentReported !== null) {
    r.check(c.shortSegmentReported, `${label} (${damage.what}): the broker did not say that the segment was short`)
  }
  if (c.tornReportedAtRecord !== null)
    r.check(c.tornReportedAtRecord, `${label} (${damage.what}): recovery did not report the torn record`)
}

async function writeRecords(
  namesrvAddr: string,
  n: number,
  bodyBytesMax: number,
  random: () => number,
): Promise<Set<string>> {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const bodies = Array.from({ length: n }, (_, i) => {
    const key = `dmg-${i}`
    const len = BODY_BYTES_MIN + Math.floor(random() * (bodyBytesMax - BODY_BYTES_MIN))
    let pad = ''
    while (pad.length < len) pad += alphabet[Math.floor(random() * alphabet.length)]
    return { key, body: `${key}|${pad}` }
  })
  const producer = new Producer({ producerGroup: 'TortureDamagePG', namesrvAddr, sendMsgTimeout: 5000 })
  const acked = new Set<string>()
  let next = 0
  await producer.start()
  try {
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (next < n) {
          const { key, body } = bodies[next++]!
          const sent = await producer.send(new Message({ topic: TOPIC, body, keys: key }))
          if (sent.sendStatus === SendStatus.SEND_OK) acked.add(key)
        }
      }),
    )
  } finally {
    await producer.shutdown()
  }
  return acked
}

function overlaps(rec: { phy: number; size: number }, ranges: [number, number][]): boolean {
  return ranges.some(([a, b]) => rec.phy < b && a < rec.phy + rec.size)
}

async function runCase(
  broker: BrokerProcess,
  client: RemotingClient,
  layout: Layout,
  damage: Damage,
  kind: DamageKind,
  adminPort: number,
): Promise<CaseResult> {
  const c: CaseResult = {
    started: false,
    startFailure: '',
    reported: false,
    kept: 0,
    lostBefore: [],
    lostTouched: 0,
    lostAfter: 0,
    keptAfter: 0,
    unexplained: [],
    badServed: [],
    altered: 0,
    lookups: 0,
    stuck: [],
    tornReportedAtRecord: null,
    shortSegmentReported: null,
  }
  try {
    await broker.start()
    c.started = true
  } catch (err) {
    // The broker exited (or never answered): judged by the caller from its log.
    await broker.kill()
    const log = broker.log.join('')
    c.startFailure = `${(err as Error).message.slice(0, 300)} … ${log.slice(-600)}`
    return c
  }
  try {
    const touched = layout.records.filter((x) => overlaps(x, damage.ranges))
    const damageStart = Math.min(touched[0]?.phy ?? Infinity, ...damage.ranges.map(([a]) => a))
    const recovery = recoveryLine(broker.log.join(''))
    c.reported = recovery?.stoppedAt !== null && recovery?.stoppedAt !== undefined
    const scan = await readQueues(client, broker.addr, TOPIC, QUEUES)
    c.stuck = scan.stuck
    if (kind === 'short-file') c.shortSegmentReported = /shorter than the segment size/.test(broker.log.join(''))
    if (kind === 'torn-tail') {
      // Zeroes only past the body and topic (in the properties) leave a record every check passes: served as is.
      const torn = touched[0]!
      const servedWhole = scan.records.some((x) => x.phy === torn.phy && x.crcOk)
      c.tornReportedAtRecord = recovery?.stoppedAt === torn.phy || servedWhole
    }
    const original = new Map(layout.records.map((x) => [x.phy, x]))
    const judge = (via: string, s: { records: ServedRecord[]; malformed: number }): void => {
      if (s.malformed > 0) c.badServed.push(`${via}: ${s.malformed} malformed record(s)`)
      for (const x of s.records) {
        if (!x.crcOk) c.badServed.push(`${via}: record at ${x.phy} (key ${x.key})`)
        else if (!original.get(x.phy)?.raw.equals(x.raw)) c.altered++
      }
    }
    judge('pull', scan)
    const served = new Set(scan.records.filter((x) => x.crcOk).map((x) => x.phy))
    for (const x of layout.records) {
      if (served.has(x.phy)) {
        c.kept++
        if (x.phy >= damageStart) c.keptAfter++
      } else if (overlaps(x, damage.ranges)) c.lostTouched++
      else if (x.phy < damageStart) c.lostBefore.push(`${x.key}@${x.phy}`)
      else if (recovery?.stoppedAt != null && x.phy >= recovery.stoppedAt) c.lostAfter++
      else c.unexplained.push(`${x.key}@${x.phy}`)
    }
    await lookUp(client, broker.addr, adminPort, touched, layout.records, judge, c)
  } finally {
    await broker.stop()
  }
  return c
}

/** VIEW_MESSAGE_BY_ID, QUERY_MESSAGE by key and the admin API lookup for every damaged record and a sample. */
async function lookUp(
  client: RemotingClient,
  addr: string,
  adminPort: number,
  touched: ServedRecord[],
  all: ServedRecord[],
  judge: (via: string, s: { records: ServedRecord[]; malformed: number }) => void,
  c: CaseResult,
): Promise<void> {
  const sample = new Set(touched)
  for (let i = 0; i < LOOKUP_SAMPLE && all.length > 0; i++) sample.add(all[(i * 7919) % all.length]!)
  for (const x of sample) {
    c.lookups++
    const view = await client.invoke(addr, viewMessageRequest(x.phy), 5000)
    if (view.code === ResponseCode.SUCCESS && view.body !== null) judge('VIEW_MESSAGE_BY_ID', servedRecords(view.body))
    const query = await client.invoke(
      addr,
      queryMessageRequest({
        topic: TOPIC,
        key: x.key,
        maxNum: 32,
        beginTimestampMs: 0,
        endTimestampMs: undefined,
        uniqueKey: false,
      }),
      5000,
    )
    if (query.code === ResponseCode.SUCCESS && query.body !== null) judge('QUERY_MESSAGE', servedRecords(query.body))
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/messages/${x.msgId}?topic=${TOPIC}`)
    if (res.status === 200) {
      const m = (await res.json()) as {
        commitLogOffset: number
        bodyCRC: number
        body: { encoding: string; data: string }
      }
      const body = Buffer.from(m.body.data, m.body.encoding === 'base64' ? 'base64' : 'utf8')
      if (bodyCrc(body) !== m.bodyCRC) c.badServed.push(`admin API: record at ${m.commitLogOffset}`)
    } else await res.arrayBuffer()
  }
}
