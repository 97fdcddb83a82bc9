/**
 * Builds the native addon from source, the ordinary way where crates.io can be reached, and from Debian's
 * packaged crates (a cargo directory source) where it cannot.
 *
 * Used by `install-native.ts` (npm install), `pack-prebuilt.ts` and the tests that run `cargo test`.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

import { platformTriple } from '../ts/native/binding.js'

/** Where Debian's `librust-*-dev` packages put crate sources. */
export const DEBIAN_CRATE_REGISTRY = '/usr/share/cargo/registry'
/** The crates the addon depends on, and the Debian packages that provide them. */
export const DEBIAN_CRATE_PACKAGES: Record<string, string> = {
  memmap2: 'librust-memmap2-dev',
  crc32fast: 'librust-crc32fast-dev',
  libc: 'librust-libc-dev',
}
const CRATES_IO_PROBE_URL = 'https://index.crates.io/config.json'
const CRATES_IO_PROBE_TIMEOUT_MS = 5000

export class NativeBuildError extends Error {
  readonly code = 'RMQ_ERR_NATIVE_BUILD'
}

export type CrateSource = 'crates-io' | 'debian'

export interface BuildOptions {
  root: string
  debug?: boolean
  log?: (line: string) => void
}

function run(cmd: string, args: string[], options: SpawnSyncOptions): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options })
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return { status: null, output: '' }
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

export function hasCargo(): boolean {
  return run('cargo', ['--version'], { stdio: 'pipe' }).status === 0
}

/** Whether crates.io answers within a few seconds. `FERRYMQ_CRATE_SOURCE` overrides the probe. */
export async function chooseCrateSource(): Promise<CrateSource> {
  const forced = process.env.FERRYMQ_CRATE_SOURCE
  if (forced === 'crates-io' || forced === 'debian') return forced
  try {
    const response = await fetch(CRATES_IO_PROBE_URL, { signal: AbortSignal.timeout(CRATES_IO_PROBE_TIMEOUT_MS) })
    return response.ok ? 'crates-io' : 'debian'
  } catch {
    // Unreachable (no DNS, refused, timed out): fall back to the packaged crates.
    return 'debian'
  }
}

function missingDebianCrates(): string[] {
  const present = existsSync(DEBIAN_CRATE_REGISTRY) ? readdirSync(DEBIAN_CRATE_REGISTRY) : []
  return Object.keys(DEBIAN_CRATE_PACKAGES).filter((crate) => !present.some((d) => d.startsWith(`${crate}-`)))
}

/** What `ensureDebianCrates` needs to know about the machine (injectable for tests). */
export interface DebianSystem {
  missingCrates(): string[]
  isRoot: boolean
  isDebian: boolean
  hasApt: boolean
  aptInstall(packages: string[]): { status: number | null; output: string }
}

export function debianSystem(): DebianSystem {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = (packages: string[]): { status: number | null; output: string } =>
    run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'pipe', env })
  return {
    missingCrates: missingDebianCrates,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    isDebian: existsSync('/etc/debian_version'),
    hasApt: run('apt-get', ['--version'], { stdio: 'pipe' }).status === 0,
    aptInstall: (packages) => {
      const first = install(packages)
      if (first.status === 0) return first
      // A fresh machine may have no package lists yet.
      run('apt-get', ['update'], { stdio: 'pipe', env })
      return install(packages)
    },
  }
}

/**
 * Makes sure Debian's packaged crates are installed: installs them with apt when running as root on Debian,
 * otherwise says exactly what to install.
 */
export function ensureDebianCrates(log: (line: string) => void, system: DebianSystem = debianSystem()): void {
  const missing = system.missingCrates()
  if (missing.length === 0) return
  const packages = missing.map((c) => DEBIAN_CRATE_PACKAGES[c]!)
  if (!(system.isRoot && system.isDebian && system.hasApt)) {
    throw new NativeBuildError(
      `crates.io cannot be reached, so ferrymq's native addon must build from Debian's packaged crates, ` +
        `which are not installed. Install them with:\n  sudo apt-get install ${packages.join(' ')}\n` +
        `or make crates.io reachable (or set FERRYMQ_CRATE_SOURCE=crates-io to use your own registry mirror).`,
    )
  }
  log(`installing ${packages.join(' ')} with apt-get`)
  const r = system.aptInstall(packages)
  if (r.status !== 0 || system.missingCrates().length > 0) {
    throw new NativeBuildError(`apt-get could not install ${packages.join(' ')}:\n${r.output.slice(-2000)}`)
  }
}

