/**
 * `npm run torture`: drives real brokers in child processes through crashes, damaged files, a full disk, load,
 * network faults and hostile input, and reports what it tried and what was lost: a table per scenario, then one
 * JSON line with the totals.
 *
 * Options: --quick (every scenario at small sizes, a few minutes), --only a,b (scenario names), --seed N,
 * --dir DIR (default: the system temp dir). Exit code 1 when any check failed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import { stopAllBrokerProcesses } from './broker-process.js'
import { combineTotals, renderTable, type ScenarioReport, type Size } from './report.js'
import { SCENARIOS } from './scenarios.js'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    seed: { type: 'string' },
    dir: { type: 'string', default: tmpdir() },
  },
})

async function main(): Promise<void> {
  const size: Size = values.quick ? 'quick' : 'full'
  const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 1_000_000
  const wanted = values.only?.split(',').map((s) => s.trim())
  const unknown = wanted?.filter((w) => !SCENARIOS.some((s) => s.name === w)) ?? []
  if (unknown.length > 0)
    throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`)
  const chosen = SCENARIOS.filter((s) => wanted === undefined || wanted.includes(s.name))
  const started = performance.now()
  const reports: ScenarioReport[] = []
  process.stderr.write(`torture: ${size} sizes, seed ${seed}, ${chosen.length} scenario(s)\n`)
  for (const scenario of chosen) {
    const dir = mkdtempSync(join(values.dir!, `ferrymq-torture-${scenario.name}-`))
    const t0 = performance.now()
    process.stderr.write(`torture: ${scenario.name}: ${scenario.title}\n`)
    try {
      const report = await scenario.run({
        size,
        dir,
        seed,
        log: (line) => process.stderr.write(`  ${scenario.name}: ${line}\n`),
      })
      report.rows.push(['elapsed s', +((performance.now() - t0) / 1000).toFixed(1)])
      reports.push(report)
    } catch (err) {
      reports.push({
        name: scenario.name,
        ok: false,
        rows: [],
        totals: {},
        problems: [`the scenario failed: ${(err as Error).stack ?? String(err)}`],
      })
    } finally {
      await stopAllBrokerProcesses()
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const totals = combineTotals(reports)
  process.stdout.write(`${renderTable(reports)}\n`)
  const ok = reports.every((r) => r.ok)
  process.stdout.write(
    `${JSON.stringify({
      ok,
      size,
      seed,
      elapsed_s: +((performance.now() - started) / 1000).toFixed(1),
      scenarios: Object.fromEntries(reports.map((r) => [r.name, r.ok])),
      ...totals,
    })}\n`,
  )
  if (!ok) process.exitCode = 1
}

void main().catch(async (err: unknown) => {
  await stopAllBrokerProcesses()
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
