/**
 * The admin commands of `ferrymq` (after `mqadmin`): `topic`, `consumer`, `message` and `cluster` subcommands run
 * through the SDK's `AdminClient`, print a table (or JSON with `--json`), and on failure print the RocketMQ code
 * and remark and exit non-zero.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

import { AdminClient, type TopicOptions } from '../client/admin-client.js'
import { MQClientError } from '../client/client-error.js'
import { BrokerResponseError, RocketMQError } from '../common/errors.js'
import { responseCodeInfo } from '../common/response-code.js'
import type { TopicFilterType } from '../common/topic-config.js'
import { AclClientRPCHook } from '../remoting/acl-client-rpc-hook.js'
import type { RPCHook } from '../remoting/rpc-hook.js'
import {
  clusterListText,
  consumerConnectionsText,
  consumerProgressText,
  firstRate,
  keyValueText,
  messageJson,
  messageListText,
  messageText,
  routeJson,
  routeText,
  topicDeleteText,
  topicStatsText,
  topicUpdateText,
  type ClusterListRow,
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
`

export const ADMIN_COMMAND_GROUPS: ReadonlySet<string> = new Set(['topic', 'consumer', 'message', 'cluster'])

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
        const rows = await clusterListWithRuntime(admin)
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
])

/** Every broker of every cluster, with version and rates from its runtime info (`-` where it does not answer). */
async function clusterListWithRuntime(admin: AdminClient): Promise<ClusterListRow[]> {
  const brokers = await admin.clusterList()
  return Promise.all(
    brokers.map(async (b) => {
      try {
        const info = await admin.examineBrokerRuntimeInfo(b.addr)
        return {
          ...b,
          version: info.brokerVersionDesc ?? null,
          inTps: firstRate(info.putTps),
          outTps: firstRate(info.getTransferedTps),
        }
      } catch (err) {
        // One unreachable broker must not hide the others: its row shows dashes, as mqadmin's does.
        if (!(err instanceof RocketMQError)) throw err
        return { ...b, version: null, inTps: null, outTps: null }
      }
    }),
  )
}

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

/** Runs `ferrymq <group> <action> [options]`; resolves with the exit code. */
export async function runAdminCommand(argv: readonly string[], io: AdminCliIo): Promise<number> {
  const [group, action, ...rest] = argv
  const command = COMMANDS.get(`${group} ${action}`)
  if (command === undefined) {
    io.stderr(`unknown command: ${argv.join(' ')}\n${ADMIN_USAGE}`)
    return EXIT_USAGE
  }
  let v: Values
  let admin: AdminClient
  try {
    v = parseArgs({ args: [...rest], options: { ...COMMON_OPTIONS, ...command.options }, strict: true }).values
    if (v.help === true) {
      io.stdout(ADMIN_USAGE)
      return 0
    }
    admin = new AdminClient({
      namesrvAddr: str(v, 'namesrv') ?? io.env.NAMESRV_ADDR ?? NAMESRV_ADDR_DEFAULT,
      timeoutMs: timeoutMs(v),
      rpcHooks: rpcHooks(v, io.env),
    })
  } catch (err) {
    // parseArgs throws TypeErrors with a `code` for unknown or malformed options: all of them are usage errors.
    io.stderr(`ferrymq ${group} ${action}: ${(err as Error).message}\n${ADMIN_USAGE}`)
    return EXIT_USAGE
  }
  try {
    await admin.start()
    const out = await command.run(admin, v)
    io.stdout(v.json === true ? `${JSON.stringify(out.json, null, 2)}\n` : out.text)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`ferrymq ${group} ${action}: ${err.message}\n`)
      return EXIT_USAGE
    }
    const d = describeAdminError(err)
    io.stderr(v.json === true ? `${JSON.stringify({ error: d.json })}\n` : `ferrymq: ${d.text}\n`)
    return EXIT_FAILED
  } finally {
    await admin.shutdown()
  }
}
