/**
 * Committed consumer offsets (`ConsumerOffsetManager`): `topic@group` → queue id → next offset to consume,
 * persisted to `config/consumerOffset.json` every `flushConsumerOffsetInterval` (5 s) and at shutdown, written
 * atomically. The file uses RocketMQ's own layout (fastjson's unquoted integer keys), so a Java broker's file
 * loads here and ours loads there.
 */
import { join } from 'node:path'

import { stringifyJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { readConfigFile, writeFileAtomic } from './config-file.js'

const TOPIC_GROUP_SEPARATOR = '@'

/**
 * The `offsetTable` of a parsed `ConsumerOffsetSerializeWrapper`, as `encode()` writes it (the file and the
 * GET_ALL_CONSUMER_OFFSET body): `topic@group` → queue id → offset. Entries that are not one are skipped.
 */
export function consumerOffsetTableFromJson(data: Record<string, unknown>): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>()
  const table = data.offsetTable
  if (typeof table !== 'object' || table === null) return out
  for (const [key, queues] of Object.entries(table as Record<string, unknown>)) {
    if (!key.includes(TOPIC_GROUP_SEPARATOR) || typeof queues !== 'object' || queues === null) continue
    const m = new Map<number, number>()
    for (const [qid, off] of Object.entries(queues as Record<string, unknown>)) {
      const q = Number(qid)
      if (Number.isInteger(q) && typeof off === 'number' && Number.isSafeInteger(off)) m.set(q, off)
    }
    out.set(key, m)
  }
  return out
}

export class ConsumerOffsetManager {
  private readonly table = new Map<string, Map<number, number>>()
  private readonly path: string
  private readonly log: Logger
  private dirty = false

  constructor(storePathRootDir: string, logger: Logger) {
    this.log = logger.child({ component: 'consumer-offset' })
    this.path = join(storePathRootDir, 'config', 'consumerOffset.json')
  }

  load(): void {
    const data = readConfigFile(this.path, this.log) as Record<string, unknown> | null
    if (data === null) return
    for (const [key, queues] of consumerOffsetTableFromJson(data)) this.table.set(key, queues)
  }

  /** Stores `offset` for the queue; no monotonicity check, as in Java. */
  commitOffset(clientHost: string, group: string, topic: string, queueId: number, offset: number): void {
    const key = topic + TOPIC_GROUP_SEPARATOR + group
    let m = this.table.get(key)
    if (m === undefined) {
      m = new Map()
      this.table.set(key, m)
    }
    const prev = m.get(queueId)
    m.set(queueId, offset)
    this.dirty = true
    if (prev !== undefined && offset < prev) {
      this.log.debug({ clientHost, group, topic, queueId, prev, offset }, 'committed offset moved back')
    }
  }

  /** The committed offset, or -1 when there is none. */
  queryOffset(group: string, topic: string, queueId: number): number {
    return this.table.get(topic + TOPIC_GROUP_SEPARATOR + group)?.get(queueId) ?? -1
  }

  queryOffsetTable(group: string, topic: string): ReadonlyMap<number, number> | undefined {
    return this.table.get(topic + TOPIC_GROUP_SEPARATOR + group)
  }

  /** Topics the group has offsets for (`whichTopicByConsumer`). */
  whichTopicByConsumer(group: string): Set<string> {
    const out = new Set<string>()
    for (const key of this.table.keys()) {
      const at = key.lastIndexOf(TOPIC_GROUP_SEPARATOR)
      if (key.slice(at + 1) === group) out.add(key.slice(0, at))
    }
    return out
  }

  /** Groups with offsets on the topic (`whichGroupByTopic`). */
  whichGroupByTopic(topic: string): Set<string> {
    const out = new Set<string>()
    for (const key of this.table.keys()) {
      const at = key.lastIndexOf(TOPIC_GROUP_SEPARATOR)
      if (key.slice(0, at) === topic) out.add(key.slice(at + 1))
    }
    return out
  }

  /** Every `topic@group` entry (admin dumps). */
  entries(): IterableIterator<[string, Map<number, number>]> {
    return this.table.entries()
  }

  removeOffset(group: string): void {
    for (const key of [...this.table.keys()]) {
      if (key.slice(key.lastIndexOf(TOPIC_GROUP_SEPARATOR) + 1) === group) this.table.delete(key)
    }
    this.dirty = true
  }

  removeTopic(topic: string): void {
    for (const key of [...this.table.keys()]) {
      if (key.slice(0, key.lastIndexOf(TOPIC_GROUP_SEPARATOR)) === topic) this.table.delete(key)
    }
    this.dirty = true
  }

  /**
   * Takes a master's offsets and writes the file at once (`SlaveSynchronize#syncConsumerOffset`). Each
   * `topic@group` the master has replaces the slave's; one only the slave has is kept. RocketMQ 4.9 and 5.x both
   * merge this way (`putAll`), and it is the safer choice: the slave is the backup of these offsets, so it must not
   * drop one because the master lacks it (a master restarted on an empty disk would otherwise wipe both copies
   * within a round), and offsets a consumer committed to the slave while the master was away survive until that
   * consumer commits to the master again. The cost is that a group or topic deleted on the master keeps its stale
   * offsets here, which only a consumer of that same group and topic would ever read.
   */
  mergeFromMaster(offsetTable: ReadonlyMap<string, ReadonlyMap<number, number>>): void {
    for (const [key, queues] of offsetTable) this.table.set(key, new Map(queues))
    this.dirty = true
    this.persist()
  }

  /** `{"offsetTable":{"T@G":{0:5}}}`: integer keys unquoted, as fastjson writes them. */
  encode(): string {
    return stringifyJson({ offsetTable: this.table })
  }

  /** Writes the offsets if anything changed since the last write; `force` writes anyway (shutdown). */
  persist(force = false): void {
    if (!this.dirty && !force) return
    this.dirty = false
    try {
      writeFileAtomic(this.path, this.encode())
    } catch (err) {
      this.dirty = true
      // Offsets stay in memory and the next tick retries; a crash before then costs redelivery, not loss.
      this.log.error({ err, path: this.path }, 'cannot persist consumer offsets')
    }
  }
}
