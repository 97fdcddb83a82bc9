/**
 * How the admin commands print: aligned text tables for people (the columns `mqadmin` prints), and JSON-ready
 * values for scripts. Maps and buffers of the SDK's results are turned into plain objects and base64 here.
 */
import type {
  BrokerHAStatus,
  ClusterBrokerRuntime,
  ConsumerConnections,
  ConsumerProgress,
  ResetOffsetResult,
  TopicDeleteResult,
  TopicStats,
  TopicUpdateResult,
} from '../client/admin-model.js'
import { perm2String } from '../common/constant/perm-name.js'
import { messageKeys, messageTags, messageUniqKey, type MessageExt } from '../common/message/message-ext.js'
import type { TopicRouteData } from '../remoting/protocol/route.js'

/** Message bodies longer than this are cut in text output (JSON carries them whole). */
const BODY_TEXT_CHARS_MAX = 4096

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n')
}

/** A store or update time as ISO-8601 UTC; 0 (none) as `-`. */
export function formatTime(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '-'
}

export function routeJson(route: TopicRouteData): object {
  return {
    orderTopicConf: route.orderTopicConf,
    queueDatas: route.queueDatas,
    brokerDatas: route.brokerDatas.map((b) => ({
      cluster: b.cluster,
      brokerName: b.brokerName,
      brokerAddrs: Object.fromEntries([...b.brokerAddrs].sort(([x], [y]) => x - y)),
    })),
    filterServerTable: Object.fromEntries(route.filterServerTable),
  }
}

export function routeText(route: TopicRouteData): string {
  const rows = route.queueDatas.map((q) => {
    const b = route.brokerDatas.find((d) => d.brokerName === q.brokerName)
    const addrs = [...(b?.brokerAddrs ?? [])].sort(([x], [y]) => x - y).map(([id, a]) => `${id}=${a}`)
    return [q.brokerName, b?.cluster ?? '-', q.readQueueNums, q.writeQueueNums, perm2String(q.perm), addrs.join(' ')]
  })
  const order = route.orderTopicConf === null ? '' : `order topic conf: ${route.orderTopicConf}\n`
  return formatTable(['BROKER', 'CLUSTER', 'READ', 'WRITE', 'PERM', 'ADDRESSES'], rows) + order
}

export function topicUpdateText(verb: string, r: TopicUpdateResult): string {
  const lines = r.brokers.map((b) => {
    const c = b.topicConfig
    return (
      `${verb} topic ${r.topic} on ${b.brokerName} (${b.addr}): read ${c.readQueueNums}, write ${c.writeQueueNums}, ` +
      `perm ${perm2String(c.perm)}, ${c.topicFilterType}${c.order ? ', order' : ''}`
    )
  })
  if (r.orderTopicConf !== null) lines.push(`order topic conf: ${r.orderTopicConf}`)
  return `${lines.join('\n')}\n`
}

export function topicDeleteText(r: TopicDeleteResult): string {
  return (
    `deleted topic ${r.topic} from broker(s) ${r.brokerAddrs.join(', ')} ` +
    `and name server(s) ${r.namesrvAddrs.join(', ')}\n`
  )
}

export function topicStatsText(s: TopicStats): string {
  const rows = s.queues.map((q) => [
    q.brokerName,
    q.queueId,
    q.minOffset,
    q.maxOffset,
    formatTime(q.lastUpdateTimestamp),
  ])
  return formatTable(['BROKER', 'QID', 'MIN OFFSET', 'MAX OFFSET', 'LAST UPDATED'], rows)
}

export function consumerProgressText(p: ConsumerProgress): string {
  const rows = p.queues.map((q) => [
    q.topic,
    q.brokerName,
    q.queueId,
    q.brokerOffset,
    q.consumerOffset,
    q.lag,
    formatTime(q.lastTimestamp),
  ])
  return (
    formatTable(['TOPIC', 'BROKER', 'QID', 'BROKER OFFSET', 'CONSUMER OFFSET', 'LAG', 'LAST CONSUMED'], rows) +
    `\nConsume TPS: ${p.consumeTps.toFixed(2)}\nLag total: ${p.lagTotal}\n`
  )
}

export function consumerConnectionsText(c: ConsumerConnections): string {
  const connections = formatTable(
    ['CLIENT ID', 'CLIENT ADDRESS', 'LANGUAGE', 'VERSION'],
    c.connections.map((x) => [x.clientId, x.clientAddr, x.language, x.version]),
  )
  const subscriptions = formatTable(
    ['TOPIC', 'EXPRESSION TYPE', 'EXPRESSION'],
    c.subscriptions.map((s) => [s.topic, s.expressionType, s.subString]),
  )
  return (
    `${connections}\n${subscriptions}\n` +
    `Consume type: ${c.consumeType ?? '-'}\nMessage model: ${c.messageModel ?? '-'}\n` +
    `Consume from where: ${c.consumeFromWhere ?? '-'}\n`
  )
}

