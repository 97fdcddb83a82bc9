/**
 * What the admin API shows of replication, topics, consumer groups and messages, computed from the broker's managers
 * and store. The HTTP routes and the Prometheus collector both read these, so the two never disagree.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'

import { sqlMatches, type BooleanExpression } from '../common/filter/sql-filter.js'
import { MessageConst } from '../common/message/message-const.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { decodeMessage } from '../common/message/message-record.js'
import { versionDesc } from '../common/mq-version.js'
import { SYSTEM_GROUPS } from '../common/mix-all.js'
import type { AdminBroker, ReplicationStatus } from './admin-broker.js'

/** Queues per event-loop turn when walking a topic's queues (a topic may have 65,536). */
const QUEUES_PER_TURN = 1024
/** Body bytes shown in a message view. */
export const BODY_PREVIEW_BYTES = 4096

export interface TopicSummary {
  topic: string
  readQueueNums: number
  writeQueueNums: number
  perm: number
  order: boolean
  system: boolean
  /** Messages stored now (max − min over the queues). */
  messages: number
  /** Messages put since the broker started. */
  putMessages: number
  putTps: number
  lastPutTimestamp: number
}

export interface QueueView {
  queueId: number
  minOffset: number
  maxOffset: number
  messages: number
  /** Store time of the last message, 0 when the queue is empty. */
  lastStoreTimestamp: number
}

export interface TopicDetail extends TopicSummary {
  topicFilterType: string
  queues: QueueView[]
  /** Consumer groups with offsets on this topic or subscribed to it. */
  groups: string[]
}

export interface GroupQueueView {
  queueId: number
  brokerOffset: number
  consumerOffset: number
  lag: number
  /** Store time of the last consumed message, 0 when none. */
  lastConsumeTimestamp: number
}

export interface GroupTopicView {
  topic: string
  lag: number
  consumeTps: number
  queues: GroupQueueView[]
}

export interface ConsumerView {
  clientId: string
  address: string
  language: string
  version: string
  lastHeartbeatTimestamp: number
}

export interface GroupSummary {
  group: string
  online: boolean
  system: boolean
  consumers: number
  consumeType: string | null
  messageModel: string | null
  topics: string[]
  lag: number
  consumeTps: number
}

export interface GroupDetail extends GroupSummary {
  consumeFromWhere: string | null
  /** `expressionType` is `TAG` or `SQL92`; `expression` is the tag list or the SQL92 selector. */
  subscriptions: { topic: string; expressionType: string; expression: string }[]
  connections: ConsumerView[]
  offsets: GroupTopicView[]
}

export type DeliveryStatus = 'CONSUMED' | 'CONSUMED_BUT_FILTERED' | 'NOT_CONSUMED_YET'

export interface MessageView {
  msgId: string
  uniqKey: string | null
  topic: string
  queueId: number
  queueOffset: number
  commitLogOffset: number
  storeSize: number
  bodyCRC: number
  flag: number
  sysFlag: number
  bornTimestamp: number
  bornHost: string
  storeTimestamp: number
  storeHost: string
  reconsumeTimes: number
  tags: string | null
  keys: string | null
  properties: Record<string, string>
  bodySize: number
  body: { encoding: 'utf8' | 'base64'; data: string; truncated: boolean }
  deliveries: { group: string; status: DeliveryStatus; online: boolean }[]
  /** Groups that have consumed it. */
  deliveredTo: string[]
}

/** A connected slave as the admin API shows it. */
export interface SlaveView {
  addr: string
  ackOffset: number
  transferOffset: number
  lagBytes: number
  lagMs: number
  connectedTimestamp: number
  lastReportTimestamp: number
}

/** A slave's master and HA connection as the admin API shows them. */
export interface MasterLinkView {
  masterAddr: string | null
  masterHaAddr: string | null
  connected: boolean
  maxOffset: number
  receivedBytes: number
  lastFrameTimestamp: number
}

export interface ReplicationView {
  brokerRole: ReplicationStatus['brokerRole']
  brokerId: number
  maxOffset: number
  haPort: number | null
  slaveAckOffset: number | null
  slaves: SlaveView[]
  master: MasterLinkView | null
}

