/**
 * A slave's copy of its master's metadata (`SlaveSynchronize`). The commit log reaches the slave over HA; the
 * tables beside it do not, so every 10 s the slave asks its master for them and makes its own match: topic configs
 * (GET_ALL_TOPIC_CONFIG), consumer offsets (GET_ALL_CONSUMER_OFFSET), delay offsets (GET_ALL_DELAY_OFFSET) and
 * subscription groups (GET_ALL_SUBSCRIPTIONGROUP_CONFIG), in that order, each written to disk as soon as it is
 * applied. Consumers that fall back to the slave while the master is away then find their topics, groups and
 * progress. The four are independent: one that fails is logged and the others still run; the next round retries.
 */
import assert from 'node:assert'

import { BrokerResponseError } from '../common/errors.js'
import { parseJsonObject } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode, responseCodeInfo } from '../common/response-code.js'
import { sameDataVersion, type DataVersion } from '../common/topic-config.js'
import { topicConfigSerializeWrapperFromJson, type TopicConfigSerializeWrapper } from '../remoting/protocol/namesrv.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import { consumerOffsetTableFromJson } from './consumer-offset-manager.js'
import { subscriptionGroupWrapperFromJson, type SubscriptionGroupWrapper } from './subscription-group-manager.js'

/** Each request waits this long for the master (`BrokerOuterAPI#getAllTopicConfig` and its siblings: 3 000 ms). */
export const SLAVE_SYNC_TIMEOUT_MS = 3000
/** Rounds start this often (`BrokerController#handleSlaveSynchronize`: fixed rate, 10 s). */
export const SLAVE_SYNC_INTERVAL_MS = 10_000
/** The first round starts this long after `start()` (`handleSlaveSynchronize`: 3 s). */
export const SLAVE_SYNC_INITIAL_DELAY_MS = 3000

/** What the sync needs of `TopicConfigManager`. */
export interface SlaveTopicConfigTable {
  dataVersion(): DataVersion
  replaceFromMaster(wrapper: TopicConfigSerializeWrapper): void
}

/** What the sync needs of `ConsumerOffsetManager`. */
export interface SlaveConsumerOffsetTable {
  mergeFromMaster(offsetTable: ReadonlyMap<string, ReadonlyMap<number, number>>): void
}

/** What the sync needs of `SubscriptionGroupManager`. */
export interface SlaveSubscriptionGroupTable {
  dataVersion(): DataVersion
  replaceFromMaster(wrapper: SubscriptionGroupWrapper): void
}

/** What the sync needs of `ScheduleMessageService`. */
export interface SlaveDelayOffsetTable {
  replaceFromMaster(body: Buffer | null): void
}

export interface SlaveSynchronizeOptions {
  /** Sends a request to the master and resolves with its answer (the broker's outer API remoting client). */
  invoke: (addr: string, request: RemotingCommand, timeoutMs: number) => Promise<RemotingCommand>
  /** The master's remoting address, or `null` when none is known (then a round does nothing). */
  masterAddr: () => string | null
  topicConfigManager: SlaveTopicConfigTable
  consumerOffsetManager: SlaveConsumerOffsetTable
  subscriptionGroupManager: SlaveSubscriptionGroupTable
  /** `null` until the store is open: the delay offsets are then skipped for the round. */
  scheduleMessageService: () => SlaveDelayOffsetTable | null
  logger: Logger
}

type TableName = 'topic config' | 'consumer offset' | 'delay offset' | 'subscription group'

export class SlaveSynchronize {
  private readonly log: Logger
  /** The round in progress: a second caller shares it instead of starting another beside it. */
  private running: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private stopped = true
  /** Bumped by each `start()`: a round still running from before a restart must not arm a second timer chain. */
  private generation = 0

  constructor(private readonly options: SlaveSynchronizeOptions) {
    this.log = options.logger.child({ component: 'slave-synchronize' })
  }

  /**
   * Copies the four tables from the master, in RocketMQ's order (`SlaveSynchronize#syncAll`). Never rejects: each
   * table's failure is logged at warn. Resolves at once when there is no master address.
   */
  syncAll(): Promise<void> {
    this.running ??= this.syncRound().finally(() => {
      this.running = null
    })
    return this.running
  }

  /** Runs a round `initialDelayMs` from now, then one every `intervalMs` from the start of the last; never two at once. */
  start(intervalMs = SLAVE_SYNC_INTERVAL_MS, initialDelayMs = Math.min(SLAVE_SYNC_INITIAL_DELAY_MS, intervalMs)): void {
    assert(intervalMs > 0 && initialDelayMs >= 0, 'slave sync needs a positive interval and a delay of at least 0')
    if (!this.stopped) return
    this.stopped = false
    this.generation++
    this.arm(initialDelayMs, intervalMs, this.generation)
  }

  /** Stops the timer and waits for a round in progress, so its writes land before the tables are closed. */
  async shutdown(): Promise<void> {
    this.stopped = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.running
  }

