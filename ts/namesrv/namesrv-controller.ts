/**
 * Wires the name server together (`NamesrvController`): loads the KV config, builds the remoting server with one
 * bounded executor for every request code, removes a broker's routes when the connection it registered on closes
 * (`BrokerHousekeepingService`), and scans for silent brokers every 10 s, the first time 5 s after start.
 */
import { RocketMQError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { ResponseCode } from '../common/response-code.js'
import { RemotingServer } from '../remoting/remoting-server.js'
import { RequestDispatcher } from '../remoting/request-dispatcher.js'
import { RequestExecutor } from '../remoting/request-executor.js'
import { DefaultRequestProcessor } from './default-request-processor.js'
import { KVConfigManager } from './kv-config-manager.js'
import { newNamesrvConfig, type NamesrvConfig } from './namesrv-config.js'
import { RouteInfoManager } from './route-info-manager.js'

export interface NamesrvControllerOptions {
  logger?: Logger
  /** Clock for broker liveness; tests inject one. */
  now?: () => number
}

export class NamesrvController {
  readonly config: NamesrvConfig
  readonly kvConfigManager: KVConfigManager
  readonly routeInfoManager: RouteInfoManager
  private readonly log: Logger
  private readonly now: () => number
  private server: RemotingServer | null = null
  private executor: RequestExecutor | null = null
  private scanTimer: NodeJS.Timeout | null = null
  private started = false
  private kvLoaded = false

  constructor(config: Partial<NamesrvConfig> = {}, options: NamesrvControllerOptions = {}) {
    this.config = newNamesrvConfig(config)
    this.log = (options.logger ?? noopLogger).child({ component: 'namesrv' })
    this.now = options.now ?? Date.now
    this.kvConfigManager = new KVConfigManager({
      kvConfigPath: this.config.kvConfigPath,
      itemsMax: this.config.kvConfigItemsMax,
      logger: this.log,
    })
    this.routeInfoManager = new RouteInfoManager({
      logger: this.log,
      now: this.now,
      brokerChannelExpiredMs: this.config.brokerChannelExpiredMs,
      autoCreateTopicRouteEnable: this.config.autoCreateTopicRouteEnable,
      autoCreateTopicQueueNums: this.config.autoCreateTopicQueueNums,
    })
  }

  /** Builds, starts and returns a name server (`NamesrvStartup`). */
  static async start(
    config: Partial<NamesrvConfig> = {},
    options: NamesrvControllerOptions = {},
  ): Promise<NamesrvController> {
    const controller = new NamesrvController(config, options)
    await controller.start()
    return controller
  }

  /** Loads the KV config and starts listening; resolves with the bound port. */
  async start(): Promise<number> {
    if (this.started) throw new RocketMQError('RMQ_ERR_ALREADY_STARTED', 'name server already started')
    this.started = true
    await this.kvConfigManager.load()
    this.kvLoaded = true
    const dispatcher = new RequestDispatcher(this.log)
    this.executor = new RequestExecutor({
      name: 'namesrv',
      concurrency: this.config.serverWorkerThreads,
      queueCapacity: this.config.requestQueueCapacity,
      queueWaitMsMax: Infinity,
    })
    const processor = new DefaultRequestProcessor({
      routeInfoManager: this.routeInfoManager,
      kvConfigManager: this.kvConfigManager,
      orderMessageEnable: this.config.orderMessageEnable,
      logger: this.log,
      now: this.now,
    })
    for (const code of processor.codes()) dispatcher.registerProcessor(code, processor, this.executor)
    this.server = new RemotingServer(
      {
        port: this.config.listenPort,
        host: this.config.bindAddress,
        idleTimeMs: this.config.serverChannelMaxIdleTimeSeconds * 1000,
        logger: this.log,
      },
      dispatcher,
    )
    this.server.addChannelEventListener({
      onChannelClose: (channel) => this.routeInfoManager.onChannelDestroy(channel.remoteAddress, channel),
    })
    const port = await this.server.listen()
    this.scheduleScan(this.config.scanNotActiveBrokerDelayMs)
    this.log.info({ port }, 'name server started')
    return port
  }

  /** The bound port (0 before `start`). */
  port(): number {
    return this.server?.port() ?? 0
  }

  /** Stops the scan, closes every connection and writes the KV config a last time. */
  async shutdown(): Promise<void> {
    if (this.scanTimer !== null) {
      clearTimeout(this.scanTimer)
      this.scanTimer = null
    }
    const server = this.server
    this.server = null
    if (server !== null) await server.close()
    this.executor?.drain(ResponseCode.SYSTEM_BUSY, 'name server shutting down')
    // A table that failed to load must not be overwritten by the empty one in memory.
    if (!this.kvLoaded) return
    this.kvLoaded = false
    try {
      await this.kvConfigManager.persist()
    } catch (err) {
      // Every change was already persisted when it was made; this last write only repeats it.
      this.log.error({ err }, 'persisting the KV config at shutdown failed')
    }
    this.log.info({}, 'name server stopped')
  }

  /** A chain of timeouts rather than an interval: a slow scan can never overlap the next one. */
  private scheduleScan(delayMs: number): void {
    this.scanTimer = setTimeout(() => {
      try {
        const removed = this.routeInfoManager.scanNotActiveBroker()
        if (removed > 0) this.log.info({ removed }, 'removed silent brokers')
      } catch (err) {
        // The scan only reads and prunes tables; an error in one pass must not stop the next.
        this.log.error({ err }, 'broker scan failed')
      }
      if (this.server !== null) this.scheduleScan(this.config.scanNotActiveBrokerIntervalMs)
    }, delayMs)
    this.scanTimer.unref()
  }
}
