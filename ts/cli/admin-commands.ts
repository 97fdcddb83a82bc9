/**
 * The admin commands of `ferrymq` (after `mqadmin`): `topic`, `consumer`, `message` and `cluster` subcommands run
 * through the SDK's `AdminClient`, print a table (or JSON with `--json`), and on failure print the RocketMQ code
 * and remark and exit non-zero. `ferrymq admin <command>` takes mqadmin's own command names and flags
 * (`topicList`, `updateTopic -t T -c C`, `resetOffsetByTime -g G -t T -s now`, …): a table maps each one onto
 * the command above that does the work.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

import { AdminClient } from '../client/admin-client.js'
import { RESET_TO_MAX_OFFSET, type TopicOptions } from '../client/admin-model.js'
import { MQClientError } from '../client/client-error.js'
import { BrokerResponseError, RocketMQError } from '../common/errors.js'
import { MixAll } from '../common/mix-all.js'
import { versionDesc } from '../common/mq-version.js'
import { responseCodeInfo } from '../common/response-code.js'
import type { TopicFilterType } from '../common/topic-config.js'
import { AclClientRPCHook } from '../remoting/acl-client-rpc-hook.js'
import type { RPCHook } from '../remoting/rpc-hook.js'
import {
  clusterListText,
  consumerConnectionsText,
  consumerGroupListText,
  consumerProgressText,
  haStatusText,
  keyValueText,
  messageJson,
  messageListText,
  messageText,
  resetOffsetText,
  routeJson,
  routeText,
  topicClusterListText,
  topicDeleteText,
  topicStatsText,
  topicUpdateText,
  type ConsumerGroupRow,
  type TopicClusterRow,
} from './admin-output.js'

/** Where the admin commands look for a name server when neither `-n` nor `NAMESRV_ADDR` says. */
export const NAMESRV_ADDR_DEFAULT = '127.0.0.1:9876'

export const ADMIN_USAGE = `admin commands (each takes -n/--namesrv host:port[;host:port], --json, --timeout-ms N,
--access-key K --secret-key S for ACL; the name server defaults to $NAMESRV_ADDR, then ${NAMESRV_ADDR_DEFAULT}):
  ferrymq topic create  -t TOPIC [-c CLUSTER | --broker-name NAME… | -b ADDR…] [-r N] [-w N] [-q N] [-p PERM]
                        [--order] [--filter-type SINGLE_TAG|MULTI_TAG]
  ferrymq topic update  -t TOPIC [same options; unset values keep each broker's current ones]
  ferrymq topic delete  -t TOPIC [-c CLUSTER]
  ferrymq topic list
  ferrymq topic route   -t TOPIC
  ferrymq topic stats   -t TOPIC
  ferrymq consumer progress    -g GROUP [-t TOPIC]
  ferrymq consumer connections -g GROUP
  ferrymq message id    -i MSG_ID [-t TOPIC]          offset id, or a client unique id with its topic
  ferrymq message key   -t TOPIC -k KEY [--max N] [--begin TIME] [--end TIME]
  ferrymq cluster list
  ferrymq cluster runtime -b ADDR
  ferrymq cluster ha      -b ADDR                role, connected slaves and their lag, or a slave's master
  ferrymq admin <command> [options]            mqadmin's command names and flags; \`ferrymq admin --help\` lists them
`

export const ADMIN_COMMAND_GROUPS: ReadonlySet<string> = new Set(['topic', 'consumer', 'message', 'cluster', 'admin'])

/** Exit codes: 0 done, 1 the command failed, 2 bad usage. */
const EXIT_FAILED = 1
const EXIT_USAGE = 2

export interface AdminCliIo {
  stdout(text: string): void
  stderr(text: string): void
  env: NodeJS.ProcessEnv
}

type Options = NonNullable<ParseArgsConfig['options']>
type Values = Record<string, string | boolean | (string | boolean)[] | undefined>

interface Output {
  json: unknown
  text: string
}

interface AdminCommand {
  options: Options
  run(admin: AdminClient, v: Values): Promise<Output>
}

class UsageError extends Error {}

