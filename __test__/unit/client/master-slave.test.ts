/**
 * The SDK against broker groups with slaves (RocketMQ 4.x master/slave; client.md §1.5, §4.5, §4.8–§4.10, §6.5):
 * which address of a group each request goes to while its master is up, down and back. The client runtime is real;
 * its requests are answered in memory by `FakeBrokers`, so no socket is opened.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'

import { AdminClient } from '../../../ts/client/admin-client.js'
import { allocateAveragely } from '../../../ts/client/allocate-strategy.js'
import { buildClientId, resolveClientRuntimeConfig } from '../../../ts/client/client-config.js'
import { MQClientError } from '../../../ts/client/client-error.js'
import { acquireClientInstance, MQClientInstance, releaseClientInstance } from '../../../ts/client/client-instance.js'
import { brokerOffsetBackend } from '../../../ts/client/consumer-common.js'
import { resolvePushConsumerConfig } from '../../../ts/client/consumer-config.js'
import { ConsumeConcurrentlyStatus } from '../../../ts/client/consume-service.js'
import { LitePullConsumer } from '../../../ts/client/lite-pull-consumer.js'
import { Message } from '../../../ts/client/message.js'
import {
  processPullResponse,
  type MQClientAPI,
  type PullMessageRequestHeader,
  type RawPullResult,
} from '../../../ts/client/mq-client-api.js'
import { ReadOffsetType, RemoteBrokerOffsetStore } from '../../../ts/client/offset-store.js'
import { Producer } from '../../../ts/client/producer.js'
import { PublishRouteTable } from '../../../ts/client/publish-route-table.js'
import { PullAPIWrapper } from '../../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../../ts/client/push-consumer.js'
import { RebalanceImpl } from '../../../ts/client/rebalance-impl.js'
import { SendStatus, type SendResult } from '../../../ts/client/send-result.js'
import { TopicPublishInfo } from '../../../ts/client/topic-publish-info.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { MessageConst } from '../../../ts/common/message/message-const.js'
import { messageProperties2String } from '../../../ts/common/message/message-properties.js'
import { MESSAGE_MAGIC_CODE } from '../../../ts/common/message/message-record.js'
import { encodeHost } from '../../../ts/common/message/socket-address.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import type { SubscriptionData } from '../../../ts/remoting/protocol/heartbeat.js'
import type { MessageQueue } from '../../../ts/remoting/protocol/message-queue.js'
import { PullSysFlag } from '../../../ts/remoting/protocol/pull-sys-flag.js'
import { encodeClusterInfo, type TopicRouteData } from '../../../ts/remoting/protocol/route.js'
import { RemotingClient } from '../../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'
import { waitFor } from '../../helpers/wait-for.js'

const MASTER_A = '10.0.0.1:10911'
const SLAVE_A = '10.0.0.2:10911'
const SLAVE_A2 = '10.0.0.3:10911'
const MASTER_B = '10.0.1.1:10911'
const SLAVE_B = '10.0.1.2:10911'
const NAMESRV = '10.0.9.9:9876'

/** Broker name → its addresses by broker id, as the name server's route lists them. */
type Groups = Record<string, [number, string][]>

const BOTH_A: Groups = {
  'broker-a': [
    [0, MASTER_A],
    [1, SLAVE_A],
  ],
}
const SLAVE_ONLY_A: Groups = { 'broker-a': [[1, SLAVE_A]] }

/** A route with `queueNums` read/write queues on each broker name (4.x keeps the queue data of a master-less group). */
function route(groups: Groups, queueNums = 1): TopicRouteData {
  const names = Object.keys(groups)
  return {
    orderTopicConf: null,
    queueDatas: names.map((brokerName) => ({
      brokerName,
      readQueueNums: queueNums,
      writeQueueNums: queueNums,
      perm: 6,
      topicSysFlag: 0,
    })),
    brokerDatas: names.map((brokerName) => ({ cluster: 'C', brokerName, brokerAddrs: new Map(groups[brokerName]) })),
    filterServerTable: new Map(),
  }
}

interface Call {
  code: string
  addr: string
  offset?: number
}

interface PendingPull {
  addr: string
  header: PullMessageRequestHeader
  lite: boolean
  answer(result: RawPullResult): void
}

