import { renameSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { PlainPermissionManager } from '../../../ts/broker/acl/plain-permission-manager.js'
import { ConfigError } from '../../../ts/common/errors.js'
import type { Logger } from '../../../ts/common/logger.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'
import { waitFor } from '../../helpers/wait-for.js'
import { ACL_YAML, writeAclFile } from './acl-fixtures.js'

const ONE_ACCOUNT = `accounts:\n  - accessKey: another1\n    secretKey: "12345678"\n`

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = []
  const logger = {
    errors,
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (_obj: object, msg?: string) => void errors.push(msg ?? ''),
    child: () => logger,
  }
  return logger
}

/** Rewrites `file` and moves its modification time forward, so a stat poll sees the change. */
function rewrite(file: string, text: string, secondsAhead: number): void {
  writeFileSync(file, text)
  const t = Date.now() / 1000 + secondsAhead
  utimesSync(file, t, t)
}

describe('PlainPermissionManager', () => {
  let dir: TempDir
  let manager: PlainPermissionManager | null = null
  beforeEach(() => {
    dir = tempDir('ferrymq-acl-')
  })
  afterEach(() => {
    manager?.stopWatching()
    manager = null
    dir.remove()
  })

  it('refuses to start on a bad file', () => {
    const file = writeAclFile(dir.path, 'accounts: nope\n')
    expect(() => new PlainPermissionManager({ file })).toThrow(ConfigError)
  })

  it('applies a good file on reload() and keeps the previous config after a bad one', () => {
    const file = writeAclFile(dir.path)
    const logger = recordingLogger()
    manager = new PlainPermissionManager({ file, logger })
    expect(manager.config.accounts.has('RocketMQ')).toBe(true)
    writeFileSync(file, ONE_ACCOUNT)
    expect(manager.reload()).toBe(true)
    expect([...manager.config.accounts.keys()]).toEqual(['another1'])
    writeFileSync(file, 'accounts:\n  - accessKey: x\n')
    expect(manager.reload()).toBe(false)
    expect([...manager.config.accounts.keys()]).toEqual(['another1'])
    expect(logger.errors).toEqual(['ACL file reload failed; keeping the previous config'])
  })

  it('reloads while watching, after a rewrite or a rename, and ignores a broken edit', async () => {
    const file = writeAclFile(dir.path)
    const logger = recordingLogger()
    manager = new PlainPermissionManager({ file, logger })
    manager.startWatching(10)
    // The watcher takes its first stat asynchronously; an edit made before that stat is its baseline, not a
    // change. So the edit is repeated (each time a second later) until the watcher has seen one.
    let ahead = 5
    await waitFor(
      () => {
        rewrite(file, ONE_ACCOUNT, ahead++)
        return manager!.config.accounts.has('another1')
      },
      { intervalMs: 50, what: 'the rewritten file to load' },
    )
    const staged = join(dir.path, 'staged.yml')
    rewrite(staged, ACL_YAML, ahead + 10)
    renameSync(staged, file)
    await waitFor(() => manager!.config.accounts.has('RocketMQ'), { what: 'the renamed file to load' })
    rewrite(file, 'accounts: nope\n', ahead + 15)
    await waitFor(() => logger.errors.length === 1, { what: 'the broken edit to be refused' })
    expect(manager.config.accounts.has('RocketMQ')).toBe(true)
    manager.stopWatching()
    rewrite(file, ONE_ACCOUNT, ahead + 20)
    expect(manager.reload()).toBe(true)
    expect(manager.config.accounts.has('another1')).toBe(true)
  })
})
