/**
 * The `ferrymq` admin commands (`ferrymq topic|consumer|message|cluster …`) against a real name server and broker
 * started in this process.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'

import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { heartbeat, request } from '../helpers/broker-requests.js'
import { killCliProcesses, runCli } from '../helpers/cli-process.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const ferrymq = runCli

describe('ferrymq admin commands', () => {
  let c: TestCluster
  let producer: Producer
  let n: string[]

  beforeEach(async () => {
    c = await startCluster()
    n = ['-n', c.namesrvAddr]
    producer = new Producer({ producerGroup: 'CliPG', namesrvAddr: c.namesrvAddr })
    await producer.start()
  })
  afterEach(async () => {
    killCliProcesses()
    await producer.shutdown()
    await c.stop()
  })
  afterAll(() => {
    killCliProcesses()
  })

  it('creates, routes, lists, shows stats of and deletes a topic', async () => {
    const created = await ferrymq(['topic', 'create', ...n, '-t', 'CliT', '-q', '2'])
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    expect(created.stdout).toContain(`created topic CliT on broker-a (${c.brokerAddr}): read 2, write 2, perm RW-`)
    await waitFor(async () => (await ferrymq(['topic', 'route', ...n, '-t', 'CliT'])).code === 0, {
      what: 'the route of CliT',
      intervalMs: 50,
    })

    const route = await ferrymq(['topic', 'route', ...n, '-t', 'CliT', '--json'])
    expect(JSON.parse(route.stdout)).toMatchObject({
      queueDatas: [{ brokerName: 'broker-a', readQueueNums: 2, writeQueueNums: 2, perm: 6 }],
      brokerDatas: [{ cluster: 'DefaultCluster', brokerName: 'broker-a', brokerAddrs: { '0': c.brokerAddr } }],
    })
    // NAMESRV_ADDR stands in for -n.
    const list = await ferrymq(['topic', 'list'], { NAMESRV_ADDR: c.namesrvAddr })
    expect(list.stdout.split('\n')).toContain('CliT')

    for (let i = 0; i < 3; i++) {
      await producer.send(new Message({ topic: 'CliT', body: `m${i}` }), {
        topic: 'CliT',
        brokerName: 'broker-a',
        queueId: 1,
      })
    }
    const stats = await ferrymq(['topic', 'stats', ...n, '-t', 'CliT', '--json'])
    const queues = (JSON.parse(stats.stdout) as { queues: { queueId: number; maxOffset: number }[] }).queues
    expect(queues.map((q) => [q.queueId, q.maxOffset])).toEqual([
      [0, 0],
      [1, 3],
    ])
    const table = await ferrymq(['topic', 'stats', ...n, '-t', 'CliT'])
    expect(table.stdout.split('\n')[0]).toMatch(/^BROKER\s+QID\s+MIN OFFSET\s+MAX OFFSET\s+LAST UPDATED$/)

    const deleted = await ferrymq(['topic', 'delete', ...n, '-t', 'CliT'])
    expect(deleted.code).toBe(0)
    expect(c.broker.topicConfigManager.selectTopicConfig('CliT')).toBeUndefined()
  })

  it('prints the RocketMQ code and remark of a refusal and exits 1', async () => {
    const stats = await ferrymq(['topic', 'stats', ...n, '-t', 'NoSuchTopic'])
    expect(stats.code).toBe(1)
    expect(stats.stderr).toContain('RocketMQ code 17 (TOPIC_NOT_EXIST): No topic route info in name server')

    const offline = await ferrymq(['consumer', 'connections', ...n, '-g', 'NoSuchGroup', '--json'])
    expect(offline.code).toBe(1)
    expect(JSON.parse(offline.stderr)).toEqual({
      error: {
        code: 'RMQ_ERR_BROKER_RESPONSE',
        responseCode: 206,
        responseCodeName: 'CONSUMER_NOT_ONLINE',
        remark: 'the consumer group not online',
      },
    })
    const system = await ferrymq(['topic', 'create', ...n, '-t', 'TBW102'])
    expect(system.code).toBe(1)
    expect(system.stderr).toMatch(/RocketMQ code 1 \(SYSTEM_ERROR\): .*conflict with system topic/)

    const noNamesrv = await ferrymq(['cluster', 'list', '-n', '127.0.0.1:1'])
    expect(noNamesrv.code).toBe(1)
    expect(noNamesrv.stderr).toContain('RMQ_ERR_NAMESRV_UNAVAILABLE')
  })

  it('exits 2 on bad usage', async () => {
    const missing = await ferrymq(['topic', 'create', ...n])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('-t/--topic is required')
    const unknownOption = await ferrymq(['topic', 'list', ...n, '--bogus'])
    expect(unknownOption.code).toBe(2)
    const unknownCommand = await ferrymq(['topic', 'explode'])
    expect(unknownCommand.code).toBe(2)
    expect(unknownCommand.stderr).toContain('ferrymq topic create')
  })

  it('shows consumer progress and connections, messages by id and key, and the cluster', async () => {
    const sent = await producer.send(new Message({ topic: 'CliMsgT', body: 'hello cli', keys: 'cli-key' }), {
      topic: 'CliMsgT',
      brokerName: 'broker-a',
      queueId: 0,
    })
    expect(
      (await heartbeat(c.client, c.brokerAddr, 'cli-client', [{ group: 'CliG', topics: { CliMsgT: '*' } }])).code,
    ).toBe(0)
    const commit = { consumerGroup: 'CliG', topic: 'CliMsgT', queueId: 0, commitOffset: 0 }
    expect((await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, commit)).code).toBe(0)

    const progress = await waitFor(
      async () => {
        const r = await ferrymq(['consumer', 'progress', ...n, '-g', 'CliG', '-t', 'CliMsgT', '--json'])
        return r.code === 0 && (JSON.parse(r.stdout) as { lagTotal: number; queues: unknown[] })
      },
      { what: 'the retry topic of CliG in the name server', intervalMs: 50 },
    )
    expect(progress.lagTotal).toBe(1)
    expect(progress.queues[0]).toMatchObject({
      topic: 'CliMsgT',
      queueId: 0,
      brokerOffset: 1,
      consumerOffset: 0,
      lag: 1,
    })
    const connections = await ferrymq(['consumer', 'connections', ...n, '-g', 'CliG'])
    expect(connections.code).toBe(0)
    expect(connections.stdout).toContain('cli-client')

    const byId = await ferrymq(['message', 'id', ...n, '-i', sent.offsetMsgId, '--json'])
    expect(byId.code).toBe(0)
    const m = JSON.parse(byId.stdout) as { msgId: string; offsetMsgId: string; body: string; keys: string[] }
    expect([m.msgId, m.offsetMsgId, Buffer.from(m.body, 'base64').toString(), m.keys]).toEqual([
      sent.msgId,
      sent.offsetMsgId,
      'hello cli',
      ['cli-key'],
    ])
    const byUniqKey = await waitFor(
      async () => {
        const r = await ferrymq(['message', 'id', ...n, '-i', sent.msgId, '-t', 'CliMsgT'])
        return r.code === 0 && r
      },
      { what: 'the unique key in the index', intervalMs: 50 },
    )
    expect(byUniqKey.stdout).toMatch(/Message Body:\s+hello cli/)
    const byKey = await ferrymq(['message', 'key', ...n, '-t', 'CliMsgT', '-k', 'cli-key'])
    expect(byKey.code).toBe(0)
    expect(byKey.stdout).toContain(sent.offsetMsgId)

    const cluster = await ferrymq(['cluster', 'list', ...n])
    expect(cluster.stdout).toMatch(new RegExp(`DefaultCluster\\s+broker-a\\s+0\\s+${c.brokerAddr}\\s+V4_9_8`))
    const runtime = await ferrymq(['cluster', 'runtime', ...n, '-b', c.brokerAddr, '--json'])
    expect((JSON.parse(runtime.stdout) as Record<string, string>).brokerVersionDesc).toBe('V4_9_8')
  })

  it('keeps the server commands: usage lists both kinds', async () => {
    const help = await ferrymq(['help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('ferrymq start')
    expect(help.stdout).toContain('ferrymq consumer progress')
  })
})
