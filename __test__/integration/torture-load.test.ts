/** The torture harness's load scenario at test size: many connections held, many topics restarted, a backlog consumed. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { stopAllBrokerProcesses } from '../../scripts/torture/broker-process.js'
import { load } from '../../scripts/torture/load.js'

let dir = ''

afterEach(async () => {
  await stopAllBrokerProcesses()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('torture: load', () => {
  it(
    'holds 50 heartbeating connections, restarts with 200 topics routed, consumes a 32 MiB backlog while producing',
    { timeout: 300_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const lines: string[] = []
      const report = await load.run({ size: 'test', dir, seed: 42, log: (l) => lines.push(l) })
      expect(report.problems).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.totals.connections_held).toBe(50)
      expect(report.totals.load_connections).toBe(50)
      expect(report.totals.load_send_errors).toBe(0)
      expect(report.totals.load_topics).toBe(200)
      expect(report.totals.load_backlog_mib).toBe(32)
      expect(report.totals.load_backlog_missing).toBe(0)
      expect(report.totals.acked).toBeGreaterThan(8192)
      expect(report.totals.load_rss_anon_mib_max).toBeGreaterThan(0)
      expect(report.totals.load_rss_anon_mib_max).toBeLessThanOrEqual(500)
    },
  )
})
