/**
 * How prebuilt binaries reach users: `npm run pack:prebuilt` writes the platform package and the main package;
 * both are installed into an empty project with cargo unreachable, and a store is opened, written and read there.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { packageRoot, platformTriple } from '../../ts/native/binding.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'

const USER_SCRIPT = `
import { NativeMessageStore, encodeHost, decodeMessages } from 'ferrymq'
const store = await NativeMessageStore.open({ storePathRootDir: process.argv[2], mappedFileSizeCommitLog: 65536, maxHashSlotNum: 100, maxIndexNum: 400 })
const r = await store.putMessage({ topic: 'Prebuilt', queueId: 0, flag: 0, body: Buffer.from('from the prebuilt addon'),
  propertiesString: '', bornTimestamp: Date.now(), bornHost: encodeHost('127.0.0.1', 1), sysFlag: 0, reconsumeTimes: 0,
  preparedTransactionOffset: 0 })
const got = await store.getMessage('g', 'Prebuilt', 0, 0, 1)
console.log(JSON.stringify({ status: r.putMessageStatus, body: decodeMessages(got.buffer)[0].body.toString() }))
await store.shutdown()
`

/**
 * A PATH on which cargo and rustc cannot run: directories holding them are dropped (unless node lives there too),
 * and a first directory shadows them with commands that fail.
 */
function pathWithoutCargo(shimDir: string): string {
  mkdirSync(shimDir, { recursive: true })
  for (const tool of ['cargo', 'rustc']) {
    writeFileSync(join(shimDir, tool), '#!/bin/sh\necho "$0 is not available in this test" >&2\nexit 127\n', {
      mode: 0o755,
    })
  }
  const kept = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !existsSync(join(dir, 'cargo')) || existsSync(join(dir, 'node')))
  return [shimDir, ...kept].join(delimiter)
}

describe('prebuilt packages', () => {
  let dir: TempDir
  afterEach(() => dir.remove())

  it('install into an empty project without cargo and run', { timeout: 600_000 }, () => {
    dir = tempDir()
    const root = packageRoot()
    const out = join(dir.path, 'tarballs')
    const packed = execFileSync('npm', ['run', '--silent', 'pack:prebuilt', '--', '--out', out], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const { platform, main } = JSON.parse(packed.trim().split('\n').pop()!) as { platform: string; main: string }
    expect(platform).toContain(`ferrymq-${platformTriple()}-`)

    const project = join(dir.path, 'app')
    mkdirSync(project)
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }),
    )
    writeFileSync(join(project, 'use.mjs'), USER_SCRIPT)
    const env = { ...process.env, PATH: pathWithoutCargo(join(dir.path, 'no-cargo')), FERRYMQ_NATIVE_LIBRARY_PATH: '' }
    expect(spawnSync('cargo', ['--version'], { env }).status, 'cargo must be unusable').not.toBe(0)
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', platform, main], {
      cwd: project,
      env,
      encoding: 'utf8',
    })
    expect(install.status, install.stderr).toBe(0)
    const run = spawnSync(process.execPath, ['use.mjs', join(dir.path, 'store')], {
      cwd: project,
      env,
      encoding: 'utf8',
    })
    expect(run.status, run.stderr).toBe(0)
    expect(JSON.parse(run.stdout.trim())).toEqual({ status: 'PUT_OK', body: 'from the prebuilt addon' })
    // The addon came from the platform package, not from a build.
    const resolved = spawnSync(
      process.execPath,
      ['-e', `console.log(require.resolve('ferrymq-${platformTriple()}'))`],
      {
        cwd: join(project, 'node_modules', 'ferrymq'),
        encoding: 'utf8',
      },
    )
    expect(dirname(resolved.stdout.trim())).toBe(join(project, 'node_modules', `ferrymq-${platformTriple()}`))
    // The installed command runs through its shebang, which carries the broker's Node options (node-flags.ts).
    const version = spawnSync(join(project, 'node_modules', '.bin', 'ferrymq'), ['version'], { env, encoding: 'utf8' })
    expect(version.status, version.stderr).toBe(0)
    expect(version.stdout).toMatch(/\d+\.\d+\.\d+/)
  })
})
