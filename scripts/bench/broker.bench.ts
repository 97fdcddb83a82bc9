/**
 * `npm run bench:broker`: a remoting client sends 1 KiB `SEND_MESSAGE_V2` requests with 256 in flight, and
 * `SEND_BATCH_MESSAGE` batches of 32 (8 in flight), to a broker in another process (async flush). Baseline in the
 * same run: the same client against a remoting server in another process that answers every send `SUCCESS`
 * without storing anything, which shows what the protocol alone costs on this machine.
 *
 * Prints medians of several runs: msgs/s, p50/p99 ack latency, and the server's CPU µs per message; the last
 * line is one JSON object with every figure.
 *
 * Options: --runs N (default 3), --messages N (single sends per run, default 200,000), --batches N (per run,
 * default 20,000), --in-flight N (default 256), --client lean|sdk (default lean: the template-encoding load
 * generator of `load-generator.ts`; sdk: ferrymq's `RemotingClient`), --serialize json|rocketmq (sdk client
 * only), --dir DIR.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'

import { defaultBrokerConfig } from '../../ts/broker/broker-config.js'
import { BROKER_NODE_FLAGS } from '../../ts/cli/node-flags.js'
import { BrokerController } from '../../ts/broker/broker-controller.js'
import { messageProperties2String } from '../../ts/common/message/message-properties.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { noopLogger } from '../../ts/common/logger.js'
import { encodeBatchBody } from '../../ts/remoting/protocol/batch-message-codec.js'
import { encodeSendMessageRequestHeader } from '../../ts/remoting/protocol/send-message-header.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand, SerializeType, nextOpaque } from '../../ts/remoting/remoting-command.js'
import { RequestDispatcher } from '../../ts/remoting/request-dispatcher.js'
import { RequestExecutor } from '../../ts/remoting/request-executor.js'
import { RemotingServer } from '../../ts/remoting/remoting-server.js'
import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { drive, median, percentile, type Sender } from './bench-stats.js'
import { LoadConnection, encodeFrameBytes, encodeSendHeader, uniqKey, type SendTemplate } from './load-generator.js'

const BODY = Buffer.alloc(1024, 0x61)
const TOPIC = 'BenchTopic'
const BATCH = 32
const BATCH_IN_FLIGHT = 8

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    messages: { type: 'string', default: '200000' },
    batches: { type: 'string', default: '20000' },
    'in-flight': { type: 'string', default: '256' },
    serialize: { type: 'string', default: 'json' },
    client: { type: 'string', default: 'lean' },
    dir: { type: 'string', default: tmpdir() },
    server: { type: 'string' },
  },
})

// ---- server side (a child process) -------------------------------------------------------------------------------

type ServerMessage = { ready: number } | { cpuUs: number }

async function runServer(kind: string, dir: string): Promise<void> {
  let port: number
  let stop: () => Promise<void>
  let settle = async (): Promise<void> => {}
  if (kind === 'broker') {
    const broker = new BrokerController({
      brokerConfig: { ...defaultBrokerConfig(), brokerIP1: '127.0.0.1', listenPort: 0, adminPort: -1, fastListenPortEnable: false },
      storeConfig: { storePathRootDir: dir, flushDiskType: 'ASYNC_FLUSH' },
    })
    await broker.start()
    const store = broker.store as NativeMessageStore
    // Segments are created and pre-touched ahead of the writer (~2.5 s of CPU per GiB on this VM, whoever pays
    // it). As in the store benchmark, a run starts once that work is done, so it measures the request path.
    settle = async () => {
      while (store.stats().pretouchPendingBytes > 0) await new Promise((r) => setTimeout(r, 50))
    }
    await settle()
    port = broker.ports[0]!
    stop = () => {
      const s = store.stats()
      if (process.env.FERRYMQ_BENCH_VERBOSE) {
        process.stderr.write(`server: ${s.putMessages} puts in ${s.putJobs} jobs, put latency p50 ${s.putLatency.p50Us} µs p99 ${s.putLatency.p99Us} µs\n`)
      }
      return broker.shutdown()
    }
  } else {
    const dispatcher = new RequestDispatcher(noopLogger)
    const executor = new RequestExecutor({ name: 'echo', concurrency: 4096, queueCapacity: 10_000, queueWaitMsMax: Infinity })
    const echo = {
      processRequest: () =>
        RemotingCommand.createResponse(ResponseCode.SUCCESS, null, { msgId: '7F000001000000000000000000000000', queueId: '0', queueOffset: '0' }),
    }
    dispatcher.registerProcessor(RequestCode.SEND_MESSAGE_V2, echo, executor)
    dispatcher.registerProcessor(RequestCode.SEND_BATCH_MESSAGE, echo, executor)
    const server = new RemotingServer({ port: 0, logger: noopLogger }, dispatcher)
    port = await server.listen()
    stop = () => server.close()
  }
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'settle') {
      void settle().then(() => process.send!({ cpuUs: 0 } satisfies ServerMessage))
    } else if (m.cmd === 'cpu') {
      const u = process.cpuUsage()
      process.send!({ cpuUs: u.user + u.system } satisfies ServerMessage)
    } else if (m.cmd === 'stop') {
      void stop().then(() => process.exit(0))
    }
  })
  process.send!({ ready: port } satisfies ServerMessage)
}

// ---- client side -------------------------------------------------------------------------------------------------

class Server {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static start(kind: string, dir: string): Promise<Server> {
    // FERRYMQ_BENCH_PROFILE=<dir> writes a V8 CPU profile of each server process there; FERRYMQ_BENCH_SERVER_ARGS
    // passes more Node options to the servers (e.g. `--trace-gc`).
    const profileDir = process.env.FERRYMQ_BENCH_PROFILE
    const execArgv = [...BROKER_NODE_FLAGS, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]
    execArgv.push(...(process.env.FERRYMQ_BENCH_SERVER_ARGS ?? '').split(' ').filter((a) => a !== ''))
    const child = fork(fileURLToPath(import.meta.url), ['--server', kind, '--dir', dir], { stdio: 'inherit', execArgv })
    return new Promise((resolve, reject) => {
      child.once('message', (m: ServerMessage) => ('ready' in m ? resolve(new Server(child, m.ready)) : reject(new Error('bad start'))))
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
  }

  cpuUs(): Promise<number> {
    return new Promise((resolve) => {
      this.child.once('message', (m: ServerMessage) => resolve((m as { cpuUs: number }).cpuUs))
      this.child.send({ cmd: 'cpu' })
    })
  }

  /** Waits until the server has no background work left (segment pre-touch). */
  settle(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('message', () => resolve())
      this.child.send({ cmd: 'settle' })
    })
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve())
      this.child.send({ cmd: 'stop' })
    })
  }
}

