/**
 * Where the SDK client spends CPU per message in the race's phases. Starts ferrymq through the peerbench adapter
 * (same flags and environment as the race), runs the pipelined (window 256), batch (32 per request, 8 in flight)
 * and read-back phases in this process, and samples each phase with the V8 CPU profiler (`node:inspector`), so
 * the profile is the client's alone: the broker is another process.
 *
 *   npx tsc -p . && PEERBENCH_DIR=<peerbench checkout> node dist/scripts/bench/sdk-profile.js [--n 100000]
 *       [--target ferrymq-async|ferrymq-sync] [--top 25] [--out-dir DIR] [--heap]
 *
 * Prints per phase: msgs/s, client CPU µs/msg (process.cpuUsage, all threads), the server's CPU µs/msg (from
 * /proc, 10 ms ticks), and the top functions and files by self time on the main thread in µs/msg. --out-dir
 * also writes each phase's .cpuprofile (open in DevTools). --heap adds the sampling heap profiler: bytes
 * allocated per message by allocating function (what the GC line of the CPU profile pays for); it slows the
 * client several times over, so take CPU figures from a run without it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { Session } from 'node:inspector'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const ADAPTER = join(REPO, 'scripts', 'bench', 'peerbench-adapter.cjs')

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    target: { type: 'string', default: 'ferrymq-async' },
    top: { type: 'string', default: '25' },
    'out-dir': { type: 'string' },
    'sampling-us': { type: 'string', default: '100' },
    heap: { type: 'boolean', default: false },
  },
})
const N = Number(values.n)
const TOP = Number(values.top)
const SIZE = 1024
const WINDOW = 256
const BATCH = 32
const WARMUP = 5000

// ---- the adapter's interface, as far as this driver uses it ------------------------------------------------------

interface Client {
  prepare(): Promise<void>
  publish(payload: Buffer): Promise<unknown>
  publishBatch(payloads: Buffer[]): Promise<unknown[]>
  consumeAll(expected: number, onMessage: (payload: Buffer) => void): Promise<void>
  close(): Promise<void>
}
interface ServerHandle {
  endpoint: unknown
  pid: number | null
  stop(): Promise<void>
}
interface Target {
  id: string
  available(): Promise<string | null>
  startServer(ctx: object): Promise<ServerHandle>
  createClient(endpoint: unknown, opts: object): Promise<Client>
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolvePort(port))
    })
  })
}

/** As peerbench makes them: bytes 0–7 the sequence number, the rest random. */
function payloadFactory(): (seq: number) => Buffer {
  const template = Buffer.alloc(SIZE)
  for (let i = 0; i < SIZE; i++) template[i] = (Math.random() * 256) | 0
  return (seq) => {
    const b = Buffer.allocUnsafe(SIZE)
    template.copy(b)
    b.writeBigUInt64BE(BigInt(seq), 0)
    return b
  }
}

function windowed(count: number, window: number, send: (i: number) => Promise<unknown>): Promise<void> {
  return new Promise((resolveAll, reject) => {
    let sent = 0
    let acked = 0
    const pump = (): void => {
      while (sent - acked < window && sent < count) {
        send(sent++).then(() => {
          if (++acked === count) resolveAll()
          else pump()
        }, reject)
      }
    }
    pump()
  })
}

/** CPU seconds (user+sys, all threads) of a process, from /proc; null where there is none. */
function processCpuS(pid: number | null): number | null {
  if (pid === null) return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null
  }
}

// ---- profiling ---------------------------------------------------------------------------------------------------

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolvePost, reject) =>
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolvePost(result as T))),
  )
}

/** `dist/ts/client/producer.js` → `ts/client/producer.ts`; Node internals keep their `node:` name. */
function sourceName(url: string): string {
  if (url === '') return '(native/VM)'
  let u = url.startsWith('file://') ? fileURLToPath(url) : url
  if (u.startsWith(REPO)) {
    u = u.slice(REPO.length + 1)
    if (u.startsWith('dist/')) u = u.slice(5).replace(/\.js$/, '.ts')
  }
  return u
}

