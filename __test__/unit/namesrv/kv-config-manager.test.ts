import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { KVConfigManager } from '../../../ts/namesrv/kv-config-manager.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'

describe('KVConfigManager', () => {
  let dir: TempDir
  let path: string

  beforeEach(() => {
    dir = tempDir('ferrymq-kv-')
    path = join(dir.path, 'namesrv', 'kvConfig.json')
  })

  afterEach(() => dir.remove())

  it('puts, gets, lists and deletes items', () => {
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 100 })
    expect(kv.putKVConfig('ns', 'k', 'v1')).toBe(true)
    expect(kv.putKVConfig('ns', 'k', 'v2')).toBe(true)
    expect(kv.getKVConfig('ns', 'k')).toBe('v2')
    expect(kv.getKVConfig('ns', 'other')).toBeNull()
    expect(kv.getKVConfig('nope', 'k')).toBeNull()
    expect(kv.getKVListByNamespace('ns')).toEqual(new Map([['k', 'v2']]))
    expect(kv.getKVListByNamespace('nope')).toBeNull()
    kv.deleteKVConfig('ns', 'k')
    expect(kv.getKVConfig('ns', 'k')).toBeNull()
    // The namespace outlives its last item, as in Java.
    expect(kv.getKVListByNamespace('ns')).toEqual(new Map())
  })

  it('persists in the Java file format and loads it back', async () => {
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 100 })
    kv.putKVConfig('ORDER_TOPIC_CONFIG', 'T', 'broker-a:4')
    kv.putKVConfig('other', 'x', 'y "quoted"')
    await kv.persist()
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      configTable: { ORDER_TOPIC_CONFIG: { T: 'broker-a:4' }, other: { x: 'y "quoted"' } },
    })
    expect(existsSync(`${path}.tmp`)).toBe(false)
    const reloaded = new KVConfigManager({ kvConfigPath: path, itemsMax: 100 })
    await reloaded.load()
    expect(reloaded.getKVConfig('ORDER_TOPIC_CONFIG', 'T')).toBe('broker-a:4')
    expect(reloaded.getKVConfig('other', 'x')).toBe('y "quoted"')
  })

  it('reads a file written by a Java name server', async () => {
    mkdirSync(join(dir.path, 'namesrv'))
    writeFileSync(path, '{"configTable":{"ORDER_TOPIC_CONFIG":{"TopicTest":"broker-a:8;broker-b:8"}}}')
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 100 })
    await kv.load()
    expect(kv.getKVConfig('ORDER_TOPIC_CONFIG', 'TopicTest')).toBe('broker-a:8;broker-b:8')
  })

  it('starts empty without a file and refuses a malformed one', async () => {
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 100 })
    await kv.load()
    expect(kv.getKVListByNamespace('ORDER_TOPIC_CONFIG')).toBeNull()
    mkdirSync(join(dir.path, 'namesrv'))
    writeFileSync(path, '{"configTable":{"ns":{"k":1}}}')
    await expect(new KVConfigManager({ kvConfigPath: path, itemsMax: 100 }).load()).rejects.toMatchObject({
      code: 'RMQ_ERR_KV_CONFIG',
    })
  })

  it('keeps the last snapshot when writes overlap', async () => {
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 100 })
    const writes: Promise<void>[] = []
    for (let i = 0; i < 5; i++) {
      kv.putKVConfig('ns', `k${i}`, String(i))
      writes.push(kv.persist())
    }
    await Promise.all(writes)
    const table = JSON.parse(readFileSync(path, 'utf8')).configTable.ns
    expect(Object.keys(table).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4'])
  })

  it('refuses new items beyond itemsMax but still updates existing ones', () => {
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 2 })
    expect(kv.putKVConfig('a', '1', 'x')).toBe(true)
    expect(kv.putKVConfig('b', '2', 'x')).toBe(true)
    expect(kv.putKVConfig('b', '3', 'x')).toBe(false)
    expect(kv.getKVConfig('b', '3')).toBeNull()
    expect(kv.putKVConfig('a', '1', 'y')).toBe(true)
    kv.deleteKVConfig('a', '1')
    expect(kv.putKVConfig('b', '3', 'x')).toBe(true)
  })

  it('reports a write that fails', async () => {
    // A directory where the file should be: the rename cannot replace it.
    mkdirSync(path, { recursive: true })
    const kv = new KVConfigManager({ kvConfigPath: path, itemsMax: 10 })
    kv.putKVConfig('ns', 'k', 'v')
    await expect(kv.persist()).rejects.toThrow()
    // A later write is still attempted (the chain does not stay broken).
    await expect(kv.persist()).rejects.toThrow()
  })
})