export function replicationView(b: AdminBroker): ReplicationView {
  const r = b.replicationStatus()
  const m = r.master
  return {
    brokerRole: r.brokerRole,
    brokerId: r.brokerId,
    maxOffset: r.maxOffset,
    haPort: r.haPort,
    slaveAckOffset: r.slaveAckOffset,
    slaves: r.slaves
      .map((s) => ({
        addr: s.addr,
        ackOffset: s.ackOffset,
        transferOffset: s.transferOffset,
        lagBytes: s.lagBytes,
        lagMs: s.lagMs,
        connectedTimestamp: s.connectedAt,
        lastReportTimestamp: s.lastReportAt,
      }))
      .sort((x, y) => x.addr.localeCompare(y.addr)),
    master:
      m === null
        ? null
        : {
            masterAddr: m.masterAddr,
            masterHaAddr: m.masterHaAddr,
            connected: m.connected,
            maxOffset: m.maxOffset,
            receivedBytes: m.receivedBytes,
            lastFrameTimestamp: m.lastFrameAt,
          },
  }
}

function storedMessages(b: AdminBroker, topic: string, queueNums: number): number {
  let n = 0
  for (let q = 0; q < queueNums; q++)
    n += Math.max(0, b.store.getMaxOffsetInQueue(topic, q) - b.store.getMinOffsetInQueue(topic, q))
  return n
}

export function topicSummaries(b: AdminBroker): TopicSummary[] {
  const tcm = b.topicConfigManager
  const out: TopicSummary[] = []
  for (const tc of tcm.topics()) {
    const counters = b.stats.topics.get(tc.topicName)
    out.push({
      topic: tc.topicName,
      readQueueNums: tc.readQueueNums,
      writeQueueNums: tc.writeQueueNums,
      perm: tc.perm,
      order: tc.order,
      system: tcm.isSystemTopic(tc.topicName),
      messages: storedMessages(b, tc.topicName, Math.max(tc.readQueueNums, tc.writeQueueNums)),
      putMessages: counters?.putMessages ?? 0,
      putTps: b.stats.topicPutRate(tc.topicName),
      lastPutTimestamp: counters?.lastPutTimestamp ?? 0,
    })
  }
  return out.sort((x, y) => x.topic.localeCompare(y.topic))
}

/** Store time of the message at `offset`, 0 when there is none. */
async function storeTimeAt(b: AdminBroker, topic: string, queueId: number, offset: number): Promise<number> {
  if (offset < 0) return 0
  const r = await b.store.getMessage('', topic, queueId, offset, 1)
  if (r.messageCount === 0) return 0
  return decodeMessage(r.buffer, 0, { decompressBody: false })?.storeTimestamp ?? 0
}

export async function topicDetail(b: AdminBroker, topic: string): Promise<TopicDetail | null> {
  const tc = b.topicConfigManager.selectTopicConfig(topic)
  if (tc === undefined) return null
  const summary = topicSummaries(b).find((t) => t.topic === topic)!
  const queues: QueueView[] = []
  for (let queueId = 0; queueId < Math.max(tc.readQueueNums, tc.writeQueueNums); queueId++) {
    if (queueId % QUEUES_PER_TURN === QUEUES_PER_TURN - 1) await nextTurn()
    const minOffset = Math.max(0, b.store.getMinOffsetInQueue(topic, queueId))
    const maxOffset = Math.max(0, b.store.getMaxOffsetInQueue(topic, queueId))
    const lastStoreTimestamp = maxOffset > minOffset ? await storeTimeAt(b, topic, queueId, maxOffset - 1) : 0
    queues.push({ queueId, minOffset, maxOffset, messages: maxOffset - minOffset, lastStoreTimestamp })
  }
  const groups = new Set(b.consumerOffsetManager.whichGroupByTopic(topic))
  for (const g of b.consumerManager.queryTopicConsumeByWho(topic)) groups.add(g)
  return { ...summary, topicFilterType: tc.topicFilterType, queues, groups: [...groups].sort() }
}

