/**
 * Hostile topic and group names, part 2 of the hostile-input scenario: path separators, `..`, control characters,
 * odd unicode and over-long names in every request that names a topic or group — sends (auto-create), topic and
 * group creation, pulls, heartbeats, offset commits, send-backs, deletes — and in the admin API's routes. Each must
 * be refused with the answer RocketMQ gives (or HTTP 400/404), and nothing may reach the file system: afterwards
 * no path anywhere holds the run's marker, which every hostile name carries, and no table of the broker does.
 */
import { readdirSync, type Dirent } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import type { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType } from '../../ts/remoting/remoting-command.js'
import { encodePathParam, httpCall } from './admin-fuzz.js'

const TIMEOUT_MS = 10_000
const TOPIC_CHARS = /^[%|a-zA-Z0-9_-]+$/

export interface HostileName {
  name: string
  /** Acceptable as a group (at most 248 valid characters): only the topic operations try it. */
  validGroup: boolean
}

/** Names no topic may have; all but the blank ones carry `marker`, so a file named after one can be found. */
export function hostileNames(marker: string): HostileName[] {
  const m = marker
  const bad = [
    `../${m}`,
    `../../${m}`,
    `../../../../../../tmp/${m}`,
    `${m}/x`,
    `${m}/..`,
    `/tmp/${m}`,
    `..\\${m}`,
    `${m}\\..\\..\\x`,
    `%RETRY%../${m}`,
    `%DLQ%../../${m}`,
    `${m}\u0000x`,
    `${m}\u0001`,
    `${m}\nx`,
    `${m}\rx`,
    `${m}\tx`,
    `${m}\u001b[2J`,
    `${m}\u007f`,
    `${m}\u0085`,
    `${m} x`,
    `${m}.`,
    `.${m}`,
    `${m}:x`,
    `${m}*`,
    `${m}?`,
    `${m}"`,
    `${m}<x>`,
    `${m}\u00e9`,
    `${m}\u{1f600}`,
    `${m}\ud800`,
    `${m}\u202e`,
    `${m}\uff0f`,
    `${m}${'A'.repeat(249 - m.length)}`,
    `${m}${'A'.repeat(256 - m.length)}`,
    `${m}${'A'.repeat(5000)}`,
    '..',
    '.',
    '',
    ' ',
    '\u0000',
  ].map((name) => ({ name, validGroup: false }))
  // Longer than a topic may be (127), short enough for a group (248).
  return [...bad, { name: `${m}${'A'.repeat(128 - m.length)}`, validGroup: true }]
}

export interface HostileNamesOptions {
  client: RemotingClient
  brokerAddr: string
  /** The admin API, or null to leave it out. */
  adminUrl: string | null
  marker: string
  /** A topic and a group that exist, for the requests that name both. */
  topic: string
  group: string
}

export interface HostileNamesResult {
  names: number
  /** Requests that named a hostile topic or group. */
  tried: number
  /** Refused with the answer expected. */
  refused: number
  /** Answered SUCCESS as Java answers, with nothing stored (heartbeat subscriptions, producer groups). */
  acceptedAsJava: number
  /** Answered a read with nothing found (admin message lookup by key). */
  emptyReads: number
  /** Requests by operation. */
  byOperation: Record<string, number>
  problems: string[]
}

/** What an operation must answer: a response code (with a remark), or SUCCESS for what Java accepts. */
interface Expectation {
  code: number
  remark?: RegExp
  /** Java answers SUCCESS and stores nothing. */
  accepted?: boolean
}

interface RemotingOperation {
  name: string
  kind: 'topic' | 'group'
  request: (name: string, o: HostileNamesOptions) => RemotingCommand
  expect: Expectation
  /** Another acceptable refusal. */
  orElse?: Expectation
}

const TOPIC_REFUSED: Expectation = { code: ResponseCode.SYSTEM_ERROR, remark: /^The specified topic/ }

