/**
 * The name server's KV config (`KVConfigManager`): namespace → key → value, persisted as
 * `{"configTable":{"<namespace>":{"<key>":"<value>"}}}` (`KVConfigSerializeWrapper`), the same file a Java name
 * server writes, so operators can move it across.
 *
 * Every change is written out at once, as Java does. A write goes to a temporary file that is fsynced and then
 * renamed over the old one, so a crash leaves either the old table or the new one, never half of each. Writes
 * are chained: a later snapshot never lands before an earlier one.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

import { ConfigError } from '../common/errors.js'
import { parseJson, stringifyJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'

export interface KVConfigManagerOptions {
  kvConfigPath: string
  /** Items across all namespaces; `putKVConfig` refuses a new key beyond this. */
  itemsMax: number
  logger?: Logger
}

export class KVConfigManager {
  private readonly configTable = new Map<string, Map<string, string>>()
  private readonly path: string
  private readonly itemsMax: number
  private readonly log: Logger
  private itemCount = 0
  private lastWrite: Promise<void> = Promise.resolve()

  constructor(options: KVConfigManagerOptions) {
    this.path = options.kvConfigPath
    this.itemsMax = options.itemsMax
    this.log = (options.logger ?? noopLogger).child({ component: 'kv-config-manager' })
  }

  /** Reads the persisted table; a missing file is an empty table, an unreadable one a `ConfigError`. */
  async load(): Promise<void> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new ConfigError('RMQ_ERR_KV_CONFIG', `cannot read KV config ${this.path}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    if (text.trim().length === 0) return
    let table: Map<string, Map<string, string>>
    try {
      table = configTableFromJson(parseJson(text))
    } catch (err) {
      throw new ConfigError('RMQ_ERR_KV_CONFIG', `KV config ${this.path} is malformed: ${(err as Error).message}`, {
        cause: err,
      })
    }
    for (const [namespace, kv] of table) this.configTable.set(namespace, kv)
    this.itemCount = countItems(this.configTable)
    this.log.info({ path: this.path, namespaces: this.configTable.size, items: this.itemCount }, 'KV config loaded')
  }

  /** Sets one item; `false` (nothing changed) when the item would exceed `itemsMax`. */
  putKVConfig(namespace: string, key: string, value: string): boolean {
    let kv = this.configTable.get(namespace)
    const isNew = kv?.has(key) !== true
    if (isNew && this.itemCount >= this.itemsMax) return false
    if (kv === undefined) {
      kv = new Map()
      this.configTable.set(namespace, kv)
      this.log.info({ namespace }, 'KV namespace created')
    }
    kv.set(key, value)
    if (isNew) this.itemCount++
    this.log.info({ namespace, key, value }, isNew ? 'KV item created' : 'KV item updated')
    return true
  }

  /** Removes one item. The namespace stays, even when empty, as in Java (`KVConfigManager#deleteKVConfig`). */
  deleteKVConfig(namespace: string, key: string): void {
    const kv = this.configTable.get(namespace)
    if (kv?.delete(key)) {
      this.itemCount--
      this.log.info({ namespace, key }, 'KV item deleted')
    }
  }

  getKVConfig(namespace: string, key: string): string | null {
    return this.configTable.get(namespace)?.get(key) ?? null
  }

  /** A copy of one namespace, or `null` when it was never created. */
  getKVListByNamespace(namespace: string): Map<string, string> | null {
    const kv = this.configTable.get(namespace)
    return kv === undefined ? null : new Map(kv)
  }

  /** Writes the current table; resolves when it is durable. Rejects when the write fails. */
  persist(): Promise<void> {
    const content = stringifyJson({ configTable: this.configTable })
    const write = this.lastWrite.then(
      () => writeFileAtomic(this.path, content),
      () => writeFileAtomic(this.path, content),
    )
    this.lastWrite = write
    return write
  }
}

function countItems(table: Map<string, Map<string, string>>): number {
  let n = 0
  for (const kv of table.values()) n += kv.size
  return n
}

function configTableFromJson(v: unknown): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>()
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object')
  const table = (v as Record<string, unknown>).configTable
  if (table === undefined || table === null) return out
  if (typeof table !== 'object' || Array.isArray(table)) throw new Error('configTable is not an object')
  for (const [namespace, kv] of Object.entries(table as Record<string, unknown>)) {
    if (typeof kv !== 'object' || kv === null || Array.isArray(kv))
      throw new Error(`namespace ${namespace} is not an object`)
    const items = new Map<string, string>()
    for (const [key, value] of Object.entries(kv as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new Error(`value of ${namespace}/${key} is not a string`)
      items.set(key, value)
    }
    out.set(namespace, items)
  }
  return out
}

/** Temp file, fsync, rename, fsync of the directory: the rename is the commit point. */
async function writeFileAtomic(path: string, content: string): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const tmp = `${path}.tmp`
  const file = await open(tmp, 'w', 0o644)
  try {
    await file.writeFile(content, 'utf8')
    await file.sync()
  } finally {
    await file.close()
  }
  await rename(tmp, path)
  const dirHandle = await open(dir, 'r')
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
}