/** Every group this broker knows: online, with committed offsets, or with a subscription-group config. */
export function groupNames(b: AdminBroker): string[] {
  const names = new Set<string>()
  for (const g of b.consumerManager.groups()) names.add(g.groupName)
  for (const g of b.subscriptionGroupManager.groups()) names.add(g.groupName)
  for (const [key] of b.consumerOffsetManager.entries()) names.add(key.slice(key.lastIndexOf('@') + 1))
  return [...names].sort()
}

/** Topics a group consumes here: those it has offsets for and those it subscribes to that exist. */
function groupTopics(b: AdminBroker, group: string): string[] {
  const topics = b.consumerOffsetManager.whichTopicByConsumer(group)
  const info = b.consumerManager.getConsumerGroupInfo(group)
  if (info !== undefined) {
    for (const t of info.subscriptions.keys())
      if (b.topicConfigManager.selectTopicConfig(t) !== undefined) topics.add(t)
  }
  return [...topics].sort()
}

/** Broker offset, committed offset and lag per queue; `withTimes` also reads each last consumed store time. */
async function groupTopicView(
  b: AdminBroker,
  group: string,
  topic: string,
  withTimes: boolean,
): Promise<GroupTopicView> {
  const tc = b.topicConfigManager.selectTopicConfig(topic)
  const queueNums = tc?.readQueueNums ?? 0
  const queues: GroupQueueView[] = []
  let lag = 0
  for (let queueId = 0; queueId < queueNums; queueId++) {
    if (withTimes && queueId % QUEUES_PER_TURN === QUEUES_PER_TURN - 1) await nextTurn()
    const brokerOffset = Math.max(0, b.store.getMaxOffsetInQueue(topic, queueId))
    const consumerOffset = Math.max(0, b.consumerOffsetManager.queryOffset(group, topic, queueId))
    const queueLag = Math.max(0, brokerOffset - consumerOffset)
    lag += queueLag
    const lastConsumeTimestamp =
      withTimes && consumerOffset > 0 ? await storeTimeAt(b, topic, queueId, consumerOffset - 1) : 0
    queues.push({ queueId, brokerOffset, consumerOffset, lag: queueLag, lastConsumeTimestamp })
  }
  return { topic, lag, consumeTps: b.stats.groupGetRate(group, topic), queues }
}

function groupSummaryFrom(b: AdminBroker, group: string, offsets: readonly GroupTopicView[]): GroupSummary {
  const info = b.consumerManager.getConsumerGroupInfo(group)
  return {
    group,
    online: info !== undefined && info.channels.size > 0,
    system: SYSTEM_GROUPS.includes(group),
    consumers: info?.channels.size ?? 0,
    consumeType: info?.consumeType ?? null,
    messageModel: info?.messageModel ?? null,
    topics: offsets.map((o) => o.topic),
    lag: offsets.reduce((n, o) => n + o.lag, 0),
    consumeTps: offsets.reduce((n, o) => n + o.consumeTps, 0),
  }
}

/** A group's offsets and lag per topic, without the store reads for last consume times. */
export async function groupOffsets(b: AdminBroker, group: string): Promise<GroupTopicView[]> {
  const out: GroupTopicView[] = []
  for (const t of groupTopics(b, group)) out.push(await groupTopicView(b, group, t, false))
  return out
}

export async function groupSummaries(b: AdminBroker): Promise<GroupSummary[]> {
  const out: GroupSummary[] = []
  for (const group of groupNames(b)) out.push(groupSummaryFrom(b, group, await groupOffsets(b, group)))
  return out
}