const REMOTING_OPERATIONS: RemotingOperation[] = [
  { name: 'send V2 (auto-create)', kind: 'topic', request: (n) => sendV2(n, 'TorturePG'), expect: TOPIC_REFUSED },
  { name: 'send V1 (auto-create)', kind: 'topic', request: (n) => sendV1(n), expect: TOPIC_REFUSED },
  {
    name: 'UPDATE_AND_CREATE_TOPIC',
    kind: 'topic',
    request: (n) =>
      RemotingCommand.createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
        topic: n,
        defaultTopic: 'TBW102',
        readQueueNums: '4',
        writeQueueNums: '4',
        perm: '6',
        topicFilterType: 'SINGLE_TAG',
        topicSysFlag: '0',
        order: 'false',
      }),
    expect: TOPIC_REFUSED,
  },
  {
    name: 'DELETE_TOPIC_IN_BROKER',
    kind: 'topic',
    request: (n) => RemotingCommand.createRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: n }),
    expect: TOPIC_REFUSED,
  },
  {
    name: 'PULL_MESSAGE topic',
    kind: 'topic',
    request: (n, o) => pull(n, o.group),
    expect: { code: ResponseCode.TOPIC_NOT_EXIST },
  },
  {
    name: 'UPDATE_CONSUMER_OFFSET topic',
    kind: 'topic',
    request: (n, o) => commitOffset(n, o.group),
    expect: { code: ResponseCode.TOPIC_NOT_EXIST, remark: /^Topic .* not exist!$/s },
  },
  {
    name: 'HEART_BEAT subscription',
    kind: 'topic',
    request: (n, o) => heartbeat(`torture-sub-${o.marker}`, [], [{ group: o.group, topics: [n] }]),
    expect: { code: ResponseCode.SUCCESS, accepted: true },
  },
  {
    name: 'PULL_MESSAGE group',
    kind: 'group',
    request: (n, o) => pull(o.topic, n),
    expect: { code: ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST },
  },
  {
    name: 'UPDATE_CONSUMER_OFFSET group',
    kind: 'group',
    request: (n, o) => commitOffset(o.topic, n),
    expect: { code: ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, remark: /^Group .* not exist!$/s },
  },
  {
    name: 'HEART_BEAT consumer group',
    kind: 'group',
    request: (n, o) => heartbeat(`torture-cg-${o.marker}`, [], [{ group: n, topics: [o.topic] }]),
    expect: { code: ResponseCode.SYSTEM_ERROR, remark: /^HEART_BEAT refused: the group name/ },
  },
  {
    name: 'HEART_BEAT producer group',
    kind: 'group',
    request: (n, o) => heartbeat(`torture-pg-${o.marker}`, [n], []),
    expect: { code: ResponseCode.SUCCESS, accepted: true },
  },
  {
    name: 'UPDATE_AND_CREATE_SUBSCRIPTIONGROUP',
    kind: 'group',
    request: (n) =>
      RemotingCommand.createRequest(
        RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
        {},
        Buffer.from(JSON.stringify({ groupName: n, consumeEnable: true, retryQueueNums: 1, retryMaxTimes: 16 })),
      ),
    expect: { code: ResponseCode.SYSTEM_ERROR, remark: /group name|groupName/ },
  },
  {
    name: 'CONSUMER_SEND_MSG_BACK',
    kind: 'group',
    request: (n, o) =>
      RemotingCommand.createRequest(RequestCode.CONSUMER_SEND_MSG_BACK, {
        offset: '0',
        group: n,
        delayLevel: '1',
        originTopic: o.topic,
      }),
    expect: { code: ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST },
  },
  {
    name: 'send to the retry topic',
    kind: 'group',
    request: (n) => sendV2(`%RETRY%${n}`, n),
    // `%RETRY%` alone is a valid topic: the empty group is what does not exist.
    expect: TOPIC_REFUSED,
    orElse: { code: ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST },
  },
]

interface AdminOperation {
  name: string
  kind: 'topic' | 'group'
  method: string
  path: (name: string, o: HostileNamesOptions) => string
  body?: (name: string, o: HostileNamesOptions) => unknown
  /** Statuses that refuse; a read may also find nothing. */
  refused: readonly number[]
  emptyRead?: (body: unknown) => boolean
}

