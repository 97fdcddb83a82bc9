/**
 * Delivery of delayed messages (`ScheduleMessageService`, store.md §9, protocol.md §2.5.3).
 *
 * A message with `DELAY = L` is stored in `SCHEDULE_TOPIC_XXXX` queue `L − 1` (the broker's put hook does the
 * rewrite). Messages of one level are due in store order, so each level keeps one cursor: it delivers every due
 * message to `REAL_TOPIC`/`REAL_QID` and then sleeps until the next one is due, or until a new message arrives on
 * an idle level. Cursors are persisted to `config/delayOffset.json` every `flushDelayOffsetInterval` and at
 * shutdown, and clamped into the queue's range on load.
 */
import { join } from 'node:path'

import { ConfigError } from '../common/errors.js'
import { parseJsonObject, stringifyJson } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import { messageProperties2String } from '../common/message/message-properties.js'
import { decodeMessages, recordBornHost } from '../common/message/message-record.js'
import { MixAll } from '../common/mix-all.js'
import type { MessageExtBrokerInner, MessageStore, PutMessageResult } from '../store/message-store.js'
import { isStored, type PutMessageStatus } from '../store/put-message-status.js'
import { topicProblem } from '../common/topic-validator.js'
import { readConfigFile, writeFileAtomic } from './config-file.js'

export const DEFAULT_MESSAGE_DELAY_LEVEL = '1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h'
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const RETRY_AFTER_FAILURE_MS = 100
const RETRY_AFTER_ERROR_MS = 10_000
const BATCH_MESSAGES = 32
const SCHEDULE_GROUP = 'SCHEDULE_CONSUMER'
/** Put outcomes that no retry can change. */
const PERMANENT_FAILURES: ReadonlySet<PutMessageStatus> = new Set(['MESSAGE_ILLEGAL', 'PROPERTIES_SIZE_EXCEEDED'])

/** `messageDelayLevel` text → delay of each level in ms, level 1 first (`parseDelayLevel`). */
export function parseDelayLevels(text: string): number[] {
  const out: number[] = []
  for (const item of text.trim().split(/\s+/)) {
    const m = /^(\d+)([smhd])$/.exec(item)
    if (!m) throw new ConfigError('RMQ_ERR_CONFIG', `messageDelayLevel: ${JSON.stringify(item)} is not <number><s|m|h|d>`)
    out.push(Number(m[1]) * UNIT_MS[m[2]!]!)
  }
  if (out.length === 0) throw new ConfigError('RMQ_ERR_CONFIG', 'messageDelayLevel is empty')
  return out
}

/**
 * The `offsetTable` of a parsed `DelayOffsetSerializeWrapper` (the file and the GET_ALL_DELAY_OFFSET body, as
 * `persist` writes them): delay level → next offset in its queue. Entries that are not one are skipped.
 */
export function delayOffsetTableFromJson(data: Record<string, unknown>): Map<number, number> {
  const out = new Map<number, number>()
  const table = data.offsetTable
  if (typeof table !== 'object' || table === null) return out
  for (const [key, offset] of Object.entries(table as Record<string, unknown>)) {
    const level = Number(key)
    if (Number.isInteger(level) && level >= 1 && typeof offset === 'number' && Number.isSafeInteger(offset)) {
      out.set(level, offset)
    }
  }
  return out
}

export interface ScheduleMessageServiceOptions {
  store: MessageStore
  storePathRootDir: string
  delayLevels: number[]
  storeHost: Buffer
  flushDelayOffsetIntervalMs: number
  /** Puts a due message (the broker's put path, which also wakes held pulls). */
  putMessage(msg: MessageExtBrokerInner): Promise<PutMessageResult>
  logger: Logger
}

interface LevelState {
  offset: number
  timer: NodeJS.Timeout | null
  running: boolean
}

export class ScheduleMessageService {
  private readonly levels: LevelState[]
  private readonly path: string
  private readonly log: Logger
  private persistTimer: NodeJS.Timeout | null = null
  private stopped = true

