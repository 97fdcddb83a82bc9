/**
 * One name server and two brokers of one cluster (`broker-a`, `broker-b`), each with its own store in a temp dir,
 * for client tests that need a second broker: failover, latency fault tolerance, rebalance across brokers.
 *
 * With `proxyB`, clients reach broker-b only through a TCP proxy the test controls: `pause()` makes broker-b stop
 * answering (requests hang and time out), `kill()` makes it look dead (connections are reset), `resume()` brings it
 * back. For that, broker-b does not register itself: it is given no name server, and this helper registers it under
 * the proxy's address instead (again after every `createTopic`). The name server sees it as alive the whole time,
 * as it would a broker that hangs or has just crashed.
 *
 * `stop()` stops the proxy, both brokers and the name server, and removes the data.
 */
import { join } from 'node:path'

import { TcpProxy } from '../../scripts/torture/tcp-proxy.js'
import { defaultBrokerConfig, type BrokerConfig } from '../../ts/broker/broker-config.js'
import { BrokerController } from '../../ts/broker/broker-controller.js'
import { BrokerOuterAPI } from '../../ts/broker/broker-outer-api.js'
import type { Logger } from '../../ts/common/logger.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { decodeTopicRouteData, type TopicRouteData } from '../../ts/remoting/protocol/route.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import type { MessageStoreConfig } from '../../ts/store/native-message-store.js'
import { createTopic, request } from './broker-requests.js'
import { testStoreConfig } from './start-broker.js'
import { tempDir, type TempDir } from './temp-dir.js'
import { waitFor } from './wait-for.js'

export const BROKER_A = 'broker-a'
export const BROKER_B = 'broker-b'
export const CLUSTER = 'TwoBrokerCluster'

/** The proxy lives with the torture harness, which uses it too. */
export { TcpProxy, type ProxyMode } from '../../scripts/torture/tcp-proxy.js'

export interface TwoBrokerCluster {
  namesrv: NamesrvController
  namesrvAddr: string
  /** Broker controllers by name; a stopped broker stays here, shut down. */
  brokers: Record<typeof BROKER_A | typeof BROKER_B, BrokerController>
  /** Where the brokers really listen (tests use these for their own requests). */
  directAddr: Record<typeof BROKER_A | typeof BROKER_B, string>
  /** The addresses the name server gives clients: broker-b's is the proxy's with `proxyB`. */
  publishedAddr: Record<typeof BROKER_A | typeof BROKER_B, string>
  /** The proxy in front of broker-b, with `proxyB`. */
  proxyB: TcpProxy | undefined
  dataDir: TempDir
  /** A remoting client for the test's own requests; closed by `stop()`. */
  client: RemotingClient
  /**
   * Creates `topic` with `queueNums` read and write queues on both brokers and waits until the name server's route
   * lists both brokers with that many queues.
   */
  createTopic(topic: string, queueNums: number): Promise<TopicRouteData>
  /** The name server's route of `topic`, or undefined when it has none. */
  route(topic: string): Promise<TopicRouteData | undefined>
  /** Shuts one broker down cleanly; it leaves the name server's routes. */
  stopBroker(name: typeof BROKER_A | typeof BROKER_B): Promise<void>
  stop(): Promise<void>
}

export interface StartTwoBrokersOptions {
  /** Put broker-b behind a controllable TCP proxy (see the file comment). */
  proxyB?: boolean
  broker?: Partial<BrokerConfig>
  store?: Partial<MessageStoreConfig>
  logger?: Logger
}

