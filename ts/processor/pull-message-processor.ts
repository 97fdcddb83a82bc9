/**
 * `PULL_MESSAGE` (`PullMessageProcessor`, protocol.md §2.5.1–§2.5.2): pre-checks in RocketMQ's order, a read
 * filtered by tag hash (or, for SQL92 subscriptions, by the records' properties), every store status mapped to its
 * pull code with the right next offset, long polling when nothing is there, and the piggy-backed offset commit.
 */
import { isReadable } from '../common/constant/perm-name.js'
import { buildTagFilter, type TagFilter } from '../common/filter/filter-api.js'
import { compileSql92, sqlMatches, type BooleanExpression } from '../common/filter/sql-filter.js'
import { recordPropertiesString } from '../common/message/message-record.js'
import { string2messageProperties } from '../common/message/message-properties.js'
import { MixAll } from '../common/mix-all.js'
import { ResponseCode } from '../common/response-code.js'
import type { PullRequest } from '../broker/pull-request-hold-service.js'
import type { SubscriptionGroupConfig } from '../broker/subscription-group-manager.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import { PullSysFlag } from '../remoting/protocol/pull-sys-flag.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RequestProcessor } from '../remoting/request-dispatcher.js'
import type { GetMessageStatus } from '../store/get-message-status.js'
import { GetMessageResult } from '../store/message-store.js'
import type { BrokerContext } from './broker-context.js'

interface PullMessageRequestHeader {
  consumerGroup: string
  topic: string
  queueId: number
  queueOffset: number
  maxMsgNums: number
  sysFlag: number
  commitOffset: number
  suspendTimeoutMillis: number
  subscription: string | undefined
  subVersion: number
  expressionType: string | undefined
}

function decodeHeader(request: RemotingCommand): PullMessageRequestHeader {
  const h = new HeaderReader(request)
  return {
    consumerGroup: h.string('consumerGroup'),
    topic: h.string('topic'),
    queueId: h.int('queueId'),
    queueOffset: h.long('queueOffset'),
    maxMsgNums: h.int('maxMsgNums'),
    sysFlag: h.int('sysFlag'),
    commitOffset: h.long('commitOffset'),
    suspendTimeoutMillis: h.long('suspendTimeoutMillis'),
    subscription: h.optString('subscription'),
    subVersion: h.long('subVersion'),
    expressionType: h.optString('expressionType'),
  }
}

/** Longest hold a client may ask for: its own request must not time out first (clients wait 30 s). */
const SUSPEND_TIMEOUT_MS_MAX = 60_000
/** Messages one pull may ask for; the store's transfer limits cap what it returns anyway. */
const PULL_MSG_NUMS_MAX = 10_000
/**
 * Consume-queue entries one SQL92 pull may scan for matches: RocketMQ's store scans at most 16 000 bytes of
 * 20-byte consume-queue entries per pull (`maxFilterMessageCount`) before it answers with what it found.
 */
const SQL_SCAN_ENTRIES_MAX = 800
/** Store reads one SQL92 pull may make while looking for matches. */
const SQL_STORE_READS_MAX = 32
const TAG_ALL = buildTagFilter('*')

/** Store status → pull code; OFFSET_MOVED corrections follow in `processRequest`. */
const PULL_CODES: Record<GetMessageStatus, number> = {
  FOUND: ResponseCode.SUCCESS,
  MESSAGE_WAS_REMOVING: ResponseCode.PULL_RETRY_IMMEDIATELY,
  NO_MATCHED_LOGIC_QUEUE: ResponseCode.PULL_NOT_FOUND,
  NO_MESSAGE_IN_QUEUE: ResponseCode.PULL_NOT_FOUND,
  NO_MATCHED_MESSAGE: ResponseCode.PULL_RETRY_IMMEDIATELY,
  OFFSET_FOUND_NULL: ResponseCode.PULL_NOT_FOUND,
  OFFSET_OVERFLOW_BADLY: ResponseCode.PULL_OFFSET_MOVED,
  OFFSET_OVERFLOW_ONE: ResponseCode.PULL_NOT_FOUND,
  OFFSET_TOO_SMALL: ResponseCode.PULL_OFFSET_MOVED,
}

