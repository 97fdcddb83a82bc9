/**
 * A real name server and broker on loopback ports chosen by the OS, with a store in a temp dir, for integration
 * and interop tests. `stop()` shuts both down and removes the data.
 */
import { join } from 'node:path'

import { defaultBrokerConfig, type BrokerConfig } from '../../ts/broker/broker-config.js'
import { BrokerController } from '../../ts/broker/broker-controller.js'
import type { Logger } from '../../ts/common/logger.js'
import { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import type { MessageStoreConfig } from '../../ts/store/native-message-store.js'
import { freePortPairs } from './broker-process.js'
import { tempDir, type TempDir } from './temp-dir.js'

export interface TestCluster {
  namesrv: NamesrvController
  broker: BrokerController
  namesrvAddr: string
  brokerAddr: string
  dataDir: TempDir
  /** A remoting client for the test's own requests; closed by `stop()`. */
  client: RemotingClient
  /** Stops the broker (and name server) cleanly without removing the data. */
  stopBroker(): Promise<void>
  /** Starts a new broker on the same data and port after `stopBroker()`. */
  restartBroker(): Promise<BrokerController>
  stop(): Promise<void>
}

export interface StartClusterOptions {
  broker?: Partial<BrokerConfig>
  store?: Partial<MessageStoreConfig>
  logger?: Logger
}

/** Store files small enough that tests create them instantly, large enough for 4 MiB messages. */
export function testStoreConfig(dir: string, overrides: Partial<MessageStoreConfig> = {}): MessageStoreConfig {
  return {
    storePathRootDir: dir,
    mappedFileSizeCommitLog: 16 * 1024 * 1024,
    mappedFileSizeConsumeQueue: 3000 * 20,
    maxHashSlotNum: 5000,
    maxIndexNum: 20_000,
    flushIntervalCommitLog: 50,
    commitLogPretouchAheadBytes: 256 * 1024,
    ...overrides,
  }
}

export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  const dataDir = tempDir('ferrymq-cluster-')
  const namesrv = await NamesrvController.start(
    { listenPort: 0, kvConfigPath: join(dataDir.path, 'namesrv', 'kvConfig.json') },
    options.logger ? { logger: options.logger } : {},
  )
  const namesrvAddr = `127.0.0.1:${namesrv.port()}`
  const brokerConfig: BrokerConfig = {
    ...defaultBrokerConfig(),
    brokerIP1: '127.0.0.1',
    listenPort: 0,
    adminPort: -1,
    // A restart reuses the listen port; the VIP port (listen port − 2) might be taken by then.
    fastListenPortEnable: false,
    namesrvAddr,
    ...options.broker,
  }
  const storeConfig = testStoreConfig(join(dataDir.path, 'store'), options.store)
  const start = async (port: number): Promise<BrokerController> => {
    const b = new BrokerController({
      brokerConfig: { ...brokerConfig, listenPort: port },
      storeConfig,
      logger: options.logger,
    })
    await b.start()
    return b
  }
  let broker = await startOnFreePort(start)
  const client = new RemotingClient({ logger: options.logger })
  let stopped = false
  const cluster: TestCluster = {
    namesrv,
    broker,
    namesrvAddr,
    brokerAddr: broker.brokerAddr,
    dataDir,
    client,
    async stopBroker() {
      await cluster.broker.shutdown()
    },
    async restartBroker() {
      broker = await start(cluster.broker.ports[0]!)
      cluster.broker = broker
      return broker
    },
    async stop() {
      if (stopped) return
      stopped = true
      client.shutdown()
      await cluster.broker.shutdown()
      await namesrv.shutdown()
      dataDir.remove()
    },
  }
  return cluster
}

/**
 * Starts on a port of our choosing, not 0, because a restart reuses it (see `freePortPairs`); another suite may take
 * the port between the check and the start, so a taken one is traded for the next.
 */
async function startOnFreePort(start: (port: number) => Promise<BrokerController>): Promise<BrokerController> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start((await freePortPairs(1))[0]!)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 5) throw err
    }
  }
}
