/**
 * What the ali-ons interop suites (`ali-ons*.test.ts`, `sdk-ali-ons.test.ts`) and their child process
 * (`__test__/fixtures/ali-ons-child.ts`) say to each other: commands go to the child's stdin and replies and events
 * come back on its stdout, one JSON object per line.
 *
 * ali-ons runs in a child because it cannot be stopped inside a process: its hidden `CLIENT_INNER_PRODUCER` is never
 * closed and keeps timers alive (real-clients.md §1.2), so each child ends with `process.exit`.
 */

/** ali-ons options the test may set; `nameSrv`, `httpclient` and `logger` are always set by the child. */
export interface AliOnsOptions {
  producerGroup?: string
  consumerGroup?: string
  accessKeyId?: string
  accessKeySecret?: string
  /** `CONSUME_FROM_LAST_OFFSET` (the default) or `CONSUME_FROM_FIRST_OFFSET`. */
  consumeFromWhere?: string
  /** How often the consumer persists its offsets to the broker, in ms (5 s by default). */
  persistConsumerOffsetInterval?: number
}

export interface SubscriptionSpec {
  topic: string
  /** A tag expression such as `'TagA || TagC'`; `'*'` for all. */
  expression: string
  /** The handler throws on the first delivery (reconsumeTimes 0) of a message whose body starts with this. */
  throwOnFirstDeliveryOfBodiesStartingWith?: string
}

export interface SendSpec {
  topic: string
  tags?: string
  keys?: string[]
  /** User properties, put into `msg.properties` as they are (ali-ons has no setter for them). */
  properties?: Record<string, string>
  bodyBase64: string
}

export type Command =
  | { id: number; op: 'startProducer'; options: AliOnsOptions }
  | { id: number; op: 'send'; message: SendSpec }
  | { id: number; op: 'closeProducer' }
  | { id: number; op: 'startConsumer'; options: AliOnsOptions; subscriptions: SubscriptionSpec[] }
  | { id: number; op: 'closeConsumer' }
  | { id: number; op: 'exit' }

/** `producer.send` result as ali-ons returns it. */
export interface SendResult {
  sendStatus: string
  /** ali-ons returns the broker's `extFields.msgId`: the offset message id. */
  msgId: string
  brokerName: string
  queueId: number
  queueOffset: number
}

/** An error as ali-ons raised it: `MQClientException` carries the broker's response code. */
export interface ChildError {
  name: string
  message: string
  code?: number
}

export interface ReplyLine {
  type: 'reply'
  id: number
  ok: boolean
  value?: unknown
  error?: ChildError
}

/** One call of the consumer's handler. */
export interface MessageEvent {
  type: 'message'
  /** `msg.topic` as the handler sees it: the original topic, also for retried messages. */
  topic: string
  queueId: number
  queueOffset: number
  commitLogOffset: number
  /** ali-ons computes it from the store host and the commit-log offset: always the offset message id. */
  msgId: string
  tags: string | null
  keys: string | null
  /** Every property ali-ons parsed (system and user), as strings. */
  properties: Record<string, string | null>
  bodySha256: string
  bodyLength: number
  sysFlag: number
  reconsumeTimes: number
  originMessageId: string | null
  retryTopic: string | null
  storeHost: string
  /** The handler threw for this delivery. */
  threw: boolean
}

/** A request ali-ons sent through its `Channel` (name server or broker) and the answer it got. */
export interface RpcEvent {
  type: 'rpc'
  addr: string
  code: number
  oneway: boolean
  /** The request header fields, without the ACL signing fields. */
  ext: Record<string, string>
  responseCode: number | null
  remark: string | null
  /** The transport error instead of an answer (timeout, closed socket). */
  failure: string | null
}

/** The messages one `PULL_MESSAGE` answer carried, as ali-ons decoded them before its own tag filter. */
export interface PulledEvent {
  type: 'pulled'
  topic: string
  queueId: number
  pullStatus: string
  messages: { msgId: string; tags: string | null; reconsumeTimes: number }[]
}

/** An `error` event of a producer, consumer or client, or a warning or error ali-ons logged. */
export interface ErrorEvent {
  type: 'error'
  source: string
  error: ChildError
}

export interface LogEvent {
  type: 'log'
  level: 'warn' | 'error'
  text: string
}

/** ali-ons fetched a name-server list over HTTP (it must not when `nameSrv` is given). */
export interface HttpEvent {
  type: 'http'
  url: string
}

export type ChildEvent = MessageEvent | RpcEvent | PulledEvent | ErrorEvent | LogEvent | HttpEvent

export type ChildLine = ReplyLine | ChildEvent
