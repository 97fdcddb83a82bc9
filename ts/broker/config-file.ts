/**
 * A JSON config file the broker owns (topics, groups, offsets, delay progress), written atomically: the new text
 * goes to `<file>.tmp` and is fsynced, the old file becomes `<file>.bak`, then the temp file is renamed over it
 * and the directory fsynced (`ConfigManager`, `MixAll.string2File`). A crash leaves the old or the new file, never
 * half of one; loading falls back to the `.bak` when the file is missing or unreadable.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

import { parseJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'

export function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w', 0o644)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  if (existsSync(path)) renameSync(path, `${path}.bak`)
  renameSync(tmp, path)
  const dir = openSync(dirname(path), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/** Parsed JSON of the file, else of its `.bak`; `null` when neither exists. Throws when both exist but are broken. */
export function readConfigFile(path: string, log: Logger): unknown {
  let firstError: Error | null = null
  for (const candidate of [path, `${path}.bak`]) {
    if (!existsSync(candidate)) continue
    try {
      const text = readFileSync(candidate, 'utf8')
      if (text.trim().length === 0) throw new Error('empty file')
      const value = parseJson(text)
      if (candidate !== path) log.warn({ path }, 'config file unreadable, loaded its .bak')
      return value
    } catch (err) {
      firstError ??= err as Error
      log.warn({ path: candidate, err: (err as Error).message }, 'cannot read config file')
    }
  }
  if (firstError) throw firstError
  return null
}
