/**
 * Long polling (`PullRequestHoldService`, protocol.md §2.5.2): a pull that finds nothing is parked under
 * `topic@queueId` and re-run when a message arrives on that queue (and matches its tag filter, and its SQL92
 * expression when the new message's properties are known), or when its hold
 * time runs out. A periodic check also compares each queue's max offset against its parked pulls, so a missed
 * arrival costs at most one tick.
 */
import type { Logger } from '../common/logger.js'
import type { TagFilter } from '../common/filter/filter-api.js'
import { sqlMatches, type BooleanExpression } from '../common/filter/sql-filter.js'
import { string2messageProperties } from '../common/message/message-properties.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import type { RemotingCommand } from '../remoting/remoting-command.js'

export interface PullRequest {
  request: RemotingCommand
  channel: RemotingChannel
  timeoutMillis: number
  suspendTimestamp: number
  pullFromThisOffset: number
  filter: TagFilter
  /** The compiled SQL92 subscription, for SQL92 pulls (`ExpressionMessageFilter#isMatchedByCommitLog`). */
  sql: BooleanExpression | null
}

export interface PullRequestHoldServiceOptions {
  /** Current max (next) offset of a queue. */
  maxOffset(topic: string, queueId: number): number
  /** Re-runs a parked pull without suspension and writes its response (`executeRequestWhenWakeup`). */
  wakeup(pull: PullRequest): void
  /** How often parked pulls are re-checked (RocketMQ: 5 s with long polling, else `shortPollingTimeMills`). */
  checkIntervalMs: number
  logger: Logger
}

/** `key` joins topic and queue as Java does (`topic@queueId`). */
function keyOf(topic: string, queueId: number): string {
  return `${topic}@${queueId}`
}

export class PullRequestHoldService {
  private readonly table = new Map<string, PullRequest[]>()
  private timer: NodeJS.Timeout | null = null
  private parked = 0

  constructor(private readonly options: PullRequestHoldServiceOptions) {}

  start(): void {
    this.timer = setInterval(() => this.checkHoldRequest(), this.options.checkIntervalMs)
    this.timer.unref()
  }

  shutdown(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.table.clear()
    this.parked = 0
  }

  /** Parked pulls right now. */
  get size(): number {
    return this.parked
  }

  suspendPullRequest(topic: string, queueId: number, pull: PullRequest): void {
    const key = keyOf(topic, queueId)
    let list = this.table.get(key)
    if (list === undefined) {
      list = []
      this.table.set(key, list)
    }
    list.push(pull)
    this.parked++
  }

  /** True when some pull waits on the queue: callers skip computing arrival details otherwise. */
  hasWaiters(topic: string, queueId: number): boolean {
    return this.table.has(keyOf(topic, queueId))
  }

  /**
   * Messages up to `maxOffset` (exclusive) are now readable on the queue. `tagsCode` is the new message's tag
   * hash when known (one message); `null` wakes every pull whose offset is behind, whatever its filter.
   * `properties` is that message's properties string, when known: SQL92 pulls are woken only if it matches.
   */
  notifyMessageArriving(
    topic: string,
    queueId: number,
    maxOffset: number,
    tagsCode: number | null = null,
    now = Date.now(),
    properties: string | null = null,
  ): void {
    const key = keyOf(topic, queueId)
    const list = this.table.get(key)
    if (list === undefined) return
    this.table.delete(key)
    this.parked -= list.length
    const keep: PullRequest[] = []
    // Decoded once, and only when an SQL92 pull is waiting.
    let props: Map<string, string> | null = null
    const sqlMatch = (sql: BooleanExpression): boolean => {
      if (tagsCode === null || properties === null) return true
      props ??= string2messageProperties(properties)
      return sqlMatches(sql, props, this.options.logger)
    }
    for (const pull of list) {
      if (!pull.channel.isActive()) continue
      let newest = maxOffset
      if (newest <= pull.pullFromThisOffset) newest = this.options.maxOffset(topic, queueId)
      if (
        newest > pull.pullFromThisOffset &&
        matches(pull.filter, tagsCode) &&
        (pull.sql === null || sqlMatch(pull.sql))
      ) {
        this.wake(pull)
        continue
      }
      if (now >= pull.suspendTimestamp + pull.timeoutMillis) {
        this.wake(pull)
        continue
      }
      keep.push(pull)
    }
    if (keep.length > 0) {
      // Requests parked while we were waking others were added under the same key: keep both.
      const added = this.table.get(key)
      this.table.set(key, added ? keep.concat(added) : keep)
      this.parked += keep.length
    }
  }

  /** The periodic pass: each queue against its current max offset, and every hold time (`checkHoldRequest`). */
  checkHoldRequest(now = Date.now()): void {
    for (const key of [...this.table.keys()]) {
      const at = key.lastIndexOf('@')
      const topic = key.slice(0, at)
      const queueId = Number(key.slice(at + 1))
      this.notifyMessageArriving(topic, queueId, this.options.maxOffset(topic, queueId), null, now, null)
    }
  }

  private wake(pull: PullRequest): void {
    try {
      this.options.wakeup(pull)
    } catch (err) {
      // One failing re-run must not strand the other parked pulls of this pass.
      this.options.logger.error({ err, remote: pull.channel.remoteAddress }, 'held pull failed on wake-up')
    }
  }
}

function matches(filter: TagFilter, tagsCode: number | null): boolean {
  return tagsCode === null || filter.all || filter.codeSet.includes(tagsCode)
}