interface Row {
  key: string
  us: number
}

function summarize(
  profile: Profile,
  msgs: number,
): { busyUsPerMsg: number; functions: Row[]; files: Row[]; inclusive: Row[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  // timeDeltas[i] is the time between sample i-1 and sample i: the time up to sample i is spent where sample i is.
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const fnKey = (n: ProfileNode): string =>
    `${sourceName(n.callFrame.url)}:${n.callFrame.functionName || '(anonymous)'}`
  const functions = new Map<string, number>()
  const files = new Map<string, number>()
  let busy = 0
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!
    const name = n.callFrame.functionName
    if (name === '(idle)' || name === '(program)' || name === '(root)') continue
    busy += us
    functions.set(fnKey(n), (functions.get(fnKey(n)) ?? 0) + us)
    const file = name === '(garbage collector)' ? '(garbage collector)' : sourceName(n.callFrame.url)
    files.set(file, (files.get(file) ?? 0) + us)
  }
  // Inclusive time of our own functions (ts/…, scripts/…), each counted once per stack even when recursive.
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inclusive = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)!
      const src = sourceName(n.callFrame.url)
      if (!src.startsWith('ts/') && !src.startsWith('scripts/')) continue
      const k = fnKey(n)
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
  }
  const rows = (m: Map<string, number>): Row[] =>
    [...m].map(([key, us]) => ({ key, us: us / msgs })).sort((a, b) => b.us - a.us)
  return { busyUsPerMsg: busy / msgs, functions: rows(functions), files: rows(files), inclusive: rows(inclusive) }
}

interface HeapNode {
  callFrame: ProfileNode['callFrame']
  selfSize: number
  children: HeapNode[]
}

/** Bytes allocated per message by allocating function, from a sampling heap profile that kept collected objects. */
function heapRows(head: HeapNode, msgs: number): { total: number; rows: Row[] } {
  const by = new Map<string, number>()
  let total = 0
  const stack = [head]
  while (stack.length > 0) {
    const n = stack.pop()!
    if (n.selfSize > 0) {
      const k = `${sourceName(n.callFrame.url)}:${n.callFrame.functionName || '(anonymous)'}`
      by.set(k, (by.get(k) ?? 0) + n.selfSize)
      total += n.selfSize
    }
    stack.push(...n.children)
  }
  return { total: total / msgs, rows: [...by].map(([key, b]) => ({ key, us: b / msgs })).sort((a, b) => b.us - a.us) }
}