const COMMON_OPTIONS = {
  namesrv: { type: 'string', short: 'n' },
  json: { type: 'boolean' },
  'timeout-ms': { type: 'string' },
  'access-key': { type: 'string' },
  'secret-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

const TOPIC_OPTION = { topic: { type: 'string', short: 't' } } as const satisfies Options
const TOPIC_CONFIG_OPTIONS = {
  ...TOPIC_OPTION,
  cluster: { type: 'string', short: 'c' },
  'broker-name': { type: 'string', multiple: true },
  'broker-addr': { type: 'string', short: 'b', multiple: true },
  'read-queues': { type: 'string', short: 'r' },
  'write-queues': { type: 'string', short: 'w' },
  queues: { type: 'string', short: 'q' },
  perm: { type: 'string', short: 'p' },
  order: { type: 'boolean', short: 'o' },
  'filter-type': { type: 'string' },
  'sys-flag': { type: 'string' },
} as const satisfies Options

function str(v: Values, name: string): string | undefined {
  const x = v[name]
  return typeof x === 'string' ? x : undefined
}

function required(v: Values, name: string, flag: string): string {
  const x = str(v, name)
  if (x === undefined || x.trim().length === 0) throw new UsageError(`${flag} is required`)
  return x.trim()
}

function int(v: Values, name: string): number | undefined {
  const x = str(v, name)
  if (x === undefined) return undefined
  if (!/^-?\d+$/.test(x.trim())) throw new UsageError(`--${name} must be an integer, got ${JSON.stringify(x)}`)
  return Number(x)
}

/** Milliseconds since the epoch, or anything `Date.parse` reads (`2024-05-01T12:00:00Z`). */
function time(v: Values, name: string): number | undefined {
  const x = str(v, name)
  if (x === undefined) return undefined
  const ms = /^\d+$/.test(x.trim()) ? Number(x) : Date.parse(x)
  if (!Number.isFinite(ms))
    throw new UsageError(`--${name} must be epoch milliseconds or a date, got ${JSON.stringify(x)}`)
  return ms
}

/** A repeatable option, each value also split at commas. */
function list(v: Values, name: string): string[] | undefined {
  const x = v[name]
  if (!Array.isArray(x)) return undefined
  return x
    .flatMap((s) => String(s).split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

function topicOptions(v: Values): TopicOptions {
  const filter = str(v, 'filter-type')
  if (filter !== undefined && filter !== 'SINGLE_TAG' && filter !== 'MULTI_TAG') {
    throw new UsageError(`--filter-type must be SINGLE_TAG or MULTI_TAG, got ${filter}`)
  }
  return {
    clusterName: str(v, 'cluster'),
    brokerNames: list(v, 'broker-name'),
    brokerAddrs: list(v, 'broker-addr'),
    queueNums: int(v, 'queues'),
    readQueueNums: int(v, 'read-queues'),
    writeQueueNums: int(v, 'write-queues'),
    perm: int(v, 'perm'),
    order: v.order === true ? true : undefined,
    topicFilterType: filter as TopicFilterType | undefined,
    topicSysFlag: int(v, 'sys-flag'),
  }
}

const COMMANDS = new Map<string, AdminCommand>([
  [
    'topic create',
    {
      options: TOPIC_CONFIG_OPTIONS,
      async run(admin, v) {
        const r = await admin.createTopic(required(v, 'topic', '-t/--topic'), topicOptions(v))
        return { json: r, text: topicUpdateText('created', r) }
      },
    },
  ],
  [
    'topic update',
    {
      options: TOPIC_CONFIG_OPTIONS,
      async run(admin, v) {
        const r = await admin.updateTopic(required(v, 'topic', '-t/--topic'), topicOptions(v))
        return { json: r, text: topicUpdateText('updated', r) }
      },
    },
  ],
  [
    'topic delete',
    {
      options: { ...TOPIC_OPTION, cluster: { type: 'string', short: 'c' } },
      async run(admin, v) {
        const r = await admin.deleteTopic(required(v, 'topic', '-t/--topic'), str(v, 'cluster'))
        return { json: r, text: topicDeleteText(r) }
      },
    },
  ],
  [
    'topic list',
    {
      options: {},
      async run(admin) {
        const topics = await admin.topicList()
        return { json: topics, text: topics.map((t) => `${t}\n`).join('') }
      },
    },
  ],
  [
    'topic route',
    {
      options: TOPIC_OPTION,
      async run(admin, v) {
        const route = await admin.topicRoute(required(v, 'topic', '-t/--topic'))
        return { json: routeJson(route), text: routeText(route) }
      },
    },
  ],
  [
    'topic stats',
    {
      options: TOPIC_OPTION,
      async run(admin, v) {
        const s = await admin.topicStats(required(v, 'topic', '-t/--topic'))
        return { json: s, text: topicStatsText(s) }
      },
    },
  ],
  [
    'consumer progress',
    {
      options: { ...TOPIC_OPTION, group: { type: 'string', short: 'g' } },
      async run(admin, v) {
        const p = await admin.consumerProgress(required(v, 'group', '-g/--group'), str(v, 'topic'))
        return { json: p, text: consumerProgressText(p) }
      },
    },
  ],
  [
    'consumer connections',
    {
      options: { group: { type: 'string', short: 'g' } },
      async run(admin, v) {
        const c = await admin.consumerConnections(required(v, 'group', '-g/--group'))
        return { json: c, text: consumerConnectionsText(c) }
      },
    },
  ],
  [
    'message id',
    {
      options: {
        ...TOPIC_OPTION,
        id: { type: 'string', short: 'i' },
        begin: { type: 'string' },
        end: { type: 'string' },
      },
      async run(admin, v) {
        const m = await admin.queryMessageById(required(v, 'id', '-i/--id'), {
          topic: str(v, 'topic'),
          beginTimestampMs: time(v, 'begin'),
          endTimestampMs: time(v, 'end'),
        })
        return { json: messageJson(m), text: messageText(m) }
      },
    },
  ],
  [
    'message key',
    {
      options: {
        ...TOPIC_OPTION,
        key: { type: 'string', short: 'k' },
        max: { type: 'string' },
        begin: { type: 'string' },
        end: { type: 'string' },
      },
      async run(admin, v) {
        const r = await admin.queryMessageByKey(
          required(v, 'topic', '-t/--topic'),
          required(v, 'key', '-k/--key'),
          int(v, 'max'),
          time(v, 'begin'),
          time(v, 'end'),
        )
        return {
          json: { indexLastUpdateTimestamp: r.indexLastUpdateTimestamp, messages: r.messages.map(messageJson) },
          text: messageListText(r.messages),
        }
      },
    },
  ],
  [
    'cluster list',
    {
      options: {},
      async run(admin) {
        const rows = await admin.clusterListWithRuntime()
        return { json: rows, text: clusterListText(rows) }
      },
    },
  ],
  [
    'cluster runtime',
    {
      options: { 'broker-addr': { type: 'string', short: 'b' } },
      async run(admin, v) {
        const table = await admin.examineBrokerRuntimeInfo(required(v, 'broker-addr', '-b/--broker-addr'))
        return { json: table, text: keyValueText(table) }
      },
    },
  ],
  [
    'cluster ha',
    {
      options: { 'broker-addr': { type: 'string', short: 'b' } },
      async run(admin, v) {
        const status = await admin.getBrokerHAStatus(required(v, 'broker-addr', '-b/--broker-addr'))
        return { json: status, text: haStatusText(status) }
      },
    },
  ],
])

function rpcHooks(v: Values, env: NodeJS.ProcessEnv): RPCHook[] {
  const accessKey = str(v, 'access-key') ?? env.FERRYMQ_ACCESS_KEY
  const secretKey = str(v, 'secret-key') ?? env.FERRYMQ_SECRET_KEY
  if (accessKey === undefined && secretKey === undefined) return []
  if (!accessKey || !secretKey) throw new UsageError('ACL needs both --access-key and --secret-key')
  return [new AclClientRPCHook({ accessKey, secretKey })]
}

function timeoutMs(v: Values): number | undefined {
  const t = int(v, 'timeout-ms')
  if (t !== undefined && t <= 0) throw new UsageError(`--timeout-ms must be positive, got ${t}`)
  return t
}

/** What a failure says: the RocketMQ response code and remark when a server answered, the error code otherwise. */
export function describeAdminError(err: unknown): { text: string; json: object } {
  if (err instanceof BrokerResponseError) {
    const name = responseCodeInfo(err.responseCode).name
    return {
      text: `RocketMQ code ${err.responseCode} (${name}): ${err.remark ?? ''}`,
      json: { code: err.code, responseCode: err.responseCode, responseCodeName: name, remark: err.remark },
    }
  }
  if (err instanceof MQClientError && err.responseCode !== undefined) {
    const name = responseCodeInfo(err.responseCode).name
    return {
      text: `${err.code} (RocketMQ code ${err.responseCode} ${name}): ${err.message}`,
      json: { code: err.code, responseCode: err.responseCode, responseCodeName: name, message: err.message },
    }
  }
  if (err instanceof RocketMQError) {
    return { text: `${err.code}: ${err.message}`, json: { code: err.code, message: err.message } }
  }
  const message = err instanceof Error ? err.message : String(err)
  return { text: message, json: { message } }
}

// ---- ferrymq admin: mqadmin's names and flags ------------------------------------------------------------------

/** `ferrymq admin`'s common options: the ones above, and mqadmin's own long name for the name server. */
const MQADMIN_COMMON_OPTIONS = { ...COMMON_OPTIONS, namesrvAddr: { type: 'string' } } as const satisfies Options

interface MqadminCommand {
  /** The flags after the command name, for the command list and `--help`. */
  synopsis: string
  /** What it does (mqadmin's `commandDesc`). */
  summary: string
  /** mqadmin's flags: its short letters and its long names. */
  options: Options
  /** Options that must be given. */
  required?: readonly string[]
  /** Options whose value must be a whole number. */
  integers?: readonly string[]
  run(admin: AdminClient, v: Values): Promise<Output>
}

/** Runs one of the commands above with values in its own option names: mqadmin's flags mapped onto them. */
function via(name: string, admin: AdminClient, values: Values): Promise<Output> {
  return COMMANDS.get(name)!.run(admin, values)
}

/** mqadmin's `true|false` values (`-o`, `-f`, `-u`, `-s`); `undefined` when not given. */
function bool(v: Values, name: string, flag: string): boolean | undefined {
  const x = str(v, name)?.trim().toLowerCase()
  if (x === undefined) return undefined
  if (x !== 'true' && x !== 'false') throw new UsageError(`${flag} must be true or false, got ${JSON.stringify(x)}`)
  return x === 'true'
}

/** The `-s` of `resetOffsetByTime`: epoch ms, `now` (each queue's max offset), or `yyyy-MM-dd#HH:mm:ss:SSS` in local time. */
export function parseResetTimestamp(text: string): number | null {
  const t = text.trim()
  if (t === 'now') return RESET_TO_MAX_OFFSET
  if (/^\d+$/.test(t)) return Number.isSafeInteger(Number(t)) ? Number(t) : null
  const m = /^(\d{4})-(\d{2})-(\d{2})#(\d{2}):(\d{2}):(\d{2}):(\d{3})$/.exec(t)
  if (m === null) return null
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ms = 0] = m.slice(1).map(Number)
  const d = new Date(year, month - 1, day, hour, minute, second, ms)
  // The Date constructor rolls 02-30 over into March: only a date that reads back the same is one.
  const same =
    d.getFullYear() === year &&
    d.getMonth() === month - 1 &&
    d.getDate() === day &&
    d.getHours() === hour &&
    d.getMinutes() === minute &&
    d.getSeconds() === second
  return same ? d.getTime() : null
}

/** `mqadmin topicList -c`: each topic (not retry or DLQ) with its clusters and consumer groups. */
async function topicClusterList(admin: AdminClient): Promise<TopicClusterRow[]> {
  const [topics, brokers] = await Promise.all([admin.topicList(), admin.clusterList()])
  const clusterOf = new Map(brokers.map((b) => [b.brokerName, b.clusterName]))
  const rows: TopicClusterRow[] = []
  for (const topic of topics) {
    if (topic.startsWith(MixAll.RETRY_GROUP_TOPIC_PREFIX) || topic.startsWith(MixAll.DLQ_GROUP_TOPIC_PREFIX)) continue
    try {
      const route = await admin.topicRoute(topic)
      const clusters = new Set(route.brokerDatas.map((b) => clusterOf.get(b.brokerName) ?? b.cluster))
      rows.push({ topic, clusters: [...clusters].sort(), consumerGroups: await admin.topicConsumerGroups(topic) })
    } catch (err) {
      // A topic deleted meanwhile, or a broker that does not answer: the topic is still listed, as mqadmin does.
      if (!(err instanceof RocketMQError)) throw err
      rows.push({ topic, clusters: [], consumerGroups: [] })
    }
  }
  return rows
}

/** A value, or `null` for a RocketMQ failure (the caller shows it as "none"). */
async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p
  } catch (err) {
    // An offline group or one without offsets is a row of dashes in mqadmin's list, not a failure of the list.
    if (!(err instanceof RocketMQError)) throw err
    return null
  }
}

