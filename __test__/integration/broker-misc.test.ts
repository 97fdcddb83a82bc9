import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { parseJson } from '../../ts/common/fastjson.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { decodeTopicRouteData } from '../../ts/remoting/protocol/route.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import type { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { heartbeat, request, send } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { createTestPki } from '../helpers/tls-cert.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

describe('broker: the remaining request codes', () => {
  let c: TestCluster | undefined
  const extra: RemotingClient[] = []
  let dir: TempDir | undefined
  afterEach(async () => {
    for (const cl of extra.splice(0)) cl.shutdown()
    await c?.stop()
    c = undefined
    dir?.remove()
    dir = undefined
  })

  it('takes the long-named SEND_MESSAGE header too', async () => {
    c = await startCluster()
    const r = await send(c.client, c.brokerAddr, { topic: 'V1Topic', code: RequestCode.SEND_MESSAGE, body: Buffer.from('v1') })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(c.broker.store.getMaxOffsetInQueue('V1Topic', 0)).toBe(1)
  })

  it('publishes an auto-created topic to the name server at once, with its own route', async () => {
    c = await startCluster()
    await send(c.client, c.brokerAddr, { topic: 'Fresh' })
    const route = await waitFor(async () => {
      const r = await request(c!.client, c!.namesrvAddr, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'Fresh' })
      const data = r.code === 0 ? decodeTopicRouteData(r.body!) : null
      // Until the registration arrives the name server answers with the TBW102 route (8 → 4 queues, perm 6 too),
      // so look at the topic the name server knows, not the queue count.
      return data && c!.namesrv.routeInfoManager.getAllTopicList().topicList.includes('Fresh') && data
    }, { what: 'the topic registered' })
    if (!route) throw new Error('no route')
    expect(route.queueDatas[0]).toMatchObject({ brokerName: 'broker-a', readQueueNums: 4, writeQueueNums: 4, perm: 6 })
    expect(route.brokerDatas[0]!.brokerAddrs.get(0)).toBe(c.brokerAddr)
  })

  it('dumps consumer offsets, broker config and system topics, and checks client configs', async () => {
    c = await startCluster()
    await send(c.client, c.brokerAddr, { topic: 'DumpT' })
    await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'DG', topic: 'DumpT', queueId: 0, commitOffset: 1 })
    const offsets = await request(c.client, c.brokerAddr, RequestCode.GET_ALL_CONSUMER_OFFSET)
    expect(offsets.body!.toString()).toBe('{"offsetTable":{"DumpT@DG":{0:1}}}')
    const config = await request(c.client, c.brokerAddr, RequestCode.GET_BROKER_CONFIG)
    expect(config.body!.toString()).toMatch(/^brokerClusterName=DefaultCluster$/m)
    expect(parseJson(config.ext('version')!)).toHaveProperty('counter')
    const sys = await request(c.client, c.brokerAddr, RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_BROKER)
    expect((parseJson(sys.body!.toString()) as { topicList: string[] }).topicList).toContain('SCHEDULE_TOPIC_XXXX')
    const tagOk = await request(c.client, c.brokerAddr, RequestCode.CHECK_CLIENT_CONFIG, {}, {
      clientId: 'x', group: 'DG', subscriptionData: { topic: 'DumpT', subString: 'a', expressionType: 'TAG' },
    })
    expect(tagOk.code).toBe(0)
    const sql = await request(c.client, c.brokerAddr, RequestCode.CHECK_CLIENT_CONFIG, {}, {
      clientId: 'x', group: 'DG', subscriptionData: { topic: 'DumpT', subString: 'a > 1', expressionType: 'SQL92' },
    })
    expect(sql.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(sql.remark).toBe('The broker does not support consumer to filter message by SQL92')
  })

  it('resets a group by timestamp and tells its online consumers (RESET_CONSUMER_CLIENT_OFFSET)', async () => {
    c = await startCluster()
    for (let i = 0; i < 3; i++) await send(c.client, c.brokerAddr, { topic: 'RsT' })
    // As in Java, every queue of the topic needs a committed offset (`Broker2Client#resetOffset`).
    for (let queueId = 0; queueId < 4; queueId++) {
      await request(c.client, c.brokerAddr, RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: 'RsG', topic: 'RsT', queueId, commitOffset: queueId === 0 ? 3 : 0 })
    }
    const received: RemotingCommand[] = []
    const consumer = new RemotingClient()
    extra.push(consumer)
    consumer.registerProcessor(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, {
      processRequest: (_ch, req) => {
        received.push(req)
        return null
      },
    })
    const offline = await request(c.client, c.brokerAddr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'RsT', group: 'RsG', timestamp: 0, isForce: true })
    expect(offline.code).toBe(ResponseCode.CONSUMER_NOT_ONLINE)
    await heartbeat(consumer, c.brokerAddr, 'rs-client', [{ group: 'RsG', topics: { RsT: '*' } }])
    const r = await request(c.client, c.brokerAddr, RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, { topic: 'RsT', group: 'RsG', timestamp: 0, isForce: true })
    expect(r.code).toBe(ResponseCode.SUCCESS)
    await waitFor(() => received.length === 1, { what: 'the reset request at the consumer' })
    expect(received[0]!.ext('group')).toBe('RsG')
    expect(received[0]!.body!.toString()).toContain('{"brokerName":"broker-a","queueId":0,"topic":"RsT"}:0')
  })

  it('serves TLS only when tlsMode is enforcing', async () => {
    dir = tempDir()
    const pki = createTestPki()
    const cert = join(dir.path, 'server.pem')
    const key = join(dir.path, 'server.key')
    writeFileSync(cert, pki.server.cert)
    writeFileSync(key, pki.server.key)
    c = await startCluster({ broker: { tlsMode: 'enforcing', tlsServerCertPath: cert, tlsServerKeyPath: key } })
    const secure = new RemotingClient({ tls: { ca: pki.ca.cert, servername: 'localhost' } })
    extra.push(secure)
    expect((await send(secure, c.brokerAddr, { topic: 'TlsTopic' })).code).toBe(ResponseCode.SUCCESS)
    await expect(send(c.client, c.brokerAddr, { topic: 'TlsTopic' })).rejects.toThrow(/closed|timed out/)
  })
})
