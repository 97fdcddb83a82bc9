/**
 * `npm run bench:store`: appends through the TypeScript facade into the native store, and the same records
 * through a pure-Node baseline (the same encoder, `zlib.crc32`, `fs.writeSync` into a preallocated file), in the
 * same run. Prints a table of medians and, last, one JSON line with every figure.
 *
 * Each store run opens a fresh store and waits until its first segments are pre-touched (as the baseline's file
 * is written full of zeroes before it is timed), then times the appends, which stay inside that warm first segment.
 * The RSS run appends far more than is warm, so it also shows the sustained rate with pre-touch in the loop.
 * Every timed run, store or baseline, starts with no dirty pages (`sync`; the baseline's after its zero-fill).
 *
 * Options: --runs N (default 5), --messages N (per async run, default 800,000: inside one 1 GiB segment),
 * --rss-gib N (default 4), --dir DIR (default the OS temp dir).
 */
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { crc32 as zlibCrc32 } from 'node:zlib'

import { messageProperties2String } from '../../ts/common/message/message-properties.js'
import { encodeHost } from '../../ts/common/message/socket-address.js'
import { loadBinding } from '../../ts/native/binding.js'
import { JobBuilder } from '../../ts/store/job-builder.js'
import type { MessageExtBrokerInner, PutMessageResult } from '../../ts/store/message-store.js'
import { NativeMessageStore, type MessageStoreConfig } from '../../ts/store/native-message-store.js'

const BODY_BYTES = 1024
/** Messages in flight: async cases keep a broker's worth of producers busy; sync uses the 256. */
const ASYNC_IN_FLIGHT_MESSAGES = 1024
const SYNC_IN_FLIGHT_MESSAGES = 256
const TOPIC = 'BenchTopic'
const BORN_HOST = encodeHost('10.0.0.1', 40_000)
const STORE_HOST = encodeHost('127.0.0.1', 10911)

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    messages: { type: 'string', default: '800000' },
    'rss-gib': { type: 'string', default: '4' },
    dir: { type: 'string', default: tmpdir() },
    'rss-child': { type: 'boolean', default: false },
  },
})
const RUNS = Number(values.runs)
const MESSAGES = Number(values.messages)
const RSS_GIB = Number(values['rss-gib'])
const BASE_DIR = values.dir!

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Messages as a producer sends them: a 1 KiB body, a tag and a unique key (indexed). */
function makeMessages(n: number): MessageExtBrokerInner[] {
  const body = Buffer.alloc(BODY_BYTES, 0x61)
  const out: MessageExtBrokerInner[] = []
  for (let i = 0; i < n; i++) {
    const uniq = `7F0000010001${i.toString(16).toUpperCase().padStart(20, '0')}`
    out.push({
      topic: TOPIC,
      queueId: 0,
      flag: 0,
      body,
      propertiesString: messageProperties2String({ TAGS: 'TagA', UNIQ_KEY: uniq, WAIT: 'true' }),
      bornTimestamp: 1_700_000_000_000 + i,
      bornHost: BORN_HOST,
      sysFlag: 0,
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
    })
  }
  return out
}

function rssMiB(): number {
  return process.memoryUsage.rss() / (1024 * 1024)
}

/** Anonymous and file-backed RSS in MiB (Linux), to tell the JavaScript heap from mapped store files. */
function rssParts(): { anonMiB: number; fileMiB: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
    return { anonMiB: Math.round(kb('RssAnon') / 1024), fileMiB: Math.round(kb('RssFile') / 1024) }
  } catch {
    return { anonMiB: 0, fileMiB: 0 }
  }
}

interface Measured {
  msgsPerS: number
  rssMaxMiB: number
  /** The anonymous / file-backed split at the maximum. */
  rssAtMax?: { anonMiB: number; fileMiB: number }
}

/** Keeps `inFlight` messages in flight as puts of `batch` messages until `total` were stored. */
async function drive(
  store: NativeMessageStore,
  messages: MessageExtBrokerInner[],
  total: number,
  batch: number,
  inFlight: number,
): Promise<Measured> {
  const window = Math.max(2, Math.floor(inFlight / batch))
  const batches: MessageExtBrokerInner[][] = []
  for (let i = 0; i + batch <= messages.length; i += batch) batches.push(messages.slice(i, i + batch))
  let sent = 0
  let rssMaxMiB = rssMiB()
  let rssAtMax = rssParts()
  const sampler = setInterval(() => {
    const now = rssMiB()
    if (now > rssMaxMiB) {
      rssMaxMiB = now
      rssAtMax = rssParts()
    }
  }, 50)
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    let done = 0
    let failed = false
    const check = (r: PutMessageResult): void => {
      if (r.putMessageStatus !== 'PUT_OK' && !failed) {
        failed = true
        reject(new Error(`put failed: ${r.putMessageStatus}`))
      }
    }
    const next = (): void => {
      if (sent >= total) return
      const b = batches[(sent / batch) % batches.length]!
      sent += batch
      const p = batch === 1 ? store.putMessage(b[0]!) : store.putMessages(b)
      void p.then((r) => {
        check(r)
        done += batch
        if (done >= total) resolve()
        else next()
      })
    }
    for (let w = 0; w < window; w++) next()
  })
  const seconds = (performance.now() - started) / 1000
  clearInterval(sampler)
  rssMaxMiB = Math.max(rssMaxMiB, rssMiB())
  return { msgsPerS: total / seconds, rssMaxMiB, rssAtMax }
}

