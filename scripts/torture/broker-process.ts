/**
 * Brokers in child processes (`ferrymq broker -c broker.conf`), for the torture harness and the tests that kill
 * brokers with SIGKILL. Each keeps its port and data directory across restarts. `stopAllBrokerProcesses()` kills
 * whatever is still running.
 *
 * The broker runs from the same build as this file: the compiled CLI next to the compiled harness, or the
 * TypeScript source through tsx when this file runs from source (tests).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { BROKER_NODE_FLAGS } from '../../ts/cli/node-flags.js'
import { AdminClient } from '../../ts/client/admin-client.js'
import { until } from './machine.js'

const STOP_DEADLINE_MS = 20_000
const START_POLL_MS = 50

/** How to run `ferrymq …` from here: node arguments before the CLI's own. */
export function cliCommand(): string[] {
  const here = fileURLToPath(import.meta.url)
  const fromSource = here.endsWith('.ts')
  const entry = resolve(dirname(here), '../../ts/cli', fromSource ? 'ferrymq.ts' : 'ferrymq.js')
  return fromSource ? [...BROKER_NODE_FLAGS, '--import', 'tsx', entry] : [...BROKER_NODE_FLAGS, entry]
}

/** Free loopback ports, each with the next port free too (a broker's HA port is listen port + 1). */
export async function freePortPairs(n: number): Promise<number[]> {
  const out: number[] = []
  while (out.length < n) {
    const p = await freePort()
    if (out.some((q) => Math.abs(q - p) < 3)) continue
    if (await portFree(p + 1)) out.push(p)
  }
  return out
}

/**
 * Listen ports come from below Linux's ephemeral range (32768 and up): a broker restarted on its port must find it
 * free, and a port from the ephemeral range can be taken in between as the local port of any outgoing connection
 * on the machine (seen as EADDRINUSE on restarts while other suites ran).
 */
const LISTEN_PORT_MIN = 20_000
const LISTEN_PORT_END = 32_000

async function freePort(): Promise<number> {
  for (;;) {
    const port = LISTEN_PORT_MIN + Math.floor(Math.random() * (LISTEN_PORT_END - LISTEN_PORT_MIN))
    if (await portFree(port)) return port
  }
}

/** Free on every interface (the broker listens on all of them unless told otherwise). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, () => s.close(() => resolve(true)))
  })
}

export interface BrokerProcessSpec {
  brokerName: string
  brokerId: number
  brokerRole: 'ASYNC_MASTER' | 'SYNC_MASTER' | 'SLAVE'
  port: number
  namesrvAddr: string
  dataDir: string
  clusterName?: string
  /** More `broker.conf` keys. */
  conf?: Record<string, string | number | boolean>
}

const running = new Set<BrokerProcess>()

export class BrokerProcess {
  readonly spec: BrokerProcessSpec
  readonly addr: string
  /** stderr (JSON log lines) of every run, for failure messages. */
  readonly log: string[] = []
  private child: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()

  constructor(spec: BrokerProcessSpec) {
    this.spec = spec
    this.addr = `127.0.0.1:${spec.port}`
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  get storeDir(): string {
    return join(this.spec.dataDir, 'store')
  }

  /**
   * Starts the process and waits until the broker answers requests (its store has recovered) and, unless
   * `waitRegistered` is false (a name server that is down on purpose), until its name server lists it, so that
   * clients started next find its routes. Resolves with the milliseconds until it answered.
   */
  async start(timeoutMs = 60_000, { waitRegistered = true }: { waitRegistered?: boolean } = {}): Promise<number> {
    const startedAt = performance.now()
    const s = this.spec
    mkdirSync(s.dataDir, { recursive: true })
    const conf: Record<string, string | number | boolean> = {
      brokerClusterName: s.clusterName ?? 'HaCluster',
      brokerName: s.brokerName,
      brokerId: s.brokerId,
      brokerRole: s.brokerRole,
      brokerIP1: '127.0.0.1',
      listenPort: s.port,
      fastListenPortEnable: false,
      adminPort: -1,
      namesrvAddr: s.namesrvAddr,
      storePathRootDir: this.storeDir,
      mappedFileSizeCommitLog: 16 * 1024 * 1024,
      mappedFileSizeConsumeQueue: 60_000,
      maxHashSlotNum: 5000,
      maxIndexNum: 20_000,
      commitLogPretouchAheadBytes: 256 * 1024,
      ...s.conf,
    }
    const file = join(s.dataDir, 'broker.conf')
    writeFileSync(
      file,
      Object.entries(conf)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
    )
    const child = spawn(process.execPath, [...cliCommand(), 'broker', '-c', file], {
      env: { ...process.env, FERRYMQ_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    this.child = child
    running.add(this)
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.log.push(d)
      if (this.log.length > 2000) this.log.splice(0, 1000)
    })
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    const admin = new AdminClient({ namesrvAddr: s.namesrvAddr })
    await admin.start()
    try {
      await until(
        async () => {
          if (child.exitCode !== null)
            throw new Error(`broker ${s.brokerName}/${s.brokerId} exited: ${this.log.join('').slice(-2000)}`)
          return admin.examineBrokerRuntimeInfo(this.addr).then(
            () => true,
            () => false,
          )
        },
        timeoutMs,
        `broker ${s.brokerName}/${s.brokerId} to start`,
        START_POLL_MS,
      )
      const answeredMs = performance.now() - startedAt
      if (waitRegistered) {
        await until(
          () =>
            admin.clusterList().then(
              (brokers) => brokers.some((b) => b.addr === this.addr),
              () => false,
            ),
          timeoutMs,
          `broker ${s.brokerName}/${s.brokerId} to register with its name server`,
          START_POLL_MS,
        )
      }
      return answeredMs
    } finally {
      await admin.shutdown()
    }
  }

  /** SIGKILL: no shutdown code runs; the store is left as a crash leaves it. */
  async kill(): Promise<void> {
    if (this.child === null || this.child.exitCode !== null) return
    this.child.kill('SIGKILL')
    await this.exited
    running.delete(this)
  }

  /** SIGTERM and wait for a clean exit (SIGKILL after a deadline). */
  async stop(): Promise<void> {
    const child = this.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS)
    await this.exited
    clearTimeout(timer)
    running.delete(this)
  }
}

export async function stopAllBrokerProcesses(): Promise<void> {
  await Promise.all([...running].map((b) => b.kill()))
}
