/**
 * `ferrymq start --cluster GxR`: a local demo cluster. The name server runs in this process; every broker runs as
 * `ferrymq broker` in a child process of its own, with its own data directory and ports (cluster-layout.ts).
 *
 * The name server stays here because this process has to live anyway to supervise the brokers, the name server keeps
 * nothing that needs isolating, and its port (even an ephemeral one) is known before the first broker starts, so
 * every broker gets `-n` at once.
 *
 * Children never outlive this process: each has an IPC channel and shuts down when it closes (this process died,
 * even by SIGKILL), and on exit this process SIGKILLs any child still running. A child that dies while the cluster
 * runs is restarted with a growing delay, since a demo should keep running; one that keeps dying is left down.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'

import { loadBrokerConfig } from '../broker/broker-config.js'
import { envNameOf } from '../common/config-loader.js'
import { ConfigError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { adminAuthProblem } from '../admin/build-admin-app.js'
import { clusterLayout, parseClusterOption, type ClusterBrokerPlan } from './cluster-layout.js'
import {
  defaultDataDir,
  port,
  startNamesrv,
  type BrokerListening,
  type ServerFlags,
  type StartedServer,
} from './run-server.js'

/** The message a supervised `ferrymq broker` sends over its IPC channel once it serves. */
export const BROKER_READY_MESSAGE = 'ferrymq.broker.ready'

export interface BrokerReadyMessage {
  type: typeof BROKER_READY_MESSAGE
  broker: BrokerListening
}

/** A broker that has not said it is ready by then is killed (the store's recovery happens before that). */
const READY_TIMEOUT_MS = 120_000
/** How long stopping brokers may take (they answer what is in flight and close the store) before SIGKILL. */
const STOP_DEADLINE_MS = 10_000
/** First restart delay after a crash; doubles per crash in a row, up to the max. */
const RESTART_DELAY_MS_MIN = 1000
const RESTART_DELAY_MS_MAX = 30_000
/** Crashes in a row after which a broker is left down. */
const RESTARTS_MAX = 5
/** A broker that ran this long before dying starts again from the first delay. */
const RESTART_STABLE_MS = 60_000

export interface RunClusterOptions {
  /** The file this CLI runs from (`dist/ts/cli/ferrymq.js`, or `ts/cli/ferrymq.ts` under tsx); children run it too. */
  cliEntry: string
}

interface Member {
  plan: ClusterBrokerPlan
  child: ChildProcess | null
  /** When the running child said it was ready; 0 while starting. */
  readyAt: number
  /** Crashes in a row. */
  crashes: number
  restartTimer: NodeJS.Timeout | null
  exited: Promise<void>
}

/** Starts the name server and every broker of `--cluster`, resolves once all serve; `stop()` stops them all. */
export async function runCluster(
  values: ServerFlags,
  log: Logger,
  print: (line: string) => void,
  options: RunClusterOptions,
): Promise<StartedServer> {
  const { shape, masterRole } = parseClusterOption(values.cluster ?? '', values['sync-master'] === true)
  const dataDir = resolve(values['data-dir'] ?? defaultDataDir())
  // The shared settings, checked once here so that a bad broker.conf fails before anything starts. Each broker's
  // own keys (name, id, role, ports, store) are set per child below.
  const base = loadBrokerConfig({
    configFile: values.config,
    env: process.env,
    defaultStorePath: join(dataDir, 'store'),
    overrides: {
      listenPort: port(values['broker-port'], 'broker-port'),
      adminPort: port(values['admin-port'], 'admin-port'),
      bindAddress: values['bind-address'],
      brokerId: 0,
      brokerRole: 'ASYNC_MASTER',
      haListenPort: -1,
      haMasterAddress: '',
    },
  }).brokerConfig
  const authProblem = base.adminPort >= 0 ? adminAuthProblem(base.adminHost, base.adminToken) : null
  if (authProblem !== null) throw new ConfigError('RMQ_ERR_CONFIG', authProblem)
  const plans = clusterLayout({
    shape,
    masterRole,
    dataDir,
    listenPortBase: base.listenPort,
    adminPortBase: base.adminPort,
    vipChannel: base.fastListenPortEnable,
    namesrvPort: port(values['namesrv-port'], 'namesrv-port') ?? 9876,
  })

  const { namesrv, namesrvAddr: embeddedAddr } = await startNamesrv(values, dataDir, log, print)
  const supervisor = new ClusterSupervisor({
    plans,
    log: log.child({ component: 'cluster' }),
    print,
    childArgs: (plan) => [
      ...process.execArgv,
      options.cliEntry,
      ...brokerArgs(plan, values, values['namesrv-addr'] ?? embeddedAddr),
    ],
  })
  process.once('exit', () => supervisor.killAll())
  try {
    print(`starting ${plans.length} broker(s) of cluster ${base.brokerClusterName}: ${shape.groups}x${shape.replicas}`)
    await supervisor.start()
  } catch (err) {
    await supervisor.stop()
    await namesrv.shutdown()
    throw err
  }
  print(`cluster ${base.brokerClusterName} running: ${plans.length} broker(s), name server ${embeddedAddr}`)
  return {
    stop: async () => {
      const killed = await supervisor.stop()
      await namesrv.shutdown()
      if (killed.length > 0) {
        throw new Error(`did not stop within ${STOP_DEADLINE_MS} ms and had to be killed: ${killed.join(', ')}`)
      }
    },
  }
}

