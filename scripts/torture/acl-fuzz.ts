/**
 * ACL, part 5 of the hostile-input scenario: against a broker with `aclEnable=true`, every request code that needs a
 * permission (protocol.md §6.2: the admin-only codes, and the codes whose topic or group needs PUB or SUB) is sent
 * by an account without permissions and by a non-admin account, in both header serializations, and must be refused
 * with the 4.x answer: `SYSTEM_ERROR` whose remark starts with the `AclException` class name and gives the reason.
 * Controls show the refusals come from the missing permission: the non-admin account with PUB|SUB passes the
 * resource checks, the admin account passes the admin codes. Refused requests leave nothing behind (no message
 * stored, no topic created or deleted, no offset committed).
 *
 * Also: a sweep of every request code signed by the account without permissions (the refused ones must be exactly
 * the codes above), every code unsigned (all refused: no AccessKey), and signatures made with a wrong secret.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { ACL_EXCEPTION_CLASS } from '../../ts/broker/acl/acl-rpc-hook.js'
import { ADMIN_CODES } from '../../ts/common/acl/permission.js'
import { RequestCode, requestCodeName } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { AclClientRPCHook } from '../../ts/remoting/acl-client-rpc-hook.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType } from '../../ts/remoting/remoting-command.js'
import { cliCommand } from './broker-process.js'
import { createTopicRequest } from '../../ts/client/admin-api.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'

const TIMEOUT_MS = 10_000
/** A sweep request the broker does not refuse may be held or relayed: its answer does not matter, only its speed. */
const SWEEP_TIMEOUT_MS = 3000

export interface AclAccount {
  accessKey: string
  secretKey: string
}

/** The accounts of the scenario's ACL file. */
export const ACL_ACCOUNTS = {
  /** Not admin; every topic and group DENY. */
  none: { accessKey: 'tortureNoPerm', secretKey: 'tortureNoPermSecret' },
  /** Not admin; every topic PUB|SUB, every group SUB. */
  user: { accessKey: 'tortureUser', secretKey: 'tortureUserSecret' },
  admin: { accessKey: 'tortureAdmin', secretKey: 'tortureAdminSecret' },
} as const satisfies Record<string, AclAccount>

export function aclFileText(): string {
  const a = ACL_ACCOUNTS
  return `accounts:
  - accessKey: ${a.none.accessKey}
    secretKey: ${a.none.secretKey}
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
  - accessKey: ${a.user.accessKey}
    secretKey: ${a.user.secretKey}
    admin: false
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: SUB
  - accessKey: ${a.admin.accessKey}
    secretKey: ${a.admin.secretKey}
    admin: true
`
}

export interface AclCheckOptions {
  brokerAddr: string
  /** A topic and group that exist (created by the admin account before). */
  topic: string
  group: string
}

export interface AclCheckResult {
  /** The codes that need a permission, by name. */
  codes: string[]
  /** Requests refused as they must be (each code, both serializations, each account that lacks the permission). */
  refused: number
  /** Control requests that passed the check. */
  allowed: number
  /** Codes sent unsigned, every one refused. */
  unsignedRefused: number
  wrongSecretRefused: number
  problems: string[]
}

interface PermissionCase {
  name: string
  code: number
  /** `admin`: an admin-only code; else the permission the resource needs. */
  needs: 'admin' | 'PUB' | 'SUB'
  request: (o: AclCheckOptions) => RemotingCommand
}