const ADMIN_OPERATIONS: AdminOperation[] = [
  {
    name: 'POST /api/topics',
    kind: 'topic',
    method: 'POST',
    path: () => '/api/topics',
    body: (n) => ({ topic: n }),
    refused: [400],
  },
  {
    name: 'GET /api/topics/:topic',
    kind: 'topic',
    method: 'GET',
    path: (n) => `/api/topics/${encodePathParam(n)}`,
    refused: [400, 404],
  },
  {
    name: 'PUT /api/topics/:topic',
    kind: 'topic',
    method: 'PUT',
    path: (n) => `/api/topics/${encodePathParam(n)}`,
    body: () => ({ perm: 6 }),
    refused: [400, 404],
  },
  {
    name: 'DELETE /api/topics/:topic',
    kind: 'topic',
    method: 'DELETE',
    path: (n) => `/api/topics/${encodePathParam(n)}`,
    refused: [400, 404],
  },
  {
    name: 'POST /api/groups/:group/reset-offset topic',
    kind: 'topic',
    method: 'POST',
    path: (_n, o) => `/api/groups/${encodePathParam(o.group)}/reset-offset`,
    body: (n) => ({ topic: n, timestamp: -1 }),
    refused: [400, 404],
  },
  {
    name: 'GET /api/messages topic',
    kind: 'topic',
    method: 'GET',
    path: (n) => `/api/messages?topic=${encodePathParam(n)}&key=k`,
    refused: [400, 404],
    emptyRead: (b) => JSON.stringify(b) === '{"messages":[]}',
  },
  {
    name: 'GET /api/groups/:group',
    kind: 'group',
    method: 'GET',
    path: (n) => `/api/groups/${encodePathParam(n)}`,
    refused: [400, 404],
  },
  {
    name: 'POST /api/groups/:group/reset-offset',
    kind: 'group',
    method: 'POST',
    path: (n) => `/api/groups/${encodePathParam(n)}/reset-offset`,
    body: (_n, o) => ({ topic: o.topic, timestamp: -1 }),
    refused: [400, 404],
  },
]