/** `mqadmin consumerProgress` without `-g`: every group that has a `%RETRY%` topic, one after the other. */
async function consumerGroupList(admin: AdminClient): Promise<ConsumerGroupRow[]> {
  const prefix = MixAll.RETRY_GROUP_TOPIC_PREFIX
  const groups = (await admin.topicList()).filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length))
  const rows: ConsumerGroupRow[] = []
  for (const group of groups) {
    const progress = await orNull(admin.consumerProgress(group))
    const conn = await orNull(admin.consumerConnections(group))
    const count = conn?.connections.length ?? 0
    const type = count === 0 ? null : conn!.consumeType === 'CONSUME_ACTIVELY' ? 'PULL' : 'PUSH'
    rows.push({
      group,
      count,
      version: count === 0 ? null : versionDesc(Math.min(...conn!.connections.map((c) => c.version))),
      consumeType: type,
      messageModel: type === 'PUSH' ? conn!.messageModel : null,
      consumeTps: progress?.consumeTps ?? 0,
      diffTotal: progress?.lagTotal ?? 0,
    })
  }
  return rows
}

const MQADMIN_TOPIC = { topic: { type: 'string', short: 't' } } as const satisfies Options

/** mqadmin's commands by name (`tools/command/*SubCommand.java`). */
const MQADMIN_COMMANDS = new Map<string, MqadminCommand>([
  [
    'topicList',
    {
      synopsis: '[-c]',
      summary: 'Fetch all topic list from name server (-c/--clusterModel: with cluster and consumer groups)',
      options: { clusterModel: { type: 'boolean', short: 'c' } },
      async run(admin, v) {
        if (v.clusterModel !== true) return via('topic list', admin, {})
        const rows = await topicClusterList(admin)
        return { json: rows, text: topicClusterListText(rows) }
      },
    },
  ],
  [
    'topicStatus',
    {
      synopsis: '-t TOPIC',
      summary: 'Examine topic Status info: min and max offset of each queue',
      options: MQADMIN_TOPIC,
      required: ['topic'],
      run: (admin, v) => via('topic stats', admin, { topic: v.topic }),
    },
  ],
  [
    'updateTopic',
    {
      synopsis:
        '-t TOPIC (-c CLUSTER | -b BROKER_ADDR) [-r N] [-w N] [-p PERM] [-o true|false] [-u true|false] [-s true|false]',
      summary: 'Update or create topic (unset values are the defaults: 8 queues, perm 6)',
      options: {
        ...MQADMIN_TOPIC,
        clusterName: { type: 'string', short: 'c' },
        brokerAddr: { type: 'string', short: 'b' },
        readQueueNums: { type: 'string', short: 'r' },
        writeQueueNums: { type: 'string', short: 'w' },
        perm: { type: 'string', short: 'p' },
        order: { type: 'string', short: 'o' },
        unit: { type: 'string', short: 'u' },
        hasUnitSub: { type: 'string', short: 's' },
      },
      required: ['topic'],
      integers: ['readQueueNums', 'writeQueueNums', 'perm'],
      run(admin, v) {
        const cluster = str(v, 'clusterName')?.trim()
        const broker = str(v, 'brokerAddr')?.trim()
        if ((cluster === undefined) === (broker === undefined)) {
          throw new UsageError('give either -c/--clusterName or -b/--brokerAddr')
        }
        // `TopicSysFlag.buildSysFlag`: FLAG_UNIT 0x1, FLAG_UNIT_SUB 0x2.
        const sysFlag = (bool(v, 'unit', '-u/--unit') ? 1 : 0) | (bool(v, 'hasUnitSub', '-s/--hasUnitSub') ? 2 : 0)
        // mqadmin's updateTopic writes a whole new config (unset values are defaults): `topic create` does that.
        return via('topic create', admin, {
          topic: v.topic,
          cluster,
          'broker-addr': broker === undefined ? undefined : [broker],
          'read-queues': v.readQueueNums,
          'write-queues': v.writeQueueNums,
          perm: v.perm,
          order: bool(v, 'order', '-o/--order'),
          'sys-flag': String(sysFlag),
        })
      },
    },
  ],
  [
    'deleteTopic',
    {
      synopsis: '-t TOPIC -c CLUSTER',
      summary: 'Delete topic from broker and NameServer',
      options: { ...MQADMIN_TOPIC, clusterName: { type: 'string', short: 'c' } },
      required: ['topic', 'clusterName'],
      run: (admin, v) => via('topic delete', admin, { topic: v.topic, cluster: v.clusterName }),
    },
  ],
  [
    'consumerProgress',
    {
      synopsis: '[-g GROUP [-t TOPIC]]',
      summary: "Query consumers's progress, speed (without -g: every group, one row each)",
      options: { groupName: { type: 'string', short: 'g' }, topicName: { type: 'string', short: 't' } },
      async run(admin, v) {
        if (v.groupName !== undefined) {
          return via('consumer progress', admin, { group: v.groupName, topic: v.topicName })
        }
        if (v.topicName !== undefined) throw new UsageError('-t/--topicName needs -g/--groupName')
        const rows = await consumerGroupList(admin)
        return { json: rows, text: consumerGroupListText(rows) }
      },
    },
  ],
  [
    'queryMsgById',
    {
      synopsis: '-i MSG_ID[,MSG_ID…] [-t TOPIC]',
      summary: 'Query Message by Id (an offset id; or a client unique id with its topic)',
      options: { ...MQADMIN_TOPIC, msgId: { type: 'string', short: 'i' } },
      required: ['msgId'],
      async run(admin, v) {
        const ids = required(v, 'msgId', '-i/--msgId')
          .split(',')
          .map((id) => id.trim())
          .filter((id) => id.length > 0)
        const outs: Output[] = []
        for (const id of ids) outs.push(await via('message id', admin, { id, topic: v.topic }))
        if (outs.length === 1) return outs[0]!
        return { json: outs.map((o) => o.json), text: outs.map((o) => o.text).join('\n') }
      },
    },
  ],
  [
    'queryMsgByKey',
    {
      synopsis: '-t TOPIC -k KEY [-b BEGIN_MS] [-e END_MS] [-m MAX_NUM]',
      summary: 'Query Message by Key',
      options: {
        ...MQADMIN_TOPIC,
        msgKey: { type: 'string', short: 'k' },
        beginTimestamp: { type: 'string', short: 'b' },
        endTimestamp: { type: 'string', short: 'e' },
        maxNum: { type: 'string', short: 'm' },
      },
      required: ['topic', 'msgKey'],
      integers: ['beginTimestamp', 'endTimestamp', 'maxNum'],
      run: (admin, v) =>
        via('message key', admin, {
          topic: v.topic,
          key: v.msgKey,
          begin: v.beginTimestamp,
          end: v.endTimestamp,
          max: v.maxNum,
        }),
    },
  ],
  [
    'clusterList',
    {
      synopsis: '[-c CLUSTER]',
      summary: "List all of clusters: brokers with version, TPS, role and (masters) their slaves' largest lag",
      options: { clusterName: { type: 'string', short: 'c' } },
      async run(admin, v) {
        const cluster = str(v, 'clusterName')?.trim()
        const rows = (await admin.clusterListWithRuntime()).filter(
          (r) => cluster === undefined || r.clusterName === cluster,
        )
        return { json: rows, text: clusterListText(rows) }
      },
    },
  ],
  [
    'haStatus',
    {
      synopsis: '(-b BROKER_ADDR | -c CLUSTER)',
      summary: "Fetch ha runtime status data: a master's slaves with their lag, or a slave's master (-c: each master)",
      options: { brokerAddr: { type: 'string', short: 'b' }, clusterName: { type: 'string', short: 'c' } },
      async run(admin, v) {
        const broker = str(v, 'brokerAddr')?.trim()
        const cluster = str(v, 'clusterName')?.trim()
        if ((cluster === undefined) === (broker === undefined)) {
          throw new UsageError('give either -b/--brokerAddr or -c/--clusterName')
        }
        if (broker !== undefined) return via('cluster ha', admin, { 'broker-addr': broker })
        // mqadmin 5.x `haStatus -c`: every master of the cluster.
        const masters = (await admin.clusterList()).filter(
          (b) => b.clusterName === cluster && b.brokerId === MixAll.MASTER_ID,
        )
        if (masters.length === 0) {
          throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `the name servers know no master of cluster ${cluster}`)
        }
        const outs: Output[] = []
        for (const m of masters) outs.push(await via('cluster ha', admin, { 'broker-addr': m.addr }))
        return { json: outs.map((o) => o.json), text: outs.map((o) => o.text).join('\n') }
      },
    },
  ],
  [
    'resetOffsetByTime',
    {
      synopsis: '-g GROUP -t TOPIC -s (EPOCH_MS|now|yyyy-MM-dd#HH:mm:ss:SSS) [-f true|false]',
      summary:
        'Reset consumer offset by timestamp (without client restart; written directly when no consumer is online)',
      options: {
        group: { type: 'string', short: 'g' },
        ...MQADMIN_TOPIC,
        timestamp: { type: 'string', short: 's' },
        force: { type: 'string', short: 'f' },
      },
      required: ['group', 'topic', 'timestamp'],
      async run(admin, v) {
        const text = required(v, 'timestamp', '-s/--timestamp')
        const timestamp = parseResetTimestamp(text)
        if (timestamp === null) {
          throw new UsageError(
            `-s/--timestamp must be epoch milliseconds, now, or yyyy-MM-dd#HH:mm:ss:SSS, got ${JSON.stringify(text)}`,
          )
        }
        const force = bool(v, 'force', '-f/--force') ?? true
        const r = await admin.resetOffsetByTime(
          required(v, 'group', '-g/--group'),
          required(v, 'topic', '-t/--topic'),
          timestamp,
          force,
        )
        return { json: r, text: resetOffsetText(r) }
      },
    },
  ],
])