interface RunResult {
  msgsPerS: number
  p50Ms: number
  p99Ms: number
  cpuUsPerMsg: number
  /** The benchmark client's own CPU per message (it shares the machine with the server). */
  clientCpuUsPerMsg: number
}

let counter = 0
const serializeType = values.serialize === 'rocketmq' ? SerializeType.ROCKETMQ : SerializeType.JSON

/** A send request as the SDK client writes it: V2 header for `code`, the given properties and body. */
function sendRequest(code: number, properties: Record<string, string>, body: Buffer): RemotingCommand {
  const batch = code === RequestCode.SEND_BATCH_MESSAGE
  const ext = encodeSendMessageRequestHeader(
    {
      producerGroup: 'BenchProducer',
      topic: TOPIC,
      defaultTopic: 'TBW102',
      defaultTopicQueueNums: 4,
      queueId: counter & 3,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: messageProperties2String(properties),
      reconsumeTimes: 0,
      unitMode: false,
      maxReconsumeTimes: undefined,
      batch,
    },
    true,
  )
  const req = RemotingCommand.createRequest(code, ext, body)
  req.serializeType = serializeType
  return req
}

function singleRequest(): RemotingCommand {
  return sendRequest(RequestCode.SEND_MESSAGE_V2, { UNIQ_KEY: uniqKey(counter++), WAIT: 'true', TAGS: 'TagA' }, BODY)
}