/** Statuses whose next offset a master corrects and a slave (without `offsetCheckInSlave`) leaves alone. */
const OFFSET_CORRECTIONS: ReadonlySet<GetMessageStatus> = new Set([
  'NO_MATCHED_LOGIC_QUEUE',
  'NO_MESSAGE_IN_QUEUE',
  'OFFSET_TOO_SMALL',
  'OFFSET_OVERFLOW_BADLY',
  'OFFSET_FOUND_NULL',
])

export class PullMessageProcessor implements RequestProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  processRequest(
    channel: RemotingChannel,
    request: RemotingCommand,
  ): Promise<RemotingCommand | null> | RemotingCommand {
    return this.process(channel, request, true)
  }

  /** Re-runs a held pull without suspension and answers it (`executeRequestWhenWakeup`). */
  readonly wakeup = (pull: PullRequest): void => {
    this.process(pull.channel, pull.request, false).then(
      (response) => {
        if (response !== null) pull.channel.writeResponse(pull.request, response)
      },
      (err: unknown) => {
        this.ctx.logger.error({ err, remote: pull.channel.remoteAddress }, 'held pull failed')
        pull.channel.writeResponse(
          pull.request,
          RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, String((err as Error)?.message ?? err)),
        )
      },
    )
  }

  private async process(
    channel: RemotingChannel,
    request: RemotingCommand,
    brokerAllowSuspend: boolean,
  ): Promise<RemotingCommand | null> {
    const header = decodeHeader(request)
    const checked = this.check(header)
    if (checked instanceof RemotingCommand) return checked
    const { filter, sql } = checked
    const ctx = this.ctx
    const maxMsgNums = Math.max(1, Math.min(header.maxMsgNums, PULL_MSG_NUMS_MAX))
    const result =
      sql === null
        ? await ctx.store.getMessage(
            header.consumerGroup,
            header.topic,
            header.queueId,
            header.queueOffset,
            maxMsgNums,
            filter.all ? null : { tagCodes: Int32Array.from(filter.codeSet) },
          )
        : await this.getMessageBySql(header, maxMsgNums, sql)
    let code = PULL_CODES[result.status]
    if (
      (result.status === 'NO_MATCHED_LOGIC_QUEUE' || result.status === 'NO_MESSAGE_IN_QUEUE') &&
      header.queueOffset !== 0
    ) {
      code = ResponseCode.PULL_OFFSET_MOVED
    }
    const c = ctx.brokerConfig
    const { groupConfig } = checked
    // Pull from a slave when slave reading is on and the data is cold there (protocol.md §2.5.1).
    let suggest: number = MixAll.MASTER_ID
    if (c.slaveReadEnable)
      suggest = result.suggestPullingFromSlave ? groupConfig.whichBrokerWhenConsumeSlowly : groupConfig.brokerId
    let nextBeginOffset = result.nextBeginOffset
    const slave = c.brokerRole === 'SLAVE'
    if (slave && !c.offsetCheckInSlave && OFFSET_CORRECTIONS.has(result.status)) {
      // A slave may simply be behind: it does not move the consumer, it asks again (`offsetCheckInSlave`).
      nextBeginOffset = header.queueOffset
      if (code === ResponseCode.PULL_OFFSET_MOVED) {
        code = ResponseCode.PULL_RETRY_IMMEDIATELY
        suggest = groupConfig.brokerId
      }
    }
    const response = RemotingCommand.createResponse(code, result.status, {
      suggestWhichBrokerId: String(suggest),
      nextBeginOffset: String(nextBeginOffset),
      minOffset: String(result.minOffset),
      maxOffset: String(result.maxOffset),
    })
    let answer: RemotingCommand | null = response
    if (code === ResponseCode.SUCCESS) {
      response.body = result.buffer
      ctx.stats.incGet(header.consumerGroup, header.topic, result.messageCount, result.buffer.length)
    } else if (
      code === ResponseCode.PULL_NOT_FOUND &&
      brokerAllowSuspend &&
      (header.sysFlag & PullSysFlag.SUSPEND) !== 0
    ) {
      const holdMs = ctx.brokerConfig.longPollingEnable
        ? Math.min(Math.max(header.suspendTimeoutMillis, 0), SUSPEND_TIMEOUT_MS_MAX)
        : ctx.brokerConfig.shortPollingTimeMills
      ctx.pullRequestHoldService.suspendPullRequest(header.topic, header.queueId, {
        request,
        channel,
        timeoutMillis: holdMs,
        suspendTimestamp: Date.now(),
        pullFromThisOffset: header.queueOffset,
        filter,
        sql,
      })
      answer = null
    } else if (code === ResponseCode.PULL_OFFSET_MOVED) {
      ctx.logger.info(
        {
          group: header.consumerGroup,
          topic: header.topic,
          queueId: header.queueId,
          requested: header.queueOffset,
          next: result.nextBeginOffset,
          status: result.status,
        },
        'pull offset moved',
      )
    }
    // The piggy-backed commit happens on the first processing only, whatever the read found (§2.5.1).
    // A slave does not take commits from pulls: its offsets come from the master (and from explicit updates).
    if (
      brokerAllowSuspend &&
      !slave &&
      (header.sysFlag & PullSysFlag.COMMIT_OFFSET) !== 0 &&
      header.commitOffset >= 0
    ) {
      ctx.consumerOffsetManager.commitOffset(
        channel.remoteAddress,
        header.consumerGroup,
        header.topic,
        header.queueId,
        header.commitOffset,
      )
    }
    return answer
  }

  /**
   * SQL92 pulls (`DefaultMessageStore#getMessage` with `ExpressionMessageFilter`): windows of the queue are read
   * unfiltered and each record's properties are evaluated. Records that do not match are skipped but counted: the
   * next offset moves past them. Reading stops when `maxMsgNums` matched, when `SQL_SCAN_ENTRIES_MAX` entries were
   * scanned, at the end of the queue, or when the matches hold as many bytes as the first window did (a filtered
   * pull never carries more than an unfiltered one would). Nothing matched: NO_MATCHED_MESSAGE with the offset
   * after the scanned entries, which the client takes as "pull again at once from there".
   */
  private async getMessageBySql(
    header: PullMessageRequestHeader,
    maxMsgNums: number,
    sql: BooleanExpression,
  ): Promise<GetMessageResult> {
    const ctx = this.ctx
    let offset = header.queueOffset
    let first: GetMessageResult | null = null
    let last: GetMessageResult | null = null
    const kept: Buffer[] = []
    const entries: number[] = []
    let keptBytes = 0
    let next = offset
    for (let reads = 0; reads < SQL_STORE_READS_MAX; reads++) {
      const r = await ctx.store.getMessage(header.consumerGroup, header.topic, header.queueId, offset, maxMsgNums, null)
      if (r.status !== 'FOUND' || r.messageCount === 0) {
        if (first === null) return r
        break
      }
      first ??= r
      last = r
      let full = false
      let at = 0
      let runStart = -1
      let runEnd = -1
      next = r.nextBeginOffset
      for (let i = 0; i < r.messageCount; i++) {
        const size = r.sizeAt(i)
        const props = recordPropertiesString(r.buffer, at)
        if (props !== null && sqlMatches(sql, string2messageProperties(props), ctx.logger)) {
          // Runs of matching records are copied as one slice.
          if (runStart >= 0 && runEnd !== at) {
            kept.push(Buffer.from(r.buffer.subarray(runStart, runEnd)))
            runStart = -1
          }
          if (runStart < 0) runStart = at
          runEnd = at + size
          entries.push(r.queueOffsetAt(i), r.commitLogOffsetAt(i), size)
          keptBytes += size
          if (entries.length / 3 >= maxMsgNums) {
            next = r.queueOffsetAt(i) + 1
            full = true
            break
          }
        }
        at += size
      }
      if (runStart >= 0) kept.push(Buffer.from(r.buffer.subarray(runStart, runEnd)))
      offset = next
      if (
        full ||
        next - header.queueOffset >= SQL_SCAN_ENTRIES_MAX ||
        next >= r.maxOffset ||
        keptBytes >= first.buffer.length
      ) {
        break
      }
    }
    const end = last ?? first!
    const count = entries.length / 3
    return new GetMessageResult(
      count > 0 ? 'FOUND' : 'NO_MATCHED_MESSAGE',
      next,
      end.minOffset,
      end.maxOffset,
      first!.suggestPullingFromSlave,
      count > 0 ? Buffer.concat(kept, keptBytes) : Buffer.alloc(0),
      Float64Array.from(entries),
    )
  }

  /** Pre-checks 1–8 of §2.5.1: a refusal, or the filter to read with (`sql` for SQL92 subscriptions). */
  private check(
    header: PullMessageRequestHeader,
  ): RemotingCommand | { filter: TagFilter; sql: BooleanExpression | null; groupConfig: SubscriptionGroupConfig } {
    const ctx = this.ctx
    const c = ctx.brokerConfig
    if (!isReadable(c.brokerPermission)) {
      return refusal(ResponseCode.NO_PERMISSION, `the broker[${c.brokerIP1}] pulling message is forbidden`)
    }
    const groupConfig = ctx.subscriptionGroupManager.findSubscriptionGroupConfig(header.consumerGroup)
    if (groupConfig === undefined) {
      return refusal(
        ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
        `subscription group [${header.consumerGroup}] does not exist`,
      )
    }
    if (!groupConfig.consumeEnable)
      return refusal(ResponseCode.NO_PERMISSION, `subscription group no permission, ${header.consumerGroup}`)
    const tc = ctx.topicConfigManager.selectTopicConfig(header.topic)
    if (tc === undefined)
      return refusal(ResponseCode.TOPIC_NOT_EXIST, `topic[${header.topic}] not exist, apply first please!`)
    if (!isReadable(tc.perm))
      return refusal(ResponseCode.NO_PERMISSION, `the topic[${header.topic}] pulling message is forbidden`)
    if (header.queueId < 0 || header.queueId >= tc.readQueueNums) {
      return refusal(
        ResponseCode.SYSTEM_ERROR,
        `queueId[${header.queueId}] is illegal, topic:[${header.topic}] topicConfig.readQueueNums:[${tc.readQueueNums}]`,
      )
    }
    let expressionType: string
    let subString: string
    let sql: BooleanExpression | null = null
    if ((header.sysFlag & PullSysFlag.SUBSCRIPTION) !== 0) {
      expressionType = header.expressionType || 'TAG'
      subString = header.subscription ?? '*'
      if (expressionType === 'SQL92' && c.enablePropertyFilter) {
        // RocketMQ would pull unfiltered here (its compile error is dropped); refusing is what the client can act on.
        try {
          sql = compileSql92(subString)
        } catch (err) {
          ctx.logger.warn(
            { group: header.consumerGroup, expression: subString, err },
            "parse the consumer's subscription failed",
          )
          return refusal(ResponseCode.SUBSCRIPTION_PARSE_FAILED, "parse the consumer's subscription failed")
        }
      }
    } else {
      const group = ctx.consumerManager.getConsumerGroupInfo(header.consumerGroup)
      if (group === undefined)
        return refusal(ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's group info not exist")
      if (!groupConfig.consumeBroadcastEnable && group.messageModel === 'BROADCASTING') {
        return refusal(
          ResponseCode.NO_PERMISSION,
          `the consumer group[${header.consumerGroup}] can not consume by broadcast way`,
        )
      }
      const sub = group.findSubscriptionData(header.topic)
      if (sub === undefined)
        return refusal(ResponseCode.SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist")
      if (sub.subVersion < header.subVersion)
        return refusal(ResponseCode.SUBSCRIPTION_NOT_LATEST, "the consumer's subscription not latest")
      expressionType = sub.expressionType
      subString = sub.subString
      if (expressionType === 'SQL92') {
        const data = group.findFilterData(header.topic)
        if (data === undefined) {
          return refusal(
            ResponseCode.FILTER_DATA_NOT_EXIST,
            "The broker's consumer filter data is not exist!Your expression may be wrong!",
          )
        }
        if (data.clientVersion < header.subVersion)
          return refusal(ResponseCode.FILTER_DATA_NOT_LATEST, "the consumer's consumer filter data not latest")
        sql = data.compiled
      }
    }
    if (expressionType !== 'TAG' && (expressionType !== 'SQL92' || !c.enablePropertyFilter)) {
      return refusal(
        ResponseCode.SYSTEM_ERROR,
        `The broker does not support consumer to filter message by ${expressionType}`,
      )
    }
    // SQL92: every consume-queue entry passes the tag check; the properties decide.
    return { filter: sql === null ? buildTagFilter(subString) : TAG_ALL, sql, groupConfig }
  }
}

function refusal(code: number, remark: string): RemotingCommand {
  return RemotingCommand.createResponse(code, remark)
}
