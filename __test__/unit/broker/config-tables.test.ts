/**
 * The broker's persisted tables (topics.json, subscriptionGroup.json): every change bumps the data version and is
 * written soon after, a new broker on the same directory loads it back, a malformed entry is skipped and a
 * broken file falls back to its `.bak`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { defaultBrokerConfig } from '../../../ts/broker/broker-config.js'
import { VersionedConfigTable } from '../../../ts/broker/config-file.js'
import { SubscriptionGroupManager } from '../../../ts/broker/subscription-group-manager.js'
import { TopicConfigManager } from '../../../ts/broker/topic-config-manager.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { newTopicConfig } from '../../../ts/common/topic-config.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'
import { waitFor } from '../../helpers/wait-for.js'

const dirs: TempDir[] = []
function dir(): string {
  const d = tempDir('ferrymq-config-')
  dirs.push(d)
  return d.path
}

afterEach(() => {
  for (const d of dirs.splice(0)) d.remove()
})

function topicManager(root: string): TopicConfigManager {
  return new TopicConfigManager({
    brokerConfig: defaultBrokerConfig(),
    storePathRootDir: root,
    logger: noopLogger,
    onTopicsChanged: () => {},
  })
}

describe('VersionedConfigTable', () => {
  it('bumps the version on each change, writes once for a burst, and loads the file back', async () => {
    const path = join(dir(), 'config', 't.json')
    const t = new VersionedConfigTable<{ name: string; n: number }>(path, 'things', noopLogger)
    t.seed('builtin', { name: 'builtin', n: 0 })
    expect(t.dataVersion().counter).toBe(0)
    t.set('a', { name: 'a', n: 1 })
    t.set('b', { name: 'b', n: 2 })
    expect(t.delete('b')).toBe(true)
    expect(t.delete('missing')).toBe(false)
    expect(t.dataVersion().counter).toBe(3)
    // Nothing is written inside the turn; the write comes right after it.
    expect(existsSync(path)).toBe(false)
    await waitFor(() => existsSync(path), { what: 'the scheduled write' })
    const written = JSON.parse(readFileSync(path, 'utf8')) as {
      things: Record<string, unknown>
      dataVersion: { counter: number }
    }
    expect(Object.keys(written.things).sort()).toEqual(['a', 'builtin'])
    expect(written.dataVersion.counter).toBe(3)

    const again = new VersionedConfigTable<{ name: string; n: number }>(path, 'things', noopLogger)
    again.load(
      (raw) => (typeof raw === 'object' && raw !== null && 'name' in raw ? (raw as { name: string; n: number }) : null),
      (e) => e.name,
    )
    expect(again.get('a')).toEqual({ name: 'a', n: 1 })
    expect(again.get('b')).toBeUndefined()
    expect(again.dataVersion().counter).toBe(3)
  })
})

describe('TopicConfigManager and SubscriptionGroupManager persistence', () => {
  it('keeps created, changed and deleted topics across a restart, with their data version', async () => {
    const root = dir()
    const a = topicManager(root)
    const builtIn = a.size
    a.updateTopicConfig(newTopicConfig('Orders', { readQueueNums: 4, writeQueueNums: 4 }))
    a.updateTopicConfig(newTopicConfig('Gone'))
    expect(a.deleteTopicConfig('Gone')).toBe(true)
    a.persist()
    const version = a.dataVersion()

    const b = topicManager(root)
    b.load()
    expect(b.selectTopicConfig('Orders')).toMatchObject({ readQueueNums: 4, writeQueueNums: 4 })
    expect(b.selectTopicConfig('Gone')).toBeUndefined()
    expect(b.size).toBe(builtIn + 1)
    expect(b.dataVersion()).toEqual(version)
    expect(b.buildSerializeWrapper().topicConfigTable.has('Orders')).toBe(true)
  })

  it('skips a malformed topic and falls back to the .bak when topics.json is broken', () => {
    const root = dir()
    const a = topicManager(root)
    a.updateTopicConfig(newTopicConfig('First'))
    a.persist()
    a.updateTopicConfig(newTopicConfig('Second'))
    a.persist() // topics.json now has both; topics.json.bak has First only
    const path = join(root, 'config', 'topics.json')
    const text = JSON.parse(readFileSync(path, 'utf8')) as { topicConfigTable: Record<string, unknown> }
    text.topicConfigTable.Wrong = { topicName: 'NotWrong', readQueueNums: 1, writeQueueNums: 1 }
    writeFileSync(path, JSON.stringify(text))
    const b = topicManager(root)
    b.load()
    expect(b.selectTopicConfig('Second')).toBeDefined()
    expect(b.selectTopicConfig('Wrong')).toBeUndefined()
    expect(b.selectTopicConfig('NotWrong')).toBeUndefined()

    writeFileSync(path, '{ torn')
    const c = topicManager(root)
    c.load()
    expect(c.selectTopicConfig('First')).toBeDefined()
    expect(c.selectTopicConfig('Second')).toBeUndefined()
  })

  it('keeps auto-created and updated groups, and forgets deleted ones, across a restart', async () => {
    const root = dir()
    const a = new SubscriptionGroupManager(root, true, noopLogger)
    expect(a.findSubscriptionGroupConfig('GroupA')).toBeDefined()
    a.updateSubscriptionGroupConfig({ ...a.get('GroupA')!, retryMaxTimes: 3 })
    a.findSubscriptionGroupConfig('GroupB')
    expect(a.deleteSubscriptionGroupConfig('GroupB')).toBe(true)
    const path = join(root, 'config', 'subscriptionGroup.json')
    await waitFor(() => existsSync(path) && !readFileSync(path, 'utf8').includes('GroupB'), {
      what: 'the scheduled write',
    })

    const b = new SubscriptionGroupManager(root, false, noopLogger)
    b.load()
    expect(b.get('GroupA')?.retryMaxTimes).toBe(3)
    expect(b.get('GroupB')).toBeUndefined()
    expect(b.buildWrapper().dataVersion).toEqual(a.buildWrapper().dataVersion)
  })
})