/** A pull response as a broker writes it, through the client's own decoding (response code → pull status). */
function pullAnswer(code: number, nextBeginOffset: number, suggestWhichBrokerId: number, body?: Buffer): RawPullResult {
  const response = RemotingCommand.createResponse(code, null, {
    nextBeginOffset: String(nextBeginOffset),
    minOffset: '0',
    maxOffset: '100',
    suggestWhichBrokerId: String(suggestWhichBrokerId),
  })
  response.body = body ?? null
  return processPullResponse(response)
}

/** One stored record (V1, IPv4 hosts; store.md §1.1), stored by `storeHost`. */
function storedRecord(o: { topic: string; queueId: number; queueOffset: number; storeHost: string }): Buffer {
  const body = Buffer.from('payload')
  const topic = Buffer.from(o.topic)
  const props = Buffer.from(messageProperties2String({ [MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX]: 'U1' }))
  const size = 91 + body.length + topic.length + props.length
  const b = Buffer.alloc(size)
  const [storeIp, storePort] = o.storeHost.split(':')
  let p = b.writeInt32BE(size, 0)
  p = b.writeInt32BE(MESSAGE_MAGIC_CODE, p)
  p = b.writeInt32BE(0, p) // body CRC: the client does not check it
  p = b.writeInt32BE(o.queueId, p)
  p = b.writeInt32BE(0, p) // flag
  p = b.writeBigInt64BE(BigInt(o.queueOffset), p)
  p = b.writeBigInt64BE(4096n, p) // commit-log offset
  p = b.writeInt32BE(0, p) // sysFlag
  p = b.writeBigInt64BE(1_700_000_000_000n, p)
  p += encodeHost('10.1.2.3', 50_001).copy(b, p)
  p = b.writeBigInt64BE(1_700_000_000_001n, p)
  p += encodeHost(storeIp!, Number(storePort)).copy(b, p)
  p = b.writeInt32BE(0, p) // reconsume times
  p = b.writeBigInt64BE(0n, p)
  p = b.writeInt32BE(body.length, p)
  p += body.copy(b, p)
  p = b.writeInt8(topic.length, p)
  p += topic.copy(b, p)
  p = b.writeInt16BE(props.length, p)
  props.copy(b, p)
  return b
}

/**
 * The name server and brokers a runtime talks to: routes come from `routes` (a missing topic has none), every
 * broker request is recorded with its address, offsets are answered with `storedOffset`, and pulls wait until the
 * test answers them.
 */
class FakeBrokers {
  readonly routes = new Map<string, TopicRouteData>()
  readonly calls: Call[] = []
  readonly routeLookups: string[] = []
  storedOffset = 7
  private readonly pulls: PendingPull[] = []

  install(instance: MQClientInstance): void {
    const record = (code: string, addr: string, offset?: number): void => {
      this.calls.push(offset === undefined ? { code, addr } : { code, addr, offset })
    }
    const api = {
      getTopicRouteInfoFromNameServer: async (topic: string) => {
        this.routeLookups.push(topic)
        return this.routes.get(topic) ?? null
      },
      sendHeartbeat: async (addr: string) => record('HEART_BEAT', addr),
      unregisterClient: async (addr: string) => record('UNREGISTER_CLIENT', addr),
      getConsumerIdListByGroup: async () => [instance.clientId],
      queryConsumerOffset: async (addr: string) => {
        record('QUERY_CONSUMER_OFFSET', addr)
        return this.storedOffset
      },
      updateConsumerOffsetOneway: async (addr: string, _group: string, _mq: MessageQueue, offset: number) =>
        record('UPDATE_CONSUMER_OFFSET', addr, offset),
      getQueueOffset: async (addr: string) => {
        record('GET_MAX_OFFSET', addr)
        return 100
      },
      consumerSendMessageBack: async (addr: string) => record('CONSUMER_SEND_MSG_BACK', addr),
      lockBatchMQ: async (addr: string, body: { mqSet: readonly MessageQueue[] }) => {
        record('LOCK_BATCH_MQ', addr)
        return [...body.mqSet]
      },
      unlockBatchMQ: async (addr: string) => record('UNLOCK_BATCH_MQ', addr),
      pullMessage: (addr: string, header: PullMessageRequestHeader, _timeoutMs: number, lite = false) => {
        record('PULL_MESSAGE', addr)
        return new Promise<RawPullResult>((answer) => this.pulls.push({ addr, header, lite, answer }))
      },
      send: async (addr: string, req: { header: { queueId: number } }) => {
        record('SEND_MESSAGE', addr)
        return RemotingCommand.createResponse(ResponseCode.SUCCESS, null, {
          msgId: 'OFFSET-ID',
          queueId: String(req.header.queueId),
          queueOffset: '0',
        })
      },
    } satisfies Partial<Record<keyof MQClientAPI, unknown>>
    Object.assign(instance.api, api)
  }