export async function startTwoBrokers(options: StartTwoBrokersOptions = {}): Promise<TwoBrokerCluster> {
  const dataDir = tempDir('ferrymq-two-brokers-')
  const cleanups: (() => Promise<void> | void)[] = [() => dataDir.remove()]
  /** Runs every cleanup, newest first, even when one fails; rethrows the first failure. */
  const undo = async (): Promise<void> => {
    let first: unknown
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c()
      } catch (err) {
        first ??= err
      }
    }
    if (first !== undefined) throw first
  }
  try {
    const namesrv = await NamesrvController.start(
      { listenPort: 0, kvConfigPath: join(dataDir.path, 'namesrv', 'kvConfig.json') },
      options.logger ? { logger: options.logger } : {},
    )
    cleanups.push(() => namesrv.shutdown())
    const namesrvAddr = `127.0.0.1:${namesrv.port()}`
    const client = new RemotingClient({ logger: options.logger })
    cleanups.push(() => client.shutdown())
    const startBroker = async (brokerName: string, registers: boolean): Promise<BrokerController> => {
      const brokerConfig: BrokerConfig = {
        ...defaultBrokerConfig(),
        brokerIP1: '127.0.0.1',
        listenPort: 0,
        adminPort: -1,
        fastListenPortEnable: false,
        brokerClusterName: CLUSTER,
        ...options.broker,
        brokerName,
        // A proxied broker is registered by this helper under the proxy's address instead.
        namesrvAddr: registers ? namesrvAddr : '',
      }
      const storeConfig = testStoreConfig(join(dataDir.path, brokerName), options.store)
      const b = new BrokerController({ brokerConfig, storeConfig, logger: options.logger })
      cleanups.push(() => b.shutdown())
      await b.start()
      return b
    }
    const brokerA = await startBroker(BROKER_A, true)
    const brokerB = await startBroker(BROKER_B, !options.proxyB)
    let proxyB: TcpProxy | undefined
    let registrar: BrokerOuterAPI | undefined
    if (options.proxyB) {
      proxyB = await TcpProxy.start(brokerB.brokerAddr)
      cleanups.push(() => proxyB!.close())
      registrar = new BrokerOuterAPI({ logger: options.logger })
      registrar.updateNameServerAddressList(namesrvAddr)
      cleanups.push(() => registrar!.shutdown())
    }
    const publishedB = proxyB?.addr ?? brokerB.brokerAddr
    const registerB = async (): Promise<void> => {
      if (registrar === undefined) return
      const c = brokerB.brokerConfig
      const [outcome] = await registrar.registerBrokerAll({
        clusterName: c.brokerClusterName,
        brokerAddr: publishedB,
        brokerName: c.brokerName,
        brokerId: c.brokerId,
        haServerAddr: publishedB,
        topicConfigWrapper: brokerB.topicConfigManager.buildSerializeWrapper(),
        oneway: false,
        timeoutMs: 5000,
        compressed: false,
      })
      if (outcome === undefined || !outcome.ok) {
        throw new Error(`registering broker-b at ${publishedB} failed: ${outcome?.ok === false ? outcome.error : ''}`)
      }
    }
    await registerB()

    const route = async (topic: string): Promise<TopicRouteData | undefined> => {
      const r = await request(client, namesrvAddr, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })
      if (r.code === ResponseCode.TOPIC_NOT_EXIST) return undefined
      if (r.code !== ResponseCode.SUCCESS) throw new Error(`GET_ROUTEINFO_BY_TOPIC ${topic}: ${r.code} ${r.remark}`)
      return decodeTopicRouteData(r.body)
    }
    const cluster: TwoBrokerCluster = {
      namesrv,
      namesrvAddr,
      brokers: { [BROKER_A]: brokerA, [BROKER_B]: brokerB },
      directAddr: { [BROKER_A]: brokerA.brokerAddr, [BROKER_B]: brokerB.brokerAddr },
      publishedAddr: { [BROKER_A]: brokerA.brokerAddr, [BROKER_B]: publishedB },
      proxyB,
      dataDir,
      client,
      route,
      async createTopic(topic, queueNums) {
        for (const name of [BROKER_A, BROKER_B] as const) {
          const r = await createTopic(client, cluster.directAddr[name], topic, queueNums)
          if (r.code !== ResponseCode.SUCCESS) throw new Error(`creating ${topic} on ${name}: ${r.code} ${r.remark}`)
        }
        await registerB()
        return waitFor(
          async () => {
            const rd = await route(topic)
            if (rd === undefined) return undefined
            const ok = ([BROKER_A, BROKER_B] as const).every(
              (name) =>
                rd.queueDatas.some(
                  (q) => q.brokerName === name && q.readQueueNums === queueNums && q.writeQueueNums === queueNums,
                ) &&
                rd.brokerDatas.some(
                  (b) => b.brokerName === name && b.brokerAddrs.get(0) === cluster.publishedAddr[name],
                ),
            )
            return ok && rd
          },
          { timeoutMs: 10_000, intervalMs: 20, what: `the route of ${topic} on both brokers` },
        )
      },
      async stopBroker(name) {
        await cluster.brokers[name].shutdown()
        if (name === BROKER_B && registrar !== undefined) {
          const c = brokerB.brokerConfig
          await registrar.unregisterBrokerAll({
            clusterName: c.brokerClusterName,
            brokerAddr: publishedB,
            brokerName: c.brokerName,
            brokerId: c.brokerId,
          })
        }
      },
      async stop() {
        await undo()
      },
    }
    return cluster
  } catch (err) {
    await undo()
    throw err
  }
}
