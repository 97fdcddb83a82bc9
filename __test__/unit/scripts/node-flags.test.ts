/**
 * The broker's Node options (ts/cli/node-flags.ts) can only be given on the `node` command line, so they are
 * written out where the broker is started: the `ferrymq` shebang, `npm start` and the race's adapter.
 */
import { readFileSync } from 'node:fs'

import { describe, expect, it } from 'vitest'

import { BROKER_NODE_FLAGS } from '../../../ts/cli/node-flags.js'
import { cliCommand } from '../../../scripts/torture/broker-process.js'

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8')

describe('BROKER_NODE_FLAGS', () => {
  it('sets the old generation limit the broker is measured with', () => {
    expect(BROKER_NODE_FLAGS).toEqual(['--initial-old-space-size=128'])
  })

  it('is on the ferrymq shebang, as env -S passes it to node', () => {
    const shebang = read('ts/cli/ferrymq.ts').split('\n')[0]!
    expect(shebang).toBe(`#!/usr/bin/env -S node ${BROKER_NODE_FLAGS.join(' ')}`)
  })

  it('is on npm start', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
    expect(pkg.scripts.start).toBe(`node ${BROKER_NODE_FLAGS.join(' ')} dist/ts/cli/ferrymq.js start`)
  })

  it('is on the brokers the race and the torture harness start', () => {
    for (const flag of BROKER_NODE_FLAGS) expect(read('scripts/bench/peerbench-adapter.cjs')).toContain(`'${flag}'`)
    expect(cliCommand().slice(0, BROKER_NODE_FLAGS.length)).toEqual(BROKER_NODE_FLAGS)
  })
})
