/**
 * The torture harness's hostile-input scenario at test size (frame and header fuzz, hostile names, admin API fuzz,
 * bad config and ACL files, ACL refusals), then the regressions it found, each as its smallest reproduction.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { stopAclBrokers } from '../../scripts/torture/acl-fuzz.js'
import { stopAllBrokerProcesses } from '../../scripts/torture/broker-process.js'
import { BAD_CONFIGS_TEST } from '../../scripts/torture/config-fuzz.js'
import { hostileInput } from '../../scripts/torture/hostile-input.js'
import { loadBrokerConfig } from '../../ts/broker/broker-config.js'
import { BrokerController } from '../../ts/broker/broker-controller.js'
import { ConfigError } from '../../ts/common/errors.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { checkedAdminApp } from '../helpers/admin-app.js'
import { createTopic, request } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'

let cluster: TestCluster | undefined
let dir: TempDir | undefined
let scenarioDir = ''
const servers: net.Server[] = []

afterEach(async () => {
  await stopAllBrokerProcesses()
  await stopAclBrokers()
  if (scenarioDir) rmSync(scenarioDir, { recursive: true, force: true })
  scenarioDir = ''
  dir?.remove()
  dir = undefined
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  await cluster?.stop()
  cluster = undefined
})

describe('torture: hostile input', () => {
  it(
    'survives fuzzed frames, refuses hostile names, bad admin requests, bad config files and requests without permission',
    { timeout: 300_000 },
    async () => {
      scenarioDir = mkdtempSync(join(tmpdir(), 'ferrymq-torture-test-'))
      const report = await hostileInput.run({ size: 'test', dir: scenarioDir, seed: 42, log: () => {} })
      expect(report.problems).toEqual([])
      expect(report.ok).toBe(true)
      expect(report.totals.fuzz_cases).toBeGreaterThanOrEqual(5000)
      expect(report.totals.hostile_names_refused).toBeGreaterThan(700)
      expect(report.totals.admin_fuzz_cases).toBe(300)
      expect(report.totals.bad_configs_refused).toBe(BAD_CONFIGS_TEST)
      // The admin codes and the codes whose topic or group needs PUB or SUB (protocol.md §6.2).
      expect(report.totals.acl_codes_refused).toBe(15)
    },
  )
})

describe('torture: hostile input, regressions', () => {
  it('keeps the topics and consumer offsets of a store whose broker failed to start', async () => {
    const c = await startCluster()
    cluster = c
    expect((await createTopic(c.client, c.brokerAddr, 'KeepMe')).code).toBe(ResponseCode.SUCCESS)
    const commit = await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, {
      consumerGroup: 'KeepGroup',
      topic: 'KeepMe',
      queueId: 0,
      commitOffset: 5,
    })
    expect(commit.code).toBe(ResponseCode.SUCCESS)
    await c.stopBroker()

    // The listen port is taken (the old broker still runs, say): the start fails before the tables are read, and
    // its shutdown wrote the empty tables over the store's files.
    const taken = net.createServer()
    servers.push(taken)
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const failed = new BrokerController({
      brokerConfig: { ...c.broker.brokerConfig, listenPort: (taken.address() as net.AddressInfo).port },
      storeConfig: c.broker.storeConfig,
    })
    await expect(failed.start()).rejects.toThrow(/EADDRINUSE/)
    await failed.shutdown()

    const broker = await c.restartBroker()
    expect(broker.topicConfigManager.selectTopicConfig('KeepMe')).toBeDefined()
    const offset = await request(c.client, c.brokerAddr, RequestCode.QUERY_CONSUMER_OFFSET, {
      consumerGroup: 'KeepGroup',
      topic: 'KeepMe',
      queueId: 0,
    })
    expect([offset.code, offset.ext('offset')]).toEqual([ResponseCode.SUCCESS, '5'])
  })

  it('refuses a broker.conf that is not text, cannot be read, or names a port over 65535, naming the file', () => {
    const d = tempDir('ferrymq-bad-conf-')
    dir = d
    const refusal = (bytes: string | Buffer, name = 'broker.conf'): string => {
      const file = join(d.path, name)
      if (bytes !== '') writeFileSync(file, bytes)
      try {
        loadBrokerConfig({ configFile: file, defaultStorePath: join(d.path, 'store') })
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError)
        return (err as Error).message
      }
      throw new Error(`${name} was accepted`)
    }
    // Java ignores every key it does not know: a binary file started a broker with every default instead.
    expect(refusal(Buffer.from([0x62, 0x72, 0x0a, 0x00, 0xff, 0x3d, 0x31]))).toBe(
      `config file ${join(d.path, 'broker.conf')} is not a text file (NUL byte at 3)`,
    )
    mkdirSync(join(d.path, 'dir.conf'))
    expect(refusal('', 'dir.conf')).toMatch(
      new RegExp(`^config file ${join(d.path, 'dir.conf')} cannot be read: EISDIR`),
    )
    // Accepted before: the broker started and failed every registration with "port out of range".
    expect(refusal('namesrvAddr=127.0.0.1:9876;127.0.0.1:99999\n')).toBe(
      'namesrvAddr: "127.0.0.1:99999" has a port over 65535',
    )
    expect(refusal('brokerRole=SLAVE\nbrokerId=1\nhaMasterAddress=127.0.0.1:65536\n')).toBe(
      'haMasterAddress: "127.0.0.1:65536" has a port over 65535',
    )
    writeFileSync(join(d.path, 'ok.conf'), 'namesrvAddr=127.0.0.1:65535\n')
    const ok = loadBrokerConfig({ configFile: join(d.path, 'ok.conf'), defaultStorePath: join(d.path, 'store') })
    expect(ok.brokerConfig.namesrvAddr).toBe('127.0.0.1:65535')
  })

  it('refuses UPDATE_CONSUMER_OFFSET for a group or topic name that can be neither, and stores nothing', async () => {
    const c = await startCluster()
    cluster = c
    const commit = (consumerGroup: string, topic: string) =>
      request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, {
        consumerGroup,
        topic,
        queueId: 0,
        commitOffset: 7,
      })
    // 4.9.8 stores any name in consumerOffset.json; 5.x refuses groups and topics that do not exist.
    const badGroup = await commit('../evil\u0000', 'TBW102')
    expect([badGroup.code, badGroup.remark]).toEqual([
      ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
      'Group ../evil\\x00 not exist!',
    ])
    const badTopic = await commit('GoodGroup', 'a/b')
    expect([badTopic.code, badTopic.remark]).toEqual([ResponseCode.TOPIC_NOT_EXIST, 'Topic a/b not exist!'])
    expect((await commit('G'.repeat(249), 'TBW102')).code).toBe(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST)
    expect((await commit('GoodGroup', 'T'.repeat(128))).code).toBe(ResponseCode.TOPIC_NOT_EXIST)
    expect([...c.broker.consumerOffsetManager.entries()]).toEqual([])
    // Names a client can have still commit, a retry topic of a long group included, as before.
    expect((await commit('G'.repeat(248), `%RETRY%${'G'.repeat(248)}`)).code).toBe(ResponseCode.SUCCESS)
    expect((await commit('GoodGroup', 'AnyTopic')).code).toBe(ResponseCode.SUCCESS)
    expect([...c.broker.consumerOffsetManager.entries()].length).toBe(2)
  })

  it('admin API: serves every valid topic and group name, and answers 400 in its own shape for what it refuses', async () => {
    const c = await startCluster()
    cluster = c
    const admin = checkedAdminApp(c.broker)
    try {
      // Fastify's router took path parameters of at most 100 characters: longer valid names got its own 414 body.
      const topic = `T${'x'.repeat(126)}`
      expect((await createTopic(c.client, c.brokerAddr, topic)).code).toBe(ResponseCode.SUCCESS)
      const shown = await admin.call({ method: 'GET', url: `/api/topics/${topic}` })
      expect([shown.statusCode, shown.json().topic]).toEqual([200, topic])
      const group = `G|%${'g'.repeat(246)}`
      const missing = await admin.call({ method: 'GET', url: `/api/groups/${encodeURIComponent(group)}` })
      expect([missing.statusCode, missing.json().code]).toEqual([404, 'SUBSCRIPTION_GROUP_NOT_EXIST'])
      const tooLong = await admin.call({ method: 'GET', url: `/api/topics/${'x'.repeat(2000)}` })
      expect([tooLong.statusCode, tooLong.json().code]).toEqual([400, 'BAD_REQUEST'])
      // "1e309" in a query string became Infinity past the schema, and the store threw: a 500.
      for (const q of ['max=1e309', 'max=Infinity', 'begin=1e309', 'end=Infinity']) {
        const r = await admin.call({ method: 'GET', url: `/api/messages?topic=${topic}&key=k&${q}` })
        expect([q, r.statusCode, r.json().code]).toEqual([q, 400, 'BAD_REQUEST'])
      }
      const found = await admin.call({ method: 'GET', url: `/api/messages?topic=${topic}&key=k&max=64` })
      expect([found.statusCode, found.json()]).toEqual([200, { messages: [] }])
    } finally {
      await admin.app.close()
    }
  })
})
