import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { groupDetail, messageView } from '../../ts/admin/admin-views.js'
import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { LitePullConsumer } from '../../ts/client/lite-pull-consumer.js'
import { Message } from '../../ts/client/message.js'
import { MessageSelector } from '../../ts/client/message-selector.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { BrokerResponseError } from '../../ts/common/errors.js'
import type { MessageExt } from '../../ts/common/message/message-ext.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { PullSysFlag } from '../../ts/remoting/protocol/pull-sys-flag.js'
import type { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { TIMEOUT_MS, createTopic, request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const SELECTOR = "a BETWEEN 3 AND 7 AND region = 'eu'"

interface SqlPull {
  group: string
  topic: string
  offset: number
  expression?: string
  /** Default: the subscription travels with the request (lite pull style). */
  sysFlag?: number
  subVersion?: number
  maxMsgNums?: number
  suspendTimeoutMillis?: number
}

/** A PULL_MESSAGE with expression type SQL92 on queue 0. */
function sqlPull(client: RemotingClient, addr: string, o: SqlPull): Promise<RemotingCommand> {
  const ext: Record<string, string> = {
    consumerGroup: o.group,
    topic: o.topic,
    queueId: '0',
    queueOffset: String(o.offset),
    maxMsgNums: String(o.maxMsgNums ?? 32),
    sysFlag: String(o.sysFlag ?? PullSysFlag.SUBSCRIPTION),
    commitOffset: '0',
    suspendTimeoutMillis: String(o.suspendTimeoutMillis ?? 0),
    subVersion: String(o.subVersion ?? 0),
    expressionType: 'SQL92',
  }
  if (o.expression !== undefined) ext.subscription = o.expression
  return client.invoke(addr, RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, ext), TIMEOUT_MS + 10_000)
}

/** A consumer heartbeat registering one SQL92 subscription. */
function sqlHeartbeat(
  client: RemotingClient,
  addr: string,
  group: string,
  topic: string,
  expression: string,
  subVersion: number,
): Promise<RemotingCommand> {
  return request(
    client,
    addr,
    RequestCode.HEART_BEAT,
    {},
    {
      clientID: 'sql-client',
      producerDataSet: [],
      consumerDataSet: [
        {
          groupName: group,
          consumeType: 'CONSUME_PASSIVELY',
          messageModel: 'CLUSTERING',
          consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
          unitMode: false,
          subscriptionDataSet: [
            {
              topic,
              subString: expression,
              expressionType: 'SQL92',
              classFilterMode: false,
              tagsSet: [],
              codeSet: [],
              subVersion,
            },
          ],
        },
      ],
    },
  )
}

function checkClientConfig(
  client: RemotingClient,
  addr: string,
  expression: string,
  type = 'SQL92',
): Promise<RemotingCommand> {
  return request(
    client,
    addr,
    RequestCode.CHECK_CLIENT_CONFIG,
    {},
    {
      clientId: 'sql-client',
      group: 'GCheck',
      subscriptionData: {
        topic: 'T',
        subString: expression,
        expressionType: type,
        tagsSet: [],
        codeSet: [],
        subVersion: 1,
      },
    },
  )
}

/** The `a` property of each record in a pull response body. */
function aValues(r: RemotingCommand): (string | undefined)[] {
  return decodeMessages(r.body!).map((m) => m.properties.get('a'))
}

async function startFailure(start: () => Promise<void>): Promise<BrokerResponseError> {
  try {
    await start()
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerResponseError)
    return err as BrokerResponseError
  }
  throw new Error('start() succeeded')
}

