/**
 * `GET_BROKER_RUNTIME_INFO` and `GET_BROKER_CONFIG` (`AdminBrokerProcessor#prepareRuntimeInfo`,
 * `DefaultMessageStore#getRuntimeInfo`; protocol.md §2.6). `mqadmin clusterList` reads every key listed there,
 * so all of them are present; the replication keys after them are ferrymq's (see `haRuntimeInfo`).
 */
import type { ReplicationStatus } from '../../broker/ha/replication-status.js'
import { stringifyJson } from '../../common/fastjson.js'
import { decodeMessage } from '../../common/message/message-record.js'
import { CURRENT_VERSION, versionDesc } from '../../common/mq-version.js'
import type { RequestExecutor } from '../../remoting/request-executor.js'
import type { RemotingCommand } from '../../remoting/remoting-command.js'
import type { BrokerContext } from '../broker-context.js'
import { ok } from './admin-response.js'

export interface RuntimeQueues {
  send: RequestExecutor
  pull: RequestExecutor
  query: RequestExecutor
}

export async function brokerRuntimeInfo(ctx: BrokerContext, queues: RuntimeQueues): Promise<Map<string, string>> {
  const s = ctx.store.stats()
  const stats = ctx.stats
  const day = stats.dayTotals()
  const diskRatio = s.diskTotalBytes > 0 ? (s.diskTotalBytes - s.diskFreeBytes) / s.diskTotalBytes : 0
  const entries: [string, string | number][] = [
    ['brokerVersionDesc', versionDesc(CURRENT_VERSION)],
    ['brokerVersion', CURRENT_VERSION],
    ['msgPutTotalYesterdayMorning', day.putYesterdayMorning],
    ['msgPutTotalTodayMorning', day.putTodayMorning],
    ['msgPutTotalTodayNow', stats.putMessages],
    ['msgGetTotalYesterdayMorning', day.getYesterdayMorning],
    ['msgGetTotalTodayMorning', day.getTodayMorning],
    ['msgGetTotalTodayNow', stats.getMessages],
    ['sendThreadPoolQueueSize', queues.send.queued],
    ['sendThreadPoolQueueCapacity', queues.send.queueCapacity],
    ['pullThreadPoolQueueSize', queues.pull.queued],
    ['pullThreadPoolQueueCapacity', queues.pull.queueCapacity],
    ['queryThreadPoolQueueSize', queues.query.queued],
    ['queryThreadPoolQueueCapacity', queues.query.queueCapacity],
    ['sendThreadPoolQueueHeadWaitTimeMills', queues.send.headWaitMs()],
    ['pullThreadPoolQueueHeadWaitTimeMills', queues.pull.headWaitMs()],
    ['queryThreadPoolQueueHeadWaitTimeMills', queues.query.headWaitMs()],
    // The native writer dispatches consume queues as it appends: nothing is ever behind.
    ['dispatchBehindBytes', 0],
    // The store tells busy or not, not for how long: busy means at least the threshold.
    ['pageCacheLockTimeMills', s.pageCacheBusy ? (ctx.storeConfig.osPageCacheBusyTimeOutMills ?? 1000) : 0],
    ['earliestMessageTimeStamp', await earliestMessageTime(ctx, s.commitLogMinOffset, s.commitLogMaxOffset)],
    ['startAcceptSendRequestTimeStamp', ctx.brokerConfig.startAcceptSendRequestTimeStamp],
    ['commitLogDiskRatio', diskRatio],
    ['consumeQueueDiskRatio', diskRatio],
    ['commitLogMinOffset', s.commitLogMinOffset],
    ['commitLogMaxOffset', s.commitLogMaxOffset],
    ['remainHowManyDataToFlush', `${s.commitLogMaxOffset - s.commitLogFlushedOffset} B`],
    ['putTps', stats.tpsText('put')],
    ['getTransferedTps', stats.tpsText('get')],
    ['getTotalTps', stats.tpsText('get')],
    ['bootTimestamp', stats.bootTimestamp],
    ['runtime', runtimeText(Date.now() - stats.bootTimestamp)],
    ['putMessageTimesTotal', s.putMessages],
    ['putMessageSizeTotal', s.putBytes],
    ['putMessageAverageSize', s.putMessages > 0 ? s.putBytes / s.putMessages : 0],
    ['commitLogDirCapacity', `Total : ${gib(s.diskTotalBytes)}, Free : ${gib(s.diskFreeBytes)}.`],
  ]
  entries.push(...haRuntimeInfo(ctx.replicationStatus(), ctx.brokerConfig.haMaxGapNotInSync))
  return new Map(entries.map(([k, v]) => [k, String(v)]))
}

/** A master's entry per slave is `haConnectionInfo_<slave addr>`, as the store keys `commitLogDiskRatio_<path>`. */
const HA_CONNECTION_INFO_PREFIX = 'haConnectionInfo_'

