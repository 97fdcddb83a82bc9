/**
 * What the admin client takes and gives (`AdminClient`'s options for topics, its result shapes), and the pure
 * helpers behind it: argument checks, the topic config sent to each broker, order confs, the time in a unique id.
 */
import { PermName } from '../common/constant/perm-name.js'
import { ProtocolError } from '../common/errors.js'
import type { MessageExt } from '../common/message/message-ext.js'
import { MixAll } from '../common/mix-all.js'
import { TOPIC_QUEUE_NUMS_MAX, type TopicConfig, type TopicFilterType } from '../common/topic-config.js'
import { groupProblem, validateTopic } from '../common/topic-validator.js'
import type { BrokerData } from '../remoting/protocol/route.js'
import { compareText, type ConsumerConnection, type QueueConsumeStats, type TopicQueueStats } from './admin-api.js'
import { MQClientError } from './client-error.js'
import { startOfMonth } from './message-client-id.js'

/** Queues per topic on each broker when nothing says otherwise (`mqadmin updateTopic`). */
export const TOPIC_QUEUE_NUMS_DEFAULT = 8
/** The four `PermName` bits (PRIORITY, READ, WRITE, INHERIT) all set. */
const PERM_MAX = 15

/** One broker address of a cluster (a row of `mqadmin clusterList`). */
export interface ClusterBroker {
  clusterName: string
  brokerName: string
  /** 0 for the master, ≥ 1 for slaves. */
  brokerId: number
  addr: string
}

/** A broker of `clusterList` with what its runtime info says; nulls where it did not answer. */
export interface ClusterBrokerRuntime extends ClusterBroker {
  version: string | null
  /** Messages per second stored, over the last 10 s (first of `putTps`). */
  inTps: number | null
  /** Messages per second consumed, over the last 10 s (first of `getTransferedTps`). */
  outTps: number | null
  /** `ASYNC_MASTER`, `SYNC_MASTER` or `SLAVE`; null where the runtime info does not say (a Java broker). */
  brokerRole: string | null
  /** A master's connected slaves; null for a slave, or where the runtime info does not say. */
  slaves: HASlaveRuntime[] | null
}

/** A slave connected to a master, as the master's runtime info reports it (`haConnectionInfo_<addr>`). */
export interface HASlaveRuntime {
  /** The slave's end of the HA connection (not its broker address). */
  addr: string
  /** What the slave last acknowledged; -1 before its first report. */
  ackOffset: number
  /** The master's commit-log max offset less `ackOffset`. */
  lagBytes: number
  /** How long ago the master wrote the oldest byte the slave has not acknowledged; 0 when caught up. */
  lagMs: number
  /** Acknowledged within `haMaxGapNotInSync` of the master's max offset (RocketMQ 5.x `inSync`). */
  inSync: boolean
  /** Where the master sends from next; -1 before the slave's first report. */
  transferOffset: number
  connectedTimestamp: number
  /** 0 before the first report. */
  lastReportTimestamp: number
}

/** A slave's connection to its master, as the slave's runtime info reports it. */
export interface HAMasterLink {
  /** The master broker the name server named; null before the slave learned it. */
  masterAddr: string | null
  /** The master's HA address; null before the slave learned it. */
  haMasterAddr: string | null
  connected: boolean
  /** Bytes received from the master since the slave started. */
  receivedBytes: number
  /** When the last data frame arrived; 0 before the first. */
  lastTransferTimestamp: number
}

/** A broker's replication from its runtime info (`ferrymq admin haStatus`). */
export interface BrokerHAStatus {
  brokerAddr: string
  /** `ASYNC_MASTER`, `SYNC_MASTER` or `SLAVE`; null where the runtime info does not say (a Java broker). */
  brokerRole: string | null
  commitLogMaxOffset: number | null
  /** Master: its max offset less the highest offset any slave acknowledged (`slaveFallBehindMuch`); else null. */
  slaveFallBehindBytes: number | null
  /** Master: slaves within `haMaxGapNotInSync`; else null. */
  inSyncSlaveNums: number | null
  /** Master: its connected slaves by address; null for a slave or an unknown role. */
  slaves: HASlaveRuntime[] | null
  /** Slave: its master connection; null for a master or an unknown role. */
  master: HAMasterLink | null
}