  addrsOf(code: string): string[] {
    return this.calls.filter((c) => c.code === code).map((c) => c.addr)
  }

  /** The oldest pull not answered yet, waiting for one to arrive. */
  nextPull(): Promise<PendingPull> {
    return waitFor(() => this.pulls.shift(), { what: 'a pull request' })
  }

  /**
   * The pull issued at once, with no delay timer in between: it must arrive within a few turns of the event loop's
   * check phase (the lite consumer issues it from a `setImmediate`), long before a back-off timer (≥ 20 ms) fires.
   */
  async immediatePull(): Promise<PendingPull | undefined> {
    for (let turn = 0; turn < 3 && this.pulls.length === 0; turn++) {
      await new Promise((resolve) => setImmediate(resolve))
    }
    return this.pulls.shift()
  }
}

const instances: MQClientInstance[] = []

/** A runtime (not started) whose requests go to `fake`. */
function fakeRuntime(fake: FakeBrokers): MQClientInstance {
  const instance = new MQClientInstance('10.9.9.9@unit', resolveClientRuntimeConfig({ namesrvAddr: NAMESRV }))
  fake.install(instance)
  instances.push(instance)
  return instance
}

/** The shared runtime a producer or consumer named `instanceName` will join, answered by `fake`. */
function sharedRuntime(fake: FakeBrokers, instanceName: string): MQClientInstance {
  const config = resolvePushConsumerConfig({ consumerGroup: 'G', namesrvAddr: NAMESRV, instanceName }).runtime
  const instance = acquireClientInstance(buildClientId(instanceName, true), config)
  fake.install(instance)
  instances.push(instance)
  return instance
}

afterEach(async () => {
  vi.restoreAllMocks()
  for (const instance of instances.splice(0)) {
    await releaseClientInstance(instance)
    await instance.shutdown()
  }
})

const mqA: MessageQueue = { topic: 'T', brokerName: 'broker-a', queueId: 0 }

describe('MQClientInstance.findBrokerAddressInSubscribe', () => {
  async function runtimeWith(groups: Groups): Promise<MQClientInstance> {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(groups))
    const instance = fakeRuntime(fake)
    await instance.updateTopicRoute('T')
    return instance
  }

  it('gives the asked id when the group has it, with the slave flag', async () => {
    const instance = await runtimeWith(BOTH_A)
    expect(instance.findBrokerAddressInSubscribe('broker-a', 0, true)).toEqual({ addr: MASTER_A, slave: false })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 0, false)).toEqual({ addr: MASTER_A, slave: false })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 1, true)).toEqual({ addr: SLAVE_A, slave: true })
    expect(instance.findBrokerAddressInSubscribe('broker-x', 0, false)).toBeUndefined()
  })

  it('with the master gone: nothing for the master alone, else the slave', async () => {
    const instance = await runtimeWith(SLAVE_ONLY_A)
    expect(instance.findBrokerAddressInSubscribe('broker-a', 0, true)).toBeUndefined()
    expect(instance.findBrokerAddressInSubscribe('broker-a', 0, false)).toEqual({ addr: SLAVE_A, slave: true })
    expect(instance.findBrokerAddressInPublish('broker-a')).toBeUndefined()
  })

  it('tries the next slave id, then falls back to the lowest id of the group', async () => {
    // Listed out of order on purpose: the fallback is the lowest id (Java's HashMap order), not the first listed.
    const instance = await runtimeWith({
      'broker-a': [
        [3, SLAVE_A2],
        [2, SLAVE_A],
      ],
    })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 1, true)).toEqual({ addr: SLAVE_A, slave: true })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 0, true)).toBeUndefined()
    expect(instance.findBrokerAddressInSubscribe('broker-a', 0, false)).toEqual({ addr: SLAVE_A, slave: true })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 5, false)).toEqual({ addr: SLAVE_A, slave: true })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 5, true)).toBeUndefined()
  })

  it('falls back to the master when a suggested slave is gone', async () => {
    const instance = await runtimeWith({ 'broker-a': [[0, MASTER_A]] })
    expect(instance.findBrokerAddressInSubscribe('broker-a', 1, true)).toBeUndefined()
    expect(instance.findBrokerAddressInSubscribe('broker-a', 1, false)).toEqual({ addr: MASTER_A, slave: false })
  })
})

