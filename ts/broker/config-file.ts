/**
 * A JSON config file the broker owns (topics, groups, offsets, delay progress), written atomically: the new text
 * goes to `<file>.tmp` and is fsynced, the old file becomes `<file>.bak`, then the temp file is renamed over it
 * and the directory fsynced (`ConfigManager`, `MixAll.string2File`). A crash leaves the old or the new file, never
 * half of one; loading falls back to the `.bak` when the file is missing or unreadable.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

import { parseJson, stringifyJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { newDataVersion, nextDataVersion, type DataVersion } from '../common/topic-config.js'

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

/**
 * A named table the broker owns with RocketMQ's data version, kept in its config file in the serialize-wrapper
 * shape `{"<tableKey>": {name: entry, …}, "dataVersion": {…}}` (`TopicConfigSerializeWrapper`,
 * `SubscriptionGroupWrapper`). Every change bumps the version and schedules one atomic write for the turn, so a
 * burst of changes costs one write.
 */
export class VersionedConfigTable<V> {
  private readonly entries = new Map<string, V>()
  private version: DataVersion = newDataVersion()
  private persistScheduled = false

  constructor(
    private readonly path: string,
    private readonly tableKey: string,
    private readonly log: Logger,
  ) {}

  /**
   * Loads the file (or its `.bak`): each entry through `parse`, which returns `null` for a malformed one (skipped
   * with a warning), and the data version. Entries from the file replace those seeded before.
   */
  load(parse: (raw: unknown) => V | null, nameOf: (entry: V) => string): void {
    const data = readConfigFile(this.path, this.log) as Record<string, unknown> | null
    if (data === null) return
    for (const [name, raw] of Object.entries((data[this.tableKey] ?? {}) as Record<string, unknown>)) {
      const entry = parse(raw)
      if (entry === null || nameOf(entry) !== name) {
        this.log.warn({ name, path: this.path }, 'skipping a malformed entry of a config file')
        continue
      }
      this.entries.set(name, entry)
    }
    const dv = data.dataVersion as Partial<DataVersion> | undefined
    if (dv && typeof dv.counter === 'number' && typeof dv.timestamp === 'number') {
      this.version = { counter: dv.counter, timestamp: dv.timestamp }
    }
  }

  /** Adds a built-in entry at start: no version change, no write. */
  seed(name: string, entry: V): void {
    this.entries.set(name, entry)
  }

  get(name: string): V | undefined {
    return this.entries.get(name)
  }

  values(): IterableIterator<V> {
    return this.entries.values()
  }

  get size(): number {
    return this.entries.size
  }

  dataVersion(): DataVersion {
    return this.version
  }

  set(name: string, entry: V): void {
    this.entries.set(name, entry)
    this.changed()
  }

  delete(name: string): boolean {
    if (!this.entries.delete(name)) return false
    this.changed()
    return true
  }

  /**
   * Makes the table a copy of another broker's: every entry and the data version, written at once. A slave does
   * this with its master's table (`SlaveSynchronize`); keeping the master's version is what lets the next round
   * see that nothing changed.
   */
  replaceAll(entries: ReadonlyMap<string, V>, dataVersion: DataVersion): void {
    this.entries.clear()
    for (const [name, entry] of entries) this.entries.set(name, entry)
    this.version = { timestamp: dataVersion.timestamp, counter: dataVersion.counter }
    this.persist()
  }

  /** A copy of the table and its version, as registered, answered to admins and persisted. */
  snapshot(): { table: Map<string, V>; dataVersion: DataVersion } {
    return { table: new Map(this.entries), dataVersion: { ...this.version } }
  }

  /** Writes the file now. A failure is logged: the table in memory is right and the next change or shutdown writes again. */
  persist(): void {
    const { table, dataVersion } = this.snapshot()
    try {
      writeFileAtomic(this.path, stringifyJson({ [this.tableKey]: table, dataVersion }))
    } catch (err) {
      this.log.error({ err, path: this.path }, 'cannot persist a config file')
    }
  }

  private changed(): void {
    this.version = nextDataVersion(this.version)
    if (this.persistScheduled) return
    this.persistScheduled = true
    setImmediate(() => {
      this.persistScheduled = false
      this.persist()
    })
  }
}
