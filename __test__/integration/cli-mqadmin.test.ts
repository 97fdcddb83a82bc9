/**
 * `ferrymq admin <command>`: mqadmin's command names and flags against a real name server and broker started in this
 * process. Most runs call `runAdminCommand` in-process; a few spawn the CLI through tsx to check the exit codes a
 * shell sees.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'

import type { ResetOffsetResult } from '../../ts/client/admin-model.js'
import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { parseResetTimestamp, runAdminCommand } from '../../ts/cli/admin-commands.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { heartbeat, request } from '../helpers/broker-requests.js'
import { killCliProcesses, runCli, type CliRun } from '../helpers/cli-process.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

/** Runs `ferrymq admin …` as a child process. */
function spawnAdmin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runCli(['admin', ...args], env)
}

type Run = CliRun

/** Runs `ferrymq admin …` in this process, output captured. */
async function admin(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = ''
  let stderr = ''
  const code = await runAdminCommand(['admin', ...args], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
  })
  return { code, stdout, stderr }
}

/** The parsed `--json` output of a run that must succeed. */
async function json<T>(args: string[]): Promise<T> {
  const r = await admin([...args, '--json'])
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as T
}

/** mqadmin's `yyyy-MM-dd#HH:mm:ss:SSS`, local time. */
function mqadminTime(ms: number): string {
  const d = new Date(ms)
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return (
    `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}#` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}:${p(d.getMilliseconds(), 3)}`
  )
}

/** What `resetOffsetByTime --json` prints: the SDK's result as JSON. */
type ResetJson = ResetOffsetResult

interface ProgressJson {
  lagTotal: number
  queues: { queueId: number; brokerOffset: number; consumerOffset: number }[]
}

describe('parseResetTimestamp', () => {
  it('reads epoch ms, now and mqadmin local dates, and refuses anything else', () => {
    expect(parseResetTimestamp('1714566645123')).toBe(1714566645123)
    expect(parseResetTimestamp('now')).toBe(-1)
    expect(parseResetTimestamp('2024-05-01#12:30:45:123')).toBe(new Date(2024, 4, 1, 12, 30, 45, 123).getTime())
    expect(parseResetTimestamp('2024-02-30#00:00:00:000')).toBeNull()
    expect(parseResetTimestamp('2024-05-01 12:30:45')).toBeNull()
    expect(parseResetTimestamp('-5')).toBeNull()
    expect(parseResetTimestamp('yesterday')).toBeNull()
  })
})

describe('ferrymq admin (mqadmin commands)', () => {
  let c: TestCluster
  let producer: Producer
  let n: string[]
  const consumers: PushConsumer[] = []

  beforeEach(async () => {
    c = await startCluster()
    n = ['-n', c.namesrvAddr]
    producer = new Producer({ producerGroup: 'MqadminPG', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    killCliProcesses()
    for (const k of consumers.splice(0)) await k.shutdown()
    await producer.shutdown()
    await c.stop()
  })
  afterAll(() => {
    killCliProcesses()
  })

  function sendTo(topic: string, queueId: number, body: string, keys?: string) {
    return producer.send(new Message({ topic, body, keys }), { topic, brokerName: 'broker-a', queueId })
  }

  /** `updateTopic -c DefaultCluster` with `queues` read and write queues, then waits for its route. */
  async function createTopic(topic: string, queues: number): Promise<void> {
    const r = await admin([
      'updateTopic',
      ...n,
      '-t',
      topic,
      '-c',
      'DefaultCluster',
      '-r',
      `${queues}`,
      '-w',
      `${queues}`,
    ])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    await waitFor(async () => (await admin(['topicStatus', ...n, '-t', topic])).code === 0, {
      what: `the route of ${topic}`,
      intervalMs: 50,
    })
  }

  /**
   * Sends `perQueue` messages to each queue, reads the clock, waits for it to move on and sends `perQueue` more:
   * every message of the second batch is stored at or after the returned time, every one of the first before it.
   */
  async function twoBatches(
    topic: string,
    queues: number,
    perQueue: number,
  ): Promise<{ splitMs: number; first: string[]; second: string[] }> {
    const first: string[] = []
    const second: string[] = []
    for (let q = 0; q < queues; q++)
      for (let i = 0; i < perQueue; i++) first.push((await sendTo(topic, q, `a${i}`)).msgId)
    const splitMs = Date.now() + 1
    await waitFor(() => Date.now() > splitMs, { what: 'the clock to pass the split', intervalMs: 1 })
    for (let q = 0; q < queues; q++)
      for (let i = 0; i < perQueue; i++) second.push((await sendTo(topic, q, `b${i}`)).msgId)
    return { splitMs, first, second }
  }

  async function commitOffset(group: string, topic: string, queueId: number, offset: number): Promise<void> {
    const commit = { consumerGroup: group, topic, queueId, commitOffset: offset }
    expect((await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, commit)).code).toBe(0)
  }

  it('updateTopic, topicList, topicStatus and deleteTopic take mqadmin flags', async () => {
    const created = await json<{
      brokers: { addr: string; topicConfig: { readQueueNums: number; writeQueueNums: number; order: boolean } }[]
      orderTopicConf: string | null
    }>(['updateTopic', ...n, '-t', 'MqT', '-c', 'DefaultCluster', '-r', '2', '-w', '2', '-o', 'true'])
    expect(created.brokers).toMatchObject([
      { addr: c.brokerAddr, topicConfig: { readQueueNums: 2, writeQueueNums: 2, order: true } },
    ])
    expect(created.orderTopicConf).toBe('broker-a:2')
    await waitFor(async () => (await admin(['topicStatus', ...n, '-t', 'MqT'])).code === 0, {
      what: 'the route of MqT',
      intervalMs: 50,
    })
    // -b, long names, -p; -o false and the unset queue numbers are mqadmin's defaults, not the current values.
    const byAddr = await admin([
      'updateTopic',
      '--namesrvAddr',
      c.namesrvAddr,
      '--topic',
      'MqT2',
      '--brokerAddr',
      c.brokerAddr,
      '-p',
      '4',
    ])
    expect(byAddr.code).toBe(0)
    expect(byAddr.stdout).toContain(`created topic MqT2 on broker-a (${c.brokerAddr}): read 8, write 8, perm R--`)
    expect(c.broker.topicConfigManager.selectTopicConfig('MqT2')).toMatchObject({ perm: 4, order: false })

    for (let i = 0; i < 3; i++) await sendTo('MqT', 1, `m${i}`)
    const stats = await json<{ queues: { queueId: number; minOffset: number; maxOffset: number }[] }>([
      'topicStatus',
      ...n,
      '-t',
      'MqT',
    ])
    expect(stats.queues.map((q) => [q.queueId, q.minOffset, q.maxOffset])).toEqual([
      [0, 0, 0],
      [1, 0, 3],
    ])
    const table = await admin(['topicStatus', ...n, '-t', 'MqT'])
    expect(table.stdout.split('\n')[0]).toMatch(/^BROKER\s+QID\s+MIN OFFSET\s+MAX OFFSET\s+LAST UPDATED$/)
    expect(table.stdout).toMatch(/\nbroker-a\s+1\s+0\s+3\s+\d{4}-/)

    // NAMESRV_ADDR stands in for -n.
    const list = await admin(['topicList'], { NAMESRV_ADDR: c.namesrvAddr })
    expect(list.code).toBe(0)
    expect(list.stdout.split('\n')).toEqual(expect.arrayContaining(['MqT', 'MqT2']))
    expect((await heartbeat(c.client, c.brokerAddr, 'mq-client', [{ group: 'MqG', topics: { MqT: '*' } }])).code).toBe(
      0,
    )
    const withClusters = await admin(['topicList', ...n, '-c'])
    expect(withClusters.code).toBe(0)
    expect(withClusters.stdout.split('\n')[0]).toMatch(/^CLUSTER\s+TOPIC\s+CONSUMER GROUP$/)
    expect(withClusters.stdout).toMatch(/\nDefaultCluster\s+MqT\s+MqG\n/)
    expect(withClusters.stdout).toMatch(/\nDefaultCluster\s+MqT2\n/)
    const rows = await json<{ topic: string; clusters: string[]; consumerGroups: string[] }[]>([
      'topicList',
      ...n,
      '-c',
    ])
    expect(rows.find((r) => r.topic === 'MqT')).toEqual({
      topic: 'MqT',
      clusters: ['DefaultCluster'],
      consumerGroups: ['MqG'],
    })
    expect(rows.some((r) => r.topic.startsWith('%RETRY%'))).toBe(false)

    const deleted = await admin(['deleteTopic', ...n, '-t', 'MqT', '-c', 'DefaultCluster'])
    expect(deleted.stderr).toBe('')
    expect(deleted.code).toBe(0)
    expect(c.broker.topicConfigManager.selectTopicConfig('MqT')).toBeUndefined()
    expect((await admin(['topicStatus', ...n, '-t', 'MqT'])).code).toBe(1)
  })

  it('consumerProgress (one group, and every group), queryMsgById, queryMsgByKey and clusterList', async () => {
    const sent = await sendTo('MqMsgT', 0, 'hello mqadmin', 'mq-key')
    const other = await sendTo('MqMsgT', 0, 'second')
    expect(
      (await heartbeat(c.client, c.brokerAddr, 'mq-client', [{ group: 'MqCG', topics: { MqMsgT: '*' } }])).code,
    ).toBe(0)
    await commitOffset('MqCG', 'MqMsgT', 0, 0)

    const progress = await waitFor(
      async () => {
        const r = await admin(['consumerProgress', ...n, '-g', 'MqCG', '-t', 'MqMsgT', '--json'])
        return r.code === 0 && (JSON.parse(r.stdout) as ProgressJson)
      },
      { what: 'the retry topic of MqCG in the name server', intervalMs: 50 },
    )
    expect(progress.lagTotal).toBe(2)
    expect(progress.queues[0]).toMatchObject({ queueId: 0, brokerOffset: 2, consumerOffset: 0 })
    const byLongName = await admin(['consumerProgress', ...n, '--groupName', 'MqCG'])
    expect(byLongName.stdout).toMatch(/\nMqMsgT\s+broker-a\s+0\s+2\s+0\s+2\s/)

    const groups = await json<Record<string, unknown>[]>(['consumerProgress', ...n])
    expect(groups.find((g) => g.group === 'MqCG')).toEqual({
      group: 'MqCG',
      count: 1,
      version: 'V4_9_8',
      consumeType: 'PUSH',
      messageModel: 'CLUSTERING',
      consumeTps: expect.any(Number),
      diffTotal: 2,
    })
    const groupTable = await admin(['consumerProgress', ...n])
    expect(groupTable.stdout.split('\n')[0]).toMatch(/^GROUP\s+COUNT\s+VERSION\s+TYPE\s+MODEL\s+TPS\s+DIFF TOTAL$/)
    expect(groupTable.stdout).toMatch(/\nMqCG\s+1\s+V4_9_8\s+PUSH\s+CLUSTERING\s+\d+\.\d\d\s+2\n/)

    const byId = await json<{ msgId: string; offsetMsgId: string; body: string; keys: string[] }>([
      'queryMsgById',
      ...n,
      '-i',
      sent.offsetMsgId,
    ])
    expect([byId.msgId, byId.offsetMsgId, Buffer.from(byId.body, 'base64').toString(), byId.keys]).toEqual([
      sent.msgId,
      sent.offsetMsgId,
      'hello mqadmin',
      ['mq-key'],
    ])
    const two = await json<{ offsetMsgId: string }[]>([
      'queryMsgById',
      ...n,
      '-i',
      `${sent.offsetMsgId}, ${other.offsetMsgId}`,
    ])
    expect(two.map((m) => m.offsetMsgId)).toEqual([sent.offsetMsgId, other.offsetMsgId])
    const byUniqKey = await waitFor(
      async () => {
        const r = await admin(['queryMsgById', ...n, '-i', sent.msgId, '-t', 'MqMsgT'])
        return r.code === 0 && r
      },
      { what: 'the unique key in the index', intervalMs: 50 },
    )
    expect(byUniqKey.stdout).toMatch(/Message Body:\s+hello mqadmin/)

    const byKey = await admin(['queryMsgByKey', ...n, '-t', 'MqMsgT', '-k', 'mq-key'])
    expect(byKey.code).toBe(0)
    expect(byKey.stdout).toContain(sent.offsetMsgId)
    expect(byKey.stdout).not.toContain(other.offsetMsgId)
    const none = await json<{ messages: unknown[] }>([
      'queryMsgByKey',
      ...n,
      '-t',
      'MqMsgT',
      '-k',
      'mq-key',
      '-b',
      `${Date.now() + 60_000}`,
    ])
    expect(none.messages).toEqual([])

    const cluster = await admin(['clusterList', ...n])
    expect(cluster.stdout).toMatch(new RegExp(`\\nDefaultCluster\\s+broker-a\\s+0\\s+${c.brokerAddr}\\s+V4_9_8`))
    // A master without slaves: its role, no slave, no lag.
    expect(cluster.stdout).toMatch(new RegExp(`\\n.*\\s${c.brokerAddr}\\s.*\\sASYNC_MASTER\\s+0\\s+-\\n`))
    expect(await json(['clusterList', ...n, '-c', 'DefaultCluster'])).toMatchObject([
      { clusterName: 'DefaultCluster', brokerName: 'broker-a', addr: c.brokerAddr, version: 'V4_9_8' },
    ])
    expect(await json(['clusterList', ...n, '-c', 'NoSuchCluster'])).toEqual([])
  })

  it('exits 1 with the RocketMQ code on failures and 2 on bad usage, as a child process', async () => {
    const ok = await spawnAdmin(['clusterList', '--json'], { NAMESRV_ADDR: c.namesrvAddr })
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject([{ clusterName: 'DefaultCluster', addr: c.brokerAddr }])

    const noTopic = await spawnAdmin(['topicStatus', ...n, '-t', 'NoSuchTopic'])
    expect(noTopic.code).toBe(1)
    expect(noTopic.stderr).toContain('RocketMQ code 17 (TOPIC_NOT_EXIST): No topic route info in name server')

    const usage = await spawnAdmin(['resetOffsetByTime', ...n, '-g', 'G', '-t', 'T', '-s', 'yesterday'])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('-s/--timestamp must be epoch milliseconds, now, or yyyy-MM-dd#HH:mm:ss:SSS')

    const unknown = await spawnAdmin(['explodeTopic'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown command "explodeTopic"')
    expect(unknown.stderr).toContain('resetOffsetByTime')
  })

  it('refuses bad usage with exit 2 before connecting, and reports broker refusals with exit 1', async () => {
    const cases: [string[], string][] = [
      [['updateTopic', ...n, '-c', 'DefaultCluster'], '-t/--topic is required'],
      [['updateTopic', ...n, '-t', 'X'], 'give either -c/--clusterName or -b/--brokerAddr'],
      [['updateTopic', ...n, '-t', 'X', '-c', 'C', '-b', 'B'], 'give either -c/--clusterName or -b/--brokerAddr'],
      [['updateTopic', ...n, '-t', 'X', '-c', 'DefaultCluster', '-o', 'yes'], '-o/--order must be true or false'],
      [['updateTopic', ...n, '-t', 'X', '-c', 'DefaultCluster', '-r', 'many'], '-r/--readQueueNums must be an integer'],
      [['updateTopic', ...n, '-t', 'X', '-c', 'DefaultCluster', '-p', '99'], 'perm must be an integer from 0 to 15'],
      [['deleteTopic', ...n, '-t', 'X'], '-c/--clusterName is required'],
      [['consumerProgress', ...n, '-t', 'X'], '-t/--topicName needs -g/--groupName'],
      [['queryMsgByKey', ...n, '-t', 'X'], '-k/--msgKey is required'],
      [['resetOffsetByTime', ...n, '-g', 'G', '-t', 'T'], '-s/--timestamp is required'],
      [
        ['resetOffsetByTime', ...n, '-g', 'G', '-t', 'T', '-s', 'now', '-f', 'maybe'],
        '-f/--force must be true or false',
      ],
      [['topicList', ...n, '--bogus'], "Unknown option '--bogus'"],
    ]
    for (const [args, message] of cases) {
      const r = await admin(args)
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' })
      expect(r.stderr).toContain(message)
    }
    expect(c.broker.topicConfigManager.selectTopicConfig('X')).toBeUndefined()

    const help = await admin(['--help'])
    expect(help.code).toBe(0)
    for (const name of [
      'topicList',
      'topicStatus',
      'updateTopic',
      'deleteTopic',
      'consumerProgress',
      'queryMsgById',
      'queryMsgByKey',
      'clusterList',
      'haStatus',
      'resetOffsetByTime',
    ]) {
      expect(help.stdout).toContain(`\n  ${name} `)
    }
    expect((await admin([])).code).toBe(2)
    const commandHelp = await admin(['resetOffsetByTime', '--help'])
    expect(commandHelp.code).toBe(0)
    expect(commandHelp.stdout).toContain('-s, --timestamp VALUE')

    // The broker refuses a system topic; no group offsets to reset; no such cluster.
    const system = await admin(['updateTopic', ...n, '-t', 'TBW102', '-c', 'DefaultCluster'])
    expect(system.code).toBe(1)
    expect(system.stderr).toMatch(/RocketMQ code 1 \(SYSTEM_ERROR\): .*conflict with system topic/)
    await sendTo('MqNoGroupT', 0, 'x')
    const noGroup = await admin([
      'resetOffsetByTime',
      ...n,
      '-g',
      'NeverConsumed',
      '-t',
      'MqNoGroupT',
      '-s',
      'now',
      '--json',
    ])
    expect(noGroup.code).toBe(1)
    expect(JSON.parse(noGroup.stderr)).toEqual({
      error: {
        code: 'RMQ_ERR_BROKER_RESPONSE',
        responseCode: 1,
        responseCodeName: 'SYSTEM_ERROR',
        remark: 'THe consumer group <NeverConsumed> not exist',
      },
    })
    const noCluster = await admin(['deleteTopic', ...n, '-t', 'MqNoGroupT', '-c', 'NoSuchCluster'])
    expect(noCluster.code).toBe(1)
    expect(noCluster.stderr).toContain('RMQ_ERR_CLUSTER_NOT_FOUND')
  })

  it('resetOffsetByTime with no consumer online writes the committed offsets', async () => {
    await createTopic('MqOffT', 2)
    const { splitMs } = await twoBatches('MqOffT', 2, 3)
    for (const q of [0, 1]) await commitOffset('MqOffG', 'MqOffT', q, 6)

    const back = await json<ResetJson>(['resetOffsetByTime', ...n, '-g', 'MqOffG', '-t', 'MqOffT', '-s', `${splitMs}`])
    expect(back).toMatchObject({ mode: 'offline', force: true, timestamp: splitMs })
    expect(back.queues).toEqual(
      [0, 1].map((queueId) => ({
        topic: 'MqOffT',
        brokerName: 'broker-a',
        queueId,
        oldOffset: 6,
        newOffset: 3,
        brokerOffset: 6,
        timestampOffset: 3,
      })),
    )
    const committed = async (): Promise<number[]> =>
      (await json<ProgressJson>(['consumerProgress', ...n, '-g', 'MqOffG', '-t', 'MqOffT'])).queues.map(
        (q) => q.consumerOffset,
      )
    expect(await committed()).toEqual([3, 3])

    // Not forced: a target past the committed offset leaves it.
    const notForced = await admin([
      'resetOffsetByTime',
      ...n,
      '-g',
      'MqOffG',
      '-t',
      'MqOffT',
      '-s',
      'now',
      '-f',
      'false',
    ])
    expect(notForced.code).toBe(0)
    expect(notForced.stdout).toContain('force false; no consumer online: the committed offsets were written')
    expect(notForced.stdout).toMatch(/\nBROKER\s+QID\s+BROKER OFFSET\s+OLD OFFSET\s+TIMESTAMP OFFSET\s+NEW OFFSET\n/)
    expect(notForced.stdout).toMatch(/\nbroker-a\s+0\s+6\s+3\s+6\s+3\n/)
    expect(await committed()).toEqual([3, 3])

    // `now` is each queue's max offset.
    const toEnd = await json<ResetJson>(['resetOffsetByTime', ...n, '-g', 'MqOffG', '-t', 'MqOffT', '-s', 'now'])
    expect(toEnd.queues.map((q) => [q.oldOffset, q.newOffset])).toEqual([
      [3, 6],
      [3, 6],
    ])
    expect(await committed()).toEqual([6, 6])

    // mqadmin's local date format, through the long option names.
    const byDate = await json<ResetJson>([
      'resetOffsetByTime',
      ...n,
      '--group',
      'MqOffG',
      '--topic',
      'MqOffT',
      '--timestamp',
      mqadminTime(splitMs),
      '--force',
      'true',
    ])
    expect(byDate.timestamp).toBe(splitMs)
    expect(byDate.queues.map((q) => q.newOffset)).toEqual([3, 3])
    expect(await committed()).toEqual([3, 3])
  })

  it('resetOffsetByTime with a consumer online moves it back: its next messages start at the reset point', async () => {
    await createTopic('MqOnT', 2)
    const { splitMs, first, second } = await twoBatches('MqOnT', 2, 2)
    const received: ReceivedMessage[] = []
    const k = new PushConsumer({
      consumerGroup: 'MqOnG',
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      persistConsumerOffsetInterval: 100,
    })
    consumers.push(k)
    k.subscribe('MqOnT', '*')
    k.registerMessageListener((msgs) => {
      received.push(...msgs)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    await waitFor(() => new Set(received.map((m) => m.msgId)).size === 8, { what: 'the 8 messages', timeoutMs: 20_000 })
    await waitFor(() => [0, 1].every((q) => c.broker.consumerOffsetManager.queryOffset('MqOnG', 'MqOnT', q) === 4), {
      what: 'the consumer to commit offset 4 on both queues',
      timeoutMs: 20_000,
      intervalMs: 20,
    })

    received.length = 0
    const reset = await json<ResetJson>(['resetOffsetByTime', ...n, '-g', 'MqOnG', '-t', 'MqOnT', '-s', `${splitMs}`])
    expect(reset.mode).toBe('online')
    expect(reset.queues).toEqual(
      [0, 1].map((queueId) => ({
        topic: 'MqOnT',
        brokerName: 'broker-a',
        queueId,
        oldOffset: 4,
        newOffset: 2,
        brokerOffset: null,
        timestampOffset: null,
      })),
    )
    // The consumer waits 10 s (as Java's does) before it moves and pulls again.
    await waitFor(() => second.every((id) => received.some((m) => m.msgId === id)), {
      what: 'the second batch again',
      timeoutMs: 40_000,
      intervalMs: 50,
    })
    expect(received.filter((m) => first.includes(m.msgId))).toEqual([])
    expect(Math.min(...received.map((m) => m.queueOffset))).toBe(2)
  })
})
