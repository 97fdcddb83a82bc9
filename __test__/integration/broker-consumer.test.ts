import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import type { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { heartbeat, pull, request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

describe('broker: consumers, offsets and locks', () => {
  let c: TestCluster
  const clients: RemotingClient[] = []
  beforeEach(async () => {
    c = await startCluster()
  })
  afterEach(async () => {
    for (const cl of clients.splice(0)) cl.shutdown()
    await c.stop()
  })

  function newClient(notifications: string[] = []): RemotingClient {
    const cl = new RemotingClient()
    cl.registerProcessor(RequestCode.NOTIFY_CONSUMER_IDS_CHANGED, {
      processRequest: (_ch, req: RemotingCommand) => {
        notifications.push(req.ext('consumerGroup')!)
        return null
      },
    })
    clients.push(cl)
    return cl
  }

  it('registers consumers by heartbeat, lists them, creates the retry topic and notifies members of changes', async () => {
    const seenByA: string[] = []
    const a = newClient(seenByA)
    const b = newClient()
    expect((await heartbeat(a, c.brokerAddr, 'client-a', [{ group: 'G1', topics: { T1: 'TagA || TagB' } }], ['P1'])).code).toBe(0)
    expect(c.broker.topicConfigManager.selectTopicConfig('%RETRY%G1')).toMatchObject({ readQueueNums: 1, perm: 6 })
    expect((await heartbeat(b, c.brokerAddr, 'client-b', [{ group: 'G1', topics: { T1: 'TagA' } }])).code).toBe(0)
    await waitFor(() => seenByA.includes('G1'), { what: 'NOTIFY_CONSUMER_IDS_CHANGED at client a' })
    const list = await request(a, c.brokerAddr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'G1' })
    expect(JSON.parse(list.body!.toString()).consumerIdList.sort()).toEqual(['client-a', 'client-b'])
    // The broker recomputes tag hashes instead of trusting the client's codeSet (which the helper leaves empty).
    expect(c.broker.consumerManager.findSubscriptionData('G1', 'T1')!.codeSet.length).toBeGreaterThan(0)
    const producers = await request(a, c.brokerAddr, RequestCode.GET_PRODUCER_CONNECTION_LIST, { producerGroup: 'P1' })
    expect(JSON.parse(producers.body!.toString()).connectionSet[0].clientId).toBe('client-a')

    seenByA.length = 0
    b.shutdown()
    await waitFor(() => seenByA.includes('G1'), { what: 'notification after a member closed its connection' })
    const after = await request(a, c.brokerAddr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'G1' })
    expect(JSON.parse(after.body!.toString()).consumerIdList).toEqual(['client-a'])
    const unreg = await request(a, c.brokerAddr, RequestCode.UNREGISTER_CLIENT, { clientID: 'client-a', consumerGroup: 'G1', producerGroup: 'P1' })
    expect(unreg.code).toBe(0)
    const gone = await request(a, c.brokerAddr, RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'G1' })
    expect(gone.code).toBe(ResponseCode.SYSTEM_ERROR)
  })

  it('commits offsets by request and by pull, answers queries, and keeps them across a restart', async () => {
    for (let i = 0; i < 5; i++) await send(c.client, c.brokerAddr, { topic: 'OT' })
    const q = (group: string): Promise<RemotingCommand> =>
      request(c.client, c.brokerAddr, RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic: 'OT', queueId: 0 })
    // A new group on a queue that still starts at 0 starts from 0 (`QUERY_CONSUMER_OFFSET`, protocol.md §2.5).
    expect((await q('NEW')).ext('offset')).toBe('0')
    const upd = await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'G', topic: 'OT', queueId: 0, commitOffset: 3 })
    expect(upd.code).toBe(0)
    expect((await q('G')).ext('offset')).toBe('3')
    // ali-ons sends -1 for "no offset yet": never stored.
    await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'G', topic: 'OT', queueId: 0, commitOffset: -1 })
    expect((await q('G')).ext('offset')).toBe('3')
    await pull(c.client, c.brokerAddr, { group: 'G', topic: 'OT', offset: 3, sysFlag: 0x5, commitOffset: 4 })
    expect((await q('G')).ext('offset')).toBe('4')
    const max = await request(c.client, c.brokerAddr, RequestCode.GET_MAX_OFFSET, { topic: 'OT', queueId: 0 })
    const min = await request(c.client, c.brokerAddr, RequestCode.GET_MIN_OFFSET, { topic: 'OT', queueId: 0 })
    expect([min.ext('offset'), max.ext('offset')]).toEqual(['0', '5'])
    await c.stopBroker()
    await c.restartBroker()
    expect((await q('G')).ext('offset')).toBe('4')
  })

  it('locks queues for one client at a time and releases them on unlock', async () => {
    await send(c.client, c.brokerAddr, { topic: 'LT' })
    const mq = { topic: 'LT', brokerName: 'broker-a', queueId: 0 }
    const lock = (clientId: string): Promise<RemotingCommand> =>
      request(c.client, c.brokerAddr, RequestCode.LOCK_BATCH_MQ, {}, { clientId, consumerGroup: 'G', mqSet: [mq] })
    expect(JSON.parse((await lock('c1')).body!.toString()).lockOKMQSet).toEqual([mq])
    expect(JSON.parse((await lock('c2')).body!.toString()).lockOKMQSet).toEqual([])
    const unlock = await request(c.client, c.brokerAddr, RequestCode.UNLOCK_BATCH_MQ, {}, { clientId: 'c1', consumerGroup: 'G', mqSet: [mq] })
    expect(unlock.code).toBe(0)
    expect(JSON.parse((await lock('c2')).body!.toString()).lockOKMQSet).toEqual([mq])
    // Queues of topics or brokers this broker does not serve are never locked (nor remembered) here.
    const foreign = await request(c.client, c.brokerAddr, RequestCode.LOCK_BATCH_MQ, {}, {
      clientId: 'c3', consumerGroup: 'G', mqSet: [{ topic: 'NoSuchTopic', brokerName: 'broker-a', queueId: 0 }, { ...mq, brokerName: 'broker-z' }],
    })
    expect(JSON.parse(foreign.body!.toString()).lockOKMQSet).toEqual([])
    expect(c.broker.rebalanceLockManager.size).toBe(1)
  })

  it('answers the pull pre-checks with RocketMQ codes', async () => {
    await send(c.client, c.brokerAddr, { topic: 'PC' })
    const noTopic = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'Nope', offset: 0 })
    expect(noTopic.code).toBe(ResponseCode.TOPIC_NOT_EXIST)
    const badQueue = await pull(c.client, c.brokerAddr, { group: 'G', topic: 'PC', queueId: 9, offset: 0 })
    expect(badQueue.code).toBe(ResponseCode.SYSTEM_ERROR)
    const noSub = await pull(c.client, c.brokerAddr, { group: 'Unknown', topic: 'PC', offset: 0, sysFlag: 0 })
    expect(noSub.code).toBe(ResponseCode.SUBSCRIPTION_NOT_EXIST)
    const sql = await request(c.client, c.brokerAddr, RequestCode.PULL_MESSAGE, {
      consumerGroup: 'G', topic: 'PC', queueId: 0, queueOffset: 0, maxMsgNums: 32, sysFlag: 4, commitOffset: 0,
      suspendTimeoutMillis: 0, subscription: 'a > 1', subVersion: 0, expressionType: 'SQL92',
    })
    expect(sql.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(sql.remark).toContain('SQL92')
  })
})