/** Every operation with every hostile name; what was not refused as expected is a problem. */
export async function runHostileNames(o: HostileNamesOptions): Promise<HostileNamesResult> {
  const names = hostileNames(o.marker)
  const result: HostileNamesResult = {
    names: names.length,
    tried: 0,
    refused: 0,
    acceptedAsJava: 0,
    emptyReads: 0,
    byOperation: {},
    problems: [],
  }
  const count = (op: string): void => {
    result.tried++
    result.byOperation[op] = (result.byOperation[op] ?? 0) + 1
  }
  for (const [i, { name, validGroup }] of names.entries()) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}… (${name.length})` : name)
    for (const op of REMOTING_OPERATIONS) {
      if (op.kind === 'group' && validGroup) continue
      const request = op.request(name, o)
      // Both header serializations, name by name.
      if (i % 2 === 1) request.serializeType = SerializeType.ROCKETMQ
      count(op.name)
      let r: RemotingCommand
      try {
        r = await o.client.invoke(o.brokerAddr, request, TIMEOUT_MS)
      } catch (err) {
        result.problems.push(`${op.name} ${shown}: ${(err as Error).message}`)
        continue
      }
      // A blank name may be refused as a missing header field, with that remark.
      const blank = name.trim() === '' || name === '\u0000'
      const e = [op.expect, op.orElse].find(
        (x) =>
          x !== undefined && r.code === x.code && (x.remark === undefined || blank || x.remark.test(r.remark ?? '')),
      )
      if (e === undefined) {
        const expected = `expected ${op.expect.code} ${op.expect.remark ?? ''}`
        result.problems.push(`${op.name} ${shown}: answered ${r.code} ${JSON.stringify(r.remark)}, ${expected}`)
      } else if (e.accepted) {
        result.acceptedAsJava++
      } else {
        result.refused++
      }
    }
    if (o.adminUrl === null) continue
    const base = new URL(o.adminUrl)
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    try {
      for (const op of ADMIN_OPERATIONS) {
        if (op.kind === 'group' && validGroup) continue
        count(op.name)
        const body = op.body === undefined ? undefined : JSON.stringify(op.body(name, o))
        const a = await httpCall(agent, base, op.method, op.path(name, o), body).catch((err: Error) => err)
        if (a instanceof Error) {
          result.problems.push(`${op.name} ${shown}: ${a.message}`)
          continue
        }
        let parsed: unknown = null
        try {
          parsed = JSON.parse(a.text)
        } catch {
          // Checked below: every answer of these routes is JSON.
        }
        if (op.refused.includes(a.status) && parsed !== null) result.refused++
        else if (a.status === 200 && op.emptyRead?.(parsed)) result.emptyReads++
        else result.problems.push(`${op.name} ${shown}: answered ${a.status} ${a.text.slice(0, 200)}`)
      }
    } finally {
      agent.destroy()
    }
  }
  return result
}

// ---------------------------------------------------------------------------------------------------------------
// After the fact: nothing on disk, nothing in the tables

/** Every path under `dir` (down to `depth` levels) whose name contains `needle`. */
export function findNamed(dir: string, needle: string, depth = 16): string[] {
  const found: string[] = []
  let entries: Dirent[]
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return found
  }
  for (const e of entries) {
    const path = join(dir, e.name)
    if (e.name.includes(needle)) found.push(path)
    if (e.isDirectory() && depth > 0) found.push(...findNamed(path, needle, depth - 1))
  }
  return found
}

/**
 * What a hostile name left behind: paths holding `marker` in the run's directory, the temp dir, `/` and the working
 * directory; consume-queue directories not named as topics may be; tables of the broker that hold the marker.
 */
export async function leftBehind(
  o: { client: RemotingClient; brokerAddr: string; marker: string },
  runDir: string,
  storeDir: string,
): Promise<string[]> {
  const problems: string[] = []
  const paths = [
    ...findNamed(runDir, o.marker),
    ...findNamed(tmpdir(), o.marker, 1),
    ...findNamed('/', o.marker, 0),
    ...findNamed(process.cwd(), o.marker, 1),
  ]
  for (const p of new Set(paths)) problems.push(`a path named after a hostile name: ${JSON.stringify(p)}`)
  const queues = join(storeDir, 'consumequeue')
  for (const topic of safeReaddir(queues)) {
    if (!TOPIC_CHARS.test(topic) || topic.length > 255)
      problems.push(`a consume-queue directory ${JSON.stringify(topic)}`)
    for (const q of safeReaddir(join(queues, topic))) {
      if (!/^\d+$/.test(q)) problems.push(`a queue directory ${JSON.stringify(`${topic}/${q}`)}`)
    }
  }
  for (const [code, table] of [
    [RequestCode.GET_ALL_TOPIC_CONFIG, 'topics'],
    [RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 'subscription groups'],
    [RequestCode.GET_ALL_CONSUMER_OFFSET, 'consumer offsets'],
  ] as const) {
    const r = await o.client.invoke(o.brokerAddr, RemotingCommand.createRequest(code, {}), TIMEOUT_MS)
    if (r.code !== ResponseCode.SUCCESS) problems.push(`reading the ${table}: ${r.code} ${r.remark}`)
    else if (r.body?.toString('utf8').includes(o.marker)) problems.push(`the ${table} hold a hostile name`)
  }
  return problems
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

function sendV2(topic: string, producerGroup: string): RemotingCommand {
  const ext = {
    a: producerGroup,
    b: topic,
    c: 'TBW102',
    d: '4',
    e: '0',
    f: '0',
    g: String(Date.now()),
    h: '0',
    j: '0',
    k: 'false',
    m: 'false',
  }
  return RemotingCommand.createRequest(RequestCode.SEND_MESSAGE_V2, ext, Buffer.from('hostile'))
}

function sendV1(topic: string): RemotingCommand {
  const ext = {
    producerGroup: 'TorturePG',
    topic,
    defaultTopic: 'TBW102',
    defaultTopicQueueNums: '4',
    queueId: '0',
    sysFlag: '0',
    bornTimestamp: String(Date.now()),
    flag: '0',
    reconsumeTimes: '0',
    unitMode: 'false',
    batch: 'false',
  }
  return RemotingCommand.createRequest(RequestCode.SEND_MESSAGE, ext, Buffer.from('hostile'))
}

function pull(topic: string, consumerGroup: string): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, {
    consumerGroup,
    topic,
    queueId: '0',
    queueOffset: '0',
    maxMsgNums: '1',
    sysFlag: '0',
    commitOffset: '0',
    suspendTimeoutMillis: '0',
    subscription: '*',
    subVersion: '0',
    expressionType: 'TAG',
  })
}

function commitOffset(topic: string, consumerGroup: string): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
    consumerGroup,
    topic,
    queueId: '0',
    commitOffset: '1',
  })
}

function heartbeat(
  clientID: string,
  producers: string[],
  consumers: { group: string; topics: string[] }[],
): RemotingCommand {
  const body = {
    clientID,
    producerDataSet: producers.map((groupName) => ({ groupName })),
    consumerDataSet: consumers.map((c) => ({
      groupName: c.group,
      consumeType: 'CONSUME_PASSIVELY',
      messageModel: 'CLUSTERING',
      consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
      unitMode: false,
      subscriptionDataSet: c.topics.map((topic) => ({
        topic,
        subString: '*',
        classFilterMode: false,
        tagsSet: [],
        codeSet: [],
        subVersion: Date.now(),
        expressionType: 'TAG',
      })),
    })),
  }
  return RemotingCommand.createRequest(RequestCode.HEART_BEAT, {}, Buffer.from(JSON.stringify(body)))
}