export function messageJson(m: MessageExt): object {
  return {
    msgId: messageUniqKey(m) ?? m.msgId,
    offsetMsgId: m.msgId,
    topic: m.topic,
    tags: messageTags(m) ?? null,
    keys: messageKeys(m),
    queueId: m.queueId,
    queueOffset: m.queueOffset,
    commitLogOffset: m.commitLogOffset,
    storeSize: m.storeSize,
    sysFlag: m.sysFlag,
    flag: m.flag,
    bornTimestamp: m.bornTimestamp,
    bornHost: m.bornHost,
    storeTimestamp: m.storeTimestamp,
    storeHost: m.storeHost,
    reconsumeTimes: m.reconsumeTimes,
    preparedTransactionOffset: m.preparedTransactionOffset,
    bodyCRC: m.bodyCRC,
    properties: Object.fromEntries(m.properties),
    body: m.body.toString('base64'),
  }
}

/** Labelled lines, labels padded to the widest. */
function fieldsText(fields: readonly (readonly [string, string | number])[]): string {
  const width = Math.max(...fields.map(([k]) => k.length)) + 1
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n') + '\n'
}

export function messageText(m: MessageExt): string {
  const body = m.body.toString('utf8')
  const shown =
    body.length > BODY_TEXT_CHARS_MAX ? `${body.slice(0, BODY_TEXT_CHARS_MAX)}… (${m.body.length} bytes)` : body
  const fields: [string, string | number][] = [
    ['Message ID', messageUniqKey(m) ?? m.msgId],
    ['Offset ID', m.msgId],
    ['Topic', m.topic],
    ['Tags', messageTags(m) ?? '-'],
    ['Keys', messageKeys(m).join(' ') || '-'],
    ['Queue ID', m.queueId],
    ['Queue Offset', m.queueOffset],
    ['CommitLog Offset', m.commitLogOffset],
    ['Reconsume Times', m.reconsumeTimes],
    ['Born Timestamp', formatTime(m.bornTimestamp)],
    ['Store Timestamp', formatTime(m.storeTimestamp)],
    ['Born Host', m.bornHost],
    ['Store Host', m.storeHost],
    ['System Flag', m.sysFlag],
    ['Properties', JSON.stringify(Object.fromEntries(m.properties))],
    ['Message Body', shown],
  ]
  return fieldsText(fields)
}

export function messageListText(messages: readonly MessageExt[]): string {
  if (messages.length === 0) return 'no message\n'
  const rows = messages.map((m) => [
    messageUniqKey(m) ?? m.msgId,
    m.msgId,
    m.queueId,
    m.queueOffset,
    formatTime(m.storeTimestamp),
  ])
  return formatTable(['MESSAGE ID', 'OFFSET ID', 'QID', 'QUEUE OFFSET', 'STORE TIME'], rows)
}

/** A cluster row with the runtime figures `mqadmin clusterList` shows, `null` where the broker did not answer. */
export type ClusterListRow = ClusterBrokerRuntime

/** Bytes and time behind, as the lag columns print them. */
function lagText(bytes: number, ms: number): string {
  return `${bytes} B / ${ms} ms`
}

/** A master's slave count and its slaves' largest lag; dashes for a slave or a broker that did not say. */
function slaveCells(r: ClusterListRow): [string | number, string] {
  if (r.slaves === null) return ['-', '-']
  if (r.slaves.length === 0) return [0, '-']
  const bytes = Math.max(...r.slaves.map((s) => s.lagBytes))
  const ms = Math.max(...r.slaves.map((s) => s.lagMs))
  return [r.slaves.length, lagText(bytes, ms)]
}

export function clusterListText(rows: readonly ClusterListRow[]): string {
  const rate = (n: number | null): string => (n === null ? '-' : n.toFixed(2))
  return formatTable(
    ['CLUSTER', 'BROKER', 'BID', 'ADDRESS', 'VERSION', 'IN TPS', 'OUT TPS', 'ROLE', 'SLAVES', 'SLAVE LAG (MAX)'],
    rows.map((r) => [
      r.clusterName,
      r.brokerName,
      r.brokerId,
      r.addr,
      r.version ?? '-',
      rate(r.inTps),
      rate(r.outTps),
      r.brokerRole ?? '-',
      ...slaveCells(r),
    ]),
  )
}