const MQADMIN_NAME_WIDTH = Math.max(...[...MQADMIN_COMMANDS.keys()].map((k) => k.length)) + 2

const MQADMIN_COMMON_USAGE = `each takes -n/--namesrvAddr host:port[;host:port] (default $NAMESRV_ADDR, then ${NAMESRV_ADDR_DEFAULT}),
--json, --timeout-ms N, --access-key K --secret-key S for ACL, -h/--help; exit 0 done, 1 failed, 2 bad usage`

export const MQADMIN_USAGE = `usage: ferrymq admin <command> [options]   (mqadmin's command names and flags)
${[...MQADMIN_COMMANDS]
  .map(
    ([name, c]) =>
      `  ${name.padEnd(MQADMIN_NAME_WIDTH)}${c.synopsis}\n  ${''.padEnd(MQADMIN_NAME_WIDTH)}  ${c.summary}\n`,
  )
  .join('')}${MQADMIN_COMMON_USAGE}
`

function mqadminCommandUsage(name: string, c: MqadminCommand): string {
  const flags = Object.entries(c.options)
    .map(
      ([long, o]) =>
        `  ${o.short === undefined ? '   ' : `-${o.short},`} --${long}${o.type === 'string' ? ' VALUE' : ''}`,
    )
    .join('\n')
  return `usage: ferrymq admin ${name} ${c.synopsis}\n${c.summary}\n${flags}\n${MQADMIN_COMMON_USAGE}\n`
}

