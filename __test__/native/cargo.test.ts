/** The crate's own Rust unit tests (`cargo test`), run with the same crate source `npm install` uses. */
import { describe, expect, it } from 'vitest'

import { cargoTest } from '../../scripts/native-build.js'
import { packageRoot } from '../../ts/native/binding.js'

describe('native crate', () => {
  it('passes cargo test', { timeout: 600_000 }, async () => {
    const { status, output } = await cargoTest(packageRoot())
    const summary = output.split('\n').filter((l) => l.startsWith('test result:'))
    expect(status, output.slice(-4000)).toBe(0)
    expect(summary.length).toBeGreaterThan(0)
    expect(summary.every((l) => l.includes(' 0 failed'))).toBe(true)
    const passed = summary.reduce((n, l) => n + Number(/(\d+) passed/.exec(l)?.[1] ?? 0), 0)
    expect(passed).toBeGreaterThan(50)
  })
})