export async function groupDetail(b: AdminBroker, group: string): Promise<GroupDetail | null> {
  if (!groupNames(b).includes(group)) return null
  const offsets: GroupTopicView[] = []
  for (const t of groupTopics(b, group)) offsets.push(await groupTopicView(b, group, t, true))
  const info = b.consumerManager.getConsumerGroupInfo(group)
  const connections: ConsumerView[] = info
    ? [...info.channels.values()].map((c) => ({
        clientId: c.clientId,
        address: c.channel.remoteAddress,
        language: c.language,
        version: versionDesc(c.version),
        lastHeartbeatTimestamp: c.lastUpdateTimestamp,
      }))
    : []
  return {
    ...groupSummaryFrom(b, group, offsets),
    consumeFromWhere: info?.consumeFromWhere ?? null,
    subscriptions: info
      ? [...info.subscriptions.values()].map((s) => ({
          topic: s.topic,
          expressionType: s.expressionType,
          expression: s.subString,
        }))
      : [],
    connections,
    offsets,
  }
}

function isPrintable(text: string): boolean {
  // Control characters other than tab, newline and carriage return, or U+FFFD from invalid UTF-8, mean binary.
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(text)
}

function bodyPreview(body: Buffer): MessageView['body'] {
  const truncated = body.length > BODY_PREVIEW_BYTES
  const shown = truncated ? body.subarray(0, BODY_PREVIEW_BYTES) : body
  const text = shown.toString('utf8')
  // A cut may split a UTF-8 sequence: judge printability without the last 3 bytes' worth of characters then.
  const judged = truncated ? text.slice(0, -3) : text
  if (isPrintable(judged)) return { encoding: 'utf8', data: text, truncated }
  return { encoding: 'base64', data: shown.toString('base64'), truncated }
}

/** Whether a subscription expression (`*`, `a || b`) lets a message with `tags` through. */
function tagsMatch(expression: string, tags: string | null): boolean {
  const e = expression.trim()
  if (e === '' || e === '*') return true
  if (tags === null) return false
  return e.split('||').some((t) => t.trim() === tags)
}

/** Whether the group's compiled SQL92 subscription lets the message through; unknown (not compiled) counts as no. */
function sqlSubscriptionMatches(
  compiled: BooleanExpression | undefined,
  properties: ReadonlyMap<string, string>,
): boolean {
  return compiled !== undefined && sqlMatches(compiled, properties)
}

export function messageView(b: AdminBroker, m: MessageExt): MessageView {
  const tags = m.properties.get(MessageConst.PROPERTY_TAGS) ?? null
  const groups = new Set(b.consumerOffsetManager.whichGroupByTopic(m.topic))
  for (const g of b.consumerManager.queryTopicConsumeByWho(m.topic)) groups.add(g)
  const deliveries = [...groups].sort().map((group) => {
    const info = b.consumerManager.getConsumerGroupInfo(group)
    const consumed = b.consumerOffsetManager.queryOffset(group, m.topic, m.queueId) > m.queueOffset
    const sub = info?.subscriptions.get(m.topic)
    let status: DeliveryStatus = consumed ? 'CONSUMED' : 'NOT_CONSUMED_YET'
    if (consumed && sub !== undefined) {
      const filtered =
        sub.expressionType === 'SQL92'
          ? !sqlSubscriptionMatches(info?.findFilterData(m.topic)?.compiled, m.properties)
          : !tagsMatch(sub.subString, tags)
      if (filtered) status = 'CONSUMED_BUT_FILTERED'
    }
    return { group, status, online: info !== undefined && info.channels.size > 0 }
  })
  return {
    msgId: m.msgId,
    uniqKey: m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) ?? null,
    topic: m.topic,
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    commitLogOffset: m.commitLogOffset,
    storeSize: m.storeSize,
    bodyCRC: m.bodyCRC,
    flag: m.flag,
    sysFlag: m.sysFlag,
    bornTimestamp: m.bornTimestamp,
    bornHost: m.bornHost,
    storeTimestamp: m.storeTimestamp,
    storeHost: m.storeHost,
    reconsumeTimes: m.reconsumeTimes,
    tags,
    keys: m.properties.get(MessageConst.PROPERTY_KEYS) ?? null,
    properties: Object.fromEntries(m.properties),
    bodySize: m.body.length,
    body: bodyPreview(m.body),
    deliveries,
    deliveredTo: deliveries.filter((d) => d.status !== 'NOT_CONSUMED_YET').map((d) => d.group),
  }
}