/** `ferrymq broker …` for one member: flags where `ferrymq broker` has them (the rest goes in `brokerEnv`). */
function brokerArgs(plan: ClusterBrokerPlan, values: ServerFlags, namesrvAddr: string): string[] {
  const args = ['broker', '--data-dir', plan.dataDir, '--broker-port', String(plan.listenPort), '-n', namesrvAddr]
  if (plan.adminPort >= 0) args.push('--admin-port', String(plan.adminPort))
  if (values['bind-address'] !== undefined) args.push('--bind-address', values['bind-address'])
  if (values.config !== undefined) args.push('-c', resolve(values.config))
  return args
}

/**
 * The member's own keys as `FERRYMQ_*` variables: they win over the shared broker.conf, so a `brokerName` or a
 * `storePathRootDir` in it cannot make two brokers share a name or a store.
 */
function brokerEnv(plan: ClusterBrokerPlan): NodeJS.ProcessEnv {
  const keys: Record<string, string | number> = {
    brokerName: plan.brokerName,
    brokerId: plan.brokerId,
    brokerRole: plan.brokerRole,
    adminPort: plan.adminPort,
    haListenPort: -1,
    haMasterAddress: '',
    storePathRootDir: join(plan.dataDir, 'store'),
    storePathCommitLog: '',
  }
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(keys)) env[envNameOf(key)] = String(value)
  return env
}

function isReadyMessage(m: unknown): m is BrokerReadyMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === BROKER_READY_MESSAGE
}

interface SupervisorOptions {
  plans: readonly ClusterBrokerPlan[]
  log: Logger
  print: (line: string) => void
  childArgs: (plan: ClusterBrokerPlan) => string[]
}

class ClusterSupervisor {
  private readonly members: Member[]
  private state: 'starting' | 'running' | 'stopping' = 'starting'

  constructor(private readonly options: SupervisorOptions) {
    this.members = options.plans.map((plan) => ({
      plan,
      child: null,
      readyAt: 0,
      crashes: 0,
      restartTimer: null,
      exited: Promise.resolve(),
    }))
  }

  /**
   * Spawns the masters, then the slaves; resolves once all are ready, rejects when one exits or times out first.
   * Masters first: a slave learns its master's HA address when it registers, and would otherwise wait for its next
   * registration (`registerNameServerPeriod`, 30 s) to start copying.
   */
  async start(): Promise<void> {
    const masters = this.members.filter((m) => m.plan.brokerId === 0)
    const slaves = this.members.filter((m) => m.plan.brokerId !== 0)
    const lines = new Map<Member, string>()
    for (const wave of [masters, slaves]) {
      const ready = await Promise.all(wave.map((m) => this.spawnMember(m)))
      wave.forEach((m, i) => lines.set(m, ready[i]!))
    }
    // In plan order (broker-a-0, broker-a-1, …), whichever came up first.
    for (const m of this.members) this.options.print(lines.get(m)!)
    this.state = 'running'
  }

  /** SIGTERM to every broker, SIGKILL to those still running after the deadline; returns the killed ones. */
  async stop(): Promise<string[]> {
    this.state = 'stopping'
    const live = this.members.filter((m) => {
      if (m.restartTimer !== null) clearTimeout(m.restartTimer)
      return m.child !== null
    })
    for (const m of live) m.child!.kill('SIGTERM')
    const killed: string[] = []
    const deadline = setTimeout(() => {
      for (const m of live) {
        if (m.child === null) continue
        killed.push(m.plan.label)
        this.options.log.error({ broker: m.plan.label, pid: m.child.pid }, 'broker did not stop in time, killing it')
        m.child.kill('SIGKILL')
      }
    }, STOP_DEADLINE_MS)
    await Promise.all(live.map((m) => m.exited))
    clearTimeout(deadline)
    return killed
  }

  /** Last resort when this process exits: nothing may outlive it. */
  killAll(): void {
    for (const m of this.members) if (m.child !== null) m.child.kill('SIGKILL')
  }

