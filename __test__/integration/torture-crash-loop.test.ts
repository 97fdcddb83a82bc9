/** The torture harness's crash loop at test size: SIGKILL under load, nothing acknowledged with SYNC_FLUSH lost. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { stopAllBrokerProcesses } from '../../scripts/torture/broker-process.js'
import { crashLoop } from '../../scripts/torture/crash-loop.js'

let dir = ''

afterEach(async () => {
  await stopAllBrokerProcesses()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('torture: crash loop', () => {
  it(
    'kills a loaded broker repeatedly; every acknowledged SYNC_FLUSH message survives and queues match the log',
    { timeout: 300_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const report = await crashLoop.run({ size: 'test', dir, seed: 42, log: () => {} })
      expect(report.problems).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.totals.crash_cycles).toBe(5)
      expect(report.totals.acked).toBeGreaterThan(100)
      expect(report.totals.lost_sync).toBe(0)
      expect(report.totals.recovery_ms_max).toBeGreaterThan(0)
    },
  )
})