describe('SQL92 filtering on a broker with enablePropertyFilter=true', () => {
  let c: TestCluster
  let producer: Producer

  beforeAll(async () => {
    c = await startCluster({ broker: { enablePropertyFilter: true, defaultTopicQueueNums: 4 } })
    producer = new Producer({ producerGroup: 'PG', namesrvAddr: c.namesrvAddr })
    await producer.start()
    // Queue 0 of SqlRaw: a = 0..19 with region eu for even a, then one with a non-numeric a and one without a.
    expect((await createTopic(c.client, c.brokerAddr, 'SqlRaw', 1)).code).toBe(0)
    for (let i = 0; i < 20; i++) {
      const properties = { a: String(i), region: i % 2 === 0 ? 'eu' : 'us' }
      expect((await send(c.client, c.brokerAddr, { topic: 'SqlRaw', properties })).code).toBe(0)
    }
    expect((await send(c.client, c.brokerAddr, { topic: 'SqlRaw', properties: { a: 'x', region: 'eu' } })).code).toBe(0)
    expect((await send(c.client, c.brokerAddr, { topic: 'SqlRaw', properties: { region: 'eu' } })).code).toBe(0)
  })
  afterAll(async () => {
    await producer?.shutdown()
    await c?.stop()
  })

  it('a pull carrying its expression returns only matching records and moves past the others', async () => {
    const pull = (o: Partial<SqlPull>): Promise<RemotingCommand> =>
      sqlPull(c.client, c.brokerAddr, { group: 'GRaw', topic: 'SqlRaw', offset: 0, expression: SELECTOR, ...o })
    let r = await pull({})
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(aValues(r)).toEqual(['4', '6'])
    expect(r.extFields?.nextBeginOffset).toBe('22')
    // A full batch stops right after its last match.
    r = await pull({ maxMsgNums: 1 })
    expect(aValues(r)).toEqual(['4'])
    expect(r.extFields?.nextBeginOffset).toBe('5')
    r = await pull({ maxMsgNums: 1, offset: 5 })
    expect(aValues(r)).toEqual(['6'])
    expect(r.extFields?.nextBeginOffset).toBe('7')
    // Nothing in the window matches: pull again at once, from past the window.
    r = await pull({ offset: 7 })
    expect(r.code).toBe(ResponseCode.PULL_RETRY_IMMEDIATELY)
    expect(r.remark).toBe('NO_MATCHED_MESSAGE')
    expect(r.extFields?.nextBeginOffset).toBe('22')
    r = await pull({ offset: 22 })
    expect(r.code).toBe(ResponseCode.PULL_NOT_FOUND)
    // Missing and non-numeric values never match; an evaluation error does not fail the pull.
    r = await pull({ expression: "region = 'eu' AND a > 17" })
    expect(aValues(r)).toEqual(['18'])
    r = await pull({ expression: "a IS NULL OR a NOT IN ('0', '1') AND a < 3" })
    expect(aValues(r)).toEqual(['2', undefined])
    r = await pull({ expression: "region = 'eu' AND a CONTAINS '1' AND a NOT ENDSWITH '0'" })
    expect(aValues(r)).toEqual(['12', '14', '16', '18'])
    r = await pull({ expression: 'a >' })
    expect(r.code).toBe(ResponseCode.SUBSCRIPTION_PARSE_FAILED)
    expect(r.remark).toBe("parse the consumer's subscription failed")
  })

  it('heartbeat subscriptions are compiled per version; stale, newer or invalid ones answer as RocketMQ does', async () => {
    const pull = (subVersion: number): Promise<RemotingCommand> =>
      sqlPull(c.client, c.brokerAddr, { group: 'GBeat', topic: 'SqlRaw', offset: 0, sysFlag: 0, subVersion })
    expect((await sqlHeartbeat(c.client, c.brokerAddr, 'GBeat', 'SqlRaw', 'a < 3', 1000)).code).toBe(0)
    let r = await pull(1000)
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(aValues(r)).toEqual(['0', '1', '2'])
    const compiled = c.broker.consumerManager.getConsumerGroupInfo('GBeat')!.findFilterData('SqlRaw')!.compiled
    // A client ahead of its heartbeat is told to wait.
    r = await pull(2000)
    expect(r.code).toBe(ResponseCode.SUBSCRIPTION_NOT_LATEST)
    // The same expression again: compiled once, only the version moves.
    expect((await sqlHeartbeat(c.client, c.brokerAddr, 'GBeat', 'SqlRaw', 'a < 3', 1500)).code).toBe(0)
    const data = c.broker.consumerManager.getConsumerGroupInfo('GBeat')!.findFilterData('SqlRaw')!
    expect(data.compiled).toBe(compiled)
    expect(data.clientVersion).toBe(1500)
    // A newer expression replaces it; an older one is ignored.
    expect((await sqlHeartbeat(c.client, c.brokerAddr, 'GBeat', 'SqlRaw', 'a >= 18', 2000)).code).toBe(0)
    expect((await sqlHeartbeat(c.client, c.brokerAddr, 'GBeat', 'SqlRaw', 'a < 3', 1800)).code).toBe(0)
    r = await pull(2000)
    expect(aValues(r)).toEqual(['18', '19'])
    // A newer expression that does not compile removes the filter: the pull is refused, not served unfiltered.
    expect((await sqlHeartbeat(c.client, c.brokerAddr, 'GBeat', 'SqlRaw', 'a >>', 3000)).code).toBe(0)
    r = await pull(3000)
    expect(r.code).toBe(ResponseCode.FILTER_DATA_NOT_EXIST)
    expect(r.remark).toContain('Your expression may be wrong')
  })

  it('CHECK_CLIENT_CONFIG accepts tags and valid SQL92, and refuses an invalid expression with the reason', async () => {
    expect((await checkClientConfig(c.client, c.brokerAddr, SELECTOR)).code).toBe(ResponseCode.SUCCESS)
    expect((await checkClientConfig(c.client, c.brokerAddr, 'TagA || TagB', 'TAG')).code).toBe(ResponseCode.SUCCESS)
    const r = await checkClientConfig(c.client, c.brokerAddr, "a > 'x'")
    expect(r.code).toBe(ResponseCode.SUBSCRIPTION_PARSE_FAILED)
    expect(r.remark).toBe("Invalid MessageSelector. Value ''x'' cannot be compared.")
  })

  it('a held SQL92 pull is woken by a matching message, not by others', async () => {
    expect((await createTopic(c.client, c.brokerAddr, 'SqlHold', 1)).code).toBe(0)
    const hold = c.broker.pullRequestHoldService
    const held = sqlPull(c.client, c.brokerAddr, {
      group: 'GHold',
      topic: 'SqlHold',
      offset: 0,
      expression: 'a > 5',
      sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND,
      suspendTimeoutMillis: 10_000,
    })
    await waitFor(() => hold.size === 1, { what: 'the pull parked' })
    expect((await send(c.client, c.brokerAddr, { topic: 'SqlHold', properties: { a: '1' } })).code).toBe(0)
    expect(hold.size).toBe(1)
    expect((await send(c.client, c.brokerAddr, { topic: 'SqlHold', properties: { a: '9' } })).code).toBe(0)
    expect(hold.size).toBe(0)
    const r = await held
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(aValues(r)).toEqual(['9'])
    expect(r.extFields?.nextBeginOffset).toBe('2')
  })

  /** A push consumer of `topic` from its first offset, recording each delivery. */
  function pushConsumer(group: string, topic: string, selector: MessageSelector, got: ReceivedMessage[]): PushConsumer {
    const k = new PushConsumer({
      consumerGroup: group,
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      persistConsumerOffsetInterval: 200,
    })
    k.subscribe(topic, selector)
    k.registerMessageListener((msgs) => {
      got.push(...msgs)
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    return k
  }

  /** Until the group's committed offset is the end of every queue of the topic. */
  async function progressAtEnd(group: string, topic: string): Promise<void> {
    const queues = c.broker.store.queues().filter((q) => q.topic === topic)
    expect(queues.length).toBeGreaterThan(0)
    await waitFor(
      () =>
        queues.every(
          (q) =>
            c.broker.consumerOffsetManager.queryOffset(group, topic, q.queueId) ===
            c.broker.store.getMaxOffsetInQueue(topic, q.queueId),
        ),
      { timeoutMs: 30_000, what: `${group} at the end of ${topic}` },
    )
  }

  async function produceMixed(
    topic: string,
    n: number,
    batch = 'b1',
  ): Promise<Map<string, { a: number; region: string }>> {
    const sent = new Map<string, { a: number; region: string }>()
    for (let i = 0; i < n; i++) {
      const a = i % 10
      const region = i % 3 === 0 ? 'eu' : 'us'
      const r = await producer.send(new Message({ topic, body: `${batch}-${i}`, properties: { a: String(a), region } }))
      sent.set(r.msgId, { a, region })
    }
    return sent
  }

  it('a push consumer with MessageSelector.bySql gets exactly the matching messages, once, and ends every queue', async () => {
    const sent = await produceMixed('SqlPush', 60)
    const want = [...sent].filter(([, p]) => p.a >= 3 && p.a <= 7 && p.region === 'eu').map(([id]) => id)
    expect(want.length).toBeGreaterThan(0)
    expect(want.length).toBeLessThan(sent.size)
    const got: ReceivedMessage[] = []
    const k = pushConsumer('GPush', 'SqlPush', MessageSelector.bySql(SELECTOR), got)
    try {
      await k.start()
      await waitFor(() => got.length >= want.length, { timeoutMs: 30_000, what: 'the matching messages' })
      await progressAtEnd('GPush', 'SqlPush')
      expect(got.map((m) => m.msgId).sort()).toEqual([...want].sort())
      // The broker and its admin views show the subscription as SQL92.
      const sub = c.broker.consumerManager.findSubscriptionData('GPush', 'SqlPush')
      expect(sub).toMatchObject({ expressionType: 'SQL92', subString: SELECTOR })
      const detail = await groupDetail(c.broker, 'GPush')
      expect(detail!.subscriptions).toContainEqual({ topic: 'SqlPush', expressionType: 'SQL92', expression: SELECTOR })
      const stored: MessageExt[] = []
      for (const q of [0, 1, 2, 3]) {
        stored.push(...decodeMessages((await c.broker.store.getMessage('GPush', 'SqlPush', q, 0, 32)).buffer))
      }
      const status = (want: boolean): string | undefined => {
        const m = stored.find(
          (x) =>
            want ===
            (Number(x.properties.get('a')) >= 3 &&
              Number(x.properties.get('a')) <= 7 &&
              x.properties.get('region') === 'eu'),
        )
        return messageView(c.broker, m!).deliveries.find((d) => d.group === 'GPush')?.status
      }
      expect(status(true)).toBe('CONSUMED')
      expect(status(false)).toBe('CONSUMED_BUT_FILTERED')
    } finally {
      await k.shutdown()
    }
  })

  it('a new expression subscribed while running (new subVersion) takes effect', async () => {
    const first = await produceMixed('SqlChange', 10, 'b1')
    const got: ReceivedMessage[] = []
    const k = pushConsumer('GChange', 'SqlChange', MessageSelector.bySql('a < 5'), got)
    try {
      await k.start()
      await waitFor(() => got.length >= 5, { timeoutMs: 30_000, what: 'the first selection' })
      await progressAtEnd('GChange', 'SqlChange')
      expect(got.map((m) => m.msgId).sort()).toEqual(
        [...first]
          .filter(([, p]) => p.a < 5)
          .map(([id]) => id)
          .sort(),
      )
      const before = c.broker.consumerManager.findSubscriptionData('GChange', 'SqlChange')!.subVersion
      k.subscribe('SqlChange', MessageSelector.bySql('a >= 5'))
      const group = c.broker.consumerManager.getConsumerGroupInfo('GChange')!
      await waitFor(() => group.findFilterData('SqlChange')?.expression === 'a >= 5', { what: 'the new expression' })
      expect(group.findSubscriptionData('SqlChange')!.subVersion).toBeGreaterThan(before)
      got.length = 0
      const second = await produceMixed('SqlChange', 10, 'b2')
      await waitFor(() => got.length >= 5, { timeoutMs: 30_000, what: 'the second selection' })
      await progressAtEnd('GChange', 'SqlChange')
      expect(got.map((m) => m.msgId).sort()).toEqual(
        [...second]
          .filter(([, p]) => p.a >= 5)
          .map(([id]) => id)
          .sort(),
      )
    } finally {
      await k.shutdown()
    }
  })

  it('a lite pull consumer with an SQL92 selector polls only matching messages', async () => {
    const sent = await produceMixed('SqlLite', 40)
    const want = [...sent].filter(([, p]) => p.region === 'eu' && p.a > 4).map(([id]) => id)
    const k = new LitePullConsumer({
      consumerGroup: 'GLite',
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      pollTimeoutMillis: 100,
    })
    k.subscribe('SqlLite', MessageSelector.bySql("region = 'eu' AND a > 4"))
    try {
      await k.start()
      const got: ReceivedMessage[] = []
      await waitFor(
        async () => {
          got.push(...(await k.poll(100)))
          return got.length >= want.length
        },
        { timeoutMs: 30_000, what: 'the matching messages polled' },
      )
      expect(got.map((m) => m.msgId).sort()).toEqual([...want].sort())
    } finally {
      await k.shutdown()
    }
  })

  it('an expression that does not compile fails the consumer start with the broker answer', async () => {
    await produceMixed('SqlBad', 1)
    const k = pushConsumer('GBad', 'SqlBad', MessageSelector.bySql('a BETWEEN 7 AND 3'), [])
    const err = await startFailure(() => k.start())
    expect(err.responseCode).toBe(ResponseCode.SUBSCRIPTION_PARSE_FAILED)
    expect(err.remark).toBe(
      'Invalid MessageSelector. Illegal values of between, left value(7) must less than or equal to right value(3)',
    )
    expect(k.subscribedTopics()).toEqual([])
  })
})

describe('SQL92 filtering on a broker with enablePropertyFilter=false (the default)', () => {
  let c: TestCluster

  beforeAll(async () => {
    c = await startCluster()
    expect((await createTopic(c.client, c.brokerAddr, 'SqlOff', 2)).code).toBe(0)
  })
  afterAll(async () => {
    await c?.stop()
  })

  const refusal = 'The broker does not support consumer to filter message by SQL92'

  it('refuses SQL92 pulls and CHECK_CLIENT_CONFIG with SYSTEM_ERROR', async () => {
    const r = await sqlPull(c.client, c.brokerAddr, { group: 'GOff', topic: 'SqlOff', offset: 0, expression: 'a > 1' })
    expect(r.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(r.remark).toBe(refusal)
    const check = await checkClientConfig(c.client, c.brokerAddr, 'a > 1')
    expect(check.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(check.remark).toBe(refusal)
    expect((await checkClientConfig(c.client, c.brokerAddr, '*', 'TAG')).code).toBe(ResponseCode.SUCCESS)
    // A heartbeat may register SQL92 subscriptions; their pulls are refused all the same.
    expect((await sqlHeartbeat(c.client, c.brokerAddr, 'GOffBeat', 'SqlOff', 'a > 1', 1000)).code).toBe(0)
    const beat = await sqlPull(c.client, c.brokerAddr, { group: 'GOffBeat', topic: 'SqlOff', offset: 0, sysFlag: 0 })
    expect(beat.code).toBe(ResponseCode.SYSTEM_ERROR)
  })

  it('push and lite pull consumers with SQL92 selectors fail to start with the broker error', async () => {
    const push = new PushConsumer({ consumerGroup: 'GOffPush', namesrvAddr: c.namesrvAddr })
    push.subscribe('SqlOff', MessageSelector.bySql('a > 1'))
    push.registerMessageListener(() => ConsumeConcurrentlyStatus.CONSUME_SUCCESS)
    let err = await startFailure(() => push.start())
    expect(err.responseCode).toBe(ResponseCode.SYSTEM_ERROR)
    expect(err.remark).toBe(refusal)
    const lite = new LitePullConsumer({ consumerGroup: 'GOffLite', namesrvAddr: c.namesrvAddr })
    lite.subscribe('SqlOff', 'a > 1', 'SQL92')
    err = await startFailure(() => lite.start())
    expect(err.responseCode).toBe(ResponseCode.SYSTEM_ERROR)
    expect(lite.isRunning()).toBe(false)
    // Tag subscriptions are not checked and start as before.
    const tags = new PushConsumer({ consumerGroup: 'GOffTag', namesrvAddr: c.namesrvAddr })
    tags.subscribe('SqlOff', MessageSelector.byTag('TagA || TagB'))
    tags.registerMessageListener(() => ConsumeConcurrentlyStatus.CONSUME_SUCCESS)
    await tags.start()
    await tags.shutdown()
  })
})
