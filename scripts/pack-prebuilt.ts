/**
 * `npm run pack:prebuilt [-- --out <dir>]`: writes the two tarballs a release publishes, napi-rs style:
 *
 * - `ferrymq-<platform>-<version>.tgz`: the platform package (`npm/<platform>/`), holding only the addon;
 * - `ferrymq-<version>.tgz`: the main package, compiled JavaScript and types, with the platform package as an
 *   optional dependency, and the crate sources plus an install script as the build-from-source fallback.
 *
 * Installing both needs no Rust: the loader finds the addon in the platform package.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

import { packageRoot, platformTriple } from '../ts/native/binding.js'
import { buildAddon, localAddonPath, sourcesMtimeMs } from './native-build.js'

interface PackageJson {
  name: string
  version: string
  description?: string
  license?: string
  engines?: Record<string, string>
  dependencies?: Record<string, string>
  [key: string]: unknown
}

function log(line: string): void {
  process.stderr.write(`pack:prebuilt: ${line}\n`)
}

function npmPack(dir: string, out: string): string {
  const r = spawnSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: dir, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`npm pack failed in ${dir}:\n${r.stderr}`)
  const [info] = JSON.parse(r.stdout) as Array<{ filename: string }>
  return join(out, info!.filename)
}

function platformFields(triple: string): Record<string, unknown> {
  const [os, cpu, abi] = triple.split('-')
  const fields: Record<string, unknown> = { os: [os], cpu: [cpu] }
  if (os === 'linux' && abi) fields.libc = [abi === 'musl' ? 'musl' : 'glibc']
  return fields
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' } } })
  const root = packageRoot()
  const out = resolve(values.out ?? join(root, 'target', 'pack'))
  mkdirSync(out, { recursive: true })
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson
  const triple = platformTriple()
  const addon = localAddonPath(root)
  if (!existsSync(addon) || statSync(addon).mtimeMs < sourcesMtimeMs(root)) {
    log('building the addon')
    await buildAddon({ root, log })
  }

  const platformName = `${pkg.name}-${triple}`
  const platformDir = join(root, 'npm', triple)
  rmSync(platformDir, { recursive: true, force: true })
  mkdirSync(platformDir, { recursive: true })
  const binary = `ferrymq.${triple}.node`
  copyFileSync(addon, join(platformDir, binary))
  const platformPkg = {
    name: platformName,
    version: pkg.version,
    description: `ferrymq's native addon for ${triple}`,
    license: pkg.license,
    main: binary,
    files: [binary],
    engines: pkg.engines,
    ...platformFields(triple),
  }
  writeFileSync(join(platformDir, 'package.json'), `${JSON.stringify(platformPkg, null, 2)}\n`)
  writeFileSync(join(platformDir, 'README.md'), `# ${platformName}\n\nThe ${triple} binary of [ferrymq](../../README.md).\n`)
  const platformTarball = npmPack(platformDir, out)
  log(`wrote ${platformTarball}`)

  const stage = join(root, 'target', 'pack-stage')
  rmSync(stage, { recursive: true, force: true })
  mkdirSync(join(stage, 'dist', 'scripts'), { recursive: true })
  cpSync(join(root, 'dist', 'ts'), join(stage, 'dist', 'ts'), { recursive: true })
  for (const f of ['install-native.js', 'native-build.js']) {
    copyFileSync(join(root, 'dist', 'scripts', f), join(stage, 'dist', 'scripts', f))
  }
  cpSync(join(root, 'native'), join(stage, 'native'), { recursive: true })
  copyFileSync(join(root, 'Cargo.toml'), join(stage, 'Cargo.toml'))
  if (existsSync(join(root, 'README.md'))) copyFileSync(join(root, 'README.md'), join(stage, 'README.md'))
  const published: PackageJson = {
    name: pkg.name,
    version: pkg.version,
    description: pkg.description,
    license: pkg.license,
    type: pkg.type,
    main: pkg.main,
    types: pkg.types,
    exports: pkg.exports,
    bin: pkg.bin,
    engines: pkg.engines,
    napi: pkg.napi,
    files: ['dist', 'native', 'Cargo.toml'],
    scripts: { install: 'node dist/scripts/install-native.js' },
    dependencies: pkg.dependencies,
    optionalDependencies: { [platformName]: pkg.version },
  }
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
  const mainTarball = npmPack(stage, out)
  log(`wrote ${mainTarball}`)
  process.stdout.write(`${JSON.stringify({ platform: platformTarball, main: mainTarball })}\n`)
}

main().catch((err: unknown) => {
  log((err as Error)?.stack ?? String(err))
  process.exitCode = 1
})
