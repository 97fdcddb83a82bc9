/**
 * The torture harness's network faults at test size: broker restarts under clients, the name server down, half-open
 * connections and slow readers.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { stopAllBrokerProcesses } from '../../scripts/torture/broker-process.js'
import { networkFaults } from '../../scripts/torture/network-faults.js'

let dir = ''

afterEach(async () => {
  await stopAllBrokerProcesses()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('torture: network faults', () => {
  it(
    'clients resume after broker restarts and live through a name server outage; half-open connections are closed; slow readers do not grow the broker',
    { timeout: 300_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const report = await networkFaults.run({ size: 'test', dir, seed: 42, log: () => {} })
      expect(report.problems).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.totals.broker_restarts).toBe(2)
      expect(report.totals.acked).toBeGreaterThan(100)
      expect(report.totals.lost_sync).toBe(0)
      expect(report.totals.recovery_ms_max).toBeGreaterThan(0)
      expect(report.totals.namesrv_reregister_ms_max).toBeGreaterThan(0)
      expect(report.totals.half_open_reaped).toBe(30)
      expect(report.totals.slow_reader_rss_peak_mib).toBeGreaterThan(0)
    },
  )
})
