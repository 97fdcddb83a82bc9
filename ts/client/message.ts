/**
 * The message a producer sends (`Message`, client.md §2.1) and the producer-side checks of `Validators`
 * (§2.2), made before any network call.
 */
import { KEY_SEPARATOR, MessageConst } from '../common/message/message-const.js'
import { NOT_ALLOWED_SEND_TOPICS } from '../common/mix-all.js'
import { ResponseCode } from '../common/response-code.js'
import { validateTopic } from '../common/topic-validator.js'
import { MQClientError } from './client-error.js'

/** Property names users may not set (`MessageConst.STRING_HASH_SET`). */
export const RESERVED_PROPERTY_NAMES: ReadonlySet<string> = new Set<string>([
  ...Object.values(MessageConst),
  'INSTANCE_ID',
  'TRACE_CONTEXT',
  'SHARDING_KEY',
  'CORRELATION_ID',
  'REPLY_TO_CLIENT',
  'TTL',
  'ARRIVE_TIME',
  'MSG_TYPE',
  'POP_CK',
  'POP_CK_OFFSET',
  'FIRST_POP_TIME',
  'STARTDELIVERTIME',
  'TIMER_DELAY_SEC',
  'TIMER_DELAY_MS',
  'TIMER_DELIVER_MS',
  'TIMER_ENQUEUE_MS',
  'TIMER_DEQUEUE_MS',
  'TIMER_ROLL_TIMES',
  'TIMER_OUT_MS',
  'TIMER_DEL_UNIQKEY',
  'TRANSACTION_PREPARED_QUEUE_OFFSET',
  'PUSH_REPLY_TIME',
  'INNER_NUM',
  'INNER_BASE',
  'INNER_MULTI_DISPATCH',
  'INNER_MULTI_QUEUE_OFFSET',
  'DEQUEUE_TIME',
  'WAIT_STORE_MSG_OK',
  'MSG_TTL',
])

export interface MessageInit {
  topic: string
  body: Buffer | Uint8Array | string
  tags?: string
  keys?: string | string[]
  flag?: number
  delayTimeLevel?: number
  waitStoreMsgOK?: boolean
  /** User properties; reserved names are refused. */
  properties?: Record<string, string>
}

export class Message {
  topic: string
  flag: number
  body: Buffer
  /** Every property, system and user; encoded in insertion order. */
  readonly properties = new Map<string, string>()
  /** Set by a transactional send to the message's `UNIQ_KEY` before the local transaction runs; never sent. */
  transactionId: string | undefined

  constructor(init: MessageInit) {
    this.topic = init.topic
    this.flag = init.flag ?? 0
    // A Buffer is kept as it is (not copied); a string is UTF-8 encoded; another Uint8Array is viewed, not copied.
    const b = init.body
    this.body =
      typeof b === 'string'
        ? Buffer.from(b, 'utf8')
        : Buffer.isBuffer(b)
          ? b
          : Buffer.from(b.buffer, b.byteOffset, b.byteLength)
    if (init.tags !== undefined) this.tags = init.tags
    if (init.keys !== undefined) this.keys = typeof init.keys === 'string' ? [init.keys] : init.keys
    if (init.delayTimeLevel !== undefined) this.delayTimeLevel = init.delayTimeLevel
    // Java's constructors always write WAIT (`Message(…, waitStoreMsgOK)`).
    this.waitStoreMsgOK = init.waitStoreMsgOK ?? true
    for (const [name, value] of Object.entries(init.properties ?? {})) this.putUserProperty(name, value)
  }

  get tags(): string | undefined {
    return this.properties.get(MessageConst.PROPERTY_TAGS)
  }

  set tags(tags: string | undefined) {
    this.setOrDelete(MessageConst.PROPERTY_TAGS, tags)
  }

  /** The keys, each indexed by the broker; stored joined by one space. */
  get keys(): string[] {
    const k = this.properties.get(MessageConst.PROPERTY_KEYS)
    return k === undefined ? [] : k.split(KEY_SEPARATOR).filter((s) => s.length > 0)
  }

  set keys(keys: string[]) {
    this.setOrDelete(MessageConst.PROPERTY_KEYS, keys.length === 0 ? undefined : keys.join(KEY_SEPARATOR))
  }

  /** 1..18, 0 for no delay. */
  get delayTimeLevel(): number {
    const v = this.properties.get(MessageConst.PROPERTY_DELAY_TIME_LEVEL)
    return v === undefined ? 0 : Number.parseInt(v, 10) || 0
  }

  set delayTimeLevel(level: number) {
    if (!Number.isInteger(level) || level < 0) {
      throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', `delayTimeLevel must be a non-negative integer, got ${level}`)
    }
    this.setOrDelete(MessageConst.PROPERTY_DELAY_TIME_LEVEL, level === 0 ? undefined : String(level))
  }

  /** `false`: the broker answers without waiting for sync flush or replication. Absent means true. */
  get waitStoreMsgOK(): boolean {
    return this.properties.get(MessageConst.PROPERTY_WAIT_STORE_MSG_OK) !== 'false'
  }

  set waitStoreMsgOK(wait: boolean) {
    this.properties.set(MessageConst.PROPERTY_WAIT_STORE_MSG_OK, String(wait))
  }

  /** The client unique id (`UNIQ_KEY`), set by the producer when sending. */
  get uniqKey(): string | undefined {
    return this.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
  }

  /** Sets a user property; reserved names and blank names or values are refused (`Message#putUserProperty`). */
  putUserProperty(name: string, value: string): void {
    if (RESERVED_PROPERTY_NAMES.has(name)) {
      throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', `the property name "${name}" is reserved by the system`)
    }
    if (name.trim().length === 0 || value.trim().length === 0) {
      throw new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', 'the name or value of a property must not be blank')
    }
    this.properties.set(name, value)
  }

  getProperty(name: string): string | undefined {
    return this.properties.get(name)
  }

  private setOrDelete(name: string, value: string | undefined): void {
    if (value === undefined) this.properties.delete(name)
    else this.properties.set(name, value)
  }
}

function illegal(message: string, responseCode?: number): MQClientError {
  return new MQClientError('RMQ_ERR_MESSAGE_ILLEGAL', message, responseCode === undefined ? {} : { responseCode })
}

/** `Validators.checkTopic` plus the not-allowed-to-send set. */
export function checkTopic(topic: unknown): void {
  if (typeof topic !== 'string') throw illegal('the specified topic is not a string')
  const problem = validateTopic(topic)
  if (problem !== null) throw illegal(problem)
  if (NOT_ALLOWED_SEND_TOPICS.has(topic))
    throw illegal(`sending a message to the topic [${topic}] is forbidden`, ResponseCode.NO_PERMISSION)
}

/**
 * `Validators.checkMessage`: the topic, then the body (present, not empty, at most `maxMessageSize` bytes,
 * measured before compression).
 */
export function checkMessage(msg: Message | null | undefined, maxMessageSize: number): void {
  if (msg === null || msg === undefined) throw illegal('the message is null', ResponseCode.MESSAGE_ILLEGAL)
  checkTopic(msg.topic)
  if (msg.body === null || msg.body === undefined)
    throw illegal('the message body is null', ResponseCode.MESSAGE_ILLEGAL)
  if (msg.body.length === 0) throw illegal('the message body length is zero', ResponseCode.MESSAGE_ILLEGAL)
  if (msg.body.length > maxMessageSize) {
    throw illegal(
      `the message body size over max value, MAX: ${maxMessageSize}, got ${msg.body.length}`,
      ResponseCode.MESSAGE_ILLEGAL,
    )
  }
}
