/**
 * The torture harness's disk-full scenario at test size: on a tmpfs when this process may mount one (root),
 * otherwise with segment names blocked; and always once with blocked segment names, so that method stays working.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { stopAllBrokerProcesses } from '../../scripts/torture/broker-process.js'
import { canMountTmpfs, diskFull, diskFullScenario } from '../../scripts/torture/disk-full.js'
import type { ScenarioReport } from '../../scripts/torture/report.js'

let dir = ''

afterEach(async () => {
  await stopAllBrokerProcesses()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function expectDiskFullHandled(report: ScenarioReport): Record<string, string | number> {
  expect(report.problems).toEqual([])
  expect(report.ok).toBe(true)
  expect(report.totals.lost_sync).toBe(0)
  expect(report.totals.acked).toBeGreaterThan(300)
  expect(report.totals.disk_full_refusals).toBeGreaterThan(0)
  const rows = Object.fromEntries(report.rows)
  expect(rows['refused: CREATE_MAPPED_FILE_FAILED']).toBeGreaterThan(0)
  expect(rows['acknowledged after resuming']).toBeGreaterThan(300)
  expect(rows['lost']).toBe(0)
  expect(rows['lost after a restart']).toBe(0)
  return rows
}

describe('torture: disk full', () => {
  it(
    'refuses sends on a full disk, keeps reads and consumers going, resumes by itself once space frees',
    { timeout: 300_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const tmpfs = canMountTmpfs(join(dir, 'probe'))
      const rows = expectDiskFullHandled(await diskFull.run({ size: 'test', dir, seed: 42, log: () => {} }))
      if (tmpfs) {
        expect(rows['method']).toBe('tmpfs of 20 MiB')
        expect(rows['first refusal']).toBe('CREATE_MAPPED_FILE_FAILED')
        expect(rows['refused: SERVICE_NOT_AVAILABLE']).toBeGreaterThan(0)
      } else {
        expect(rows['method']).toBe('segment names blocked by directories')
      }
    },
  )

  it(
    'with blocked segment names (no mount needed): CREATE_MAPPED_FILE_FAILED, then writing resumes',
    { timeout: 300_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const report = await diskFullScenario('blocked-segments').run({ size: 'test', dir, seed: 42, log: () => {} })
      const rows = expectDiskFullHandled(report)
      expect(rows['method']).toBe('segment names blocked by directories')
      expect(rows['first refusal']).toBe('CREATE_MAPPED_FILE_FAILED')
    },
  )
})
