/**
 * Regressions the torture harness's hostile-input scenario found, each as its smallest reproduction.
 */
import net from 'node:net'

import { afterEach, describe, expect, it } from 'vitest'

import { BrokerController } from '../../ts/broker/broker-controller.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { createTopic, request } from '../helpers/broker-requests.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'

let cluster: TestCluster | undefined
const servers: net.Server[] = []

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
  await cluster?.stop()
  cluster = undefined
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
})