describe('PullAPIWrapper', () => {
  const sub: SubscriptionData = {
    topic: 'T',
    subString: '*',
    tagsSet: [],
    codeSet: [],
    subVersion: 0,
    expressionType: 'TAG',
    classFilterMode: false,
  }
  const args = {
    mq: mqA,
    sub,
    withSubscription: false,
    offset: 7,
    maxNums: 32,
    maxSizeInBytes: 1 << 20,
    sysFlag: PullSysFlag.COMMIT_OFFSET | PullSysFlag.SUSPEND,
    commitOffset: 7,
    brokerSuspendMaxTimeMillis: 15_000,
    timeoutMillis: 30_000,
    lite: false,
  }

  it('pulls where the last answer of that queue suggested; a slave gets no commit-offset flag', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(BOTH_A, 2))
    const instance = fakeRuntime(fake)
    await instance.updateTopicRoute('T')
    const wrapper = new PullAPIWrapper(instance, 'G')
    const mqA1 = { ...mqA, queueId: 1 }

    const first = wrapper.pullKernel(args)
    let pull = await fake.nextPull()
    expect([pull.addr, pull.header.sysFlag, pull.header.commitOffset]).toEqual([MASTER_A, 0x3, 7])
    pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 7, 1))
    await first

    const second = wrapper.pullKernel(args)
    pull = await fake.nextPull()
    expect([pull.addr, pull.header.sysFlag]).toEqual([SLAVE_A, PullSysFlag.SUSPEND])
    pull.answer(pullAnswer(ResponseCode.PULL_RETRY_IMMEDIATELY, 7, 0))
    expect((await second).status).toBe('NO_MATCHED_MSG')

    // Another queue of the same broker keeps its own suggestion (none yet: the master).
    const other = wrapper.pullKernel({ ...args, mq: mqA1 })
    pull = await fake.nextPull()
    expect([pull.addr, pull.header.queueId]).toEqual([MASTER_A, 1])
    pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 7, 0))
    await other

    const third = wrapper.pullKernel(args)
    pull = await fake.nextPull()
    expect([pull.addr, pull.header.sysFlag]).toEqual([MASTER_A, 0x3])
    pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 7, 0))
    await third
  })

  it('pulls from the slave while the master is gone, even when the master is suggested', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(SLAVE_ONLY_A))
    const instance = fakeRuntime(fake)
    const wrapper = new PullAPIWrapper(instance, 'G')
    // Nothing known yet: the route is looked up once, then the slave is asked.
    const pulled = wrapper.pullKernel(args)
    const pull = await fake.nextPull()
    expect(fake.routeLookups).toEqual(['T'])
    expect([pull.addr, pull.header.sysFlag]).toEqual([SLAVE_A, PullSysFlag.SUSPEND])
    pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 7, 0))
    await pulled
  })

  it('fails with "not exist" when no route names the broker', async () => {
    const fake = new FakeBrokers()
    const wrapper = new PullAPIWrapper(fakeRuntime(fake), 'G')
    await expect(wrapper.pullKernel(args)).rejects.toThrow(/The broker\[broker-a\] not exist/)
    expect(fake.calls).toEqual([])
  })
})