  private arm(delayMs: number, intervalMs: number, generation: number): void {
    this.timer = setTimeout(() => {
      this.timer = null
      void this.tick(intervalMs, generation)
    }, delayMs)
    this.timer.unref()
  }

  private async tick(intervalMs: number, generation: number): Promise<void> {
    const startedMs = Date.now()
    try {
      await this.syncAll()
    } catch (err) {
      // Only a broken callback gets here (each table's failure is caught inside); the next round may still work.
      this.log.error({ err }, 'slave sync round failed')
    }
    // Fixed rate, as `scheduleAtFixedRate`: a round that overran its period is followed at once, never overlapped.
    if (this.stopped || generation !== this.generation) return
    this.arm(Math.max(0, intervalMs - (Date.now() - startedMs)), intervalMs, generation)
  }

  private async syncRound(): Promise<void> {
    const steps: [TableName, (masterAddr: string) => Promise<void>][] = [
      ['topic config', (addr) => this.syncTopicConfig(addr)],
      ['consumer offset', (addr) => this.syncConsumerOffset(addr)],
      ['delay offset', (addr) => this.syncDelayOffset(addr)],
      ['subscription group', (addr) => this.syncSubscriptionGroupConfig(addr)],
    ]
    for (const [table, sync] of steps) {
      // Read before each table, as Java does: a broker that stops being a slave mid-round stops copying at once.
      const masterAddr = this.options.masterAddr()
      if (masterAddr === null) return
      try {
        await sync(masterAddr)
      } catch (err) {
        // The tables are independent and the slave keeps its last copy of this one; the next round retries it.
        this.log.warn({ err, masterAddr, table }, 'cannot copy a table from the master')
      }
    }
  }

  /** Replaced only when the master's data version differs from ours (`syncTopicConfig`). */
  private async syncTopicConfig(masterAddr: string): Promise<void> {
    const body = await this.fetch(masterAddr, RequestCode.GET_ALL_TOPIC_CONFIG)
    const wrapper = topicConfigSerializeWrapperFromJson(
      parseJsonObject(body, 'TopicConfigSerializeWrapper'),
      Date.now(),
    )
    const manager = this.options.topicConfigManager
    if (sameDataVersion(manager.dataVersion(), wrapper.dataVersion)) return
    manager.replaceFromMaster(wrapper)
    this.log.info(
      { masterAddr, topics: wrapper.topicConfigTable.size, dataVersion: wrapper.dataVersion },
      'topic config copied from the master',
    )
  }

  /** No data version in 4.x: merged every round (`syncConsumerOffset`; see `mergeFromMaster` for why merged). */
  private async syncConsumerOffset(masterAddr: string): Promise<void> {
    const body = await this.fetch(masterAddr, RequestCode.GET_ALL_CONSUMER_OFFSET)
    const table = consumerOffsetTableFromJson(parseJsonObject(body, 'ConsumerOffsetSerializeWrapper'))
    this.options.consumerOffsetManager.mergeFromMaster(table)
    this.log.debug({ masterAddr, entries: table.size }, 'consumer offsets copied from the master')
  }

  /** Written as the delay offset file and reloaded (`syncDelayOffset`). */
  private async syncDelayOffset(masterAddr: string): Promise<void> {
    if (this.options.scheduleMessageService() === null) return
    const body = await this.fetch(masterAddr, RequestCode.GET_ALL_DELAY_OFFSET)
    // Asked again after the await: the service may have gone with the store meanwhile.
    const schedule = this.options.scheduleMessageService()
    if (schedule === null) return
    schedule.replaceFromMaster(body)
    this.log.debug({ masterAddr }, 'delay offsets copied from the master')
  }

  /** Replaced only when the master's data version differs from ours (`syncSubscriptionGroupConfig`). */
  private async syncSubscriptionGroupConfig(masterAddr: string): Promise<void> {
    const body = await this.fetch(masterAddr, RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
    const wrapper = subscriptionGroupWrapperFromJson(parseJsonObject(body, 'SubscriptionGroupWrapper'), Date.now())
    const manager = this.options.subscriptionGroupManager
    if (sameDataVersion(manager.dataVersion(), wrapper.dataVersion)) return
    manager.replaceFromMaster(wrapper)
    this.log.info(
      { masterAddr, groups: wrapper.subscriptionGroupTable.size, dataVersion: wrapper.dataVersion },
      'subscription groups copied from the master',
    )
  }

  /** The body of the master's SUCCESS answer; any other answer is a `BrokerResponseError`. */
  private async fetch(masterAddr: string, code: number): Promise<Buffer | null> {
    const request = RemotingCommand.createRequest(code)
    const response = await this.options.invoke(masterAddr, request, SLAVE_SYNC_TIMEOUT_MS)
    if (response.code !== ResponseCode.SUCCESS) {
      const info = responseCodeInfo(response.code)
      throw new BrokerResponseError(response.code, `${masterAddr}: ${response.remark ?? info.name}`, info.retriable)
    }
    return response.body
  }
}