/** Cargo arguments that select the crate source. */
export function cargoSourceArgs(source: CrateSource): string[] {
  if (source === 'crates-io') return []
  return [
    '--offline',
    '--config',
    'source.crates-io.replace-with="debian-packaged"',
    '--config',
    `source.debian-packaged.directory="${DEBIAN_CRATE_REGISTRY}"`,
  ]
}

/**
 * A `Cargo.lock` resolved against one source may name versions the other does not have; it is regenerated when
 * the source changes.
 */
function resetLockIfSourceChanged(root: string, source: CrateSource): void {
  const marker = join(root, 'target', 'ferrymq-crate-source')
  const previous = existsSync(marker) ? readFileSync(marker, 'utf8') : ''
  if (previous !== source) rmSync(join(root, 'Cargo.lock'), { force: true })
  mkdirSync(dirname(marker), { recursive: true })
  writeFileSync(marker, source)
}

/** Prepares a crate source and returns the cargo arguments for it. */
export async function prepareCargo(root: string, log: (line: string) => void): Promise<string[]> {
  if (!hasCargo()) {
    throw new NativeBuildError(
      `ferrymq's native addon has no prebuilt package for ${platformTriple()} here and building it needs Rust: ` +
        `install cargo (https://rustup.rs or your distribution's cargo package) and run npm install again.`,
    )
  }
  const source = await chooseCrateSource()
  log(`crate source: ${source === 'crates-io' ? 'crates.io' : `Debian packaged crates in ${DEBIAN_CRATE_REGISTRY}`}`)
  if (source === 'debian') ensureDebianCrates(log)
  resetLockIfSourceChanged(root, source)
  return cargoSourceArgs(source)
}

function napiCli(root: string): string | null {
  try {
    const require = createRequire(join(root, 'package.json'))
    const pkg = require.resolve('@napi-rs/cli/package.json')
    const bin = join(dirname(pkg), 'dist', 'cli.js')
    return existsSync(bin) ? bin : null
  } catch {
    return null
  }
}

/** The addon file a local build produces: `<root>/ferrymq.<platform>.node`. */
export function localAddonPath(root: string): string {
  return join(root, `ferrymq.${platformTriple()}.node`)
}

/**
 * Builds `ferrymq.<platform>.node` in `root` with `napi build --platform`, or with plain cargo where
 * `@napi-rs/cli` is not installed (a user's `npm rebuild` of the published package).
 */
export async function buildAddon(options: BuildOptions): Promise<string> {
  const { root, debug = false } = options
  const log = options.log ?? (() => {})
  const sourceArgs = await prepareCargo(root, log)
  const cli = napiCli(root)
  const out = localAddonPath(root)
  if (cli) {
    const args = [cli, 'build', '--platform', '--no-js', '--output-dir', root]
    if (!debug) args.push('--release')
    log(`napi build ${args.slice(2).join(' ')}`)
    const cargoArgs = sourceArgs.length > 0 ? ['--', ...sourceArgs] : []
    const r = spawnSync(process.execPath, [...args, ...cargoArgs], { cwd: root, stdio: 'inherit' })
    if (r.status !== 0) throw new NativeBuildError(`napi build failed (exit ${r.status})`)
  } else {
    const args = ['build', '--lib', ...(debug ? [] : ['--release']), ...sourceArgs]
    log(`cargo ${args.join(' ')}`)
    const r = spawnSync('cargo', args, { cwd: root, stdio: 'inherit' })
    if (r.status !== 0) throw new NativeBuildError(`cargo build failed (exit ${r.status})`)
    const lib = process.platform === 'darwin' ? 'libferrymq.dylib' : 'libferrymq.so'
    copyFileSync(join(root, 'target', debug ? 'debug' : 'release', lib), out)
  }
  if (!existsSync(out)) throw new NativeBuildError(`the build did not produce ${out}`)
  return out
}

/** Newest modification time of the crate's sources. */
export function sourcesMtimeMs(root: string): number {
  let newest = statSync(join(root, 'Cargo.toml')).mtimeMs
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else newest = Math.max(newest, statSync(p).mtimeMs)
    }
  }
  walk(join(root, 'native'))
  return newest
}

/** Runs `cargo test` for the crate with the right crate source; resolves with its output and exit status. */
export async function cargoTest(root: string): Promise<{ status: number | null; output: string }> {
  const sourceArgs = await prepareCargo(root, () => {})
  return run('cargo', ['test', ...sourceArgs], { cwd: root, stdio: 'pipe', maxBuffer: 64 * 1024 * 1024 })
}