/** `ferrymq admin haStatus`: a master with its slaves and their lag, or a slave with its master connection. */
export function haStatusText(h: BrokerHAStatus): string {
  const head: [string, string | number][] = [
    ['Broker', h.brokerAddr],
    ['Role', h.brokerRole ?? '- (the runtime info does not say: not a ferrymq broker?)'],
    ['Commit log max offset', h.commitLogMaxOffset ?? '-'],
  ]
  if (h.master !== null) {
    const m = h.master
    return fieldsText([
      ...head,
      ['Master', m.masterAddr ?? '- (not learned yet)'],
      ['Master HA address', m.haMasterAddr ?? '-'],
      ['Master connection', m.connected ? 'connected' : 'not connected'],
      ['Bytes received', m.receivedBytes],
      ['Last transfer', formatTime(m.lastTransferTimestamp)],
    ])
  }
  if (h.slaves === null) return fieldsText(head)
  const fields = fieldsText([
    ...head,
    ['Slaves', `${h.slaves.length} (${h.inSyncSlaveNums ?? '-'} in sync)`],
    ['Slave fall behind', h.slaveFallBehindBytes === null ? '-' : `${h.slaveFallBehindBytes} B`],
  ])
  if (h.slaves.length === 0) return fields
  const table = formatTable(
    ['SLAVE', 'ACK OFFSET', 'LAG BYTES', 'LAG MS', 'STATUS', 'CONNECTED SINCE', 'LAST REPORT'],
    h.slaves.map((s) => [
      s.addr,
      s.ackOffset,
      s.lagBytes,
      s.lagMs,
      s.inSync ? 'OK' : 'Fall Behind',
      formatTime(s.connectedTimestamp),
      formatTime(s.lastReportTimestamp),
    ]),
  )
  return `${fields}\n${table}`
}

export function keyValueText(table: Readonly<Record<string, string>>): string {
  const keys = Object.keys(table)
  const width = Math.max(0, ...keys.map((k) => k.length))
  return keys.map((k) => `${k.padEnd(width)}  ${table[k]}`).join('\n') + '\n'
}

/** A `-1` offset (none committed) as `-`. */
function offsetCell(n: number | null): string | number {
  return n === null || n < 0 ? '-' : n
}

export function resetOffsetText(r: ResetOffsetResult): string {
  const to = r.timestamp < 0 ? 'the max offset' : `${formatTime(r.timestamp)} (${r.timestamp})`
  const how =
    r.mode === 'online'
      ? 'the brokers told the online consumers to move'
      : 'no consumer online: the committed offsets were written'
  const head = `reset consumer group ${r.group} on topic ${r.topic} to ${to}, force ${r.force}; ${how}\n`
  if (r.mode === 'online') {
    return (
      head +
      formatTable(
        ['BROKER', 'QID', 'OLD OFFSET', 'NEW OFFSET'],
        r.queues.map((q) => [q.brokerName, q.queueId, offsetCell(q.oldOffset), q.newOffset]),
      )
    )
  }
  return (
    head +
    formatTable(
      ['BROKER', 'QID', 'BROKER OFFSET', 'OLD OFFSET', 'TIMESTAMP OFFSET', 'NEW OFFSET'],
      r.queues.map((q) => [
        q.brokerName,
        q.queueId,
        offsetCell(q.brokerOffset),
        offsetCell(q.oldOffset),
        offsetCell(q.timestampOffset),
        q.newOffset,
      ]),
    )
  )
}

/** A topic with the clusters serving it and the groups consuming it (`mqadmin topicList -c`). */
export interface TopicClusterRow {
  topic: string
  clusters: string[]
  consumerGroups: string[]
}

/** One line per topic and consumer group, as `mqadmin topicList -c` prints it. */
export function topicClusterListText(rows: readonly TopicClusterRow[]): string {
  return formatTable(
    ['CLUSTER', 'TOPIC', 'CONSUMER GROUP'],
    rows.flatMap((r) => {
      const groups = r.consumerGroups.length === 0 ? [''] : r.consumerGroups
      return groups.map((g) => [r.clusters.join(',') || '-', r.topic, g])
    }),
  )
}

/** A consumer group's summary row (`mqadmin consumerProgress` without `-g`). */
export interface ConsumerGroupRow {
  group: string
  /** Consumers online. */
  count: number
  /** The oldest client version online (`V4_9_8`), `null` when none is online. */
  version: string | null
  /** `PUSH` or `PULL`, `null` when none is online. */
  consumeType: string | null
  /** `CLUSTERING` or `BROADCASTING` for push consumers, else `null`. */
  messageModel: string | null
  consumeTps: number
  diffTotal: number
}

export function consumerGroupListText(rows: readonly ConsumerGroupRow[]): string {
  return formatTable(
    ['GROUP', 'COUNT', 'VERSION', 'TYPE', 'MODEL', 'TPS', 'DIFF TOTAL'],
    rows.map((r) => [
      r.group,
      r.count,
      r.count > 0 ? (r.version ?? '-') : 'OFFLINE',
      r.consumeType ?? '-',
      r.messageModel ?? '-',
      r.consumeTps.toFixed(2),
      r.diffTotal,
    ]),
  )
}
