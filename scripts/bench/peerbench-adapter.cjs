'use strict'
/**
 * peerbench adapter for ferrymq: the broker started by its own CLI, driven by our TypeScript SDK, so that the
 * race (`npm run bench`) measures broker + SDK together, as the peers are measured with their own Node clients.
 *
 *   node <peerbench>/bench.js --adapter scripts/bench/peerbench-adapter.cjs --targets ferrymq-async,ferrymq-sync
 *
 * CommonJS because peerbench loads adapters with require(); the SDK itself is ESM and is loaded with import().
 * Targets:
 *   ferrymq-async  flushDiskType=ASYNC_FLUSH (≈ redis-everysec, nats-js-file)
 *   ferrymq-sync   flushDiskType=SYNC_FLUSH  (≈ redis-always): the ack waits for the group-commit msync
 *
 * Client mapping (peerbench's Client interface → SDK):
 *   publish       Producer#sendAsync(msg)     the harness keeps up to --window (256) of them in flight
 *   publishBatch  Producer#send([msgs])       one SEND_BATCH_MESSAGE request per batch
 *   consumeAll    PULL_MESSAGE requests from offset 0, several in flight at consecutive offset ranges,
 *                 delivered in queue order, with the low-level exports (RemotingClient, RemotingCommand,
 *                 RequestCode, decodeMessages). With FERRYMQ_RACE_READBACK=lite it uses the SDK's LitePullConsumer
 *                 instead (one pull in flight per queue, as RocketMQ's): 283k–293k against 368k–375k msg/s for
 *                 the pipelined pulls on this VM (100k messages, 2 runs each, same session).
 */
const fs = require('fs')
const http = require('http')
const path = require('path')
const { pathToFileURL } = require('url')

// The repository this file lives in (scripts/bench/ → root); never a machine path.
const REPO = path.resolve(__dirname, '../..')
const CLI = path.join(REPO, 'dist', 'ts', 'cli', 'ferrymq.js')
const SDK = path.join(REPO, 'dist', 'ts', 'index.js')

const HOST = '127.0.0.1'
const TOPIC = 'PeerbenchTopic'
const PRODUCER_GROUP = 'peerbench_producer'
const CONSUMER_GROUP = 'peerbench_consumer'

// Read-back. RocketMQ caps what one pull returns by maxTransferCountOnMessageInMemory (32 by default) and
// maxTransferBytesOnMessageInMemory (256 KiB); both are MessageStoreConfig keys a RocketMQ broker.conf may set.
// The count cap is raised to 200 for the benchmark (the byte cap stays), so that a pull carries about as many
// 1 KiB messages as fit in 256 KiB; the peers' readers fetch 1,000 per request. Measured here: ≈ +25 % read-back
// against 32 per pull with 32 pulls in flight. The semantics text of both targets says so.
const MAX_TRANSFER_COUNT = 200
const MAX_TRANSFER_BYTES = 256 * 1024
/** Room for a stored record's header, topic and properties beyond its body (about 180 bytes here). */
const RECORD_OVERHEAD_BYTES = 256
/** Pulls in flight at consecutive offset ranges: 8 × 200 = 1,600 messages outstanding. */
const PULLS_IN_FLIGHT = 8
const PULL_TIMEOUT_MS = 30_000
/** PullSysFlag SUBSCRIPTION (0x4): the filter comes with the request, so no heartbeat is needed. No commit, no hold. */
const PULL_SYS_FLAG = 0x4
/** Retries of a pull that found nothing below the known end (the queue index trails the ack by a little). */
const PULL_EMPTY_RETRIES_MAX = 2000
const PULL_EMPTY_RETRY_DELAY_MS = 1

const START_TIMEOUT_MS = 60_000
/**
 * After it is ready, the broker keeps working for a few seconds: it creates the first commit-log segment (1 GiB)
 * and warms it, reading its pages into the page cache (RocketMQ's segment pre-allocation and warm-up). That is
 * start-up work, like the server start the harness leaves out of every figure, so a run starts once the broker
 * has gone quiet: under SETTLE_IDLE_CPU_S of CPU in each SETTLE_WINDOW_MS, for at most SETTLE_MAX_MS.
 */