describe('RemoteBrokerOffsetStore through the runtime', () => {
  it('reads and writes at the master; with the master gone, refreshes the route once and uses the slave', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(BOTH_A))
    const instance = fakeRuntime(fake)
    await instance.updateTopicRoute('T')
    const store = new RemoteBrokerOffsetStore(brokerOffsetBackend(instance, 'G'), 'G')

    expect(await store.readOffset(mqA, ReadOffsetType.READ_FROM_STORE)).toBe(7)
    store.updateOffset(mqA, 8, false)
    await store.persist(mqA)
    expect(fake.calls).toEqual([
      { code: 'QUERY_CONSUMER_OFFSET', addr: MASTER_A },
      { code: 'UPDATE_CONSUMER_OFFSET', addr: MASTER_A, offset: 8 },
    ])
    expect(fake.routeLookups).toEqual(['T'])

    fake.routes.set('T', route(SLAVE_ONLY_A))
    await instance.updateTopicRoute('T')
    fake.calls.length = 0
    fake.routeLookups.length = 0
    expect(await store.readOffset(mqA, ReadOffsetType.READ_FROM_STORE)).toBe(7)
    store.updateOffset(mqA, 9, false)
    await store.persistAll([mqA])
    expect(fake.calls).toEqual([
      { code: 'QUERY_CONSUMER_OFFSET', addr: SLAVE_A },
      { code: 'UPDATE_CONSUMER_OFFSET', addr: SLAVE_A, offset: 9 },
    ])
    // Java refreshes before each fallback (the master may have come back).
    expect(fake.routeLookups).toEqual(['T', 'T'])

    fake.routes.set('T', route(BOTH_A))
    await instance.updateTopicRoute('T')
    fake.calls.length = 0
    await store.persist(mqA)
    expect(fake.calls).toEqual([{ code: 'UPDATE_CONSUMER_OFFSET', addr: MASTER_A, offset: 9 }])
  })

  it('uses the slave when the route refresh itself fails, as Java swallows that failure', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(SLAVE_ONLY_A))
    const instance = fakeRuntime(fake)
    await instance.updateTopicRoute('T')
    Object.assign(instance.api, {
      getTopicRouteInfoFromNameServer: async () => {
        throw new MQClientError('RMQ_ERR_ROUTE', 'no name server answered')
      },
    })
    const store = new RemoteBrokerOffsetStore(brokerOffsetBackend(instance, 'G'), 'G')
    expect(await store.readOffset(mqA, ReadOffsetType.READ_FROM_STORE)).toBe(7)
    expect(fake.addrsOf('QUERY_CONSUMER_OFFSET')).toEqual([SLAVE_A])
  })

  it('answers −2 (and sends nothing) when the group has no address at all', async () => {
    const fake = new FakeBrokers()
    const store = new RemoteBrokerOffsetStore(brokerOffsetBackend(fakeRuntime(fake), 'G'), 'G')
    expect(await store.readOffset(mqA, ReadOffsetType.READ_FROM_STORE)).toBe(-2)
    store.updateOffset(mqA, 3, false)
    await store.persist(mqA)
    expect(fake.calls).toEqual([])
  })
})

describe('RebalanceImpl queue locks (orderly)', () => {
  it('locks and unlocks at the master only; with the master gone nothing is sent and the lock fails', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(BOTH_A))
    const instance = fakeRuntime(fake)
    await instance.updateTopicRoute('T')
    const rebalance = new RebalanceImpl(
      'G',
      'CLUSTERING',
      allocateAveragely,
      instance,
      {
        messageQueueChanged: () => {},
        removeUnnecessaryMessageQueue: async () => true,
        computePullFromWhere: async () => 0,
        removeDirtyOffset: () => {},
        dispatchPullRequests: () => {},
        dropsStaleQueues: true,
      },
      noopLogger,
    )
    expect(await rebalance.lock(mqA)).toBe(true)
    await rebalance.unlock(mqA, true)
    expect(fake.calls).toEqual([
      { code: 'LOCK_BATCH_MQ', addr: MASTER_A },
      { code: 'UNLOCK_BATCH_MQ', addr: MASTER_A },
    ])

    fake.routes.set('T', route(SLAVE_ONLY_A))
    await instance.updateTopicRoute('T')
    fake.calls.length = 0
    expect(await rebalance.lock(mqA)).toBe(false)
    await rebalance.unlock(mqA, false)
    expect(fake.calls).toEqual([])
  })
})