/** One request per code that needs a permission, and the send to a retry topic (SUB on the group, not PUB). */
export const PERMISSION_CASES: readonly PermissionCase[] = [
  { name: 'SEND_MESSAGE', code: RequestCode.SEND_MESSAGE, needs: 'PUB', request: (o) => sendV1(o.topic) },
  {
    name: 'SEND_MESSAGE_V2',
    code: RequestCode.SEND_MESSAGE_V2,
    needs: 'PUB',
    request: (o) => sendV2(o.topic, 'AclPG'),
  },
  {
    name: 'SEND_MESSAGE_V2 to a retry topic',
    code: RequestCode.SEND_MESSAGE_V2,
    needs: 'SUB',
    request: (o) => sendV2(`%RETRY%${o.group}`, o.group),
  },
  {
    name: 'SEND_BATCH_MESSAGE',
    code: RequestCode.SEND_BATCH_MESSAGE,
    needs: 'PUB',
    request: (o) => withCode(sendV2(o.topic, 'AclPG'), RequestCode.SEND_BATCH_MESSAGE),
  },
  {
    name: 'CONSUMER_SEND_MSG_BACK',
    code: RequestCode.CONSUMER_SEND_MSG_BACK,
    needs: 'SUB',
    request: (o) =>
      RemotingCommand.createRequest(RequestCode.CONSUMER_SEND_MSG_BACK, {
        offset: '0',
        group: o.group,
        delayLevel: '1',
        originTopic: o.topic,
      }),
  },
  {
    name: 'PULL_MESSAGE',
    code: RequestCode.PULL_MESSAGE,
    needs: 'SUB',
    request: (o) =>
      RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, {
        consumerGroup: o.group,
        topic: o.topic,
        queueId: '0',
        queueOffset: '0',
        maxMsgNums: '1',
        sysFlag: '0',
        commitOffset: '0',
        suspendTimeoutMillis: '0',
        subscription: '*',
        subVersion: '0',
        expressionType: 'TAG',
      }),
  },
  {
    name: 'QUERY_MESSAGE',
    code: RequestCode.QUERY_MESSAGE,
    needs: 'SUB',
    request: (o) =>
      RemotingCommand.createRequest(RequestCode.QUERY_MESSAGE, {
        topic: o.topic,
        key: 'k',
        maxNum: '1',
        beginTimestamp: '0',
        endTimestamp: String(Date.now()),
      }),
  },
  { name: 'HEART_BEAT', code: RequestCode.HEART_BEAT, needs: 'SUB', request: (o) => heartbeat(o.group, o.topic) },
  {
    name: 'UNREGISTER_CLIENT',
    code: RequestCode.UNREGISTER_CLIENT,
    needs: 'SUB',
    request: (o) =>
      RemotingCommand.createRequest(RequestCode.UNREGISTER_CLIENT, { clientID: 'torture-acl', consumerGroup: o.group }),
  },
  {
    name: 'GET_CONSUMER_LIST_BY_GROUP',
    code: RequestCode.GET_CONSUMER_LIST_BY_GROUP,
    needs: 'SUB',
    request: (o) => RemotingCommand.createRequest(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: o.group }),
  },
  {
    name: 'UPDATE_CONSUMER_OFFSET',
    code: RequestCode.UPDATE_CONSUMER_OFFSET,
    needs: 'SUB',
    request: (o) =>
      RemotingCommand.createRequest(RequestCode.UPDATE_CONSUMER_OFFSET, {
        consumerGroup: o.group,
        topic: o.topic,
        queueId: '0',
        commitOffset: '3',
      }),
  },
  {
    name: 'UPDATE_AND_CREATE_TOPIC',
    code: RequestCode.UPDATE_AND_CREATE_TOPIC,
    needs: 'admin',
    request: () => createTopic('AclDeniedTopic'),
  },
  {
    name: 'UPDATE_BROKER_CONFIG',
    code: RequestCode.UPDATE_BROKER_CONFIG,
    needs: 'admin',
    request: () =>
      RemotingCommand.createRequest(RequestCode.UPDATE_BROKER_CONFIG, {}, Buffer.from('brokerPermission=2\n')),
  },
  {
    name: 'DELETE_TOPIC_IN_BROKER',
    code: RequestCode.DELETE_TOPIC_IN_BROKER,
    needs: 'admin',
    request: (o) => RemotingCommand.createRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: o.topic }),
  },
  {
    name: 'UPDATE_AND_CREATE_SUBSCRIPTIONGROUP',
    code: RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    needs: 'admin',
    request: () => createGroup('AclDeniedGroup'),
  },
  {
    name: 'DELETE_SUBSCRIPTIONGROUP',
    code: RequestCode.DELETE_SUBSCRIPTIONGROUP,
    needs: 'admin',
    request: (o) => RemotingCommand.createRequest(RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName: o.group }),
  },
]

export interface AclBroker {
  addr: string
  /** SIGTERM, then SIGKILL after a deadline; resolves once the process is gone. */
  stop(): Promise<void>
}

const START_DEADLINE_MS = 60_000
const STOP_DEADLINE_MS = 20_000
const running = new Set<AclBroker>()

/** Stops every ACL broker still running (a test's after-hook; the scenario stops its own). */
export async function stopAclBrokers(): Promise<void> {
  await Promise.all([...running].map((b) => b.stop()))
}