  constructor(private readonly options: ScheduleMessageServiceOptions) {
    this.log = options.logger.child({ component: 'schedule' })
    this.path = join(options.storePathRootDir, 'config', 'delayOffset.json')
    this.levels = options.delayLevels.map(() => ({ offset: 0, timer: null, running: false }))
  }

  get maxDelayLevel(): number {
    return this.levels.length
  }

  delayMs(level: number): number {
    return this.options.delayLevels[Math.min(level, this.levels.length) - 1] ?? 1000
  }

  /** Loads the cursors and clamps each into its queue's `[min, max]`. */
  load(): void {
    const data = readConfigFile(this.path, this.log) as Record<string, unknown> | null
    const table = data === null ? new Map<number, number>() : delayOffsetTableFromJson(data)
    for (let level = 1; level <= this.levels.length; level++) {
      const min = this.options.store.getMinOffsetInQueue(MixAll.SCHEDULE_TOPIC, level - 1)
      const max = this.options.store.getMaxOffsetInQueue(MixAll.SCHEDULE_TOPIC, level - 1)
      const offset = table.get(level) ?? min
      this.levels[level - 1]!.offset = Math.min(Math.max(offset, min), max)
    }
  }

  /**
   * Takes a master's GET_ALL_DELAY_OFFSET body: writes it as `delayOffset.json` and loads the cursors from it
   * (`SlaveSynchronize#syncDelayOffset`, with the reload of 5.x `loadWhenSyncDelayOffset`; 4.9 only writes the
   * file). A body that is not a delay offset table is refused before the file is touched. The cursors are not
   * clamped, as 5.x does not correct them here: the slave's schedule queues may lag the master's, and clamping to
   * them would move the master's progress back. Levels missing from the body keep their cursor.
   */
  replaceFromMaster(body: Buffer | null): void {
    const table = delayOffsetTableFromJson(parseJsonObject(body, 'DelayOffsetSerializeWrapper'))
    writeFileAtomic(this.path, body!.toString('utf8'))
    for (const [level, offset] of table) {
      const s = this.levels[level - 1]
      if (s !== undefined) s.offset = offset
    }
  }

  start(): void {
    this.stopped = false
    for (let level = 1; level <= this.levels.length; level++) this.arm(level, 0)
    this.persistTimer = setInterval(() => this.persist(), this.options.flushDelayOffsetIntervalMs)
    this.persistTimer.unref()
  }

  shutdown(): void {
    this.stopped = true
    if (this.persistTimer) clearInterval(this.persistTimer)
    this.persistTimer = null
    for (const s of this.levels) {
      if (s.timer) clearTimeout(s.timer)
      s.timer = null
    }
    this.persist()
  }

  /** A message was stored in the level's queue: an idle level wakes when it is due. */
  onMessageStored(queueId: number): void {
    const level = queueId + 1
    const s = this.levels[queueId]
    if (s === undefined || this.stopped || s.running || s.timer !== null) return
    this.arm(level, this.delayMs(level))
  }

  /** `{level: nextOffset}` for `GET_ALL_DELAY_OFFSET` and the file. */
  offsetTable(): Map<number, number> {
    return new Map(this.levels.map((s, i) => [i + 1, s.offset]))
  }

  persist(): void {
    try {
      writeFileAtomic(this.path, stringifyJson({ offsetTable: this.offsetTable() }))
    } catch (err) {
      // Cursors stay in memory; a restart before the next write re-delivers a few messages, never loses them.
      this.log.error({ err, path: this.path }, 'cannot persist delay offsets')
    }
  }

  private arm(level: number, delayMs: number): void {
    const s = this.levels[level - 1]!
    if (this.stopped) return
    if (s.timer) clearTimeout(s.timer)
    s.timer = setTimeout(() => {
      s.timer = null
      void this.deliver(level)
    }, Math.max(0, delayMs))
    s.timer.unref()
  }

