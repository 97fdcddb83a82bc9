/**
 * Consumer group settings (`SubscriptionGroupManager`), persisted to `config/subscriptionGroup.json`. Groups are
 * created with RocketMQ's defaults on first use when `autoCreateSubscriptionGroup` is on (protocol.md §2.9.13).
 */
import { join } from 'node:path'

import { ProtocolError } from '../common/errors.js'
import { QUEUE_ID_MAX } from '../common/limits.js'
import type { Logger } from '../common/logger.js'
import { SYSTEM_GROUPS } from '../common/mix-all.js'
import type { DataVersion } from '../common/topic-config.js'
import { groupProblem } from '../common/topic-validator.js'
import { dataVersionFromJson } from '../remoting/protocol/namesrv.js'
import { VersionedConfigTable } from './config-file.js'

export interface SubscriptionGroupConfig {
  groupName: string
  consumeEnable: boolean
  consumeFromMinEnable: boolean
  consumeBroadcastEnable: boolean
  retryQueueNums: number
  retryMaxTimes: number
  brokerId: number
  whichBrokerWhenConsumeSlowly: number
  notifyConsumerIdsChangedEnable: boolean
}

export function newSubscriptionGroupConfig(groupName: string): SubscriptionGroupConfig {
  return {
    groupName,
    consumeEnable: true,
    consumeFromMinEnable: true,
    consumeBroadcastEnable: true,
    retryQueueNums: 1,
    retryMaxTimes: 16,
    brokerId: 0,
    whichBrokerWhenConsumeSlowly: 1,
    notifyConsumerIdsChangedEnable: true,
  }
}

/** Retry queues a group may have: each is a queue id of its retry topic. */
export const RETRY_QUEUE_NUMS_MAX = QUEUE_ID_MAX + 1

/** Why an admin's group config is refused, or `null`. */
export function subscriptionGroupConfigProblem(c: SubscriptionGroupConfig): string | null {
  const name = groupProblem(c.groupName)
  if (name !== null) return name
  if (c.retryQueueNums < 0 || c.retryQueueNums > RETRY_QUEUE_NUMS_MAX) {
    return `retryQueueNums must be between 0 and ${RETRY_QUEUE_NUMS_MAX}, got ${c.retryQueueNums}`
  }
  if (c.retryMaxTimes < -1) return `retryMaxTimes must not be below -1, got ${c.retryMaxTimes}`
  return null
}

/** Reads a group config from parsed JSON, keeping defaults for missing or mistyped members; `null` if unnamed. */
export function subscriptionGroupConfigFromJson(v: unknown): SubscriptionGroupConfig | null {
  if (typeof v !== 'object' || v === null) return null
  const o = v as Record<string, unknown>
  if (typeof o.groupName !== 'string' || o.groupName.length === 0) return null
  const d = newSubscriptionGroupConfig(o.groupName)
  const bool = (x: unknown, def: boolean): boolean => (typeof x === 'boolean' ? x : def)
  const int = (x: unknown, def: number): number => (typeof x === 'number' && Number.isInteger(x) ? x : def)
  return {
    groupName: d.groupName,
    consumeEnable: bool(o.consumeEnable, d.consumeEnable),
    consumeFromMinEnable: bool(o.consumeFromMinEnable, d.consumeFromMinEnable),
    consumeBroadcastEnable: bool(o.consumeBroadcastEnable, d.consumeBroadcastEnable),
    // Clamped: a config file from elsewhere must not give a retry topic more queues than ids can name.
    retryQueueNums: Math.min(Math.max(int(o.retryQueueNums, d.retryQueueNums), 0), RETRY_QUEUE_NUMS_MAX),
    retryMaxTimes: int(o.retryMaxTimes, d.retryMaxTimes),
    brokerId: int(o.brokerId, d.brokerId),
    whichBrokerWhenConsumeSlowly: int(o.whichBrokerWhenConsumeSlowly, d.whichBrokerWhenConsumeSlowly),
    notifyConsumerIdsChangedEnable: bool(o.notifyConsumerIdsChangedEnable, d.notifyConsumerIdsChangedEnable),
  }
}

