/**
 * A topic's configuration on one broker (`TopicConfig`, protocol.md §2.9.8).
 */
import { PermName } from './constant/perm-name.js'
import { QUEUE_ID_MAX } from './limits.js'

export type TopicFilterType = 'SINGLE_TAG' | 'MULTI_TAG'

export interface TopicConfig {
  topicName: string
  readQueueNums: number
  writeQueueNums: number
  perm: number
  topicFilterType: TopicFilterType
  topicSysFlag: number
  order: boolean
}

/** Queue count of a `TopicConfig` built without numbers. */
export const DEFAULT_TOPIC_QUEUE_NUMS = 16

/** Queues a topic may have: each needs a queue id the store takes. */
export const TOPIC_QUEUE_NUMS_MAX = QUEUE_ID_MAX + 1

function queueNums(n: number): number {
  return Math.min(Math.max(n, 0), TOPIC_QUEUE_NUMS_MAX)
}

/** A topic config; queue numbers are clamped to what queue ids can name. */
export function newTopicConfig(topicName: string, fields: Partial<Omit<TopicConfig, 'topicName'>> = {}): TopicConfig {
  return {
    topicName,
    readQueueNums: queueNums(fields.readQueueNums ?? DEFAULT_TOPIC_QUEUE_NUMS),
    writeQueueNums: queueNums(fields.writeQueueNums ?? DEFAULT_TOPIC_QUEUE_NUMS),
    perm: fields.perm ?? (PermName.PERM_READ | PermName.PERM_WRITE),
    topicFilterType: fields.topicFilterType ?? 'SINGLE_TAG',
    topicSysFlag: fields.topicSysFlag ?? 0,
    order: fields.order ?? false,
  }
}

/**
 * Reads a TopicConfig from parsed JSON (a registration body, a config file), filling defaults for missing
 * members; `null` when it is not one.
 */
export function topicConfigFromJson(v: unknown): TopicConfig | null {
  if (typeof v !== 'object' || v === null) return null
  const o = v as Record<string, unknown>
  if (typeof o.topicName !== 'string' || o.topicName.length === 0) return null
  const int = (x: unknown, d: number): number => (typeof x === 'number' && Number.isInteger(x) ? x : d)
  return newTopicConfig(o.topicName, {
    readQueueNums: int(o.readQueueNums, DEFAULT_TOPIC_QUEUE_NUMS),
    writeQueueNums: int(o.writeQueueNums, DEFAULT_TOPIC_QUEUE_NUMS),
    perm: int(o.perm, PermName.PERM_READ | PermName.PERM_WRITE),
    topicFilterType: o.topicFilterType === 'MULTI_TAG' ? 'MULTI_TAG' : 'SINGLE_TAG',
    topicSysFlag: int(o.topicSysFlag, 0),
    order: o.order === true,
  })
}

/** The compact text form used inside compressed registrations: `name read write perm filterType`. */
export function encodeTopicConfigText(c: TopicConfig): string {
  return `${c.topicName} ${c.readQueueNums} ${c.writeQueueNums} ${c.perm} ${c.topicFilterType}`
}

export function decodeTopicConfigText(s: string): TopicConfig | null {
  const parts = s.split(' ')
  if (parts.length < 5) return null
  const [name, r, w, p, f] = parts as [string, string, string, string, string]
  const nums = [r, w, p].map(Number)
  if (name.length === 0 || nums.some((n) => !Number.isInteger(n))) return null
  return newTopicConfig(name, {
    readQueueNums: nums[0]!,
    writeQueueNums: nums[1]!,
    perm: nums[2]!,
    topicFilterType: f === 'MULTI_TAG' ? 'MULTI_TAG' : 'SINGLE_TAG',
  })
}

/** `DataVersion`: a change counter and the time of the change; equality compares both (protocol.md §2.9.8). */
export interface DataVersion {
  timestamp: number
  counter: number
}

export function newDataVersion(): DataVersion {
  return { timestamp: Date.now(), counter: 0 }
}

export function nextDataVersion(v: DataVersion): DataVersion {
  return { timestamp: Date.now(), counter: v.counter + 1 }
}

export function sameDataVersion(a: DataVersion | null | undefined, b: DataVersion | null | undefined): boolean {
  return !!a && !!b && a.timestamp === b.timestamp && a.counter === b.counter
}