/** The runtime-info key prefix of a master's entry per slave (the broker's `haRuntimeInfo`). */
const HA_CONNECTION_INFO_PREFIX = 'haConnectionInfo_'

function numberOrNull(text: string | undefined): number | null {
  if (text === undefined || text.trim() === '') return null
  const n = Number(text)
  return Number.isFinite(n) ? n : null
}

function slaveFrom(key: string, text: string): HASlaveRuntime {
  let v: Record<string, unknown>
  try {
    v = JSON.parse(text) as Record<string, unknown>
  } catch (err) {
    throw new ProtocolError('RMQ_ERR_BODY', `malformed runtime info ${JSON.stringify(key)}`, { cause: err })
  }
  const n = (name: string): number => {
    const x = v[name]
    if (typeof x !== 'number') throw new ProtocolError('RMQ_ERR_BODY', `runtime info ${key} has no number ${name}`)
    return x
  }
  return {
    addr: typeof v.addr === 'string' ? v.addr : key.slice(HA_CONNECTION_INFO_PREFIX.length),
    ackOffset: n('slaveAckOffset'),
    lagBytes: n('diff'),
    lagMs: n('diffMs'),
    inSync: v.inSync === true,
    transferOffset: n('transferFromWhere'),
    connectedTimestamp: n('connectedTimestamp'),
    lastReportTimestamp: n('lastReportTimestamp'),
  }
}

/** Reads the replication entries of a broker's runtime info (GET_BROKER_RUNTIME_INFO). */
export function brokerHAStatusFrom(brokerAddr: string, table: Readonly<Record<string, string>>): BrokerHAStatus {
  const role = table.brokerRole ?? null
  const master = role !== null && role !== 'SLAVE'
  const slaves = master
    ? Object.keys(table)
        .filter((k) => k.startsWith(HA_CONNECTION_INFO_PREFIX))
        .map((k) => slaveFrom(k, table[k]!))
        .sort((a, b) => compareText(a.addr, b.addr))
    : null
  const link: HAMasterLink | null =
    role === 'SLAVE'
      ? {
          masterAddr: table.masterAddr || null,
          haMasterAddr: table.haMasterAddress || null,
          connected: table.haMasterConnected === 'true',
          receivedBytes: numberOrNull(table.haReceivedBytes) ?? 0,
          lastTransferTimestamp: numberOrNull(table.haLastTransferTimestamp) ?? 0,
        }
      : null
  return {
    brokerAddr,
    brokerRole: role,
    commitLogMaxOffset: numberOrNull(table.commitLogMaxOffset),
    slaveFallBehindBytes: master ? numberOrNull(table.slaveFallBehindMuch) : null,
    inSyncSlaveNums: master ? numberOrNull(table.inSyncSlaveNums) : null,
    slaves,
    master: link,
  }
}

/** Which brokers a topic change goes to; with none of these, every master of the only cluster. */
export interface TopicTarget {
  /** Every master of this cluster (`mqadmin updateTopic -c`). */
  clusterName?: string
  /** The masters of these broker names. */
  brokerNames?: readonly string[]
  /** These broker addresses (`mqadmin updateTopic -b`). */
  brokerAddrs?: readonly string[]
}

export interface TopicOptions extends TopicTarget {
  /** Read and write queue numbers at once; `readQueueNums`/`writeQueueNums` win over it. */
  queueNums?: number
  readQueueNums?: number
  writeQueueNums?: number
  /** `PermName` bits: 6 = read and write (default), 4 = read only, 2 = write only. */
  perm?: number
  topicFilterType?: TopicFilterType
  topicSysFlag?: number
  /** An ordered topic: its queues are also published in the name servers' `ORDER_TOPIC_CONFIG`. */
  order?: boolean
}

