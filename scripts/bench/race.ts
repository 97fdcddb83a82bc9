/**
 * `npm run bench`: the race. Runs the peerbench harness (a side-by-side produce/consume benchmark that starts
 * each broker itself on loopback) with ferrymq's adapter, against Redis Streams and NATS JetStream, in one session
 * so the figures are comparable; prints the harness's summary lines, its Markdown table, and the ratios ferrymq is
 * judged by.
 *
 *   PEERBENCH_DIR=<peerbench checkout> npm run bench -- --runs 3
 *   PEERBENCH_DIR=<peerbench checkout> npm run bench -- --rounds 3 --runs 1    (targets interleaved)
 *
 * Arguments after `--` go to peerbench's bench.js after ours, so they win (`--runs`, `--n`, `--targets`, `--out`
 * …); `--rounds R` is ours: the harness runs R times, the targets' order rotated each round, and the summaries
 * are merged (median of the per-round medians). The harness is found only through PEERBENCH_DIR: it is not part
 * of this repository.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// dist/scripts/bench/race.js → the repository root; the adapter is used from source (peerbench require()s it).
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const ADAPTER = join(REPO, 'scripts', 'bench', 'peerbench-adapter.cjs')

const TARGETS = ['ferrymq-async', 'ferrymq-sync', 'redis-everysec', 'redis-always', 'nats-js-file']

interface Stat {
  median: number
  min: number
  max: number
}
interface Summary {
  kind: string
  target: string
  skipped?: string
  runs_ok?: number
  runs_total?: number
  errors?: string[]
  stats?: Record<string, unknown> | null
  rounds?: number
}

/** The ratios the targets are judged by: ferrymq against the Redis mode with the same persistence. */
const RATIOS: { what: string; ours: string; peer: string; path: string; goal: number; higherIsBetter: boolean }[] = [
  {
    what: 'pipelined msg/s (ASYNC_FLUSH vs everysec)',
    ours: 'ferrymq-async',
    peer: 'redis-everysec',
    path: 'produce_pipelined.msgs_per_s',
    goal: 1.5,
    higherIsBetter: true,
  },
  {
    what: 'batch-32 msg/s (ASYNC_FLUSH vs everysec)',
    ours: 'ferrymq-async',
    peer: 'redis-everysec',
    path: 'produce_batch.msgs_per_s',
    goal: 2,
    higherIsBetter: true,
  },
  {
    what: 'read-back msg/s (ASYNC_FLUSH vs everysec)',
    ours: 'ferrymq-async',
    peer: 'redis-everysec',
    path: 'consume.msgs_per_s',
    goal: 1.5,
    higherIsBetter: true,
  },
  {
    what: 'pipelined msg/s (SYNC_FLUSH vs always)',
    ours: 'ferrymq-sync',
    peer: 'redis-always',
    path: 'produce_pipelined.msgs_per_s',
    goal: 1.5,
    higherIsBetter: true,
  },
  {
    what: 'serial ack p99 ms (ASYNC_FLUSH vs everysec)',
    ours: 'ferrymq-async',
    peer: 'redis-everysec',
    path: 'produce_serial.ack_latency_ms.p99',
    goal: 1,
    higherIsBetter: false,
  },
  {
    what: 'serial ack p99 ms (SYNC_FLUSH vs always)',
    ours: 'ferrymq-sync',
    peer: 'redis-always',
    path: 'produce_serial.ack_latency_ms.p99',
    goal: 1,
    higherIsBetter: false,
  },
]

function fail(message: string): never {
  process.stderr.write(`npm run bench: ${message}\n`)
  process.exit(2)
}

/** The harness directory, checked: PEERBENCH_DIR set, bench.js there, its npm dependencies installed. */
function peerbenchDir(): string {
  const value = process.env.PEERBENCH_DIR
  if (!value) {
    fail(
      'PEERBENCH_DIR is not set.\n' +
        '  The race runs ferrymq side by side with Redis Streams and NATS JetStream through peerbench, a separate\n' +
        '  benchmark harness (bench.js, lib/, adapters/) that starts each broker on 127.0.0.1 with a fresh data dir.\n' +
        '  It is not part of this repository: point PEERBENCH_DIR at a peerbench checkout, e.g.\n' +
        '    PEERBENCH_DIR=/path/to/peerbench npm run bench -- --runs 3\n' +
        '  (once there: `npm ci`, and `apt-get install redis-server nats-server` for the peers).',
    )
  }
  const dir = resolve(value)
  if (!existsSync(join(dir, 'bench.js')))
    fail(`PEERBENCH_DIR=${value}: no bench.js there; it must be the peerbench directory`)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
  const missing = Object.keys(pkg.dependencies ?? {}).filter(
    (d) => !existsSync(join(dir, 'node_modules', d, 'package.json')),
  )
  if (missing.length > 0) {
    fail(`peerbench's npm dependencies are not installed (${missing.join(', ')} missing): run \`npm ci\` in ${dir}`)
  }
  return dir
}