describe('PushConsumer with a slave', () => {
  function consumer(instanceName: string, listener: () => ConsumeConcurrentlyStatus): PushConsumer {
    const c = new PushConsumer({ consumerGroup: 'G', namesrvAddr: NAMESRV, instanceName })
    c.subscribe('T', '*')
    c.registerMessageListener(listener)
    return c
  }

  it('follows suggestWhichBrokerId per pull; PULL_RETRY_IMMEDIATELY from the slave re-pulls at once, same offset', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(BOTH_A))
    sharedRuntime(fake, 'ms-push-1')
    const c = consumer('ms-push-1', () => ConsumeConcurrentlyStatus.CONSUME_SUCCESS)
    await c.start()
    try {
      // Heartbeats reach the slave too: it must know the group to serve its pulls.
      expect(new Set(fake.addrsOf('HEART_BEAT'))).toEqual(new Set([MASTER_A, SLAVE_A]))
      let pull = await fake.nextPull()
      expect(fake.addrsOf('QUERY_CONSUMER_OFFSET')).toEqual([MASTER_A])
      expect([pull.addr, pull.header.queueOffset, pull.header.commitOffset]).toEqual([MASTER_A, 7, 7])
      expect(pull.header.sysFlag & PullSysFlag.COMMIT_OFFSET).toBe(PullSysFlag.COMMIT_OFFSET)
      pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 7, 1))

      pull = (await fake.immediatePull())!
      expect(pull.addr).toBe(SLAVE_A)
      expect(pull.header.queueOffset).toBe(7)
      expect(pull.header.sysFlag & PullSysFlag.COMMIT_OFFSET).toBe(0)
      expect(pull.header.sysFlag & PullSysFlag.SUSPEND).toBe(PullSysFlag.SUSPEND)
      pull.answer(pullAnswer(ResponseCode.PULL_RETRY_IMMEDIATELY, 7, 0))

      pull = (await fake.immediatePull())!
      expect([pull.addr, pull.header.queueOffset]).toEqual([MASTER_A, 7])
      expect(pull.header.sysFlag & PullSysFlag.COMMIT_OFFSET).toBe(PullSysFlag.COMMIT_OFFSET)
    } finally {
      await c.shutdown()
    }
  })

  it('with the master down: pulls and offsets go to the slave, send-back falls back to the retry topic; then back', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(BOTH_A))
    const instance = sharedRuntime(fake, 'ms-push-2')
    const retried: Message[] = []
    vi.spyOn(Producer.prototype, 'start').mockResolvedValue()
    vi.spyOn(Producer.prototype, 'send').mockImplementation(async (msg: unknown) => {
      retried.push(msg as Message)
      return { sendStatus: SendStatus.SEND_OK } as SendResult
    })
    const c = consumer('ms-push-2', () => ConsumeConcurrentlyStatus.RECONSUME_LATER)
    await c.start()
    try {
      let pull = await fake.nextPull()
      expect(pull.addr).toBe(MASTER_A)

      fake.routes.set('T', route(SLAVE_ONLY_A))
      await instance.updateTopicRoute('T')
      const record = storedRecord({ topic: 'T', queueId: 0, queueOffset: 7, storeHost: MASTER_A })
      pull.answer(pullAnswer(ResponseCode.SUCCESS, 8, 0, record))

      pull = (await fake.immediatePull())!
      expect([pull.addr, pull.header.queueOffset]).toEqual([SLAVE_A, 8])
      expect(pull.header.sysFlag & PullSysFlag.COMMIT_OFFSET).toBe(0)

      // The failed message goes to %RETRY%G through the internal producer; no broker is asked to take it back.
      await waitFor(() => retried.length === 1, { what: 'the retry-topic send' })
      expect(fake.addrsOf('CONSUMER_SEND_MSG_BACK')).toEqual([])
      expect(retried[0]!.topic).toBe('%RETRY%G')
      expect(retried[0]!.properties.get(MessageConst.PROPERTY_RETRY_TOPIC)).toBe('T')
      expect(retried[0]!.delayTimeLevel).toBe(3)

      await waitFor(async () => (await c.offsetStore.readOffset(mqA, ReadOffsetType.READ_FROM_MEMORY)) === 8, {
        what: 'the consumed offset',
      })
      await c.persistConsumerOffset()
      expect(fake.calls.filter((x) => x.code === 'UPDATE_CONSUMER_OFFSET')).toEqual([
        { code: 'UPDATE_CONSUMER_OFFSET', addr: SLAVE_A, offset: 8 },
      ])

      fake.routes.set('T', route(BOTH_A))
      await instance.updateTopicRoute('T')
      pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 8, 0))
      pull = (await fake.immediatePull())!
      expect([pull.addr, pull.header.queueOffset, pull.header.commitOffset]).toEqual([MASTER_A, 8, 8])
      expect(pull.header.sysFlag & PullSysFlag.COMMIT_OFFSET).toBe(PullSysFlag.COMMIT_OFFSET)
      fake.calls.length = 0
      await c.persistConsumerOffset()
      expect(fake.calls).toEqual([{ code: 'UPDATE_CONSUMER_OFFSET', addr: MASTER_A, offset: 8 }])
    } finally {
      await c.shutdown()
    }
  })

  it('sends CONSUMER_SEND_MSG_BACK to the master of the message broker while it is up', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(BOTH_A))
    sharedRuntime(fake, 'ms-push-3')
    const send = vi.spyOn(Producer.prototype, 'send')
    const c = consumer('ms-push-3', () => ConsumeConcurrentlyStatus.RECONSUME_LATER)
    await c.start()
    try {
      const pull = await fake.nextPull()
      // The record names another store host: the address comes from the route, the master of the queue's broker.
      const record = storedRecord({ topic: 'T', queueId: 0, queueOffset: 7, storeHost: SLAVE_A })
      pull.answer(pullAnswer(ResponseCode.SUCCESS, 8, 1, record))
      await waitFor(() => fake.addrsOf('CONSUMER_SEND_MSG_BACK').length === 1, { what: 'the send-back' })
      expect(fake.addrsOf('CONSUMER_SEND_MSG_BACK')).toEqual([MASTER_A])
      expect(send).not.toHaveBeenCalled()
    } finally {
      await c.shutdown()
    }
  })
})