  /** Delivers the level's due messages, then sleeps until the next is due (`DeliverDelayedMessageTimerTask`). */
  private async deliver(level: number): Promise<void> {
    const s = this.levels[level - 1]!
    if (s.running || this.stopped) return
    s.running = true
    let next: number | null = null
    try {
      next = await this.deliverDue(level, s)
    } catch (err) {
      this.log.error({ err, level }, 'delayed delivery failed')
      next = RETRY_AFTER_ERROR_MS
    } finally {
      s.running = false
    }
    if (next !== null) this.arm(level, next)
  }

  /** Returns ms until the next attempt, or `null` when the level is empty (an arrival re-arms it). */
  private async deliverDue(level: number, s: LevelState): Promise<number | null> {
    const store = this.options.store
    for (;;) {
      if (this.stopped) return null
      const r = await store.getMessage(SCHEDULE_GROUP, MixAll.SCHEDULE_TOPIC, level - 1, s.offset, BATCH_MESSAGES)
      if (r.status !== 'FOUND') {
        if (r.nextBeginOffset !== s.offset && r.status !== 'NO_MATCHED_MESSAGE') {
          this.log.warn({ level, from: s.offset, to: r.nextBeginOffset, status: r.status }, 'delay cursor corrected')
        }
        s.offset = r.nextBeginOffset
        if (r.status === 'OFFSET_FOUND_NULL' || r.status === 'MESSAGE_WAS_REMOVING' || r.status === 'NO_MATCHED_MESSAGE') continue
        return null
      }
      const records = r.messageBuffers()
      const messages = decodeMessages(r.buffer, { decompressBody: false })
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!
        const now = Date.now()
        let due = m.storeTimestamp + this.delayMs(level)
        // A clock that moved back would hold messages far too long: deliver them now instead.
        if (due > now + this.delayMs(level)) due = now
        if (due > now) return due - now
        if (!(await this.redeliver(m, records[i]!))) return RETRY_AFTER_FAILURE_MS
        s.offset = m.queueOffset + 1
      }
      s.offset = r.nextBeginOffset
    }
  }

  /** Stores the message in its real topic and queue; false when the put failed (retry the same one). */
  private async redeliver(m: ReturnType<typeof decodeMessages>[number], record: Buffer): Promise<boolean> {
    const realTopic = m.properties.get(MessageConst.PROPERTY_REAL_TOPIC)
    const realQid = Number(m.properties.get(MessageConst.PROPERTY_REAL_QUEUE_ID))
    if (
      realTopic === undefined ||
      topicProblem(realTopic) !== null ||
      !Number.isInteger(realQid) ||
      realQid < 0 ||
      realTopic === MixAll.RMQ_SYS_TRANS_HALF_TOPIC
    ) {
      this.log.warn({ msgId: m.msgId, realTopic, realQid }, 'dropping a delayed message without a deliverable real topic')
      return true
    }
    const props = new Map(m.properties)
    props.delete(MessageConst.PROPERTY_DELAY_TIME_LEVEL)
    const result = await this.options.putMessage({
      topic: realTopic,
      queueId: realQid,
      flag: m.flag,
      body: m.body,
      propertiesString: messageProperties2String(props),
      bornTimestamp: m.bornTimestamp,
      bornHost: recordBornHost(record),
      sysFlag: m.sysFlag,
      reconsumeTimes: m.reconsumeTimes,
      preparedTransactionOffset: m.preparedTransactionOffset,
      waitStoreMsgOK: false,
    })
    if (isStored(result.putMessageStatus)) return true
    if (PERMANENT_FAILURES.has(result.putMessageStatus)) {
      // The store will refuse this message however often it is offered: retrying would hold up the whole level.
      this.log.warn({ msgId: m.msgId, topic: realTopic, status: result.putMessageStatus }, 'dropping a delayed message the store refuses')
      return true
    }
    this.log.warn({ msgId: m.msgId, topic: realTopic, status: result.putMessageStatus }, 'delayed delivery put failed, retrying')
    return false
  }
}