/** Busy CPU time (all cores, in cores) over `ms`, from /proc/stat; null where there is no /proc. */
async function cpuBusyCores(ms: number): Promise<number | null> {
  const sample = (): number[] | null => {
    try {
      const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
      return line.trim().split(/\s+/).slice(1).map(Number)
    } catch {
      return null
    }
  }
  const a = sample()
  await new Promise((r) => setTimeout(r, ms))
  const b = sample()
  if (a === null || b === null) return null
  const d = b.map((v, i) => v - (a[i] ?? 0))
  const total = d.reduce((x, y) => x + y, 0)
  const idle = (d[3] ?? 0) + (d[4] ?? 0) // idle + iowait
  return total > 0 ? ((total - idle) / total) * cpus().length : null
}

function get(o: unknown, path: string): Stat | undefined {
  let node = o as Record<string, unknown> | undefined
  for (const part of path.split('.')) node = node?.[part] as Record<string, unknown> | undefined
  return node as Stat | undefined
}

function fmt(x: number): string {
  if (x >= 10_000) return `${(x / 1000).toFixed(1)}k`
  if (x >= 100) return x.toFixed(0)
  return x.toFixed(3)
}

function ratioTable(rows: Summary[]): string {
  const byTarget = new Map(rows.map((r) => [r.target, r]))
  const runsOf = (r: Summary | undefined): string => (r ? `${r.runs_ok ?? 0}/${r.runs_total ?? 0}` : '0/0')
  const out = [
    '| ratio | ferrymq (runs ok) | Redis (runs ok) | ferrymq / Redis | target | met |',
    '|---|---|---|---|---|---|',
  ]
  for (const r of RATIOS) {
    const ours = byTarget.get(r.ours)
    const peer = byTarget.get(r.peer)
    const a = get(ours?.stats, r.path)
    const b = get(peer?.stats, r.path)
    const goal = r.higherIsBetter ? `≥ ${r.goal}` : `≤ ${r.goal} (no worse)`
    if (a === undefined || b === undefined || b.median === 0) {
      const why = ours?.skipped ?? peer?.skipped ?? 'no successful run'
      out.push(
        `| ${r.what} | ${a ? fmt(a.median) : 'n/a'} (${runsOf(ours)}) | ${b ? fmt(b.median) : 'n/a'} (${runsOf(peer)}) | n/a: ${why} | ${goal} | – |`,
      )
      continue
    }
    const ratio = a.median / b.median
    const met = r.higherIsBetter ? ratio >= r.goal : ratio <= r.goal
    out.push(
      `| ${r.what} | ${fmt(a.median)} [${fmt(a.min)}–${fmt(a.max)}] (${runsOf(ours)}) | ${fmt(b.median)} [${fmt(b.min)}–${fmt(b.max)}] (${runsOf(peer)}) | **${ratio.toFixed(2)}** | ${goal} | ${met ? 'yes' : 'no'} |`,
    )
  }
  return out.join('\n')
}

/** Median of the per-round medians, min of the mins, max of the maxes, for every `{median,min,max}` leaf. */
function mergeStats(all: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(all[0] ?? {})) {
    const parts = all.map((s) => s[key]).filter((v) => v !== null && typeof v === 'object') as Record<string, unknown>[]
    if (parts.length === 0) continue
    if (typeof parts[0]!.median === 'number') {
      const leaves = parts as unknown as Stat[]
      const medians = leaves.map((l) => l.median).sort((a, b) => a - b)
      out[key] = {
        median: medians[Math.floor((medians.length - 1) / 2)],
        min: Math.min(...leaves.map((l) => l.min)),
        max: Math.max(...leaves.map((l) => l.max)),
      }
    } else {
      out[key] = mergeStats(parts)
    }
  }
  return out
}

