/**
 * The producer (`DefaultMQProducer` / `DefaultMQProducerImpl`, client.md §3): sync sends with retries on
 * another broker, async sends with transport retries and optional back-pressure, oneway sends, sends to a
 * given queue or through a selector, batches, and body compression.
 */
import {
  compress,
  CompressionType,
  compressionSysFlag,
  type CompressionTypeValue,
} from '../common/compression/compression-type.js'
import { BrokerResponseError, RemotingError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { MessageConst } from '../common/message/message-const.js'
import { messageProperties2String } from '../common/message/message-properties.js'
import { MessageSysFlag } from '../common/message/message-sys-flag.js'
import { isRetryTopic } from '../common/mix-all.js'
import { encodeBatchBody } from '../remoting/protocol/batch-message-codec.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { SendMessageRequestHeader } from '../remoting/protocol/send-message-header.js'
import {
  buildClientId,
  resolveProducerConfig,
  type ProducerOptions,
  type ResolvedProducerConfig,
} from './client-config.js'
import { acquireClientInstance, releaseClientInstance, type MQClientInstance } from './client-instance.js'
import { MQClientError } from './client-error.js'
import { MQFaultStrategy } from './latency-fault-tolerance.js'
import { checkMessage, checkTopic, Message } from './message.js'
import { createUniqId } from './message-client-id.js'
import type { MessageQueueSelector } from './message-queue-selector.js'
import { MQClientAPI, type SendRequest } from './mq-client-api.js'
import { PublishRouteTable } from './publish-route-table.js'
import { TimedSemaphore } from './semaphore.js'
import { processSendResponse, SendStatus, type SendResult } from './send-result.js'

/** `CompressionType.ZLIB` in the sysFlag type field (`3 << 8`). */
export const ZLIB_COMPRESSION_FLAG = 3 << 8

export interface SendOptions {
  /** Total time budget of the call, retries included; defaults to `sendMsgTimeout`. */
  timeout?: number
}

/** What goes on the wire for one send: a message, or a batch of them. */
interface Outgoing {
  topic: string
  flag: number
  properties: Map<string, string>
  body: Buffer
  batch: boolean
  /** `SendResult.msgId`. */
  uniqMsgId: string
}

type State = 'created' | 'running' | 'shutdown'

/** Encodes messages as a `SEND_BATCH_MESSAGE` body (`MessageDecoder#encodeMessages`). */
export function encodeMessageBatch(messages: readonly Message[]): Buffer {
  return encodeBatchBody(
    messages.map((m) => ({ flag: m.flag, body: m.body, properties: messageProperties2String(m.properties) })),
  )
}

/**
 * The body as sent and the compression bits to add to the sysFlag (§3.8): `COMPRESSED | type << 8` for bodies of
 * at least `threshold` bytes. Batches are never compressed.
 */
export function compressBody(
  body: Buffer,
  threshold: number,
  level: number,
  type: CompressionTypeValue = CompressionType.ZLIB,
): { body: Buffer; sysFlag: number } {
  if (body.length < threshold) return { body, sysFlag: 0 }
  return { body: compress(type, body, level), sysFlag: compressionSysFlag(type) }
}

function isQueue(v: unknown): v is MessageQueue {
  return typeof v === 'object' && v !== null && 'brokerName' in v && 'queueId' in v && 'topic' in v
}

export class Producer {
  readonly clientId: string
  /** The producer group, for the runtime's heartbeats. */
  readonly groupName: string
  private readonly options: ProducerOptions
  protected config!: ResolvedProducerConfig
  protected instance!: MQClientInstance
  private api!: MQClientAPI
  private routes!: PublishRouteTable
  private fault!: MQFaultStrategy
  private countPermits: TimedSemaphore | undefined
  private bytePermits: TimedSemaphore | undefined
  private refreshTimer: NodeJS.Timeout | undefined
  private state: State = 'created'
  protected readonly log: Logger
  private readonly now: () => number

  constructor(options: ProducerOptions) {
    this.options = options
    this.groupName = options.producerGroup
    this.log = (options.logger ?? noopLogger).child({ component: 'producer', group: options.producerGroup })
    this.now = options.now ?? Date.now
    this.clientId = buildClientId(options.instanceName, true)
  }

  /**
   * Checks the configuration and joins the client runtime of its client id (client.md §1.1); the first route
   * lookups happen on the first send.
   */
  async start(): Promise<void> {
    if (this.state !== 'created') {
      throw new MQClientError('RMQ_ERR_PRODUCER_STATE', `the producer is ${this.state}, it can be started only once`)
    }
    this.config = resolveProducerConfig(this.options)
    this.instance = acquireClientInstance(this.clientId, this.config.runtime)
    this.instance.registerProducer(this)
    this.api = this.instance.api
    this.routes = new PublishRouteTable(
      (topic) => this.instance.fetchRoute(topic),
      this.config.createTopicKey,
      this.config.defaultTopicQueueNums,
      this.log,
    )
    const c = this.config
    this.fault = new MQFaultStrategy(c.sendLatencyEnable, this.now, {
      startDetectorEnable: c.startDetectorEnable,
      detectTimeout: c.detectTimeout,
      detectInterval: c.detectInterval,
    })
    this.fault.startDetector(
      (brokerName) => this.instance.findBrokerAddressInPublish(brokerName),
      (brokerName, addr, timeoutMs) => this.detectBroker(brokerName, addr, timeoutMs),
      (err) => this.log.warn({ err }, 'latency fault detector round failed'),
    )
    if (this.config.enableBackpressureForAsyncMode) {
      this.countPermits = new TimedSemaphore(this.config.backPressureForAsyncSendNum)
      this.bytePermits = new TimedSemaphore(this.config.backPressureForAsyncSendSize)
    }
    this.refreshTimer = setInterval(() => void this.routes.refreshAll(), this.config.runtime.pollNameServerInterval)
    this.refreshTimer.unref()
    this.instance.start()
    this.state = 'running'
    this.log.info({ clientId: this.clientId }, 'producer started')
  }

  /** Leaves the runtime: unregisters the group at the brokers, and closes the runtime if nothing else uses it. */
  async shutdown(): Promise<void> {
    if (this.state !== 'running') {
      this.state = 'shutdown'
      return
    }
    this.state = 'shutdown'
    clearInterval(this.refreshTimer)
    this.refreshTimer = undefined
    await this.fault.shutdown()
    await this.instance.unregisterProducer(this.groupName)
    await releaseClientInstance(this.instance)
    this.log.info({ clientId: this.clientId }, 'producer shut down')
  }

  /**
   * The detector's probe (`ServiceDetector` in `DefaultMQProducerImpl`): GET_MAX_OFFSET of queue 0 of a topic this
   * producer publishes to; no such topic yet, an error or a timeout count as no answer.
   */
  private async detectBroker(brokerName: string, addr: string, timeoutMs: number): Promise<boolean> {
    const topic = this.routes.topics()[0]
    if (topic === undefined) return false
    try {
      await this.api.getQueueOffset(addr, { topic, brokerName, queueId: 0 }, 'max', timeoutMs)
      return true
    } catch {
      return false
    }
  }

  /** The topic's publish queues in selection order (§1.5). */
  async fetchPublishMessageQueues(topic: string): Promise<MessageQueue[]> {
    this.checkRunning()
    checkTopic(topic)
    return [...(await this.routes.find(topic)).messageQueues]
  }

  /** Sync send, with retries on another broker (§3.3). */
  send(msg: Message, options?: SendOptions): Promise<SendResult>
  /** Sends a batch (§3.10). */
  send(msgs: readonly Message[], options?: SendOptions): Promise<SendResult>
  /** Sends to this queue; one attempt. */
  send(msg: Message, mq: MessageQueue, options?: SendOptions): Promise<SendResult>
  /** Sends to the queue the selector picks; one attempt (§3.12). */
  send(msg: Message, selector: MessageQueueSelector, arg: unknown, options?: SendOptions): Promise<SendResult>
  async send(
    msg: Message | readonly Message[],
    second?: SendOptions | MessageQueue | MessageQueueSelector,
    third?: unknown,
    fourth?: SendOptions,
  ): Promise<SendResult> {
    this.checkRunning()
    if (Array.isArray(msg)) return this.sendBatch(msg, second as SendOptions | undefined)
    const m = msg as Message
    if (typeof second === 'function') return this.sendSelect(m, second, third, fourth)
    if (isQueue(second)) return this.sendToQueue(m, second, third as SendOptions | undefined)
    const timeout = this.timeout(second as SendOptions | undefined)
    checkMessage(m, this.config.maxMessageSize)
    return (await this.sendDefault(this.outgoing(m), 'sync', timeout))!
  }

  /** Async send (§3.4): retried on transport failures only; a broker error rejects at once. */
  async sendAsync(msg: Message, options?: SendOptions): Promise<SendResult> {
    this.checkRunning()
    const timeout = this.timeout(options)
    const begin = this.now()
    checkMessage(msg, this.config.maxMessageSize)
    let releaseCount = 0
    let releaseBytes = 0
    try {
      if (this.countPermits !== undefined && this.bytePermits !== undefined) {
        if (!(await this.countPermits.tryAcquire(1, timeout))) {
          throw new MQClientError('RMQ_ERR_BACKPRESSURE', `tryAcquire send number timeout after ${timeout} ms`)
        }
        releaseCount = 1
        const left = timeout - (this.now() - begin)
        if (!(await this.bytePermits.tryAcquire(msg.body.length, left))) {
          throw new MQClientError('RMQ_ERR_BACKPRESSURE', `tryAcquire send message size timeout after ${timeout} ms`)
        }
        releaseBytes = msg.body.length
      }
      return await this.sendAsyncImpl(this.outgoing(msg), begin, timeout)
    } finally {
      if (releaseCount > 0) this.countPermits!.release(releaseCount)
      if (releaseBytes > 0) this.bytePermits!.release(releaseBytes)
    }
  }

  /** One attempt, no response awaited (§3.5). */
  async sendOneway(msg: Message): Promise<void> {
    this.checkRunning()
    checkMessage(msg, this.config.maxMessageSize)
    await this.sendDefault(this.outgoing(msg), 'oneway', this.config.sendMsgTimeout)
  }

  // -------------------------------------------------------------------------------------------------------------

  private checkRunning(): void {
    if (this.state !== 'running') {
      throw new MQClientError('RMQ_ERR_PRODUCER_STATE', `the producer is not running (state: ${this.state})`)
    }
  }

  private timeout(options: SendOptions | undefined): number {
    const t = options?.timeout ?? this.config.sendMsgTimeout
    if (!Number.isFinite(t) || t <= 0)
      throw new MQClientError('RMQ_ERR_TIMEOUT', `the send timeout must be positive, got ${t}`)
    return t
  }

  /** Gives the message its `UNIQ_KEY` when it has none (§2.3) and wraps it for sending. */
  private outgoing(msg: Message): Outgoing {
    const key = MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX
    if (!msg.properties.has(key)) msg.properties.set(key, createUniqId())
    return {
      topic: msg.topic,
      flag: msg.flag,
      properties: msg.properties,
      body: msg.body,
      batch: false,
      uniqMsgId: msg.properties.get(key)!,
    }
  }

  /** `sendDefaultImpl` (§3.3) for sync and oneway sends. */
  private async sendDefault(out: Outgoing, mode: 'sync' | 'oneway', timeout: number): Promise<SendResult | undefined> {
    const begin = this.now()
    const info = this.routes.cached(out.topic) ?? (await this.routes.find(out.topic))
    const c = this.config
    const timesTotal = mode === 'sync' ? 1 + c.retryTimesWhenSendFailed : 1
    const brokersSent: string[] = []
    let lastBroker: string | undefined
    let lastError: unknown
    let lastResult: SendResult | undefined
    let times = 0
    let callTimeout = false
    for (; times < timesTotal; times++) {
      const mq = this.fault.selectOneMessageQueue(info, lastBroker, times > 0)
      lastBroker = mq.brokerName
      brokersSent.push(mq.brokerName)
      const start = this.now()
      const elapsed = start - begin
      if (elapsed >= timeout) {
        callTimeout = true
        break
      }
      let attemptTimeout = timeout - elapsed
      if (c.sendMsgMaxTimeoutPerRequest > -1 && times < timesTotal - 1) {
        attemptTimeout = Math.min(attemptTimeout, c.sendMsgMaxTimeoutPerRequest)
      }
      try {
        const result = await this.sendKernel(out, mq, attemptTimeout, mode)
        this.fault.updateFaultItem(mq.brokerName, this.now() - start, false, true)
        if (result === undefined) return undefined
        if (result.sendStatus !== SendStatus.SEND_OK && c.retryAnotherBrokerWhenNotStoreOK) {
          lastResult = result
          continue
        }
        return result
      } catch (err) {
        const latency = this.now() - start
        lastError = err
        if (err instanceof BrokerResponseError) {
          this.fault.updateFaultItem(mq.brokerName, latency, true, false)
          if (c.retryResponseCodes.has(err.responseCode)) continue
          throw err
        }
        if (err instanceof RemotingError) {
          // With the detector on the broker is marked unreachable until a probe answers; else only isolated.
          this.fault.updateFaultItem(mq.brokerName, latency, true, !this.fault.startDetectorEnable)
          continue
        }
        if (err instanceof MQClientError) {
          this.fault.updateFaultItem(mq.brokerName, latency, false, true)
          continue
        }
        throw err
      }
    }
    if (lastResult !== undefined) return lastResult
    const cost = this.now() - begin
    if (callTimeout && lastError === undefined) {
      throw new MQClientError('RMQ_ERR_TIMEOUT', `sendDefaultImpl call timeout after ${cost} ms, topic ${out.topic}`)
    }
    const cause = lastError as Error
    throw new MQClientError(
      'RMQ_ERR_SEND_FAILED',
      `Send [${times}] times, still failed, cost [${cost}]ms, Topic: ${out.topic}, BrokersSent: [${brokersSent.join(', ')}]: ${cause?.message ?? 'call timeout'}`,
      {
        cause,
        responseCode:
          cause instanceof BrokerResponseError ? cause.responseCode : (cause as MQClientError)?.responseCode,
      },
    )
  }

  /** The async path (§3.4). */
  private async sendAsyncImpl(out: Outgoing, begin: number, timeout: number): Promise<SendResult> {
    const info = this.routes.cached(out.topic) ?? (await this.routes.find(out.topic))
    let lastBroker: string | undefined
    let retries = 0
    for (;;) {
      const mq = this.fault.selectOneMessageQueue(info, lastBroker, false)
      const start = this.now()
      const left = timeout - (start - begin)
      if (left <= 0)
        throw new MQClientError('RMQ_ERR_TIMEOUT', `async send call timeout after ${timeout} ms, topic ${out.topic}`)
      let failure: unknown
      let issued = false
      try {
        const { addr, request } = this.prepareRequest(out, mq)
        issued = true
        const response = await this.api.send(addr, request, left)
        let result: SendResult
        try {
          result = processSendResponse(mq.brokerName, out.topic, out.uniqMsgId, response)
        } catch (err) {
          // A broker error is never retried on the async path.
          this.fault.updateFaultItem(mq.brokerName, this.now() - start, true, true)
          throw err
        }
        this.fault.updateFaultItem(mq.brokerName, this.now() - start, false, true)
        return result
      } catch (err) {
        if (err instanceof BrokerResponseError) throw err
        if (!(err instanceof RemotingError) && !(err instanceof MQClientError)) throw err
        failure = err
      }
      // A transport failure (issued) or a failure while issuing (not issued).
      this.fault.updateFaultItem(mq.brokerName, this.now() - start, true, issued)
      const remaining = timeout - (this.now() - begin)
      if (retries < this.config.retryTimesWhenSendAsyncFailed && remaining > 0) {
        retries++
        lastBroker = mq.brokerName
        this.log.debug({ topic: out.topic, broker: mq.brokerName, retries }, 'async send failed, retrying')
        continue
      }
      throw new MQClientError(
        'RMQ_ERR_SEND_FAILED',
        `async send failed after ${retries + 1} attempts, topic ${out.topic}: ${(failure as Error).message}`,
        { cause: failure, responseCode: (failure as MQClientError).responseCode },
      )
    }
  }

  /** `sendKernelImpl`: one attempt to one queue. */
  private async sendKernel(
    out: Outgoing,
    mq: MessageQueue,
    timeout: number,
    mode: 'sync' | 'oneway',
  ): Promise<SendResult | undefined> {
    const { addr, request } = this.prepareRequest(out, mq)
    if (mode === 'oneway') {
      await this.api.sendOneway(addr, request, timeout)
      return undefined
    }
    const response = await this.api.send(addr, request, timeout)
    return processSendResponse(mq.brokerName, out.topic, out.uniqMsgId, response)
  }

  /** The broker address and the request for one attempt (§3.8, §3.9). */
  private prepareRequest(out: Outgoing, mq: MessageQueue): { addr: string; request: SendRequest } {
    // Masters only, from the runtime's table, which every route lookup updates (`findBrokerAddressInPublish`): a
    // broker group whose master is gone takes no sends. Cached publish routes are not asked: one of a topic whose
    // lookups now fail keeps its old addresses.
    const addr = this.instance.findBrokerAddressInPublish(mq.brokerName)
    if (addr === undefined) {
      throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `The broker[${mq.brokerName}] not exist`)
    }
    let sysFlag = 0
    let body = out.body
    if (!out.batch) {
      const c = compressBody(
        out.body,
        this.config.compressMsgBodyOverHowmuch,
        this.config.compressLevel,
        this.config.compressType,
      )
      body = c.body
      sysFlag |= c.sysFlag
    }
    if (out.properties.get(MessageConst.PROPERTY_TRANSACTION_PREPARED) === 'true') {
      sysFlag |= MessageSysFlag.TRANSACTION_PREPARED_TYPE
    }
    let properties: ReadonlyMap<string, string> = out.properties
    let reconsumeTimes = 0
    let maxReconsumeTimes: number | undefined
    if (isRetryTopic(mq.topic)) {
      const p = new Map(out.properties)
      const rt = p.get(MessageConst.PROPERTY_RECONSUME_TIME)
      if (rt !== undefined) {
        reconsumeTimes = Number.parseInt(rt, 10) || 0
        p.delete(MessageConst.PROPERTY_RECONSUME_TIME)
      }
      const mrt = p.get(MessageConst.PROPERTY_MAX_RECONSUME_TIMES)
      if (mrt !== undefined) {
        maxReconsumeTimes = Number.parseInt(mrt, 10) || 0
        p.delete(MessageConst.PROPERTY_MAX_RECONSUME_TIMES)
      }
      properties = p
    }
    const header: SendMessageRequestHeader = {
      producerGroup: this.config.producerGroup,
      topic: mq.topic,
      defaultTopic: this.config.createTopicKey,
      defaultTopicQueueNums: this.config.defaultTopicQueueNums,
      queueId: mq.queueId,
      sysFlag,
      bornTimestamp: this.now(),
      flag: out.flag,
      properties: messageProperties2String(properties),
      reconsumeTimes,
      unitMode: false,
      maxReconsumeTimes,
      batch: out.batch,
    }
    return { addr, request: { header, brokerName: mq.brokerName, body } }
  }

  private async sendToQueue(msg: Message, mq: MessageQueue, options: SendOptions | undefined): Promise<SendResult> {
    const begin = this.now()
    const timeout = this.timeout(options)
    checkMessage(msg, this.config.maxMessageSize)
    if (msg.topic !== mq.topic) {
      throw new MQClientError(
        'RMQ_ERR_MESSAGE_ILLEGAL',
        `message's topic [${msg.topic}] not equal mq's topic [${mq.topic}]`,
      )
    }
    // Looked up for its side effect: the runtime learns the addresses of the topic's brokers.
    await this.routes.find(mq.topic)
    const left = timeout - (this.now() - begin)
    if (left <= 0) throw new MQClientError('RMQ_ERR_TIMEOUT', 'send to a queue: call timeout')
    return (await this.sendKernel(this.outgoing(msg), mq, left, 'sync'))!
  }

  private async sendSelect(
    msg: Message,
    selector: MessageQueueSelector,
    arg: unknown,
    options: SendOptions | undefined,
  ): Promise<SendResult> {
    const begin = this.now()
    const timeout = this.timeout(options)
    checkMessage(msg, this.config.maxMessageSize)
    const info = await this.routes.find(msg.topic)
    const mq = selector([...info.messageQueues], msg, arg)
    if (!isQueue(mq)) throw new MQClientError('RMQ_ERR_SELECTOR', 'select message queue return null.')
    const left = timeout - (this.now() - begin)
    if (left <= 0) throw new MQClientError('RMQ_ERR_TIMEOUT', 'sendSelectImpl call timeout')
    return (await this.sendKernel(this.outgoing(msg), mq, left, 'sync'))!
  }

  private async sendBatch(msgs: readonly Message[], options: SendOptions | undefined): Promise<SendResult> {
    const timeout = this.timeout(options)
    if (msgs.length === 0) throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', 'a batch must hold at least one message')
    const first = msgs[0]!
    for (const m of msgs) {
      if (m.delayTimeLevel > 0)
        throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', 'TimeDelayLevel is not supported for batching')
      if (isRetryTopic(m.topic))
        throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', 'Retry Group is not supported for batching')
      if (m.topic !== first.topic) {
        throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', 'The topic of the messages in one batch should be the same')
      }
      if (m.waitStoreMsgOK !== first.waitStoreMsgOK) {
        throw new MQClientError(
          'RMQ_ERR_MESSAGE_ILLEGAL',
          'The waitStoreMsgOK of the messages in one batch should the same',
        )
      }
      checkMessage(m, this.config.maxMessageSize)
    }
    const ids = msgs.map((m) => this.outgoing(m).uniqMsgId)
    const body = encodeMessageBatch(msgs)
    // The batch is checked as one message: its encoding must fit in maxMessageSize.
    const batch = new Message({ topic: first.topic, body, waitStoreMsgOK: first.waitStoreMsgOK })
    checkMessage(batch, this.config.maxMessageSize)
    // The batch-level properties carry only WAIT, as the Java client's do on the wire (protocol.md §2.4.2): the
    // broker appends them to every inner message, so a batch-level UNIQ_KEY would replace each message's own.
    const out: Outgoing = {
      topic: batch.topic,
      flag: 0,
      properties: batch.properties,
      body,
      batch: true,
      uniqMsgId: ids.join(','),
    }
    return (await this.sendDefault(out, 'sync', timeout))!
  }
}
