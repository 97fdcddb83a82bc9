/**
 * SlaveSynchronize against a real master broker: a slave-side set of real managers on a temp dir copies the
 * master's topics, consumer offsets, delay offsets and subscription groups, writes each to disk, leaves tables
 * with an unchanged data version alone, keeps going when the master refuses one table, and asks nothing without a
 * master address. The timer is checked with fake timers and a master that answers only when told.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'

import { defaultBrokerConfig } from '../../../ts/broker/broker-config.js'
import { ConsumerOffsetManager } from '../../../ts/broker/consumer-offset-manager.js'
import {
  DEFAULT_MESSAGE_DELAY_LEVEL,
  ScheduleMessageService,
  delayOffsetTableFromJson,
  parseDelayLevels,
} from '../../../ts/broker/schedule-message-service.js'
import { SlaveSynchronize, type SlaveSynchronizeOptions } from '../../../ts/broker/slave-synchronize.js'
import { SubscriptionGroupManager } from '../../../ts/broker/subscription-group-manager.js'
import { TopicConfigManager } from '../../../ts/broker/topic-config-manager.js'
import { parseJson } from '../../../ts/common/fastjson.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import { newTopicConfig } from '../../../ts/common/topic-config.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'
import { RemotingServer } from '../../../ts/remoting/remoting-server.js'
import { RequestDispatcher } from '../../../ts/remoting/request-dispatcher.js'
import { RequestExecutor } from '../../../ts/remoting/request-executor.js'
import type { NativeMessageStore } from '../../../ts/store/native-message-store.js'
import { TIMEOUT_MS, request, send } from '../../helpers/broker-requests.js'
import { openStore, recordingLogger, smallStoreConfig } from '../../helpers/open-store.js'
import { startCluster, type TestCluster } from '../../helpers/start-broker.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'
import { waitFor } from '../../helpers/wait-for.js'

const { GET_ALL_TOPIC_CONFIG, GET_ALL_CONSUMER_OFFSET, GET_ALL_DELAY_OFFSET, GET_ALL_SUBSCRIPTIONGROUP_CONFIG } =
  RequestCode

/** The real managers a slave broker keeps, on one data directory. */
interface SlaveTables {
  root: string
  topics: TopicConfigManager
  offsets: ConsumerOffsetManager
  groups: SubscriptionGroupManager
  schedule: ScheduleMessageService
}

function slaveTables(root: string, store: NativeMessageStore): SlaveTables {
  const topics = new TopicConfigManager({
    brokerConfig: defaultBrokerConfig(),
    storePathRootDir: root,
    logger: noopLogger,
    onTopicsChanged: () => {},
  })
  const offsets = new ConsumerOffsetManager(root, noopLogger)
  const groups = new SubscriptionGroupManager(root, true, noopLogger)
  const schedule = new ScheduleMessageService({
    store,
    storePathRootDir: root,
    delayLevels: parseDelayLevels(DEFAULT_MESSAGE_DELAY_LEVEL),
    storeHost: Buffer.alloc(8),
    flushDelayOffsetIntervalMs: 60_000,
    putMessage: () => Promise.reject(new Error('a slave does not deliver delayed messages')),
    logger: noopLogger,
  })
  topics.load()
  offsets.load()
  groups.load()
  schedule.load()
  return { root, topics, offsets, groups, schedule }
}

function configPath(root: string, file: string): string {
  return join(root, 'config', file)
}

let master: TestCluster