export interface TopicBrokerConfig {
  brokerName: string
  addr: string
  topicConfig: TopicConfig
}

export interface TopicUpdateResult {
  topic: string
  /** Every broker that took the config, in order. */
  brokers: TopicBrokerConfig[]
  /** What went to the name servers' `ORDER_TOPIC_CONFIG` (`brokerName:queues;…`), `null` for an unordered topic. */
  orderTopicConf: string | null
}

export interface TopicDeleteResult {
  topic: string
  brokerAddrs: string[]
  namesrvAddrs: string[]
}

export interface TopicStats {
  topic: string
  /** Sorted by broker name and queue id. */
  queues: TopicQueueStats[]
}

export interface ConsumerQueueProgress extends QueueConsumeStats {
  /** `brokerOffset − consumerOffset`: messages stored but not yet consumed. */
  lag: number
}

export interface ConsumerProgress {
  group: string
  topic: string | null
  /** Sorted by topic, broker name and queue id. */
  queues: ConsumerQueueProgress[]
  /** Messages per second the group consumes, summed over brokers (the brokers' own measure). */
  consumeTps: number
  brokerOffsetTotal: number
  consumerOffsetTotal: number
  lagTotal: number
}

export interface ConsumerConnections extends ConsumerConnection {
  group: string
}

export interface QueryMessageByIdOptions {
  /** Needed to look up a client unique id (`UNIQ_KEY`) through the index of the topic's brokers. */
  topic?: string
  /** Start of the store-time window of a unique-key lookup; default: the id's own time less 1 s. */
  beginTimestampMs?: number
  /** End of that window; default: none. */
  endTimestampMs?: number
}

export interface QueryResult {
  /** The newest index update time any broker reported. */
  indexLastUpdateTimestamp: number
  /** Sorted by store time. */
  messages: MessageExt[]
}

/** `resetOffsetByTime`'s timestamp for "each queue's max offset" (`mqadmin resetOffsetByTime -s now`). */
export const RESET_TO_MAX_OFFSET = -1

/** One queue of a consumer offset reset (`RollbackStats`, or an entry of the broker's `ResetOffsetBody`). */
export interface ResetOffsetQueue {
  topic: string
  brokerName: string
  queueId: number
  /** The group's committed offset before the reset; -1 when the broker had none. */
  oldOffset: number
  /** Where the group consumes from now. */
  newOffset: number
  /** The queue's max offset (offline reset only; `null` when the broker did the reset). */
  brokerOffset: number | null
  /** The offset found for the timestamp (offline reset only; `null` when the broker did the reset). */
  timestampOffset: number | null
}

export interface ResetOffsetResult {
  group: string
  topic: string
  /** Epoch ms, or `RESET_TO_MAX_OFFSET`. */
  timestamp: number
  force: boolean
  /**
   * `online`: the brokers told the group's online consumers to move (INVOKE_BROKER_TO_RESET_OFFSET); `offline`:
   * no consumer was online, so the committed offsets were written directly (`resetOffsetByTimestampOld`).
   */
  mode: 'online' | 'offline'
  /** Sorted by broker name and queue id. */
  queues: ResetOffsetQueue[]
}

export interface BrokerAddr {
  brokerName: string
  addr: string
}

/**
 * When a client unique id was made, to the millisecond (`MessageClientIDSetter#getNearlyTimeFromID`): the id holds
 * the milliseconds since the start of its month (local time) as an unsigned 32-bit number; a time not reached yet
 * this month is taken from last month. `null` when the id is not 16 or 28 bytes of hex. An id older than a month
 * reads as a later time than it was made: Java has the same blind spot.
 */
export function uniqIdTimestampMs(id: string, nowMs: number): number | null {
  if ((id.length !== 32 && id.length !== 56) || !/^[0-9A-Fa-f]+$/.test(id)) return null
  const ipBytes = id.length === 56 ? 16 : 4
  const sinceMonthStartMs = Buffer.from(id, 'hex').readUInt32BE(ipBytes + 6)
  let monthStart = startOfMonth(nowMs)
  if (monthStart + sinceMonthStartMs >= nowMs) {
    const d = new Date(monthStart)
    monthStart = new Date(d.getFullYear(), d.getMonth() - 1, 1).getTime()
  }
  return monthStart + sinceMonthStartMs
}