/** `-t/--topic` for an option of `options`. */
function flagOf(name: string, options: Options): string {
  const short = options[name]?.short
  return short === undefined ? `--${name}` : `-${short}/--${name}`
}

/** One command ready to run: its label in messages, its options, and what it does. */
interface Invocation {
  label: string
  options: Options
  required?: readonly string[]
  integers?: readonly string[]
  /** What `--help` prints, and what follows a usage error. */
  usage: string
  run(admin: AdminClient, v: Values): Promise<Output>
}

/** Parses the options, runs the command with an `AdminClient`, prints the outcome; resolves with the exit code. */
async function execute(inv: Invocation, args: readonly string[], io: AdminCliIo): Promise<number> {
  let v: Values
  let admin: AdminClient
  try {
    v = parseArgs({ args: [...args], options: inv.options, strict: true }).values
    if (v.help === true) {
      io.stdout(inv.usage)
      return 0
    }
    for (const name of inv.required ?? []) required(v, name, flagOf(name, inv.options))
    for (const name of inv.integers ?? []) {
      const x = str(v, name)
      if (x !== undefined && !/^-?\d+$/.test(x.trim())) {
        throw new UsageError(`${flagOf(name, inv.options)} must be an integer, got ${JSON.stringify(x)}`)
      }
    }
    admin = new AdminClient({
      namesrvAddr: str(v, 'namesrv') ?? str(v, 'namesrvAddr') ?? io.env.NAMESRV_ADDR ?? NAMESRV_ADDR_DEFAULT,
      timeoutMs: timeoutMs(v),
      rpcHooks: rpcHooks(v, io.env),
    })
  } catch (err) {
    // parseArgs throws TypeErrors with a `code` for unknown or malformed options: all of them are usage errors.
    io.stderr(`${inv.label}: ${(err as Error).message}\n${inv.usage}`)
    return EXIT_USAGE
  }
  try {
    await admin.start()
    const out = await inv.run(admin, v)
    io.stdout(v.json === true ? `${JSON.stringify(out.json, null, 2)}\n` : out.text)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`${inv.label}: ${err.message}\n`)
      return EXIT_USAGE
    }
    // The client refuses an argument before sending anything (a bad topic or group name, perm out of range…).
    if (err instanceof MQClientError && err.code === 'RMQ_ERR_ILLEGAL_ARGUMENT') {
      io.stderr(`${inv.label}: ${err.message}\n`)
      return EXIT_USAGE
    }
    const d = describeAdminError(err)
    io.stderr(v.json === true ? `${JSON.stringify({ error: d.json })}\n` : `ferrymq: ${d.text}\n`)
    return EXIT_FAILED
  } finally {
    await admin.shutdown()
  }
}