/** One summary per target over all rounds. */
function mergeRounds(rows: Summary[]): Summary[] {
  const byTarget = new Map<string, Summary[]>()
  for (const r of rows) byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r])
  return [...byTarget.values()].map((list) => {
    const ran = list.filter((r) => !r.skipped)
    if (ran.length === 0) return list[0]!
    const stats = ran.map((r) => r.stats).filter((s): s is Record<string, unknown> => !!s)
    return {
      ...ran[0]!,
      rounds: list.length,
      runs_ok: ran.reduce((n, r) => n + (r.runs_ok ?? 0), 0),
      runs_total: ran.reduce((n, r) => n + (r.runs_total ?? 0), 0),
      errors: ran.flatMap((r) => r.errors ?? []),
      stats: stats.length > 0 ? mergeStats(stats) : null,
    }
  })
}

/** Runs bench.js once; its stdout is echoed and returned. */
function runHarness(dir: string, args: string[]): Promise<{ code: number; stdout: string }> {
  const child = spawn(process.execPath, [join(dir, 'bench.js'), ...args], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const onTerm = (): void => {
    child.kill('SIGTERM')
  }
  process.on('SIGTERM', onTerm)
  let stdout = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk
    process.stdout.write(chunk)
  })
  return new Promise((resolveRun) =>
    child.on('close', (c) => {
      process.off('SIGTERM', onTerm)
      resolveRun({ code: c ?? 1, stdout })
    }),
  )
}

async function main(): Promise<void> {
  const dir = peerbenchDir()
  const userArgs = process.argv.slice(2)
  // --rounds R (ours): run the harness R times, every target once per round, so that each ferrymq run sits next
  // to its peers' runs in time; on a shared machine this spreads drift and other load evenly over the targets.
  let rounds = 1
  const roundsAt = userArgs.indexOf('--rounds')
  if (roundsAt >= 0) {
    rounds = Number(userArgs[roundsAt + 1])
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) fail('--rounds needs an integer from 1 to 20')
    userArgs.splice(roundsAt, 2)
  }
  // The targets' order rotates from round to round: a run is affected by what ran just before it (memory the
  // previous server freed is cheap to touch again, memory idle for a while is not), so no target always goes first.
  let targets = TARGETS
  const targetsAt = userArgs.indexOf('--targets')
  if (targetsAt >= 0) {
    targets = (userArgs[targetsAt + 1] ?? '').split(',').filter(Boolean)
    userArgs.splice(targetsAt, 2)
  }
  const argsOf = (round: number): string[] => {
    const k = (round - 1) % Math.max(1, targets.length)
    const order = [...targets.slice(k), ...targets.slice(0, k)]
    return ['--adapter', ADAPTER, '--targets', order.join(','), '--batch', '32', ...userArgs]
  }
  const args = argsOf(1)
  // Ctrl-C reaches the harness too (same process group); it stops its servers, then we report its exit.
  process.on('SIGINT', () => {})
  if (userArgs.includes('--list') || userArgs.includes('--help') || userArgs.includes('-h')) {
    process.exit((await runHarness(dir, args)).code)
  }

  const rows: Summary[] = []
  let code = 0
  for (let round = 1; round <= rounds && code === 0; round++) {
    if (rounds > 1) process.stderr.write(`# round ${round} of ${rounds}\n`)
    // Client and servers share this machine's cores: anything else running skews every figure, the peers' too.
    const busy = await cpuBusyCores(2000)
    if (busy !== null && busy > 0.2) {
      process.stderr.write(
        `npm run bench: warning: other processes keep ${busy.toFixed(1)} of ${cpus().length} cores busy; ` +
          'stop them for figures comparable with other sessions\n',
      )
    }
    const run = await runHarness(dir, argsOf(round))
    code = run.code
    const lines = run.stdout.split('\n').filter((l) => l.startsWith('{'))
    rows.push(...lines.map((l) => JSON.parse(l) as Summary).filter((r) => r.kind === 'summary'))
  }
  const merged = mergeRounds(rows)
  if (merged.length > 0) {
    const input = merged.map((r) => JSON.stringify(r)).join('\n')
    if (rounds > 1) process.stdout.write(`\n# merged over ${rounds} rounds\n${input}\n`)
    const report = spawnSync(process.execPath, [join(dir, 'report.js')], { input, encoding: 'utf8' })
    const over = rounds > 1 ? `runs of ${rounds} rounds` : 'runs'
    process.stdout.write(`\n## peerbench summary (median [min–max] over ${over})\n\n${report.stdout}\n`)
    process.stdout.write(`## ferrymq vs Redis (medians; [min–max] over ${over})\n\n${ratioTable(merged)}\n`)
    for (const r of merged) {
      for (const e of r.errors ?? []) process.stdout.write(`\nerror in ${r.target}: ${e}`)
    }
    process.stdout.write('\n')
  }
  process.exit(code)
}

void main()
