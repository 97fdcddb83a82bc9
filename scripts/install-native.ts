/**
 * `npm install` step: leaves a working native addon.
 *
 * 1. `FERRYMQ_NATIVE_LIBRARY_PATH` set: nothing to do, the loader uses it.
 * 2. The prebuilt platform package (`ferrymq-<platform>`) is installed: nothing to do.
 * 3. A local `ferrymq.<platform>.node` newer than the crate sources exists: nothing to do.
 * 4. Otherwise build from source (`native-build.ts`).
 *
 * `--from-source` skips 1–3; `--debug` builds without optimisations.
 */
import { existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

import { packageRoot, platformTriple } from '../ts/native/binding.js'
import { buildAddon, localAddonPath, NativeBuildError, sourcesMtimeMs } from './native-build.js'

function log(line: string): void {
  process.stderr.write(`ferrymq: ${line}\n`)
}

function prebuiltInstalled(root: string): boolean {
  try {
    createRequire(join(root, 'package.json')).resolve(`ferrymq-${platformTriple()}`)
    return true
  } catch {
    return false
  }
}

function localAddonIsFresh(root: string): boolean {
  const addon = localAddonPath(root)
  if (!existsSync(addon)) return false
  if (!existsSync(join(root, 'native'))) return true
  return statSync(addon).mtimeMs >= sourcesMtimeMs(root)
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2))
  const fromSource = args.has('--from-source')
  const root = packageRoot()
  if (!fromSource) {
    if (process.env.FERRYMQ_NATIVE_LIBRARY_PATH) {
      log(`using the addon at FERRYMQ_NATIVE_LIBRARY_PATH=${process.env.FERRYMQ_NATIVE_LIBRARY_PATH}`)
      return
    }
    if (prebuiltInstalled(root)) {
      log(`using the prebuilt package ferrymq-${platformTriple()}`)
      return
    }
    if (localAddonIsFresh(root)) {
      log(`native addon ${localAddonPath(root)} is up to date`)
      return
    }
  }
  log(`building the native addon for ${platformTriple()} from source`)
  const out = await buildAddon({ root, debug: args.has('--debug'), log })
  log(`built ${out}`)
}

main().catch((err: unknown) => {
  const message = err instanceof NativeBuildError ? err.message : (err as Error)?.stack ?? String(err)
  log(message)
  process.exitCode = 1
})