beforeAll(async () => {
  master = await startCluster()
  const addr = master.brokerAddr
  const created = await request(master.client, addr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
    topic: 'SyncT',
    defaultTopic: 'TBW102',
    readQueueNums: 3,
    writeQueueNums: 3,
    perm: 6,
    topicFilterType: 'SINGLE_TAG',
    order: false,
  })
  expect(created.code).toBe(ResponseCode.SUCCESS)
  const group = { groupName: 'SyncG', consumeEnable: true, retryMaxTimes: 5, retryQueueNums: 1 }
  expect((await request(master.client, addr, RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, {}, group)).code).toBe(
    ResponseCode.SUCCESS,
  )
  const offset = { consumerGroup: 'SyncG', topic: 'SyncT', queueId: 1, commitOffset: 7 }
  expect((await request(master.client, addr, RequestCode.UPDATE_CONSUMER_OFFSET, offset)).code).toBe(
    ResponseCode.SUCCESS,
  )
  // A delayed message at level 1 (1 s): once delivered, the master's level-1 cursor is 1, not the initial 0.
  expect((await send(master.client, addr, { topic: 'SyncT', properties: { DELAY: '1' } })).code).toBe(
    ResponseCode.SUCCESS,
  )
  await waitFor(() => master.broker.scheduleMessageService.offsetTable().get(1) === 1, { what: 'the delayed delivery' })
})

afterAll(async () => {
  await master?.stop()
})

let dir: TempDir
let store: NativeMessageStore
let slave: SlaveTables

beforeEach(async () => {
  dir = tempDir('ferrymq-slave-')
  store = await openStore(smallStoreConfig(dir.path))
  slave = slaveTables(dir.path, store)
})

afterEach(async () => {
  vi.useRealTimers()
  await store.shutdown()
  dir.remove()
})

function synchronizer(overrides: Partial<SlaveSynchronizeOptions> = {}): SlaveSynchronize {
  return new SlaveSynchronize({
    invoke: (addr, req, timeoutMs) => master.client.invoke(addr, req, timeoutMs),
    masterAddr: () => master.brokerAddr,
    topicConfigManager: slave.topics,
    consumerOffsetManager: slave.offsets,
    subscriptionGroupManager: slave.groups,
    scheduleMessageService: () => slave.schedule,
    logger: noopLogger,
    ...overrides,
  })
}