function batchRequest(): RemotingCommand {
  const elements = []
  for (let i = 0; i < BATCH; i++) {
    elements.push({ flag: 0, body: BODY, properties: messageProperties2String({ UNIQ_KEY: uniqKey(counter++), TAGS: 'TagA' }) })
  }
  return sendRequest(RequestCode.SEND_BATCH_MESSAGE, { WAIT: 'true' }, encodeBatchBody(elements))
}

const SINGLE_TEMPLATE: SendTemplate = { code: RequestCode.SEND_MESSAGE_V2, producerGroup: 'BenchProducer', topic: TOPIC, queues: 4, batch: false }
const BATCH_TEMPLATE: SendTemplate = { code: RequestCode.SEND_BATCH_MESSAGE, producerGroup: 'BenchProducer', topic: TOPIC, queues: 4, batch: true }

function leanSingle(conn: LoadConnection): Sender {
  return () => {
    const n = counter++
    const opaque = nextOpaque()
    const props = `"UNIQ_KEY\\u0001${uniqKey(n)}\\u0002WAIT\\u0001true\\u0002TAGS\\u0001TagA\\u0002"`
    return conn.request(opaque, encodeFrameBytes(encodeSendHeader(SINGLE_TEMPLATE, opaque, n & 3, Date.now(), props), BODY))
  }
}

/** The 32 messages of a batch body, each with its own unique key (`MessageBatch#encode`). */
function batchBody(): Buffer {
  const props0 = Buffer.from(`UNIQ_KEY\u0001${uniqKey(0)}\u0002TAGS\u0001TagA\u0002`, 'latin1')
  const element = 22 + BODY.length + props0.length
  const out = Buffer.allocUnsafe(element * BATCH)
  for (let i = 0; i < BATCH; i++) {
    const at = i * element
    out.writeInt32BE(element, at)
    out.writeInt32BE(0, at + 4)
    out.writeInt32BE(0, at + 8)
    out.writeInt32BE(0, at + 12)
    out.writeInt32BE(BODY.length, at + 16)
    BODY.copy(out, at + 20)
    out.writeInt16BE(props0.length, at + 20 + BODY.length)
    out.write(`UNIQ_KEY\u0001${uniqKey(counter++)}\u0002TAGS\u0001TagA\u0002`, at + 22 + BODY.length, 'latin1')
  }
  return out
}

function leanBatch(conn: LoadConnection): Sender {
  return () => {
    const opaque = nextOpaque()
    const header = encodeSendHeader(BATCH_TEMPLATE, opaque, counter & 3, Date.now(), '"WAIT\\u0001true\\u0002"')
    return conn.request(opaque, encodeFrameBytes(header, batchBody()))
  }
}

function sdkSender(client: RemotingClient, addr: string, make: () => RemotingCommand): Sender {
  return async () => (await client.invoke(addr, make(), 10_000)).code
}

async function measure(server: Server, requests: number, inFlight: number, perRequest: number, batch: boolean): Promise<RunResult> {
  const addr = `127.0.0.1:${server.port}`
  let send: Sender
  let close: () => void
  if (values.client === 'sdk') {
    const client = new RemotingClient()
    send = sdkSender(client, addr, batch ? batchRequest : singleRequest)
    close = () => client.shutdown()
  } else {
    const conn = await LoadConnection.connect(server.port)
    send = batch ? leanBatch(conn) : leanSingle(conn)
    close = () => conn.close()
  }
  await drive(send, Math.min(2000, requests), inFlight) // warm-up: connection, JIT, topic creation
  await server.settle()
  const cpu0 = await server.cpuUs()
  const clientCpu0 = process.cpuUsage()
  const t0 = performance.now()
  const lat = await drive(send, requests, inFlight)
  const elapsedS = (performance.now() - t0) / 1000
  const clientCpu = process.cpuUsage(clientCpu0)
  const cpu1 = await server.cpuUs()
  close()
  lat.sort()
  const messages = requests * perRequest
  return {
    msgsPerS: messages / elapsedS,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    cpuUsPerMsg: (cpu1 - cpu0) / messages,
    clientCpuUsPerMsg: (clientCpu.user + clientCpu.system) / messages,
  }
}