/**
 * Replication in the runtime table. RocketMQ 4.9 puts nothing about HA there (its HA figures only reach the log,
 * `BrokerController#printMasterAndSlaveDiff`; 5.x answers them to a request of their own, GET_BROKER_HA_STATUS), so
 * these keys are ours, named after the Java figures they carry:
 * - every broker: `brokerRole` (the config key);
 * - a master: `slaveFallBehindMuch` (`DefaultMessageStore#slaveFallBehindMuch`: commit-log max offset less the
 *   highest offset any slave acknowledged, `push2SlaveMaxOffset`), `inSyncSlaveNums` (5.x `HARuntimeInfo`), and per
 *   connected slave `haConnectionInfo_<addr>`, a JSON object with 5.x `HAConnectionRuntimeInfo`'s names (`addr`,
 *   `slaveAckOffset`, `diff` in bytes, `inSync`, `transferFromWhere`) and ours (`diffMs`, `connectedTimestamp`,
 *   `lastReportTimestamp`);
 * - a slave: `masterAddr` (the master broker the name server named), `haMasterAddress` (the config key's name; the
 *   HA address in use), `haMasterConnected`, `haReceivedBytes`, `haLastTransferTimestamp`.
 */
export function haRuntimeInfo(r: ReplicationStatus, haMaxGapNotInSync: number): [string, string | number][] {
  const entries: [string, string | number][] = [['brokerRole', r.brokerRole]]
  if (r.master !== null) {
    const m = r.master
    entries.push(
      ['masterAddr', m.masterAddr ?? ''],
      ['haMasterAddress', m.masterHaAddr ?? ''],
      ['haMasterConnected', String(m.connected)],
      ['haReceivedBytes', m.receivedBytes],
      ['haLastTransferTimestamp', m.lastFrameAt],
    )
    return entries
  }
  if (r.brokerRole === 'SLAVE') return entries
  // `DefaultHAService#isInSyncSlave` (5.x): acknowledged within `haMaxGapNotInSync` of the master's max offset.
  const inSync = (ackOffset: number): boolean => ackOffset >= 0 && r.maxOffset - ackOffset < haMaxGapNotInSync
  entries.push(
    ['slaveFallBehindMuch', r.maxOffset - (r.slaveAckOffset ?? 0)],
    ['inSyncSlaveNums', r.slaves.filter((s) => inSync(s.ackOffset)).length],
  )
  for (const s of r.slaves) {
    const info = {
      addr: s.addr,
      slaveAckOffset: s.ackOffset,
      diff: s.lagBytes,
      diffMs: s.lagMs,
      inSync: inSync(s.ackOffset),
      transferFromWhere: s.transferOffset,
      connectedTimestamp: s.connectedAt,
      lastReportTimestamp: s.lastReportAt,
    }
    entries.push([HA_CONNECTION_INFO_PREFIX + s.addr, JSON.stringify(info)])
  }
  return entries
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`
}

/** `[ 0 days, 1 hours, 2 minutes, 3 seconds ]`, as the store prints its uptime. */
function runtimeText(ms: number): string {
  const s = Math.floor(ms / 1000)
  return `[ ${Math.floor(s / 86400)} days, ${Math.floor(s / 3600) % 24} hours, ${Math.floor(s / 60) % 60} minutes, ${s % 60} seconds ]`
}

export async function getBrokerRuntimeInfo(ctx: BrokerContext, queues: RuntimeQueues): Promise<RemotingCommand> {
  return ok({ table: await brokerRuntimeInfo(ctx, queues) })
}

/** Store time of the first record of the commit log (`DefaultMessageStore#getEarliestMessageTime`), -1 if none. */
async function earliestMessageTime(ctx: BrokerContext, minOffset: number, maxOffset: number): Promise<number> {
  if (maxOffset <= minOffset) return -1
  const record = await ctx.store.selectOneMessageByOffset(minOffset)
  return record ? (decodeMessage(record, 0, { decompressBody: false })?.storeTimestamp ?? -1) : -1
}

/** The configuration as Java properties text, with the data version of the config in the header. */
export function getBrokerConfig(ctx: BrokerContext): RemotingCommand {
  const lines: string[] = []
  for (const [k, v] of Object.entries(ctx.brokerConfig).sort(([a], [b]) => a.localeCompare(b))) {
    if (k.toLowerCase().includes('password')) continue
    lines.push(`${k}=${String(v)}`)
  }
  for (const [k, v] of Object.entries(ctx.storeConfig).sort(([a], [b]) => a.localeCompare(b)))
    lines.push(`${k}=${String(v)}`)
  return ok(lines.join('\n') + '\n', { version: stringifyJson(ctx.topicConfigManager.dataVersion()) })
}
