/**
 * A name server, a master and its slave (broker group `broker-a`) in this process, on loopback ports the OS picks,
 * for replication tests. `stop()` shuts everything down and removes the data.
 */
import { join } from 'node:path'

import { defaultBrokerConfig, type BrokerConfig } from '../../ts/broker/broker-config.js'
import { BrokerController } from '../../ts/broker/broker-controller.js'
import type { MessageStoreConfig } from '../../ts/store/native-message-store.js'
import { startCluster, testStoreConfig, type TestCluster } from './start-broker.js'
import { waitFor } from './wait-for.js'

export interface HAPair {
  cluster: TestCluster
  master: BrokerController
  slave: BrokerController
  /** Starts the slave again (same data, same port) after `stopSlave()`. */
  restartSlave(): Promise<BrokerController>
  stopSlave(): Promise<void>
  /** Waits until the slave has acknowledged everything the master has written. */
  waitCaughtUp(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

export interface HAPairOptions {
  master?: Partial<BrokerConfig>
  slave?: Partial<BrokerConfig>
  store?: Partial<MessageStoreConfig>
}

export async function startHAPair(options: HAPairOptions = {}): Promise<HAPair> {
  const cluster = await startCluster({
    broker: { brokerRole: 'ASYNC_MASTER', ...options.master },
    store: options.store,
  })
  const slaveConfig: BrokerConfig = {
    ...defaultBrokerConfig(),
    brokerIP1: '127.0.0.1',
    listenPort: 0,
    adminPort: -1,
    fastListenPortEnable: false,
    namesrvAddr: cluster.namesrvAddr,
    brokerId: 1,
    brokerRole: 'SLAVE',
    ...options.slave,
  }
  const slaveStore = testStoreConfig(join(cluster.dataDir.path, 'slave-store'), options.store)
  const startSlave = async (port: number): Promise<BrokerController> => {
    const b = new BrokerController({ brokerConfig: { ...slaveConfig, listenPort: port }, storeConfig: slaveStore })
    await b.start()
    return b
  }
  let slave = await startSlave(0)
  let slaveStopped = false
  const pair: HAPair = {
    cluster,
    master: cluster.broker,
    get slave() {
      return slave
    },
    async stopSlave() {
      slaveStopped = true
      await slave.shutdown()
    },
    async restartSlave() {
      slave = await startSlave(slave.ports[0]!)
      slaveStopped = false
      return slave
    },
    async waitCaughtUp(timeoutMs = 20_000) {
      await waitFor(
        () => {
          const max = cluster.broker.store.getMaxPhyOffset()
          return (
            slave.store.getMaxPhyOffset() === max &&
            cluster.broker.replicationStatus().slaves.some((s) => s.ackOffset === max)
          )
        },
        { timeoutMs, what: 'the slave to catch up with the master' },
      )
    },
    async stop() {
      if (!slaveStopped) await slave.shutdown()
      await cluster.stop()
    },
  }
  return pair
}
