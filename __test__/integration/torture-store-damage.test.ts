/** The torture harness's damaged-store scenario at test size: torn, short, zeroed and bit-flipped commit-log files. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { stopAllBrokerProcesses } from '../../scripts/torture/broker-process.js'
import { bodyCrc, recoveryLine, servedRecords, storeDamage } from '../../scripts/torture/store-damage.js'

let dir = ''

afterEach(async () => {
  await stopAllBrokerProcesses()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('torture: store damage', () => {
  it('masks the body CRC as UtilAll.crc32 does', () => {
    // crc32("123456789") = 0xCBF43926; masked to 31 bits.
    expect(bodyCrc(Buffer.from('123456789'))).toBe(0xcbf43926 & 0x7fffffff)
  })

  it('counts what is not a whole record as malformed', () => {
    expect(servedRecords(Buffer.alloc(12))).toEqual({ records: [], malformed: 1 })
  })

  it('reads the recovery line of a broker log', () => {
    const line = JSON.stringify({
      level: 40,
      component: 'store',
      startOffset: 65536,
      msg: 'recovery stopped at offset 70000: body CRC mismatch; the log was truncated there',
    })
    expect(recoveryLine(`not json\n${line}\n`)).toEqual({
      msg: expect.stringContaining('recovery stopped'),
      startOffset: 65536,
      stoppedAt: 70000,
      reason: 'body CRC mismatch',
    })
  })

  it(
    'restarts on damaged copies: keeps every record before the damage, explains what is lost, serves no bad CRC',
    { timeout: 300_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const report = await storeDamage.run({ size: 'test', dir, seed: 42, log: () => {} })
      expect(report.problems).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.totals.damage_cases).toBe(8)
      expect(report.totals.bad_records_served).toBe(0)
      expect(report.totals.acked).toBe(400)
      const rows = Object.fromEntries(report.rows)
      expect(rows['short-file: cases']).toBe(2)
      expect(rows['short-file: records kept']).toBeGreaterThan(0)
      expect(rows['torn-tail: cases']).toBe(2)
      expect(rows['torn-tail: damage reported by recovery']).toBeGreaterThan(0)
      expect(rows['bit-flip: cases']).toBe(2)
      expect(rows['torn-tail: records kept']).toBeGreaterThan(0)
    },
  )
})