const SETTLE_WINDOW_MS = 500
const SETTLE_IDLE_CPU_S = 0.05
const SETTLE_MAX_MS = 30_000
const ROUTE_TIMEOUT_MS = 10_000

const RESPONSE_SUCCESS = 0
const PULL_NOT_FOUND = 19
const PULL_RETRY_IMMEDIATELY = 20

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * peerbench's lib/proc.js. Adapters receive no handle to it, so it is found next to the harness that loaded us
 * (require.main is bench.js), or under PEERBENCH_DIR when another script loads this adapter.
 */
function peerbenchProc() {
  const roots = []
  if (require.main && require.main.filename) roots.push(path.dirname(require.main.filename))
  if (process.env.PEERBENCH_DIR) roots.push(path.resolve(process.env.PEERBENCH_DIR))
  for (const root of roots) {
    const file = path.join(root, 'lib', 'proc.js')
    if (fs.existsSync(file)) return require(file)
  }
  throw new Error('cannot find peerbench lib/proc.js: run this adapter from peerbench bench.js or set PEERBENCH_DIR')
}

function ferrymqVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

let sdkPromise = null
function loadSdk() {
  sdkPromise ??= import(pathToFileURL(SDK).href)
  return sdkPromise
}

/** GET http://127.0.0.1:port/path → status code (0 when the connection failed). */
function httpStatus(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: urlPath, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode || 0)
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(0))
  })
}

/** The admin API answers /readyz 200 once the broker's store is open and it has registered with the name server. */
async function waitReady(adminPort, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`ferrymq exited early with code ${child.exitCode}`)
    if ((await httpStatus(adminPort, '/readyz')) === 200) return
    if (Date.now() > deadline) throw new Error(`ferrymq not ready after ${timeoutMs} ms`)
    await sleep(100)
  }
}

/** Waits until the server's process tree uses little CPU; returns the seconds waited. */
async function settle(proc, pid) {
  const started = Date.now()
  let before = proc.procUsage(pid).cpu_s
  while (Date.now() - started < SETTLE_MAX_MS) {
    await sleep(SETTLE_WINDOW_MS)
    const now = proc.procUsage(pid).cpu_s
    if (now - before < SETTLE_IDLE_CPU_S) break
    before = now
  }
  return (Date.now() - started) / 1000
}

/**
 * Local addresses the ports listen on, from /proc/net/tcp{,6}: the harness's rule is loopback only, and the
 * CLI has no listen-address option for the name server and broker ports yet, so this is checked, not assumed.
 */
function listenAddresses(ports) {
  const found = {}
  for (const [file, v6] of [
    ['/proc/net/tcp', false],
    ['/proc/net/tcp6', true],
  ]) {
    let text
    try {
      text = fs.readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 4 || f[3] !== '0A') continue // 0A = LISTEN
      const [hexAddr, hexPort] = f[1].split(':')
      const port = parseInt(hexPort, 16)
      const name = Object.keys(ports).find((k) => ports[k] === port)
      if (!name) continue
      let addr
      if (!v6) {
        addr = [3, 2, 1, 0].map((i) => parseInt(hexAddr.slice(i * 2, i * 2 + 2), 16)).join('.')
      } else {
        addr = /^0+$/.test(hexAddr) ? '::' : hexAddr === '00000000000000000000000001000000' ? '::1' : `tcp6:${hexAddr}`
      }
      ;(found[name] ||= []).push(addr)
    }
  }
  return found
}

