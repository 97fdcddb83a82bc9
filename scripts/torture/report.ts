/**
 * What a torture scenario reports, and how the harness prints it: a table per scenario, then one JSON line with
 * the totals (the keys: `crash_cycles`, `acked`, `lost_sync`, `lost_async`, `duplicates`,
 * `recovery_ms_max`, `fuzz_cases`, `connections_held`, and more).
 */

/** `test`: seconds, inside `npm test`; `quick`: every scenario small, a few minutes in all; `full`: the sizes. */
export type Size = 'test' | 'quick' | 'full'

export interface ScenarioContext {
  size: Size
  /** A directory of the scenario's own, removed afterwards. */
  dir: string
  /** Progress lines (stderr in the harness). */
  log: (line: string) => void
  /** Seed for the scenario's randomness, printed so a run can be repeated. */
  seed: number
}

/** A small seeded generator (mulberry32) for a scenario's randomness, so that a run can be repeated from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Figures summed (or, for `*_max`, maxed) over the scenarios into the final JSON line. */
export interface Totals {
  crash_cycles: number
  acked: number
  lost_sync: number
  lost_async: number
  duplicates: number
  recovery_ms_max: number
  fuzz_cases: number
  connections_held: number
  [key: string]: number
}

export interface ScenarioReport {
  name: string
  /** Every check of the scenario held. */
  ok: boolean
  /** What it tried and found, in order, for the table. */
  rows: [string, string | number][]
  totals: Partial<Totals>
  /** Each check that failed, in words. */
  problems: string[]
}

export interface Scenario {
  name: string
  title: string
  run(ctx: ScenarioContext): Promise<ScenarioReport>
}

/** Builds a report as a scenario goes: rows, totals, and checks that record a problem when they fail. */
export class ReportBuilder {
  private readonly report: ScenarioReport

  constructor(name: string) {
    this.report = { name, ok: true, rows: [], totals: {}, problems: [] }
  }

  row(label: string, value: string | number): this {
    this.report.rows.push([label, value])
    return this
  }

  total(key: keyof Totals & string, value: number): this {
    const max = key.endsWith('_max')
    const before = this.report.totals[key] ?? (max ? -Infinity : 0)
    this.report.totals[key] = max ? Math.max(before, value) : before + value
    return this
  }

  /** Records a failed check when `ok` is false; returns `ok`. */
  check(ok: boolean, problem: string): boolean {
    if (!ok) {
      this.report.ok = false
      this.report.problems.push(problem)
    }
    return ok
  }

  build(): ScenarioReport {
    return this.report
  }
}

const TOTAL_KEYS = [
  'crash_cycles',
  'acked',
  'lost_sync',
  'lost_async',
  'duplicates',
  'recovery_ms_max',
  'fuzz_cases',
  'connections_held',
]

export function combineTotals(reports: ScenarioReport[]): Totals {
  const out: Totals = {
    crash_cycles: 0,
    acked: 0,
    lost_sync: 0,
    lost_async: 0,
    duplicates: 0,
    recovery_ms_max: 0,
    fuzz_cases: 0,
    connections_held: 0,
  }
  for (const r of reports) {
    for (const [k, v] of Object.entries(r.totals)) {
      if (v === undefined) continue
      out[k] = k.endsWith('_max') ? Math.max(out[k] ?? 0, v) : (out[k] ?? 0) + v
    }
  }
  for (const k of TOTAL_KEYS) out[k] = Math.round(out[k]!)
  return out
}

/** The table: one block per scenario, its rows, then its verdict and problems. */
export function renderTable(reports: ScenarioReport[]): string {
  const width = Math.max(24, ...reports.flatMap((r) => r.rows.map(([l]) => l.length)))
  const lines: string[] = []
  for (const r of reports) {
    lines.push(`${r.name} — ${r.ok ? 'ok' : 'FAILED'}`)
    for (const [label, value] of r.rows)
      lines.push(`  ${label.padEnd(width)}  ${typeof value === 'number' ? fmt(value) : value}`)
    for (const p of r.problems) lines.push(`  ! ${p}`)
  }
  return lines.join('\n')
}

function fmt(n: number): string {
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(2)
}
