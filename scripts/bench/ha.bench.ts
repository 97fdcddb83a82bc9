/**
 * `npm run bench:ha`: what replication costs. 1 KiB `SEND_MESSAGE_V2` requests with 256 in flight go to a master
 * in another process, in three set-ups measured in the same run:
 *   - lone:  an `ASYNC_MASTER` without a slave (the baseline);
 *   - async: an `ASYNC_MASTER` with one slave (a third process on the same machine);
 *   - sync:  a `SYNC_MASTER` with one slave: every answer waits for the slave's acknowledgement.
 * While the load runs, the master's view of the slave's lag (bytes, and ms since the oldest unacknowledged byte
 * was written) is sampled every 100 ms.
 *
 * Prints medians of several runs: msgs/s, p50/p99 ack latency, lag p99/max, and the ratio of each to the lone
 * master; the last line is one JSON object. Target (issue): sync keeps ≥ 50% of the lone master's throughput,
 * and the lag stays under 1 s.
 *
 * Options: --runs N (default 3), --messages N (per run, default 100,000), --in-flight N (default 256), --dir DIR.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

import { defaultBrokerConfig, type BrokerConfig } from '../../ts/broker/broker-config.js'
import { BrokerController } from '../../ts/broker/broker-controller.js'
import { BROKER_NODE_FLAGS } from '../../ts/cli/node-flags.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { nextOpaque } from '../../ts/remoting/remoting-command.js'
import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { drive, median, percentile, type Sender } from './bench-stats.js'
import { LoadConnection, encodeFrameBytes, encodeSendHeader, uniqKey, type SendTemplate } from './load-generator.js'

const BODY = Buffer.alloc(1024, 0x61)
const TEMPLATE: SendTemplate = {
  code: RequestCode.SEND_MESSAGE_V2,
  producerGroup: 'BenchProducer',
  topic: 'HaBench',
  queues: 4,
  batch: false,
}
const LAG_SAMPLE_MS = 100

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '100000' },
    'in-flight': { type: 'string', default: '256' },
    dir: { type: 'string', default: tmpdir() },
    role: { type: 'string' },
    'master-ha': { type: 'string' },
  },
})

// ---- broker processes ---------------------------------------------------------------------------------------------

type Role = 'ASYNC_MASTER' | 'SYNC_MASTER' | 'SLAVE'
type ChildMessage =
  | { ready: { port: number; haPort: number } }
  | { lag: { bytes: number; ms: number; slaves: number } }
  | { settled: true }
  | { cpuUs: number }

async function runBroker(role: Role, dir: string, masterHa: string | undefined): Promise<void> {
  const brokerConfig: BrokerConfig = {
    ...defaultBrokerConfig(),
    brokerIP1: '127.0.0.1',
    listenPort: 0,
    haListenPort: 0,
    adminPort: -1,
    fastListenPortEnable: false,
    brokerRole: role,
    brokerId: role === 'SLAVE' ? 1 : 0,
    haMasterAddress: masterHa ?? '',
  }
  const broker = new BrokerController({
    brokerConfig,
    storeConfig: { storePathRootDir: dir, flushDiskType: 'ASYNC_FLUSH' },
  })
  await broker.start()
  const store = broker.store as NativeMessageStore
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'lag') {
      const slaves = broker.replicationStatus().slaves.filter((s) => s.ackOffset >= 0)
      const worst = slaves.reduce((a, s) => (s.lagBytes > a.lagBytes ? s : a), { lagBytes: 0, lagMs: 0 })
      process.send!({ lag: { bytes: worst.lagBytes, ms: worst.lagMs, slaves: slaves.length } } satisfies ChildMessage)
    } else if (m.cmd === 'cpu') {
      const u = process.cpuUsage()
      process.send!({ cpuUs: u.user + u.system } satisfies ChildMessage)
    } else if (m.cmd === 'settle') {
      // Segment pre-touch runs ahead of the writer; a run starts once it is done (as in bench:broker).
      const wait = async (): Promise<void> => {
        while (store.stats().pretouchPendingBytes > 0) await new Promise((r) => setTimeout(r, 50))
      }
      void wait().then(() => process.send!({ settled: true } satisfies ChildMessage))
    } else if (m.cmd === 'stop') {
      void broker.shutdown().then(() => process.exit(0))
    }
  })
  const status = broker.replicationStatus()
  process.send!({ ready: { port: broker.ports[0]!, haPort: status.haPort ?? 0 } } satisfies ChildMessage)
}

class BrokerChild {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly haPort: number,
  ) {}

  static start(role: Role, dir: string, masterHa?: string): Promise<BrokerChild> {
    const args = ['--role', role, '--dir', dir, ...(masterHa ? ['--master-ha', masterHa] : [])]
    const child = fork(fileURLToPath(import.meta.url), args, { stdio: 'inherit', execArgv: [...BROKER_NODE_FLAGS] })
    return new Promise((resolve, reject) => {
      child.once('message', (m: ChildMessage) =>
        'ready' in m ? resolve(new BrokerChild(child, m.ready.port, m.ready.haPort)) : reject(new Error('bad start')),
      )
      child.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)))
    })
  }

  private ask<T extends ChildMessage>(cmd: string, key: string): Promise<T> {
    return new Promise((resolve) => {
      const on = (m: ChildMessage): void => {
        if (key in m) {
          this.child.off('message', on)
          resolve(m as T)
        }
      }
      this.child.on('message', on)
      this.child.send({ cmd })
    })
  }

  async lag(): Promise<{ bytes: number; ms: number; slaves: number }> {
    return (await this.ask<{ lag: { bytes: number; ms: number; slaves: number } }>('lag', 'lag')).lag
  }

  async cpuUs(): Promise<number> {
    return (await this.ask<{ cpuUs: number }>('cpu', 'cpuUs')).cpuUs
  }

  async settle(): Promise<void> {
    await this.ask('settle', 'settled')
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve())
      this.child.send({ cmd: 'stop' })
    })
  }
}

// ---- the load ------------------------------------------------------------------------------------------------------

let counter = 0

function sender(conn: LoadConnection): Sender {
  return () => {
    const n = counter++
    const opaque = nextOpaque()
    const props = `"UNIQ_KEY\\u0001${uniqKey(n)}\\u0002WAIT\\u0001true\\u0002TAGS\\u0001TagA\\u0002"`
    return conn.request(opaque, encodeFrameBytes(encodeSendHeader(TEMPLATE, opaque, n & 3, Date.now(), props), BODY))
  }
}

interface RunResult {
  msgsPerS: number
  p50Ms: number
  p99Ms: number
  lagP99Ms: number
  lagMaxMs: number
  lagMaxBytes: number
  /** CPU (all threads) per message of the master and of the slave. */
  masterCpuUsPerMsg: number
  slaveCpuUsPerMsg: number
}

