/**
 * `HEART_BEAT` bodies (protocol.md §2.9.5): who a client is and what its producer and consumer groups subscribe.
 */
import { ProtocolError } from '../../common/errors.js'

export type ConsumeType = 'CONSUME_ACTIVELY' | 'CONSUME_PASSIVELY'
export type MessageModel = 'CLUSTERING' | 'BROADCASTING'
export type ExpressionType = 'TAG' | 'SQL92'

export interface SubscriptionData {
  topic: string
  subString: string
  tagsSet: string[]
  codeSet: number[]
  subVersion: number
  expressionType: ExpressionType
  classFilterMode: boolean
}

export interface ConsumerData {
  groupName: string
  consumeType: ConsumeType
  messageModel: MessageModel
  consumeFromWhere: string
  subscriptionDataSet: SubscriptionData[]
  unitMode: boolean
}

export interface ProducerData {
  groupName: string
}

export interface HeartbeatData {
  clientID: string
  producerDataSet: ProducerData[]
  consumerDataSet: ConsumerData[]
}

const bad = (what: string): ProtocolError => new ProtocolError('RMQ_ERR_BODY', `heartbeat body: ${what}`)

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw bad(`${what} is not a string`)
  return v
}

function arr(v: unknown, what: string): unknown[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw bad(`${what} is not an array`)
  return v
}

/** Reads a HeartbeatData from parsed JSON; unknown members are ignored (5.x clients add some). */
export function heartbeatDataFromJson(o: Record<string, unknown>): HeartbeatData {
  const clientID = str(o.clientID, 'clientID')
  const producerDataSet = arr(o.producerDataSet, 'producerDataSet').map((p, i) => ({
    groupName: str((p as Record<string, unknown>)?.groupName, `producerDataSet[${i}].groupName`),
  }))
  const consumerDataSet = arr(o.consumerDataSet, 'consumerDataSet').map((c, i) => consumerDataFromJson(c, i))
  return { clientID, producerDataSet, consumerDataSet }
}

function consumerDataFromJson(v: unknown, i: number): ConsumerData {
  if (typeof v !== 'object' || v === null) throw bad(`consumerDataSet[${i}] is not an object`)
  const c = v as Record<string, unknown>
  const consumeType = c.consumeType === 'CONSUME_ACTIVELY' ? 'CONSUME_ACTIVELY' : 'CONSUME_PASSIVELY'
  const messageModel = c.messageModel === 'BROADCASTING' ? 'BROADCASTING' : 'CLUSTERING'
  return {
    groupName: str(c.groupName, `consumerDataSet[${i}].groupName`),
    consumeType,
    messageModel,
    consumeFromWhere: typeof c.consumeFromWhere === 'string' ? c.consumeFromWhere : 'CONSUME_FROM_LAST_OFFSET',
    subscriptionDataSet: arr(c.subscriptionDataSet, `consumerDataSet[${i}].subscriptionDataSet`).map((s, j) =>
      subscriptionDataFromJson(s, `consumerDataSet[${i}].subscriptionDataSet[${j}]`),
    ),
    unitMode: c.unitMode === true,
  }
}

export function subscriptionDataFromJson(v: unknown, what: string): SubscriptionData {
  if (typeof v !== 'object' || v === null) throw bad(`${what} is not an object`)
  const s = v as Record<string, unknown>
  const subVersion = typeof s.subVersion === 'number' && Number.isFinite(s.subVersion) ? s.subVersion : 0
  return {
    topic: str(s.topic, `${what}.topic`),
    subString: typeof s.subString === 'string' ? s.subString : '*',
    tagsSet: arr(s.tagsSet, `${what}.tagsSet`).filter((t): t is string => typeof t === 'string'),
    codeSet: arr(s.codeSet, `${what}.codeSet`).filter((t): t is number => typeof t === 'number'),
    subVersion,
    expressionType: s.expressionType === 'SQL92' ? 'SQL92' : 'TAG',
    classFilterMode: s.classFilterMode === true,
  }
}
