/**
 * `ferrymq start`, `ferrymq namesrv` and `ferrymq broker`: read the configuration once, start the parts, print
 * where they listen, and shut down cleanly on SIGINT/SIGTERM (stop accepting, answer what is in flight, persist
 * offsets, close the store) so that the next start is a clean one.
 */
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'

import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'

import { adminAuthProblem, buildAdminApp } from '../admin/build-admin-app.js'
import { loadBrokerConfig } from '../broker/broker-config.js'
import { BrokerController } from '../broker/broker-controller.js'
import { ConfigError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { NamesrvController } from '../namesrv/namesrv-controller.js'

export type ServerRole = 'start' | 'namesrv' | 'broker'

const OPTIONS = {
  'data-dir': { type: 'string' },
  'namesrv-port': { type: 'string' },
  'broker-port': { type: 'string' },
  'admin-port': { type: 'string' },
  'bind-address': { type: 'string' },
  'namesrv-addr': { type: 'string', short: 'n' },
  config: { type: 'string', short: 'c' },
  cluster: { type: 'string' },
  'sync-master': { type: 'boolean' },
} as const

/** The parsed flags of `ferrymq start|namesrv|broker`. */
export type ServerFlags = ReturnType<typeof parseServerArgs>

export function parseServerArgs(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true }).values
}

/** Where `ferrymq start` keeps its data unless told otherwise. */
export function defaultDataDir(): string {
  return process.env.FERRYMQ_DATA_DIR ?? join(homedir(), 'ferrymq')
}

export function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError('RMQ_ERR_CONFIG', `--${flag} must be a port (0-65535), got ${value}`)
  }
  return n
}

interface Running {
  namesrv?: NamesrvController
  broker?: BrokerController
  admin?: FastifyInstance
}

/** Where a started broker listens: what `ferrymq broker` tells a supervising `ferrymq start --cluster`. */
export interface BrokerListening {
  brokerName: string
  brokerId: number
  brokerRole: string
  brokerAddr: string
  /** The listen port, then the VIP port when enabled. */
  ports: readonly number[]
  /** The port a master serves its slaves on; null on a slave (it connects to its master's). */
  haPort: number | null
  /** The admin API's URL; null when disabled. */
  adminUrl: string | null
}

export interface StartedServer {
  stop(): Promise<void>
  /** Set when the role runs a broker. */
  broker?: BrokerListening
}

/** Starts the parts of `role`; resolves once they run, with a function that stops them. */
export async function runServer(
  role: ServerRole,
  values: ServerFlags,
  log: Logger,
  print: (line: string) => void,
): Promise<StartedServer> {
  if (values.cluster !== undefined || values['sync-master'] !== undefined) {
    throw new ConfigError('RMQ_ERR_CONFIG', '--cluster and --sync-master are options of ferrymq start --cluster')
  }
  const dataDir = resolve(values['data-dir'] ?? defaultDataDir())
  const running: Running = {}
  let listening: BrokerListening | undefined
  const stop = async (): Promise<void> => {
    await running.admin?.close()
    await running.broker?.shutdown()
    await running.namesrv?.shutdown()
  }
  try {
    let namesrvAddr = values['namesrv-addr']
    if (role !== 'broker') {
      const started = await startNamesrv(values, dataDir, log, print)
      running.namesrv = started.namesrv
      namesrvAddr ??= started.namesrvAddr
    }
    if (role !== 'namesrv') {
      const loaded = loadBrokerConfig({
        configFile: values.config,
        env: process.env,
        defaultStorePath: join(dataDir, 'store'),
        overrides: {
          listenPort: port(values['broker-port'], 'broker-port'),
          adminPort: port(values['admin-port'], 'admin-port'),
          bindAddress: values['bind-address'],
          namesrvAddr,
        },
      })
      if (loaded.unknownKeys.length > 0) log.warn({ keys: loaded.unknownKeys }, 'ignoring unknown configuration keys')
      const c = loaded.brokerConfig
      const authProblem = c.adminPort >= 0 ? adminAuthProblem(c.adminHost, c.adminToken) : null
      if (authProblem !== null) throw new ConfigError('RMQ_ERR_CONFIG', authProblem)
      running.broker = new BrokerController({
        brokerConfig: loaded.brokerConfig,
        storeConfig: loaded.storeConfig,
        logger: log,
      })
      // The admin API listens first: /healthz answers and /readyz says 503 while the store recovers.
      let adminUrl: string | null = null
      if (c.adminPort >= 0) {
        running.admin = buildAdminApp({ broker: running.broker, authToken: c.adminToken || undefined })
        adminUrl = await running.admin.listen({ port: c.adminPort, host: c.adminHost })
        print(`admin API at ${adminUrl}`)
      }
      await running.broker.start()
      const storeDir = loaded.storeConfig.storePathRootDir
      print(
        `broker ${c.brokerName} (cluster ${c.brokerClusterName}) listening at ${running.broker.brokerAddr}, store ${storeDir}`,
      )
      listening = {
        brokerName: c.brokerName,
        brokerId: c.brokerId,
        brokerRole: c.brokerRole,
        brokerAddr: running.broker.brokerAddr,
        ports: [...running.broker.ports],
        haPort: running.broker.replicationStatus().haPort,
        adminUrl,
      }
    }
  } catch (err) {
    await stop().catch((e: unknown) => log.error({ err: e }, 'cleanup after a failed start failed'))
    throw err
  }
  return { stop, broker: listening }
}

/** Starts the name server of `ferrymq start|namesrv` and prints its port; `namesrvAddr` is where brokers reach it. */
export async function startNamesrv(
  values: ServerFlags,
  dataDir: string,
  log: Logger,
  print: (line: string) => void,
): Promise<{ namesrv: NamesrvController; namesrvAddr: string }> {
  // One listen address for the name server and the broker: the flag, else FERRYMQ_BIND_ADDRESS (the broker's
  // `bindAddress`), else every interface.
  const bindAddress = values['bind-address'] ?? process.env.FERRYMQ_BIND_ADDRESS
  const namesrv = await NamesrvController.start(
    {
      listenPort: port(values['namesrv-port'], 'namesrv-port') ?? 9876,
      bindAddress: bindAddress || undefined,
      kvConfigPath: join(dataDir, 'namesrv', 'kvConfig.json'),
    },
    { logger: log },
  )
  const nsPort = namesrv.port()
  print(`name server listening on port ${nsPort}${bindAddress ? ` at ${bindAddress}` : ''}`)
  const host = bindAddress && bindAddress !== '0.0.0.0' && bindAddress !== '::' ? bindAddress : '127.0.0.1'
  return { namesrv, namesrvAddr: `${host}:${nsPort}` }
}

/**
 * Logs go to stderr as JSON lines; stdout carries the few lines that say where ferrymq listens. With
 * `ignoreBrokenPipe`, a log line the reader is gone for is dropped instead of ending the process.
 */
export function createLogger(options: { ignoreBrokenPipe?: boolean } = {}): Logger {
  const destination = pino.destination(2)
  if (options.ignoreBrokenPipe) destination.on('error', rethrowUnlessBrokenPipe)
  return pino({ level: process.env.FERRYMQ_LOG_LEVEL ?? 'info' }, destination) as unknown as Logger
}

/** An 'error' listener for an output stream whose reader may go away (EPIPE); any other error still throws. */
export function rethrowUnlessBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err
}