describe('LitePullConsumer with a slave', () => {
  it('pulls (never with the commit flag) and commits at the slave while the master is down, at the master after', async () => {
    const fake = new FakeBrokers()
    fake.routes.set('T', route(SLAVE_ONLY_A))
    const instance = sharedRuntime(fake, 'ms-lite-1')
    const c = new LitePullConsumer({ consumerGroup: 'G', namesrvAddr: NAMESRV, instanceName: 'ms-lite-1' })
    c.assign([mqA])
    await c.start()
    try {
      let pull = await fake.nextPull()
      expect(fake.addrsOf('QUERY_CONSUMER_OFFSET')).toEqual([SLAVE_A])
      expect([pull.addr, pull.lite, pull.header.queueOffset]).toEqual([SLAVE_A, true, 7])
      expect(pull.header.sysFlag).toBe(PullSysFlag.SUSPEND | PullSysFlag.SUBSCRIPTION | PullSysFlag.LITE_PULL)
      pull.answer(pullAnswer(ResponseCode.PULL_RETRY_IMMEDIATELY, 7, 0))

      pull = (await fake.immediatePull())!
      expect([pull.addr, pull.header.queueOffset]).toEqual([SLAVE_A, 7])
      await c.commit(new Map([[mqA, 7]]), true)
      expect(fake.calls.filter((x) => x.code === 'UPDATE_CONSUMER_OFFSET')).toEqual([
        { code: 'UPDATE_CONSUMER_OFFSET', addr: SLAVE_A, offset: 7 },
      ])

      fake.routes.set('T', route(BOTH_A))
      await instance.updateTopicRoute('T')
      pull.answer(pullAnswer(ResponseCode.PULL_NOT_FOUND, 7, 0))
      pull = (await fake.immediatePull())!
      expect([pull.addr, pull.header.queueOffset]).toEqual([MASTER_A, 7])
      expect(pull.header.sysFlag & PullSysFlag.COMMIT_OFFSET).toBe(0)
      fake.calls.length = 0
      await c.commit(new Map([[mqA, 7]]), true)
      expect(fake.calls).toEqual([{ code: 'UPDATE_CONSUMER_OFFSET', addr: MASTER_A, offset: 7 }])
    } finally {
      await c.shutdown()
    }
  })
})