type Mode = 'lone' | 'async' | 'sync'

async function runOnce(mode: Mode, messages: number, inFlight: number): Promise<RunResult> {
  const dir = mkdtempSync(join(values.dir!, 'ferrymq-bench-ha-'))
  const children: BrokerChild[] = []
  try {
    const master = await BrokerChild.start(mode === 'sync' ? 'SYNC_MASTER' : 'ASYNC_MASTER', join(dir, 'master'))
    children.push(master)
    if (mode !== 'lone') {
      children.push(await BrokerChild.start('SLAVE', join(dir, 'slave'), `127.0.0.1:${master.haPort}`))
      const deadline = Date.now() + 30_000
      while ((await master.lag()).slaves === 0) {
        if (Date.now() > deadline) throw new Error('the slave did not connect')
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const conn = await LoadConnection.connect(master.port)
    const send = sender(conn)
    await drive(send, Math.min(2000, messages), inFlight) // warm-up: connection, JIT, topic creation
    await master.settle()
    await children[1]?.settle()
    const lags: number[] = []
    let lagMaxBytes = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const l = await master.lag()
        lags.push(l.ms)
        lagMaxBytes = Math.max(lagMaxBytes, l.bytes)
        await new Promise((r) => setTimeout(r, LAG_SAMPLE_MS))
      }
    })()
    const slave = children[1]
    const cpu0 = await Promise.all([master.cpuUs(), slave?.cpuUs() ?? 0])
    const t0 = performance.now()
    const lat = await drive(send, messages, inFlight)
    const elapsedS = (performance.now() - t0) / 1000
    const cpu1 = await Promise.all([master.cpuUs(), slave?.cpuUs() ?? 0])
    sampling = false
    await sampler
    conn.close()
    lat.sort()
    lags.sort((a, b) => a - b)
    return {
      msgsPerS: messages / elapsedS,
      p50Ms: percentile(lat, 0.5),
      p99Ms: percentile(lat, 0.99),
      lagP99Ms: mode === 'lone' ? 0 : percentile(lags, 0.99),
      lagMaxMs: mode === 'lone' ? 0 : (lags.at(-1) ?? 0),
      lagMaxBytes,
      masterCpuUsPerMsg: (cpu1[0] - cpu0[0]) / messages,
      slaveCpuUsPerMsg: (cpu1[1] - cpu0[1]) / messages,
    }
  } finally {
    for (const c of children.reverse()) await c.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  if (values.role) return runBroker(values.role as Role, values.dir!, values['master-ha'])
  const runs = Number(values.runs)
  const messages = Number(values.messages)
  const inFlight = Number(values['in-flight'])
  const modes: Mode[] = ['lone', 'async', 'sync']
  const all: Record<Mode, RunResult[]> = { lone: [], async: [], sync: [] }
  // Interleaved, so that a noisy minute hits every set-up alike.
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const r = await runOnce(mode, messages, inFlight)
      all[mode].push(r)
      process.stderr.write(
        `run ${i + 1}/${runs} ${mode}: ${r.msgsPerS.toFixed(0)} msgs/s, p99 ${r.p99Ms.toFixed(2)} ms, lag max ${r.lagMaxMs} ms, cpu µs/msg master ${r.masterCpuUsPerMsg.toFixed(1)} slave ${r.slaveCpuUsPerMsg.toFixed(1)}\n`,
      )
    }
  }
  const med = (mode: Mode, k: keyof RunResult): number => median(all[mode].map((r) => r[k]))
  const lone = med('lone', 'msgsPerS')
  process.stdout.write(
    `medians of ${runs} runs, ${messages} × 1 KiB sends, ${inFlight} in flight, async flush, slave on the same machine\n`,
  )
  process.stdout.write(
    `${'set-up'.padEnd(22)} ${'msgs/s'.padStart(10)} ${'÷ lone'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'lag p99 ms'.padStart(11)} ${'lag max ms'.padStart(11)} ${'lag max KiB'.padStart(12)} ${'master µs/msg'.padStart(14)} ${'slave µs/msg'.padStart(13)}\n`,
  )
  const names: Record<Mode, string> = {
    lone: 'lone ASYNC_MASTER',
    async: 'ASYNC_MASTER + slave',
    sync: 'SYNC_MASTER + slave',
  }
  for (const mode of modes) {
    process.stdout.write(
      `${names[mode].padEnd(22)} ${med(mode, 'msgsPerS').toFixed(0).padStart(10)} ${(med(mode, 'msgsPerS') / lone).toFixed(2).padStart(7)} ${med(mode, 'p50Ms').toFixed(2).padStart(8)} ${med(mode, 'p99Ms').toFixed(2).padStart(8)} ${med(mode, 'lagP99Ms').toFixed(0).padStart(11)} ${med(mode, 'lagMaxMs').toFixed(0).padStart(11)} ${(med(mode, 'lagMaxBytes') / 1024).toFixed(0).padStart(12)} ${med(mode, 'masterCpuUsPerMsg').toFixed(2).padStart(14)} ${med(mode, 'slaveCpuUsPerMsg').toFixed(2).padStart(13)}\n`,
    )
  }
  process.stdout.write(
    `${JSON.stringify({
      lone_msgs_per_s: Math.round(lone),
      async_msgs_per_s: Math.round(med('async', 'msgsPerS')),
      sync_msgs_per_s: Math.round(med('sync', 'msgsPerS')),
      async_ratio_to_lone: +(med('async', 'msgsPerS') / lone).toFixed(3),
      sync_ratio_to_lone: +(med('sync', 'msgsPerS') / lone).toFixed(3),
      lone_p99_ms: +med('lone', 'p99Ms').toFixed(3),
      async_p99_ms: +med('async', 'p99Ms').toFixed(3),
      sync_p99_ms: +med('sync', 'p99Ms').toFixed(3),
      async_lag_max_ms: med('async', 'lagMaxMs'),
      sync_lag_max_ms: med('sync', 'lagMaxMs'),
      async_lag_p99_ms: med('async', 'lagP99Ms'),
      sync_lag_p99_ms: med('sync', 'lagP99Ms'),
      lone_master_cpu_us_per_msg: +med('lone', 'masterCpuUsPerMsg').toFixed(2),
      sync_master_cpu_us_per_msg: +med('sync', 'masterCpuUsPerMsg').toFixed(2),
      sync_slave_cpu_us_per_msg: +med('sync', 'slaveCpuUsPerMsg').toFixed(2),
    })}\n`,
  )
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