/**
 * `ferrymq broker -c broker.conf` with `aclEnable=true` and the accounts above. Started by hand rather than as a
 * `BrokerProcess`, which waits for an unsigned request to be answered: here it is refused.
 */
export async function startAclBroker(dir: string, port: number, namesrvAddr: string): Promise<AclBroker> {
  mkdirSync(dir, { recursive: true })
  const aclFile = join(dir, 'plain_acl.yml')
  writeFileSync(aclFile, aclFileText())
  const conf = [
    'brokerClusterName=TortureAcl',
    'brokerName=torture-acl',
    'brokerIP1=127.0.0.1',
    `listenPort=${port}`,
    'fastListenPortEnable=false',
    'adminPort=-1',
    `namesrvAddr=${namesrvAddr}`,
    `storePathRootDir=${join(dir, 'store')}`,
    'mappedFileSizeCommitLog=4194304',
    'aclEnable=true',
    `aclFile=${aclFile}`,
  ]
  writeFileSync(join(dir, 'broker.conf'), `${conf.join('\n')}\n`)
  const child = spawn(process.execPath, [...cliCommand(), 'broker', '-c', join(dir, 'broker.conf')], {
    env: { ...process.env, FERRYMQ_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const broker: AclBroker = { addr: `127.0.0.1:${port}`, stop: () => stop() }
  running.add(broker)
  const stop = async (): Promise<void> => {
    running.delete(broker)
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS)
    await exited
    clearTimeout(timer)
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ACL broker within ${START_DEADLINE_MS} ms`)),
        START_DEADLINE_MS,
      )
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        if (!/listening at/.test(d)) return
        clearTimeout(timer)
        resolve()
      })
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`the ACL broker exited: ${stderr.slice(-2000)}`))
      })
    })
  } catch (err) {
    await stop()
    throw err
  }
  return broker
}

/** Creates the topic and group the checks name, as the admin account. */
export async function prepareAclBroker(o: AclCheckOptions): Promise<void> {
  const admin = signingClient(ACL_ACCOUNTS.admin)
  try {
    for (const request of [createTopic(o.topic), createGroup(o.group)]) {
      const r = await admin.invoke(o.brokerAddr, request, TIMEOUT_MS)
      if (r.code !== ResponseCode.SUCCESS) throw new Error(`preparing the ACL broker: ${r.code} ${r.remark}`)
    }
  } finally {
    admin.shutdown()
  }
}

export async function runAclChecks(o: AclCheckOptions): Promise<AclCheckResult> {
  const result: AclCheckResult = {
    codes: [...new Set(PERMISSION_CASES.map((c) => requestCodeName(c.code)))],
    refused: 0,
    allowed: 0,
    unsignedRefused: 0,
    wrongSecretRefused: 0,
    problems: [],
  }
  for (const code of ADMIN_CODES) {
    if (!PERMISSION_CASES.some((c) => c.code === code)) result.problems.push(`no case for ${requestCodeName(code)}`)
  }
  const clients = {
    none: signingClient(ACL_ACCOUNTS.none),
    user: signingClient(ACL_ACCOUNTS.user),
    admin: signingClient(ACL_ACCOUNTS.admin),
    wrongSecret: signingClient({ ...ACL_ACCOUNTS.admin, secretKey: 'notTheSecret' }),
    unsigned: new RemotingClient(),
  }
  try {
    // Refusals first: nothing may have happened when the controls run.
    for (const c of PERMISSION_CASES) {
      for (const serializeType of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
        const type = serializeType === SerializeType.JSON ? 'JSON' : 'ROCKETMQ'
        const none = await send(clients.none, o, withType(c.request(o), serializeType))
        expectRefused(result, `${c.name} (${type}) without permissions`, none, refusalReason(c, ACL_ACCOUNTS.none))
        if (c.needs === 'admin') {
          const user = await send(clients.user, o, withType(c.request(o), serializeType))
          expectRefused(result, `${c.name} (${type}) by a non-admin account`, user, /needs an admin account/)
        }
      }
    }
    result.problems.push(...(await sideEffects(clients.admin, o)))
    // Controls: the same requests pass the check with the permission.
    for (const c of PERMISSION_CASES) {
      const client = c.needs === 'admin' ? clients.admin : clients.user
      const request = c.needs === 'admin' ? adminControl(c) : c.request(o)
      const r = await send(client, o, request)
      if (isAclRefusal(r)) result.problems.push(`${c.name} with the permission: refused ${JSON.stringify(r.remark)}`)
      else result.allowed++
    }
    // The sweep: exactly the codes above are refused to an account without permissions.
    const expected = new Set(PERMISSION_CASES.map((c) => c.code))
    const codes = [...new Set(Object.values(RequestCode))]
    const sweep = await Promise.all(codes.map((code) => sweepRequest(clients.none, o, code)))
    for (const [i, code] of codes.entries()) {
      const refused = sweep[i] !== null && isAclRefusal(sweep[i]!)
      if (refused !== expected.has(code)) {
        const what = refused ? `refused (${sweep[i]!.remark})` : 'not refused'
        result.problems.push(`sweep: ${requestCodeName(code)} ${what} for an account without permissions`)
      }
    }
    // Unsigned: every code refused, the reason named.
    const unsigned = await Promise.all(codes.map((code) => sweepRequest(clients.unsigned, o, code)))
    for (const [i, code] of codes.entries()) {
      const r = unsigned[i]
      if (r !== null && isAclRefusal(r) && /no AccessKey/.test(r.remark ?? '')) result.unsignedRefused++
      else
        result.problems.push(`unsigned ${requestCodeName(code)}: ${r === null ? 'no answer' : `${r.code} ${r.remark}`}`)
    }
    for (const c of PERMISSION_CASES.slice(0, 4)) {
      const r = await send(clients.wrongSecret, o, c.request(o))
      if (isAclRefusal(r) && /signature check failed/.test(r.remark ?? '')) result.wrongSecretRefused++
      else result.problems.push(`${c.name} signed with a wrong secret: ${r.code} ${r.remark}`)
    }
  } finally {
    for (const c of Object.values(clients)) c.shutdown()
  }
  return result
}

function refusalReason(c: PermissionCase, account: AclAccount): RegExp {
  if (c.needs === 'admin') return new RegExp(`needs an admin account; AccessKey ${account.accessKey} is not admin`)
  return new RegExp(`AccessKey ${account.accessKey} has no ${c.needs} permission on (topic|group) `)
}

function isAclRefusal(r: RemotingCommand): boolean {
  return r.code === ResponseCode.SYSTEM_ERROR && (r.remark ?? '').startsWith(`${ACL_EXCEPTION_CLASS}: `)
}

function expectRefused(result: AclCheckResult, what: string, r: RemotingCommand | Error, reason: RegExp): void {
  if (r instanceof Error) result.problems.push(`${what}: ${r.message}`)
  else if (isAclRefusal(r) && reason.test(r.remark ?? '')) result.refused++
  else
    result.problems.push(
      `${what}: answered ${r.code} ${JSON.stringify(r.remark)}, not an ACL refusal matching ${reason}`,
    )
}

/** What refused requests would have left: a message, a topic created or deleted, a group deleted, an offset. */
async function sideEffects(admin: RemotingClient, o: AclCheckOptions): Promise<string[]> {
  const problems: string[] = []
  const max = await send(
    admin,
    o,
    RemotingCommand.createRequest(RequestCode.GET_MAX_OFFSET, { topic: o.topic, queueId: '0' }),
  )
  if (max.code !== ResponseCode.SUCCESS || max.ext('offset') !== '0') {
    problems.push(`after the refusals, queue 0 of ${o.topic}: ${max.code} offset ${max.ext('offset')}`)
  }
  const topics = await send(admin, o, RemotingCommand.createRequest(RequestCode.GET_ALL_TOPIC_CONFIG, {}))
  const topicText = topics.body?.toString('utf8') ?? ''
  if (topicText.includes('AclDeniedTopic')) problems.push('a refused UPDATE_AND_CREATE_TOPIC created its topic')
  if (!topicText.includes(`"${o.topic}"`)) problems.push('a refused DELETE_TOPIC_IN_BROKER deleted its topic')
  const groups = await send(admin, o, RemotingCommand.createRequest(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, {}))
  const groupText = groups.body?.toString('utf8') ?? ''
  if (groupText.includes('AclDeniedGroup'))
    problems.push('a refused UPDATE_AND_CREATE_SUBSCRIPTIONGROUP created its group')
  if (!groupText.includes(`"${o.group}"`)) problems.push('a refused DELETE_SUBSCRIPTIONGROUP deleted its group')
  const offset = await send(
    admin,
    o,
    RemotingCommand.createRequest(RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: o.group,
      topic: o.topic,
      queueId: '0',
    }),
  )
  if (offset.ext('offset') === '3') problems.push('a refused UPDATE_CONSUMER_OFFSET committed its offset')
  const config = await send(admin, o, RemotingCommand.createRequest(RequestCode.GET_BROKER_CONFIG, {}))
  if (/brokerPermission=2\b/.test(config.body?.toString('utf8') ?? '')) {
    problems.push('a refused UPDATE_BROKER_CONFIG changed the broker config')
  }
  return problems
}

/** The admin control of an admin-only code, on names of its own, so that it changes nothing the checks use. */
function adminControl(c: PermissionCase): RemotingCommand {
  switch (c.code) {
    case RequestCode.UPDATE_AND_CREATE_TOPIC:
      return createTopic('AclScratchTopic')
    case RequestCode.DELETE_TOPIC_IN_BROKER:
      return RemotingCommand.createRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: 'AclScratchTopic' })
    case RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP:
      return createGroup('AclScratchGroup')
    case RequestCode.DELETE_SUBSCRIPTIONGROUP:
      return RemotingCommand.createRequest(RequestCode.DELETE_SUBSCRIPTIONGROUP, { groupName: 'AclScratchGroup' })
    default:
      return RemotingCommand.createRequest(RequestCode.UPDATE_BROKER_CONFIG, {}, Buffer.from('brokerPermission=6\n'))
  }
}

/** A request naming the check's topic and group under every field name a code reads them from. */
async function sweepRequest(client: RemotingClient, o: AclCheckOptions, code: number): Promise<RemotingCommand | null> {
  const ext = {
    topic: o.topic,
    consumerGroup: o.group,
    group: o.group,
    groupName: o.group,
    producerGroup: 'AclPG',
    a: 'AclPG',
    b: o.topic,
    clientID: 'torture-acl',
    queueId: '0',
  }
  const body = code === RequestCode.HEART_BEAT ? heartbeat(o.group, o.topic).body : null
  try {
    return await client.invoke(o.brokerAddr, RemotingCommand.createRequest(code, ext, body), SWEEP_TIMEOUT_MS)
  } catch {
    return null
  }
}

async function send(client: RemotingClient, o: AclCheckOptions, request: RemotingCommand): Promise<RemotingCommand> {
  return client.invoke(o.brokerAddr, request, TIMEOUT_MS)
}

function signingClient(account: AclAccount): RemotingClient {
  const client = new RemotingClient()
  client.registerRPCHook(new AclClientRPCHook(account))
  return client
}

function withType(request: RemotingCommand, serializeType: SerializeType): RemotingCommand {
  request.serializeType = serializeType
  return request
}

function withCode(request: RemotingCommand, code: number): RemotingCommand {
  return RemotingCommand.createRequest(code, request.extFields ?? {}, request.body)
}

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
    m: 'false',
  }
  return RemotingCommand.createRequest(RequestCode.SEND_MESSAGE_V2, ext, Buffer.from('acl'))
}

function sendV1(topic: string): RemotingCommand {
  const ext = {
    producerGroup: 'AclPG',
    topic,
    defaultTopic: 'TBW102',
    defaultTopicQueueNums: '4',
    queueId: '0',
    sysFlag: '0',
    bornTimestamp: String(Date.now()),
    flag: '0',
  }
  return RemotingCommand.createRequest(RequestCode.SEND_MESSAGE, ext, Buffer.from('acl'))
}

function createTopic(topic: string): RemotingCommand {
  return createTopicRequest(newTopicConfig(topic, { readQueueNums: 4, writeQueueNums: 4 }))
}

function createGroup(groupName: string): RemotingCommand {
  const body = { groupName, consumeEnable: true, retryQueueNums: 1, retryMaxTimes: 16 }
  return RemotingCommand.createRequest(
    RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
    {},
    Buffer.from(JSON.stringify(body)),
  )
}

function heartbeat(group: string, topic: string): RemotingCommand {
  const body = {
    clientID: 'torture-acl',
    producerDataSet: [],
    consumerDataSet: [
      {
        groupName: group,
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
        unitMode: false,
        subscriptionDataSet: [
          { topic, subString: '*', classFilterMode: false, tagsSet: [], codeSet: [], subVersion: 0 },
        ],
      },
    ],
  }
  return RemotingCommand.createRequest(RequestCode.HEART_BEAT, {}, Buffer.from(JSON.stringify(body)))
}