describe('SlaveSynchronize', () => {
  it('copies the topics, offsets, delay offsets and groups of the master and writes each table to disk', async () => {
    const m = master.broker
    // Slave-only state: a topic the master does not have goes, an offset it does not have stays.
    slave.topics.updateTopicConfig(newTopicConfig('SlaveOnlyT'))
    slave.offsets.commitOffset('test', 'SlaveOnlyG', 'SyncT', 0, 3)
    await synchronizer().syncAll()

    expect(slave.topics.selectTopicConfig('SyncT')).toEqual(m.topicConfigManager.selectTopicConfig('SyncT'))
    expect(slave.topics.selectTopicConfig('SyncT')).toMatchObject({ readQueueNums: 3, writeQueueNums: 3 })
    expect(slave.topics.selectTopicConfig('SlaveOnlyT')).toBeUndefined()
    expect(slave.topics.dataVersion()).toEqual(m.topicConfigManager.dataVersion())
    expect(slave.offsets.queryOffset('SyncG', 'SyncT', 1)).toBe(7)
    expect(slave.offsets.queryOffset('SlaveOnlyG', 'SyncT', 0)).toBe(3)
    expect(slave.schedule.offsetTable().get(1)).toBe(1)
    expect(slave.groups.get('SyncG')).toMatchObject({ retryMaxTimes: 5 })
    expect(slave.groups.dataVersion()).toEqual(m.subscriptionGroupManager.dataVersion())

    // A fresh set of managers on the same directory loads what the sync wrote.
    const reloaded = slaveTables(dir.path, store)
    expect(reloaded.topics.selectTopicConfig('SyncT')).toEqual(m.topicConfigManager.selectTopicConfig('SyncT'))
    expect(reloaded.topics.selectTopicConfig('SlaveOnlyT')).toBeUndefined()
    expect(reloaded.topics.dataVersion()).toEqual(m.topicConfigManager.dataVersion())
    expect(reloaded.offsets.queryOffset('SyncG', 'SyncT', 1)).toBe(7)
    expect(reloaded.offsets.queryOffset('SlaveOnlyG', 'SyncT', 0)).toBe(3)
    expect(reloaded.groups.get('SyncG')).toMatchObject({ retryMaxTimes: 5 })
    expect(reloaded.groups.dataVersion()).toEqual(m.subscriptionGroupManager.dataVersion())
    // The delay offset file is the master's body as sent (`load()` would clamp it to this empty slave store).
    const delayBody = (await request(master.client, master.brokerAddr, GET_ALL_DELAY_OFFSET)).body!.toString()
    const delayFile = readFileSync(configPath(dir.path, 'delayOffset.json'), 'utf8')
    expect(delayFile).toBe(delayBody)
    expect(delayOffsetTableFromJson(parseJson(delayFile) as Record<string, unknown>).get(1)).toBe(1)
  })

  it('leaves the topic and group tables alone while the master data version is unchanged', async () => {
    const sync = synchronizer()
    await sync.syncAll()
    const files = ['topics.json', 'subscriptionGroup.json', 'consumerOffset.json'].map((f) => configPath(dir.path, f))
    for (const f of files) rmSync(f)
    await sync.syncAll()
    const [topicsFile, groupsFile, offsetsFile] = files as [string, string, string]
    expect(existsSync(topicsFile)).toBe(false)
    expect(existsSync(groupsFile)).toBe(false)
    // Consumer offsets carry no version in 4.x: they are taken and written every round.
    expect(existsSync(offsetsFile)).toBe(true)

    const created = await request(master.client, master.brokerAddr, RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: 'SyncT2',
      defaultTopic: 'TBW102',
      readQueueNums: 1,
      writeQueueNums: 1,
      perm: 6,
      topicFilterType: 'SINGLE_TAG',
      order: false,
    })
    expect(created.code).toBe(ResponseCode.SUCCESS)
    await sync.syncAll()
    expect(slave.topics.selectTopicConfig('SyncT2')).toMatchObject({ readQueueNums: 1 })
    expect(existsSync(topicsFile)).toBe(true)
    expect(existsSync(groupsFile)).toBe(false)
  })

  describe('copies the other tables when the master refuses one', () => {
    const cases: [string, number, (s: SlaveTables) => boolean][] = [
      ['topic config', GET_ALL_TOPIC_CONFIG, (s) => s.topics.selectTopicConfig('SyncT') !== undefined],
      ['consumer offset', GET_ALL_CONSUMER_OFFSET, (s) => s.offsets.queryOffset('SyncG', 'SyncT', 1) === 7],
      ['delay offset', GET_ALL_DELAY_OFFSET, (s) => s.schedule.offsetTable().get(1) === 1],
      ['subscription group', GET_ALL_SUBSCRIPTIONGROUP_CONFIG, (s) => s.groups.get('SyncG') !== undefined],
    ]
    let refusing: RefusingMaster | null = null
    afterEach(async () => {
      await refusing?.close()
      refusing = null
    })

    it.each(cases)('%s', async (table, code) => {
      refusing = await startRefusingMaster(code)
      const logger = recordingLogger()
      await synchronizer({ masterAddr: () => refusing!.addr, logger }).syncAll()
      for (const [name, , arrived] of cases) expect(arrived(slave), name).toBe(name !== table)
      const warnings = logger.lines.filter((l) => l.level === 'warn')
      expect(warnings.map((l) => (l.obj as { table: string }).table)).toEqual([table])
      expect(refusing.requested).toEqual([
        GET_ALL_TOPIC_CONFIG,
        GET_ALL_CONSUMER_OFFSET,
        GET_ALL_DELAY_OFFSET,
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
      ])
    })
  })

  it('asks the master nothing without a master address', async () => {
    const invoke = vi.fn<SlaveSynchronizeOptions['invoke']>()
    await synchronizer({ invoke, masterAddr: () => null }).syncAll()
    expect(invoke).not.toHaveBeenCalled()
    expect(existsSync(configPath(dir.path, 'topics.json'))).toBe(false)
  })

  it('skips the delay offsets while there is no schedule service, and copies the rest', async () => {
    const codes: number[] = []
    const invoke: SlaveSynchronizeOptions['invoke'] = (addr, req, timeoutMs) => {
      codes.push(req.code)
      return master.client.invoke(addr, req, timeoutMs)
    }
    await synchronizer({ invoke, scheduleMessageService: () => null }).syncAll()
    expect(codes).toEqual([GET_ALL_TOPIC_CONFIG, GET_ALL_CONSUMER_OFFSET, GET_ALL_SUBSCRIPTIONGROUP_CONFIG])
    expect(slave.schedule.offsetTable().get(1)).toBe(0)
    expect(slave.groups.get('SyncG')).toBeDefined()
  })

  it('runs rounds at a fixed rate on its timer, never two at once, and stops on shutdown', async () => {
    vi.useFakeTimers()
    const codes: number[] = []
    const answers: (() => void)[] = []
    let inFlight = 0
    let inFlightMax = 0
    const invoke: SlaveSynchronizeOptions['invoke'] = (_addr, req) => {
      codes.push(req.code)
      inFlightMax = Math.max(inFlightMax, ++inFlight)
      return new Promise((resolve) => {
        answers.push(() => {
          inFlight--
          resolve(RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, 'not now'))
        })
      })
    }
    const sync = new SlaveSynchronize({
      invoke,
      masterAddr: () => '127.0.0.1:10911',
      topicConfigManager: slave.topics,
      consumerOffsetManager: slave.offsets,
      subscriptionGroupManager: slave.groups,
      scheduleMessageService: () => slave.schedule,
      logger: noopLogger,
    })
    /** Answers every request of the round in progress. */
    const answerRound = async (): Promise<void> => {
      for (let i = 0; i < 4; i++) {
        expect(answers).toHaveLength(1)
        answers.shift()!()
        await vi.advanceTimersByTimeAsync(0)
      }
    }
    const rounds = (): number => codes.filter((c) => c === GET_ALL_TOPIC_CONFIG).length

    sync.start(1000, 100)
    await vi.advanceTimersByTimeAsync(99)
    expect(codes).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(codes).toEqual([GET_ALL_TOPIC_CONFIG])
    // The master does not answer for far longer than the period: no second round starts beside the first.
    await vi.advanceTimersByTimeAsync(5000)
    expect(codes).toHaveLength(1)
    await answerRound()
    // The overrun round is followed at once; the next one keeps the period from the start of its predecessor.
    expect(rounds()).toBe(2)
    await answerRound()
    await vi.advanceTimersByTimeAsync(999)
    expect(rounds()).toBe(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(rounds()).toBe(3)

    // Shutdown waits for the round in progress, then nothing runs again.
    let stopped = false
    const shutdown = sync.shutdown().then(() => {
      stopped = true
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(stopped).toBe(false)
    await answerRound()
    await shutdown
    await vi.advanceTimersByTimeAsync(60_000)
    expect(rounds()).toBe(3)
    expect(codes).toHaveLength(12)
    expect(inFlightMax).toBe(1)
  })
})

interface RefusingMaster {
  addr: string
  /** Request codes received, in order. */
  requested: number[]
  close(): Promise<void>
}

/** A remoting server in front of the real master: answers SYSTEM_ERROR to `refused` and forwards anything else. */
async function startRefusingMaster(refused: number): Promise<RefusingMaster> {
  const requested: number[] = []
  const dispatcher = new RequestDispatcher(noopLogger)
  const executor = new RequestExecutor({
    name: 'refusing',
    concurrency: 4,
    queueCapacity: 16,
    queueWaitMsMax: Infinity,
  })
  dispatcher.registerDefaultProcessor(
    {
      processRequest: async (_channel, req) => {
        requested.push(req.code)
        if (req.code === refused)
          return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, 'refused by the test')
        const upstream = await master.client.invoke(
          master.brokerAddr,
          RemotingCommand.createRequest(req.code),
          TIMEOUT_MS,
        )
        const response = RemotingCommand.createResponse(upstream.code, upstream.remark)
        response.body = upstream.body
        return response
      },
    },
    executor,
  )
  const server = new RemotingServer({ port: 0, host: '127.0.0.1', logger: noopLogger }, dispatcher)
  const addr = `127.0.0.1:${await server.listen()}`
  return { addr, requested, close: () => server.close() }
}