function makeTarget(flushDiskType) {
  const sync = flushDiskType === 'SYNC_FLUSH'
  return {
    id: sync ? 'ferrymq-sync' : 'ferrymq-async',
    system: 'ferrymq (RocketMQ 4.x remoting, Rust store) + ferrymq TS SDK',
    persistence: sync ? 'sync' : 'async',
    semantics: sync
      ? 'flushDiskType=SYNC_FLUSH: SEND_OK after the record is in the memory-mapped commit log and a group-commit msync(MS_SYNC) covering it returned (one flush serves every put waiting at that moment); a put not flushed within syncFlushTimeout (5 s) is answered FLUSH_DISK_TIMEOUT, which this adapter counts as a failure. Read-back: PULL_MESSAGE from offset 0, up to 200 msgs per pull (broker maxTransferCountOnMessageInMemory raised from 32 to 200; byte cap 256 KiB kept), 8 pulls in flight. A run starts once the broker is idle after start (first commit-log segment created and warmed)'
      : 'flushDiskType=ASYNC_FLUSH: SEND_OK after the record is appended to the memory-mapped commit log (page cache); a flush thread msyncs every 500 ms when >= 4 pages are dirty and everything every 10 s (RocketMQ defaults). Read-back: PULL_MESSAGE from offset 0, up to 200 msgs per pull (broker maxTransferCountOnMessageInMemory raised from 32 to 200; byte cap 256 KiB kept), 8 pulls in flight. A run starts once the broker is idle after start (first commit-log segment created and warmed)',
    async available() {
      if (!fs.existsSync(CLI) || !fs.existsSync(SDK))
        return `ferrymq is not built: run \`npx tsc -p .\` in ${path.basename(REPO)}`
      return null
    },
    async startServer(ctx) {
      const proc = peerbenchProc()
      const ports = { namesrv: await ctx.freePort(), broker: await ctx.freePort(), admin: await ctx.freePort() }
      const env = {
        FERRYMQ_FLUSH_DISK_TYPE: flushDiskType,
        // The address the broker registers with the name server, so the client reaches it over loopback; the
        // default is the first non-loopback IPv4 address.
        FERRYMQ_BROKER_IP1: HOST,
        // The "VIP channel" would listen on brokerPort - 2, a port the harness did not hand out.
        FERRYMQ_FAST_LISTEN_PORT_ENABLE: 'false',
        FERRYMQ_ADMIN_HOST: HOST,
        FERRYMQ_MAX_TRANSFER_COUNT_ON_MESSAGE_IN_MEMORY: String(MAX_TRANSFER_COUNT),
      }
      // A stray FERRYMQ_* setting in the caller's environment would change what is measured; undefined drops it.
      for (const key of Object.keys(process.env)) {
        if (key.startsWith('FERRYMQ_') && !(key in env) && key !== 'FERRYMQ_NATIVE_LIBRARY_PATH') env[key] = undefined
      }
      const args = [
        // The Node options `ferrymq` runs the broker with (ts/cli/node-flags.ts; its shebang carries them too).
        '--initial-old-space-size=128',
        CLI,
        'start',
        '--data-dir',
        ctx.dataDir,
        '--namesrv-port',
        String(ports.namesrv),
        '--broker-port',
        String(ports.broker),
        '--admin-port',
        String(ports.admin),
        // Loopback only, as the harness requires (name server and broker ports; the admin API via ADMIN_HOST).
        '--bind-address',
        HOST,
      ]
      const srv = proc.spawnServer(process.execPath, args, { env, cwd: ctx.dataDir, logFile: ctx.logFile })
      try {
        await proc.waitForPort(ports.admin, START_TIMEOUT_MS, srv.child)
        await waitReady(ports.admin, srv.child, START_TIMEOUT_MS)
      } catch (err) {
        await srv.stop()
        throw err
      }
      const settleS = await settle(proc, srv.pid)
      const listen = listenAddresses(ports)
      const open = Object.entries(listen).filter(([, addrs]) => addrs.some((a) => a !== HOST && a !== '::1'))
      if (open.length)
        ctx.log(`  warning: ferrymq listens beyond loopback: ${open.map(([k, a]) => `${k} ${a.join(',')}`).join('; ')}`)
      const config = { ...env, ports, listen, settle_s: settleS }
      for (const k of Object.keys(config)) if (config[k] === undefined) delete config[k]
      return {
        endpoint: {
          namesrvAddr: `${HOST}:${ports.namesrv}`,
          brokerAddr: `${HOST}:${ports.broker}`,
          adminPort: ports.admin,
        },
        pid: srv.pid,
        version: `${ferrymqVersion()} ${flushDiskType}`,
        config,
        stop: () => srv.stop(),
      }
    },
    async createClient(endpoint, opts) {
      const sdk = await loadSdk()
      return new FerrymqClient(sdk, endpoint, (opts && opts.size) || 1024)
    },
  }
}