/** `SubscriptionGroupWrapper`: a broker's groups and the version of that table (`GET_ALL_SUBSCRIPTIONGROUP_CONFIG`). */
export interface SubscriptionGroupWrapper {
  subscriptionGroupTable: ReadonlyMap<string, SubscriptionGroupConfig>
  dataVersion: DataVersion
}

/**
 * Reads a `SubscriptionGroupWrapper` body as `buildWrapper` writes it; a group that is not one, or filed under
 * another name, makes the whole body malformed (`ProtocolError`). A missing version is `{now, 0}`, as fastjson
 * leaves a Java `DataVersion`.
 */
export function subscriptionGroupWrapperFromJson(v: unknown, nowMs: number): SubscriptionGroupWrapper {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ProtocolError('RMQ_ERR_BODY', 'malformed SubscriptionGroupWrapper')
  }
  const o = v as Record<string, unknown>
  const table = new Map<string, SubscriptionGroupConfig>()
  const raw = o.subscriptionGroupTable ?? {}
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProtocolError('RMQ_ERR_BODY', 'malformed subscriptionGroupTable')
  }
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    const config = subscriptionGroupConfigFromJson(entry)
    if (config === null || config.groupName !== name) {
      throw new ProtocolError('RMQ_ERR_BODY', `malformed SubscriptionGroupConfig ${JSON.stringify(name)}`)
    }
    table.set(name, config)
  }
  const dataVersion =
    o.dataVersion === undefined || o.dataVersion === null
      ? { timestamp: nowMs, counter: 0 }
      : dataVersionFromJson(o.dataVersion, nowMs)
  return { subscriptionGroupTable: table, dataVersion }
}

export class SubscriptionGroupManager {
  private readonly table: VersionedConfigTable<SubscriptionGroupConfig>
  private readonly log: Logger

  constructor(
    storePathRootDir: string,
    private readonly autoCreate: boolean,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'subscription-group' })
    const path = join(storePathRootDir, 'config', 'subscriptionGroup.json')
    this.table = new VersionedConfigTable(path, 'subscriptionGroupTable', this.log)
    for (const g of SYSTEM_GROUPS) this.table.seed(g, newSubscriptionGroupConfig(g))
  }

  load(): void {
    this.table.load(subscriptionGroupConfigFromJson, (g) => g.groupName)
  }

  /**
   * The group's config, created with defaults when auto-creation is on (`findSubscriptionGroupConfig`). A name
   * that could not become a retry topic is never created: callers answer SUBSCRIPTION_GROUP_NOT_EXIST.
   */
  findSubscriptionGroupConfig(group: string): SubscriptionGroupConfig | undefined {
    const found = this.table.get(group)
    if (found || !this.autoCreate || groupProblem(group) !== null) return found
    const created = newSubscriptionGroupConfig(group)
    this.log.info({ group }, 'auto-created subscription group')
    this.table.set(group, created)
    return created
  }

  /** Without auto-creation. */
  get(group: string): SubscriptionGroupConfig | undefined {
    return this.table.get(group)
  }

  groups(): IterableIterator<SubscriptionGroupConfig> {
    return this.table.values()
  }

  updateSubscriptionGroupConfig(config: SubscriptionGroupConfig): void {
    this.log.info({ group: config.groupName, config }, 'subscription group updated')
    this.table.set(config.groupName, config)
  }

  deleteSubscriptionGroupConfig(group: string): boolean {
    return this.table.delete(group)
  }

  dataVersion(): DataVersion {
    return this.table.dataVersion()
  }

  buildWrapper(): { subscriptionGroupTable: Map<string, SubscriptionGroupConfig>; dataVersion: DataVersion } {
    const { table, dataVersion } = this.table.snapshot()
    return { subscriptionGroupTable: table, dataVersion }
  }

  /**
   * Replaces every group and the data version with the master's and writes `subscriptionGroup.json` at once
   * (`SlaveSynchronize#syncSubscriptionGroupConfig`).
   */
  replaceFromMaster(wrapper: SubscriptionGroupWrapper): void {
    this.table.replaceAll(wrapper.subscriptionGroupTable, wrapper.dataVersion)
  }

  persist(): void {
    this.table.persist()
  }
}