/** Runs `ferrymq admin <command> [options]` (mqadmin's names and flags); resolves with the exit code. */
export async function runMqadminCommand(argv: readonly string[], io: AdminCliIo): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    io.stdout(MQADMIN_USAGE)
    return EXIT_USAGE
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const c = rest[0] === undefined ? undefined : MQADMIN_COMMANDS.get(rest[0])
    io.stdout(c === undefined ? MQADMIN_USAGE : mqadminCommandUsage(rest[0]!, c))
    return 0
  }
  const command = MQADMIN_COMMANDS.get(name)
  if (command === undefined) {
    io.stderr(`ferrymq admin: unknown command ${JSON.stringify(name)}\n${MQADMIN_USAGE}`)
    return EXIT_USAGE
  }
  return execute(
    {
      label: `ferrymq admin ${name}`,
      options: { ...MQADMIN_COMMON_OPTIONS, ...command.options },
      required: command.required,
      integers: command.integers,
      usage: mqadminCommandUsage(name, command),
      run: command.run,
    },
    rest,
    io,
  )
}

/** Runs `ferrymq <group> <action> [options]` (or `ferrymq admin …`); resolves with the exit code. */
export async function runAdminCommand(argv: readonly string[], io: AdminCliIo): Promise<number> {
  if (argv[0] === 'admin') return runMqadminCommand(argv.slice(1), io)
  const [group, action, ...rest] = argv
  const command = COMMANDS.get(`${group} ${action}`)
  if (command === undefined) {
    io.stderr(`unknown command: ${argv.join(' ')}\n${ADMIN_USAGE}`)
    return EXIT_USAGE
  }
  return execute(
    {
      label: `ferrymq ${group} ${action}`,
      options: { ...COMMON_OPTIONS, ...command.options },
      usage: ADMIN_USAGE,
      run: command.run,
    },
    rest,
    io,
  )
}