/** The address requests for a broker name go to: the master, else the slave with the lowest id (`selectBrokerAddr`). */
export function selectBrokerAddr(b: BrokerData): string | undefined {
  const master = b.brokerAddrs.get(MixAll.MASTER_ID)
  if (master !== undefined) return master
  const ids = [...b.brokerAddrs.keys()].sort((x, y) => x - y)
  return ids.length > 0 ? b.brokerAddrs.get(ids[0]!) : undefined
}

export function illegal(message: string): MQClientError {
  return new MQClientError('RMQ_ERR_ILLEGAL_ARGUMENT', message)
}

export function checkAdminTopic(topic: string): void {
  const problem = typeof topic === 'string' ? validateTopic(topic) : 'the topic is not a string'
  if (problem !== null) throw illegal(problem)
}

export function checkGroup(group: string): void {
  const problem = typeof group === 'string' ? groupProblem(group) : 'the group is not a string'
  if (problem !== null) throw illegal(problem)
}

function checkCount(name: string, n: number, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw illegal(`${name} must be an integer from 0 to ${max}, got ${n}`)
  return n
}

export function hasTarget(t: TopicTarget): boolean {
  return t.clusterName !== undefined || (t.brokerNames?.length ?? 0) > 0 || (t.brokerAddrs?.length ?? 0) > 0
}

/** The config to send to one broker: the options over `base` (what the broker has now, or the defaults). */
export function topicConfigFor(topic: string, o: TopicOptions, base: Partial<TopicConfig>): TopicConfig {
  const read = o.readQueueNums ?? o.queueNums ?? base.readQueueNums ?? TOPIC_QUEUE_NUMS_DEFAULT
  const write = o.writeQueueNums ?? o.queueNums ?? base.writeQueueNums ?? TOPIC_QUEUE_NUMS_DEFAULT
  const filter = o.topicFilterType ?? base.topicFilterType ?? 'SINGLE_TAG'
  if (filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') throw illegal(`unknown topicFilterType ${String(filter)}`)
  return {
    topicName: topic,
    readQueueNums: checkCount('readQueueNums', read, TOPIC_QUEUE_NUMS_MAX),
    writeQueueNums: checkCount('writeQueueNums', write, TOPIC_QUEUE_NUMS_MAX),
    perm: checkCount('perm', o.perm ?? base.perm ?? PermName.PERM_READ | PermName.PERM_WRITE, PERM_MAX),
    topicFilterType: filter,
    // `topicSysFlag` is a Java int on the broker.
    topicSysFlag: checkCount('topicSysFlag', o.topicSysFlag ?? base.topicSysFlag ?? 0, 0x7fffffff),
    order: o.order ?? base.order ?? false,
  }
}

/** `brokerName:queues;…` with `updates` replacing or adding entries of `existing` (`createOrUpdateOrderConf`). */
export function mergeOrderConf(existing: string | null, updates: ReadonlyMap<string, number>): string {
  const entries = new Map<string, string>()
  for (const item of (existing ?? '').split(';')) {
    const [name, nums] = item.split(':')
    if (name && nums !== undefined) entries.set(name, nums)
  }
  for (const [name, nums] of updates) entries.set(name, String(nums))
  return [...entries].map(([name, nums]) => `${name}:${nums}`).join(';')
}

/** Query results in store-time order; ties (several brokers, one millisecond) by store host and offset. */
export function sortMessages(messages: MessageExt[]): MessageExt[] {
  return messages.sort(
    (a, b) =>
      a.storeTimestamp - b.storeTimestamp ||
      compareText(a.storeHost, b.storeHost) ||
      a.commitLogOffset - b.commitLogOffset,
  )
}
