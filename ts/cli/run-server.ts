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
} as const

/** Where `ferrymq start` keeps its data unless told otherwise. */
export function defaultDataDir(): string {
  return process.env.FERRYMQ_DATA_DIR ?? join(homedir(), 'ferrymq')
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError('RMQ_ERR_CONFIG', `--${flag} must be a port (0-65535), got ${value}`)
  return n
}

interface Running {
  namesrv?: NamesrvController
  broker?: BrokerController
  admin?: FastifyInstance
}

/** Starts the parts of `role`; resolves once they run, and returns a function that stops them. */
export async function runServer(role: ServerRole, argv: string[], log: Logger, print: (line: string) => void): Promise<() => Promise<void>> {
  const { values } = parseArgs({ args: argv, options: OPTIONS, strict: true })
  const dataDir = resolve(values['data-dir'] ?? defaultDataDir())
  const running: Running = {}
  const stop = async (): Promise<void> => {
    await running.admin?.close()
    await running.broker?.shutdown()
    await running.namesrv?.shutdown()
  }
  try {
    let namesrvAddr = values['namesrv-addr']
    // One listen address for the name server and the broker: the flag, else FERRYMQ_BIND_ADDRESS (the broker's
    // `bindAddress`), else every interface.
    const bindAddress = values['bind-address'] ?? process.env.FERRYMQ_BIND_ADDRESS
    if (role !== 'broker') {
      running.namesrv = await NamesrvController.start(
        {
          listenPort: port(values['namesrv-port'], 'namesrv-port') ?? 9876,
          bindAddress: bindAddress || undefined,
          kvConfigPath: join(dataDir, 'namesrv', 'kvConfig.json'),
        },
        { logger: log },
      )
      const nsPort = running.namesrv.port()
      print(`name server listening on port ${nsPort}${bindAddress ? ` at ${bindAddress}` : ''}`)
      namesrvAddr ??= `${bindAddress && bindAddress !== '0.0.0.0' && bindAddress !== '::' ? bindAddress : '127.0.0.1'}:${nsPort}`
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
      running.broker = new BrokerController({ brokerConfig: loaded.brokerConfig, storeConfig: loaded.storeConfig, logger: log })
      // The admin API listens first: /healthz answers and /readyz says 503 while the store recovers.
      if (c.adminPort >= 0) {
        running.admin = buildAdminApp({ broker: running.broker, authToken: c.adminToken || undefined })
        const url = await running.admin.listen({ port: c.adminPort, host: c.adminHost })
        print(`admin API at ${url}`)
      }
      await running.broker.start()
      print(`broker ${c.brokerName} (cluster ${c.brokerClusterName}) listening at ${running.broker.brokerAddr}, store ${loaded.storeConfig.storePathRootDir}`)
    }
  } catch (err) {
    await stop().catch((e: unknown) => log.error({ err: e }, 'cleanup after a failed start failed'))
    throw err
  }
  return stop
}

export function createLogger(): Logger {
  // Logs go to stderr as JSON lines; stdout carries the few lines that say where ferrymq listens.
  return pino({ level: process.env.FERRYMQ_LOG_LEVEL ?? 'info' }, pino.destination(2)) as unknown as Logger
}