async function profiled(
  session: Session,
  serverPid: number | null,
  name: string,
  msgs: number,
  run: () => Promise<void>,
): Promise<void> {
  await post(session, 'Profiler.start')
  if (values.heap) {
    // Keep samples of objects the GC has already freed: the question is what is allocated, not what survives.
    await post(session, 'HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    })
  }
  const server0 = processCpuS(serverPid)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await run()
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const server1 = processCpuS(serverPid)
  const serverUs =
    server0 !== null && server1 !== null
      ? ` | server CPU ${(((server1 - server0) * 1e6) / msgs).toFixed(1)} µs/msg`
      : ''
  const { profile } = await post<{ profile: Profile }>(session, 'Profiler.stop')
  const heap = values.heap
    ? (await post<{ profile: { head: HeapNode } }>(session, 'HeapProfiler.stopSampling')).profile
    : null
  if (values['out-dir'])
    writeFileSync(join(values['out-dir'], `${values.target}-${name}.cpuprofile`), JSON.stringify(profile))
  const s = summarize(profile, msgs)
  const cpuUs = (cpu.user + cpu.system) / msgs
  const pct = (us: number): string => `${((100 * us) / s.busyUsPerMsg).toFixed(1)}%`
  const out: string[] = [
    `\n## ${name}: ${msgs} msgs, ${Math.round(msgs / (ms / 1000))} msg/s, client CPU ${cpuUs.toFixed(1)} µs/msg ` +
      `(user ${(cpu.user / msgs).toFixed(1)}, sys ${(cpu.system / msgs).toFixed(1)}), main thread busy ${s.busyUsPerMsg.toFixed(1)} µs/msg${serverUs}`,
    `\nTop functions by self time (µs/msg, % of main-thread busy time):`,
  ]
  for (const r of s.functions.slice(0, TOP))
    out.push(`  ${r.us.toFixed(2).padStart(7)}  ${pct(r.us).padStart(6)}  ${r.key}`)
  out.push(`\nBy file (self time):`)
  for (const r of s.files.slice(0, 15)) out.push(`  ${r.us.toFixed(2).padStart(7)}  ${pct(r.us).padStart(6)}  ${r.key}`)
  out.push(`\nOur functions by inclusive time:`)
  for (const r of s.inclusive.slice(0, TOP))
    out.push(`  ${r.us.toFixed(2).padStart(7)}  ${pct(r.us).padStart(6)}  ${r.key}`)
  if (heap !== null) {
    const h = heapRows(heap.head, msgs)
    out.push(`\nAllocation by function (bytes/msg; ${Math.round(h.total)} bytes/msg in all, sampled every 1 KiB):`)
    for (const r of h.rows.slice(0, TOP)) out.push(`  ${Math.round(r.us).toString().padStart(7)}  ${r.key}`)
  }
  process.stdout.write(`${out.join('\n')}\n`)
}

async function main(): Promise<void> {
  const require = createRequire(import.meta.url)
  const { targets } = require(ADAPTER) as { targets: Target[] }
  const target = targets.find((t) => t.id === values.target)
  if (!target) throw new Error(`unknown target ${values.target}; one of ${targets.map((t) => t.id).join(', ')}`)
  const why = await target.available()
  if (why !== null) throw new Error(why)

  const dataDir = mkdtempSync(join(tmpdir(), 'peerbench-ferrymq-profile-'))
  const ctx = {
    dataDir,
    host: '127.0.0.1',
    freePort,
    logFile: `${dataDir}.log`,
    log: (m: string) => process.stderr.write(`${m}\n`),
  }
  let server: ServerHandle | undefined
  let client: Client | undefined
  const session = new Session()
  session.connect()
  try {
    server = await target.startServer(ctx)
    client = await target.createClient(server.endpoint, { size: SIZE, window: WINDOW })
    await client.prepare()
    const mk = payloadFactory()
    let seq = 0
    // Warm-up, unprofiled: JIT and connection set-up out of the way.
    await windowed(WARMUP, WINDOW, () => client!.publish(mk(seq++)))
    await client.publishBatch(Array.from({ length: BATCH }, () => mk(seq++)))

    await post(session, 'Profiler.enable')
    if (values.heap) await post(session, 'HeapProfiler.enable')
    await post(session, 'Profiler.setSamplingInterval', { interval: Number(values['sampling-us']) })
    const c = client
    await profiled(session, server.pid, 'pipelined', N, () => windowed(N, WINDOW, () => c.publish(mk(seq++))))
    const batches = Math.ceil(N / BATCH)
    await profiled(session, server.pid, 'batch', batches * BATCH, () =>
      windowed(batches, WINDOW / BATCH, () => c.publishBatch(Array.from({ length: BATCH }, () => mk(seq++)))),
    )
    const total = seq
    let got = 0
    await profiled(session, server.pid, 'consume', total, () =>
      c.consumeAll(total, (p) => {
        if (p.readBigUInt64BE(0) !== BigInt(got++)) throw new Error(`out of order at ${got - 1}`)
      }),
    )
  } finally {
    session.disconnect()
    await client?.close().catch(() => {})
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(`${dataDir}.log`, { force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`sdk-profile: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