  /** Starts the member's process; resolves with its broker line once it serves. */
  private spawnMember(member: Member): Promise<string> {
    const { plan } = member
    const child = spawn(process.execPath, this.options.childArgs(plan), {
      env: { ...process.env, ...brokerEnv(plan) },
      // stdin unused; stdout and stderr forwarded with the broker's label; the IPC channel carries the ready
      // message and, by closing, tells the child that this process is gone.
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group: Ctrl-C in a terminal reaches this process only, which then stops the brokers in order
      // (a broker that got SIGINT from the terminal and then SIGTERM from here would take the second as "force").
      detached: true,
    })
    member.child = child
    member.readyAt = 0
    forwardLines(child.stdout!, (line) => process.stdout.write(`[${plan.label}] ${line}\n`))
    forwardLines(child.stderr!, (line) => process.stderr.write(`[${plan.label}] ${line}\n`))
    let exitedDone!: () => void
    member.exited = new Promise((r) => (exitedDone = r))
    return new Promise<string>((resolveReady, rejectReady) => {
      const readyTimer = setTimeout(() => {
        rejectReady(new Error(`${plan.label} was not ready within ${READY_TIMEOUT_MS} ms`))
        child.kill('SIGKILL')
      }, READY_TIMEOUT_MS)
      child.on('message', (m: unknown) => {
        if (!isReadyMessage(m) || member.readyAt !== 0) return
        clearTimeout(readyTimer)
        member.readyAt = Date.now()
        resolveReady(brokerLine(plan, m.broker, child.pid ?? 0, member.crashes > 0))
      })
      child.once('error', (err) => {
        // Spawning failed (no 'exit' follows when the process never started).
        clearTimeout(readyTimer)
        this.options.log.error({ broker: plan.label, err }, 'could not start broker process')
        if (child.pid === undefined) {
          member.child = null
          exitedDone()
        }
        rejectReady(new Error(`${plan.label}: could not start a broker process: ${err.message}`, { cause: err }))
      })
      child.once('exit', (code, signal) => {
        clearTimeout(readyTimer)
        member.child = null
        exitedDone()
        const how = signal !== null ? `signal ${signal}` : `code ${code}`
        if (member.readyAt === 0) {
          rejectReady(new Error(`${plan.label} exited with ${how} before it was ready (its log lines above say why)`))
        }
        if (this.state === 'running') this.crashed(member, how)
      })
    })
  }

  /** An unexpected exit while the cluster runs: say so loudly, and restart unless it keeps dying. */
  private crashed(member: Member, how: string): void {
    const { plan } = member
    const ranMs = member.readyAt === 0 ? 0 : Date.now() - member.readyAt
    member.crashes = ranMs >= RESTART_STABLE_MS ? 1 : member.crashes + 1
    if (member.crashes > RESTARTS_MAX) {
      this.options.log.error({ broker: plan.label, how, crashes: member.crashes - 1 }, 'broker keeps dying, left down')
      this.options.print(`!!! ${plan.label} died (${how}) ${RESTARTS_MAX + 1} times in a row; leaving it down`)
      return
    }
    const delayMs = Math.min(RESTART_DELAY_MS_MIN * 2 ** (member.crashes - 1), RESTART_DELAY_MS_MAX)
    this.options.log.error({ broker: plan.label, how, delayMs }, 'broker died unexpectedly, restarting')
    this.options.print(
      `!!! ${plan.label} died unexpectedly (${how}); restarting in ${delayMs} ms (${member.crashes} of ${RESTARTS_MAX})`,
    )
    member.restartTimer = setTimeout(() => {
      member.restartTimer = null
      if (this.state !== 'running') return
      this.spawnMember(member).then(this.options.print, (err: unknown) => {
        // Its 'exit' handler has already scheduled the next attempt, or given up; this only records why.
        this.options.log.warn({ broker: plan.label, err }, 'broker restart failed')
      })
    }, delayMs)
  }
}

function forwardLines(stream: NodeJS.ReadableStream, write: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', write)
}

/** One line per broker: what a client, an operator and a test need to find it. */
function brokerLine(plan: ClusterBrokerPlan, b: BrokerListening, pid: number, restarted: boolean): string {
  const vip = b.ports[1] !== undefined ? ` vip=${b.ports[1]}` : ''
  return (
    `${restarted ? 'restarted ' : ''}broker ${b.brokerName} id=${b.brokerId} role=${b.brokerRole} addr=${b.brokerAddr}` +
    `${vip} ha=${b.haPort ?? '-'} admin=${b.adminUrl ?? 'off'} pid=${pid} data=${plan.dataDir}`
  )
}