/**
 * Writes every dirty page out before a timed run, so that no run pays for the one before it: the kernel writing back
 * the previous run's gigabyte competed with the next run for the two cores (store runs of batches of 32 spread over
 * 1.5–2.8 M msgs/s without this). Used before store and baseline runs alike.
 */
function settle(): void {
  execFileSync('sync')
}

async function storeRun(config: Partial<MessageStoreConfig>, messages: MessageExtBrokerInner[], total: number, batch: number): Promise<Measured> {
  settle()
  const dir = mkdtempSync(join(BASE_DIR, 'ferrymq-bench-'))
  const store = await NativeMessageStore.open({ storePathRootDir: dir, ...config })
  try {
    while (store.stats().pretouchPendingBytes > 0) await new Promise((r) => setTimeout(r, 20))
    const inFlight = config.flushDiskType === 'SYNC_FLUSH' ? SYNC_IN_FLIGHT_MESSAGES : ASYNC_IN_FLIGHT_MESSAGES
    return await drive(store, messages, total, batch, inFlight)
  } finally {
    await store.shutdown()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The pure-Node baseline: same encoder, zlib.crc32 per body, one fs.writeSync per batch into a preallocated file. */
function baselineRun(messages: MessageExtBrokerInner[], total: number, batch: number): Measured {
  const dir = mkdtempSync(join(BASE_DIR, 'ferrymq-bench-baseline-'))
  const path = join(dir, 'commitlog')
  const fd = openSync(path, 'w+')
  const recordBytes = 91 + BODY_BYTES + TOPIC.length + Buffer.byteLength(messages[0]!.propertiesString)
  const zeros = Buffer.alloc(8 * 1024 * 1024)
  for (let at = 0; at < total * recordBytes; at += zeros.length) writeSync(fd, zeros, 0, zeros.length, at)
  settle()
  const builder = new JobBuilder(STORE_HOST, 4 * 1024 * 1024)
  const topic = Buffer.from(TOPIC)
  const started = performance.now()
  let position = 0
  for (let sent = 0; sent < total; sent += batch) {
    let max = 0
    for (let i = 0; i < batch; i++) max += JobBuilder.maxRecordBytes(messages[(sent + i) % messages.length]!, topic.length, 8)
    builder.beginPut(max)
    for (let i = 0; i < batch; i++) builder.writeRecord(messages[(sent + i) % messages.length]!, topic)
    builder.endPut()
    const job = builder.takeJob()
    const records = job.bytes.subarray(8)
    for (let at = 0; at < records.length; ) {
      const size = records.readInt32BE(at)
      const body = records.subarray(at + 88, at + 88 + BODY_BYTES)
      records.writeInt32BE((zlibCrc32(body) & 0x7fffffff) | 0, at + 8)
      at += size
    }
    writeSync(fd, records, 0, records.length, position)
    position += records.length
    builder.release(job)
  }
  const seconds = (performance.now() - started) / 1000
  closeSync(fd)
  rmSync(dir, { recursive: true, force: true })
  return { msgsPerS: total / seconds, rssMaxMiB: rssMiB() }
}

function crcBench(): { nativeMBps: number; zlibMBps: number; native1KiBOpsPerS: number; zlib1KiBOpsPerS: number } {
  const native = loadBinding()
  const big = Buffer.alloc(1024 * 1024, 7)
  const small = Buffer.alloc(1024, 7)
  if (native.crc32(big) !== zlibCrc32(big)) throw new Error('native CRC32 disagrees with zlib')
  const time = (f: () => void, n: number): number => {
    const t = performance.now()
    for (let i = 0; i < n; i++) f()
    return (performance.now() - t) / 1000
  }
  const bigN = 2000
  const smallN = 1_000_000
  return {
    nativeMBps: (bigN * big.length) / 1e6 / time(() => native.crc32(big), bigN),
    zlibMBps: (bigN * big.length) / 1e6 / time(() => zlibCrc32(big), bigN),
    native1KiBOpsPerS: smallN / time(() => native.crc32(small), smallN),
    zlib1KiBOpsPerS: smallN / time(() => zlibCrc32(small), smallN),
  }
}

/**
 * The RSS check, run in a child process of its own so that nothing but the store and a small pool of messages is
 * in memory: appends `RSS_GIB` GiB (far more than is pre-touched) and reports the largest RSS seen.
 */
async function rssChild(): Promise<void> {
  const pool = makeMessages(20_000)
  const total = Math.round((RSS_GIB * 1024 * 1024 * 1024) / BODY_BYTES)
  const m = await storeRun({ flushDiskType: 'ASYNC_FLUSH' }, pool, total, 32)
  console.log(JSON.stringify(m))
}

async function main(): Promise<void> {
  if (values['rss-child']) return rssChild()
  const messages = makeMessages(Math.min(MESSAGES, 200_000))
  const syncTotal = Math.min(MESSAGES, 200_000)
  const cases = [
    { key: 'async_batch1', config: { flushDiskType: 'ASYNC_FLUSH' as const }, batch: 1, total: MESSAGES },
    { key: 'async_batch32', config: { flushDiskType: 'ASYNC_FLUSH' as const }, batch: 32, total: MESSAGES },
    { key: 'async_batch256', config: { flushDiskType: 'ASYNC_FLUSH' as const }, batch: 256, total: MESSAGES },
    { key: 'sync_inflight256', config: { flushDiskType: 'SYNC_FLUSH' as const }, batch: 1, total: syncTotal },
    { key: 'sync_batch32', config: { flushDiskType: 'SYNC_FLUSH' as const }, batch: 32, total: syncTotal },
    { key: 'sync_batch256', config: { flushDiskType: 'SYNC_FLUSH' as const }, batch: 256, total: syncTotal },
  ]
  const results: Record<string, number> = {}
  const rows: string[][] = []
  process.stderr.write(`warming up\n`)
  await storeRun({}, messages, Math.min(MESSAGES, 100_000), 32)
  baselineRun(messages, Math.min(MESSAGES, 100_000), 32)
  for (const c of cases) {
    const rates: number[] = []
    for (let r = 0; r < RUNS; r++) {
      const m = await storeRun(c.config, messages, c.total, c.batch)
      rates.push(m.msgsPerS)
      process.stderr.write(`${c.key} run ${r + 1}: ${Math.round(m.msgsPerS)} msgs/s\n`)
    }
    results[`${c.key}_msgs_per_s`] = Math.round(median(rates))
    rows.push([c.key, fmt(median(rates)), fmt(Math.min(...rates)), fmt(Math.max(...rates)), mbps(median(rates))])
  }
  for (const batch of [1, 32, 256]) {
    const rates: number[] = []
    for (let r = 0; r < RUNS; r++) rates.push(baselineRun(messages, MESSAGES, batch).msgsPerS)
    results[`baseline_batch${batch}_msgs_per_s`] = Math.round(median(rates))
    rows.push([`baseline_batch${batch}`, fmt(median(rates)), fmt(Math.min(...rates)), fmt(Math.max(...rates)), mbps(median(rates))])
    results[`async_vs_baseline_batch${batch}`] = round2(results[`async_batch${batch}_msgs_per_s`]! / results[`baseline_batch${batch}_msgs_per_s`]!)
  }
  process.stderr.write(`appending ${RSS_GIB} GiB in a fresh process for the RSS check\n`)
  const child = execFileSync(process.execPath, [process.argv[1]!, '--rss-child', '--rss-gib', String(RSS_GIB), '--dir', BASE_DIR], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const rssRun = JSON.parse(child.trim().split('\n').pop()!) as Measured
  results.rss_gib_appended = RSS_GIB
  results.rss_run_msgs_per_s = Math.round(rssRun.msgsPerS)
  results.rss_max_mib = Math.round(rssRun.rssMaxMiB)
  results.rss_max_anon_mib = rssRun.rssAtMax?.anonMiB ?? 0
  results.rss_max_file_mib = rssRun.rssAtMax?.fileMiB ?? 0
  const crc = crcBench()
  results.crc_native_mb_per_s = Math.round(crc.nativeMBps)
  results.crc_zlib_mb_per_s = Math.round(crc.zlibMBps)
  results.crc_native_1kib_ops_per_s = Math.round(crc.native1KiBOpsPerS)
  results.crc_zlib_1kib_ops_per_s = Math.round(crc.zlib1KiBOpsPerS)

  const header = ['case (1 KiB messages)', 'median msgs/s', 'min', 'max', 'median MB/s']
  const table = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...table.map((r) => r[i]!.length)))
  for (const r of table) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
  console.log(`async / baseline: batch1 ${results.async_vs_baseline_batch1}x, batch32 ${results.async_vs_baseline_batch32}x, batch256 ${results.async_vs_baseline_batch256}x`)
  console.log(`RSS while appending ${RSS_GIB} GiB: max ${results.rss_max_mib} MiB (${fmt(rssRun.msgsPerS)} msgs/s)`)
  console.log(`CRC32 1 MiB: native ${results.crc_native_mb_per_s} MB/s, zlib ${results.crc_zlib_mb_per_s} MB/s; 1 KiB calls: native ${fmt(crc.native1KiBOpsPerS)}/s, zlib ${fmt(crc.zlib1KiBOpsPerS)}/s`)
  console.log(JSON.stringify({ runs: RUNS, messages_per_run: MESSAGES, body_bytes: BODY_BYTES, ...results }))
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function mbps(msgsPerS: number): string {
  return ((msgsPerS * BODY_BYTES) / 1e6).toFixed(0)
}

function round2(n: number): number {
  return Math.round(n * 100) / 100
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