function summarize(runs: RunResult[]): RunResult {
  return {
    msgsPerS: median(runs.map((r) => r.msgsPerS)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    cpuUsPerMsg: median(runs.map((r) => r.cpuUsPerMsg)),
    clientCpuUsPerMsg: median(runs.map((r) => r.clientCpuUsPerMsg)),
  }
}

async function main(): Promise<void> {
  if (values.server) return runServer(values.server, values.dir!)
  const runs = Number(values.runs)
  const messages = Number(values.messages)
  const batches = Number(values.batches)
  const inFlight = Number(values['in-flight'])
  const results: Record<string, RunResult> = {}
  for (const kind of ['broker', 'echo']) {
    const single: RunResult[] = []
    const batch: RunResult[] = []
    for (let i = 0; i < runs; i++) {
      // A fresh store per run, so every run writes into warm, empty segments.
      const dir = mkdtempSync(join(values.dir!, 'ferrymq-bench-broker-'))
      const server = await Server.start(kind, dir)
      try {
        single.push(await measure(server, messages, inFlight, 1, false))
        batch.push(await measure(server, batches, BATCH_IN_FLIGHT, BATCH, true))
      } finally {
        await server.stop()
        rmSync(dir, { recursive: true, force: true })
      }
      process.stderr.write(`${kind} run ${i + 1}/${runs}: single ${single.at(-1)!.msgsPerS.toFixed(0)}/s, batch32 ${batch.at(-1)!.msgsPerS.toFixed(0)}/s\n`)
    }
    results[`${kind}_single`] = summarize(single)
    results[`${kind}_batch32`] = summarize(batch)
  }
  const row = (name: string, r: RunResult): string =>
    `${name.padEnd(24)} ${r.msgsPerS.toFixed(0).padStart(10)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${r.cpuUsPerMsg.toFixed(2).padStart(14)} ${r.clientCpuUsPerMsg.toFixed(2).padStart(14)}`
  const clientDesc = values.client === 'sdk' ? `ferrymq RemotingClient, ${values.serialize} headers` : 'lean load generator, JSON headers'
  process.stdout.write(`medians of ${runs} runs, ${clientDesc}, ${inFlight} single sends / ${BATCH_IN_FLIGHT} batches in flight\n`)
  process.stdout.write(
    `${'case'.padEnd(24)} ${'msgs/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'server µs/msg'.padStart(14)} ${'client µs/msg'.padStart(14)}\n`,
  )
  for (const [name, r] of Object.entries(results)) process.stdout.write(`${row(name, r)}\n`)
  const b = results.broker_single!
  const bb = results.broker_batch32!
  process.stdout.write(
    `${JSON.stringify({
      single_msgs_per_s: Math.round(b.msgsPerS),
      batch32_msgs_per_s: Math.round(bb.msgsPerS),
      single_p50_ms: +b.p50Ms.toFixed(3),
      single_p99_ms: +b.p99Ms.toFixed(3),
      batch32_p99_ms: +bb.p99Ms.toFixed(3),
      server_cpu_us_per_msg: +b.cpuUsPerMsg.toFixed(3),
      batch32_server_cpu_us_per_msg: +bb.cpuUsPerMsg.toFixed(3),
      client_cpu_us_per_msg: +b.clientCpuUsPerMsg.toFixed(3),
      echo_single_msgs_per_s: Math.round(results.echo_single!.msgsPerS),
      echo_batch32_msgs_per_s: Math.round(results.echo_batch32!.msgsPerS),
      single_ratio_to_echo: +(b.msgsPerS / results.echo_single!.msgsPerS).toFixed(3),
      batch32_ratio_to_echo: +(bb.msgsPerS / results.echo_batch32!.msgsPerS).toFixed(3),
      client: values.client,
      serialize: values.client === 'sdk' ? values.serialize : 'json',
    })}\n`,
  )
}

void main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