class FerrymqClient {
  constructor(sdk, endpoint, payloadBytes) {
    this.sdk = sdk
    this.endpoint = endpoint
    // Ask for what the broker's caps let one pull return, so that no range needs a second pull for its rest.
    this.pullBatch = Math.max(
      1,
      Math.min(MAX_TRANSFER_COUNT, Math.floor(MAX_TRANSFER_BYTES / (payloadBytes + RECORD_OVERHEAD_BYTES))),
    )
    // One topic with one queue is created in prepare(); defaultTopicQueueNums 1 keeps auto-creation to one queue too.
    this.producer = new sdk.Producer({
      producerGroup: PRODUCER_GROUP,
      namesrvAddr: endpoint.namesrvAddr,
      defaultTopicQueueNums: 1,
      // FERRYMQ_RACE_SERIALIZE=ROCKETMQ: binary request headers instead of the Java client's default JSON.
      serializeType: process.env.FERRYMQ_RACE_SERIALIZE === 'ROCKETMQ' ? 'ROCKETMQ' : 'JSON',
    })
    // Admin and pull requests go over their own connection, as a consumer's would.
    this.remoting = new sdk.RemotingClient({})
    this.started = false
  }

  async prepare() {
    const { RemotingCommand, RequestCode } = this.sdk
    await this.producer.start()
    this.started = true
    const create = RemotingCommand.createRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, {
      topic: TOPIC,
      defaultTopic: 'TBW102',
      readQueueNums: '1',
      writeQueueNums: '1',
      perm: '6',
      topicFilterType: 'SINGLE_TAG',
      topicSysFlag: '0',
      order: 'false',
    })
    const res = await this.remoting.invoke(this.endpoint.brokerAddr, create, ROUTE_TIMEOUT_MS)
    if (res.code !== RESPONSE_SUCCESS) throw new Error(`UPDATE_AND_CREATE_TOPIC answered ${res.code}: ${res.remark}`)
    // The broker re-registers with the name server after answering; wait for the route so the producer does not
    // fall back to the TBW102 template route.
    const deadline = Date.now() + ROUTE_TIMEOUT_MS
    for (;;) {
      const req = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: TOPIC })
      const route = await this.remoting.invoke(this.endpoint.namesrvAddr, req, ROUTE_TIMEOUT_MS)
      if (route.code === RESPONSE_SUCCESS) break
      if (Date.now() > deadline)
        throw new Error(`no route for ${TOPIC} after ${ROUTE_TIMEOUT_MS} ms (code ${route.code})`)
      await sleep(20)
    }
    const queues = await this.producer.fetchPublishMessageQueues(TOPIC)
    if (queues.length !== 1) throw new Error(`${TOPIC} has ${queues.length} publish queues, expected 1`)
    await this.remoting.channel(this.endpoint.brokerAddr)
  }

  publish(payload) {
    return this.producer.sendAsync(new this.sdk.Message({ topic: TOPIC, body: payload })).then(checkStored)
  }

  async publishBatch(payloads) {
    const msgs = new Array(payloads.length)
    for (let i = 0; i < payloads.length; i++) msgs[i] = new this.sdk.Message({ topic: TOPIC, body: payloads[i] })
    const result = checkStored(await this.producer.send(msgs))
    // One ack per message: a batch lands at consecutive offsets from the first.
    const acks = new Array(payloads.length)
    for (let i = 0; i < payloads.length; i++) acks[i] = result.queueOffset + i
    return acks
  }

  /** Reads queue 0 from offset 0 with the SDK's LitePullConsumer (one pull in flight, as RocketMQ's). */
  async consumeAllLite(expected, onMessage) {
    const [mq] = await this.producer.fetchPublishMessageQueues(TOPIC)
    const consumer = new this.sdk.LitePullConsumer({
      consumerGroup: 'peerbench_readback',
      namesrvAddr: this.endpoint.namesrvAddr,
      autoCommit: false,
      pullBatchSize: this.pullBatch,
      consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    })
    consumer.assign([{ topic: TOPIC, brokerName: mq.brokerName, queueId: 0 }])
    await consumer.start()
    try {
      let next = 0
      while (next < expected) {
        const msgs = await consumer.poll(1000)
        for (let i = 0; i < msgs.length; i++) {
          if (msgs[i].queueOffset !== next)
            throw new Error(`message at offset ${msgs[i].queueOffset}, expected ${next}`)
          onMessage(msgs[i].body)
          next++
        }
      }
    } finally {
      await consumer.shutdown()
    }
  }

  /**
   * Reads queue 0 from offset 0. Up to PULLS_IN_FLIGHT pulls are outstanding at consecutive ranges of
   * `pullBatch` messages; responses are handled in offset order, and a pull that returned less than its range (the
   * byte cap) is followed by one for the rest of that range before anything after it is delivered.
   */
  async consumeAll(expected, onMessage) {
    if (process.env.FERRYMQ_RACE_READBACK === 'lite') return this.consumeAllLite(expected, onMessage)
    const { decodeMessages } = this.sdk
    const slots = [] // FIFO of { start, end, response }
    let tail = 0 // next offset to ask for at the end of the FIFO
    let next = 0 // next offset to deliver
    let emptyRetries = 0
    while (next < expected) {
      while (slots.length < PULLS_IN_FLIGHT && tail < expected) {
        const end = Math.min(tail + this.pullBatch, expected)
        slots.push(this.pullRange(tail, end))
        tail = end
      }
      const slot = slots.shift()
      const res = await slot.response
      if (res.code === RESPONSE_SUCCESS) {
        // The response body is ours alone: message bodies may be views into it, as the SDK consumers take them.
        const msgs = decodeMessages(res.body, { copyBody: false })
        for (let i = 0; i < msgs.length; i++) {
          const m = msgs[i]
          if (m.queueOffset !== next)
            throw new Error(`pull at ${slot.start}: message at offset ${m.queueOffset}, expected ${next}`)
          onMessage(m.body)
          next++
        }
        const nextBegin = Number(res.ext('nextBeginOffset'))
        if (nextBegin !== next)
          throw new Error(`pull at ${slot.start}: nextBeginOffset ${nextBegin} after delivering up to ${next}`)
        if (next < slot.end) slots.unshift(this.pullRange(next, slot.end))
        emptyRetries = 0
      } else if (res.code === PULL_NOT_FOUND || res.code === PULL_RETRY_IMMEDIATELY) {
        // Every message was acked before the read-back, but indexing may trail the ack: ask again, bounded.
        if (++emptyRetries > PULL_EMPTY_RETRIES_MAX) {
          throw new Error(
            `queue ends at ${res.ext('maxOffset')} after ${emptyRetries} retries, expected ${expected} messages`,
          )
        }
        await sleep(PULL_EMPTY_RETRY_DELAY_MS)
        slots.unshift(this.pullRange(slot.start, slot.end))
      } else {
        throw new Error(`PULL_MESSAGE at ${slot.start} answered ${res.code}: ${res.remark}`)
      }
    }
    // Later slots can only be beyond `expected` if the FIFO outran it, which the loop above never does.
  }

  pullRange(start, end) {
    const { RemotingCommand, RequestCode } = this.sdk
    const req = RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, {
      consumerGroup: CONSUMER_GROUP,
      topic: TOPIC,
      queueId: '0',
      queueOffset: String(start),
      maxMsgNums: String(end - start),
      sysFlag: String(PULL_SYS_FLAG),
      commitOffset: '0',
      suspendTimeoutMillis: '0',
      subscription: '*',
      subVersion: '0',
      expressionType: 'TAG',
    })
    const response = this.remoting.invoke(this.endpoint.brokerAddr, req, PULL_TIMEOUT_MS)
    // Awaited in order later; until then a failure must not surface as an unhandled rejection.
    response.catch(() => {})
    return { start, end, response }
  }

  async close() {
    if (this.started) await this.producer.shutdown()
    this.remoting.shutdown()
  }
}

/** A "stored but" status (FLUSH_DISK_TIMEOUT under SYNC_FLUSH) is not the ack the target promises. */
function checkStored(result) {
  if (result.sendStatus !== 'SEND_OK') throw new Error(`send answered ${result.sendStatus}`)
  return result
}

module.exports = { targets: [makeTarget('ASYNC_FLUSH'), makeTarget('SYNC_FLUSH')] }
