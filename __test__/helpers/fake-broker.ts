/**
 * A fake broker for client tests: a remoting server that answers every request with what the test's handler
 * returns, registered with a real name server under a broker name and cluster, serving the given topics. It lets
 * a test make a "broker" answer what a real one rarely does (a flush timeout, a malformed body, a refusal).
 */
import { BrokerOuterAPI } from '../../ts/broker/broker-outer-api.js'
import { noopLogger } from '../../ts/common/logger.js'
import { newTopicConfig } from '../../ts/common/topic-config.js'
import type { RemotingClient } from '../../ts/remoting/remoting-client.js'
import type { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { RemotingServer } from '../../ts/remoting/remoting-server.js'
import { RequestDispatcher } from '../../ts/remoting/request-dispatcher.js'
import { RequestExecutor } from '../../ts/remoting/request-executor.js'

export interface FakeBroker {
  addr: string
  close(): Promise<void>
}

export interface FakeBrokerOptions {
  namesrvAddr: string
  /** Used to register with the name server. */
  client: RemotingClient
  brokerName: string
  clusterName: string
  /** Topic → queue count (read and write). */
  topics: Record<string, number>
  handle(request: RemotingCommand): RemotingCommand
}

export async function startFakeBroker(o: FakeBrokerOptions): Promise<FakeBroker> {
  const dispatcher = new RequestDispatcher(noopLogger)
  const executor = new RequestExecutor({ name: 'fake', concurrency: 4, queueCapacity: 16, queueWaitMsMax: Infinity })
  dispatcher.registerDefaultProcessor({ processRequest: (_channel, request) => o.handle(request) }, executor)
  const server = new RemotingServer({ port: 0, host: '127.0.0.1', logger: noopLogger }, dispatcher)
  const addr = `127.0.0.1:${await server.listen()}`
  const outer = new BrokerOuterAPI({ remotingClient: o.client, logger: noopLogger })
  outer.updateNameServerAddressList(o.namesrvAddr)
  const table = new Map(
    Object.entries(o.topics).map(([topic, n]) => [
      topic,
      newTopicConfig(topic, { readQueueNums: n, writeQueueNums: n }),
    ]),
  )
  await outer.registerBrokerAll({
    clusterName: o.clusterName,
    brokerAddr: addr,
    brokerName: o.brokerName,
    brokerId: 0,
    haServerAddr: addr,
    topicConfigWrapper: { topicConfigTable: table, dataVersion: { timestamp: 1, counter: 1 } },
    oneway: false,
    timeoutMs: 3000,
    compressed: false,
  })
  return { addr, close: () => server.close() }
}