describe('Producer with slaves', () => {
  const names = (info: TopicPublishInfo): string[] => [...new Set(info.messageQueues.map((q) => q.brokerName))]

  it('publishes only to groups with a master; a group whose master is gone has no queues until it is back', async () => {
    const both = route(
      {
        ...BOTH_A,
        'broker-b': [
          [0, MASTER_B],
          [1, SLAVE_B],
        ],
      },
      2,
    )
    const aDown = route(
      {
        ...SLAVE_ONLY_A,
        'broker-b': [
          [0, MASTER_B],
          [1, SLAVE_B],
        ],
      },
      2,
    )
    let current = both
    const table = new PublishRouteTable(async () => current, 'TBW102', 4, noopLogger)
    expect(names(await table.find('T'))).toEqual(['broker-a', 'broker-b'])
    current = aDown
    await table.refreshAll()
    expect(names(table.get('T')!)).toEqual(['broker-b'])
    expect(table.get('T')!.brokerAddr('broker-a')).toBeUndefined()
    current = both
    await table.refreshAll()
    expect(names(table.get('T')!)).toEqual(['broker-a', 'broker-b'])

    // The only group without its master: no route to send to at all.
    current = route(SLAVE_ONLY_A)
    await table.refreshAll()
    expect(table.get('T')!.ok()).toBe(false)
    expect(table.cached('T')).toBeUndefined()
  })

  it('sends to masters only, and never to a master a stale route of another topic still lists', async () => {
    const fake = new FakeBrokers()
    const groupB: Groups = {
      'broker-b': [
        [0, MASTER_B],
        [1, SLAVE_B],
      ],
    }
    fake.routes.set('T', route({ ...BOTH_A, ...groupB }, 2))
    fake.routes.set('U', route(BOTH_A))
    sharedRuntime(fake, 'ms-producer-1')
    const p = new Producer({ producerGroup: 'PG', namesrvAddr: NAMESRV, instanceName: 'ms-producer-1' })
    await p.start()
    const sendsTo = async (n: number): Promise<Set<string>> => {
      fake.calls.length = 0
      for (let i = 0; i < n; i++) await p.send(new Message({ topic: 'T', body: Buffer.from('x') }))
      return new Set(fake.addrsOf('SEND_MESSAGE'))
    }
    try {
      await p.send(new Message({ topic: 'U', body: Buffer.from('x') }))
      expect(await sendsTo(8)).toEqual(new Set([MASTER_A, MASTER_B]))

      // Master A is gone; U disappears from the name server, so its cached route keeps listing master A.
      fake.routes.set('T', route({ ...SLAVE_ONLY_A, ...groupB }, 2))
      fake.routes.delete('U')
      await p['routes'].refreshAll()
      expect((await p.fetchPublishMessageQueues('T')).map((q) => q.brokerName)).toEqual(['broker-b', 'broker-b'])
      expect(await sendsTo(8)).toEqual(new Set([MASTER_B]))
      fake.calls.length = 0
      const err = await p.send(new Message({ topic: 'T', body: Buffer.from('x') }), mqA).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MQClientError)
      expect((err as MQClientError).code).toBe('RMQ_ERR_BROKER_NOT_FOUND')
      expect(fake.addrsOf('SEND_MESSAGE')).toEqual([])

      fake.routes.set('T', route({ ...BOTH_A, ...groupB }, 2))
      await p['routes'].refreshAll()
      expect(await sendsTo(8)).toEqual(new Set([MASTER_A, MASTER_B]))
      expect(fake.calls.filter((x) => x.addr === SLAVE_A || x.addr === SLAVE_B)).toEqual([])
    } finally {
      await p.shutdown()
    }
  })
})

describe('AdminClient.clusterList with slaves', () => {
  it('lists every address of every group, slaves included, also when the master is gone', async () => {
    const body = encodeClusterInfo({
      brokerAddrTable: new Map([
        [
          'broker-a',
          {
            cluster: 'C',
            brokerName: 'broker-a',
            brokerAddrs: new Map([
              [1, SLAVE_A],
              [0, MASTER_A],
            ]),
          },
        ],
        ['broker-b', { cluster: 'C', brokerName: 'broker-b', brokerAddrs: new Map([[1, SLAVE_B]]) }],
      ]),
      clusterAddrTable: new Map([['C', new Set(['broker-b', 'broker-a'])]]),
    })
    vi.spyOn(RemotingClient.prototype, 'invoke').mockImplementation(async (addr, request) => {
      if (request.code === RequestCode.GET_BROKER_CLUSTER_INFO && addr === NAMESRV) {
        const response = RemotingCommand.createResponse(ResponseCode.SUCCESS)
        response.body = body
        return response
      }
      // Only the master answers its runtime info.
      if (request.code === RequestCode.GET_BROKER_RUNTIME_INFO && addr !== MASTER_A) {
        return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, 'down')
      }
      const response = RemotingCommand.createResponse(ResponseCode.SUCCESS)
      response.body = Buffer.from('{"table":{"brokerVersionDesc":"V4_9_7"}}')
      return response
    })
    const admin = new AdminClient({ namesrvAddr: NAMESRV })
    await admin.start()
    try {
      expect(await admin.clusterList()).toEqual([
        { clusterName: 'C', brokerName: 'broker-a', brokerId: 0, addr: MASTER_A },
        { clusterName: 'C', brokerName: 'broker-a', brokerId: 1, addr: SLAVE_A },
        { clusterName: 'C', brokerName: 'broker-b', brokerId: 1, addr: SLAVE_B },
      ])
      const rows = await admin.clusterListWithRuntime()
      expect(rows.map((r) => [r.addr, r.brokerId, r.version])).toEqual([
        [MASTER_A, 0, 'V4_9_7'],
        [SLAVE_A, 1, null],
        [SLAVE_B, 1, null],
      ])
    } finally {
      await admin.shutdown()
    }
  })
})
