import type { FastifyInstance } from 'fastify'

import { BrokerResponseError, InvalidArgumentError } from '../../common/errors.js'
import type { MessageExt } from '../../common/message/message-ext.js'
import { decodeMessageId } from '../../common/message/message-id.js'
import { MessageConst } from '../../common/message/message-const.js'
import { ResponseCode } from '../../common/response-code.js'
import type { AdminBroker } from '../admin-broker.js'
import { messageView } from '../admin-views.js'
import {
  errorSchema,
  messageIdParams,
  messageIdQuery,
  messageKeyQuery,
  messageListResult,
  messageResult,
} from '../schemas.js'

/** `defaultQueryMaxNum`: how many index hits a unique-key lookup reads per topic. */
const UNIQUE_KEY_QUERY_MAX = 32

/** The message an offset message id names, when it was stored here. */
async function byOffsetId(broker: AdminBroker, msgId: string): Promise<MessageExt | null> {
  const decoded = decodeMessageId(msgId)
  if (decoded === null) return null
  const offset = decoded.commitLogOffset
  if (offset < broker.store.getMinPhyOffset() || offset >= broker.store.getMaxPhyOffset()) return null
  const m = await broker.store.lookMessageByOffset(offset)
  // An id of another broker may carry an offset that happens to start a record here.
  return m !== null && m.msgId.toUpperCase() === msgId.toUpperCase() ? m : null
}

/** The message with this client unique id (UNIQ_KEY), through the index of `topics`. */
async function byUniqueKey(
  broker: AdminBroker,
  uniqKey: string,
  topics: readonly string[],
): Promise<MessageExt | null> {
  for (const topic of topics) {
    const r = await broker.store.queryMessage(topic, uniqKey, UNIQUE_KEY_QUERY_MAX, 0, Number.MAX_SAFE_INTEGER)
    const hit = r.messages.find(
      (m) => m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX) === uniqKey,
    )
    if (hit !== undefined) return hit
  }
  return null
}

export function messageRoutes(app: FastifyInstance, broker: AdminBroker): void {
  const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema }

  app.get(
    '/api/messages/:msgId',
    {
      schema: {
        summary: 'A message by offset message id or client unique id (searched in `topic`, else in every topic)',
        tags: ['messages'],
        params: messageIdParams,
        querystring: messageIdQuery,
        response: { 200: messageResult, ...errors },
      },
    },
    async (request) => {
      const { msgId } = request.params as { msgId: string }
      const { topic } = request.query as { topic?: string }
      const topics = topic !== undefined ? [topic] : [...broker.topicConfigManager.topics()].map((t) => t.topicName)
      const m = (await byOffsetId(broker, msgId)) ?? (await byUniqueKey(broker, msgId, topics))
      if (m === null || (topic !== undefined && m.topic !== topic)) {
        throw new BrokerResponseError(ResponseCode.QUERY_NOT_FOUND, `can not find message ${msgId}`, false)
      }
      return messageView(broker, m)
    },
  )

  app.get(
    '/api/messages',
    {
      schema: {
        summary: 'Messages of a topic by key (KEYS or UNIQ_KEY), through the index',
        tags: ['messages'],
        querystring: messageKeyQuery,
        response: { 200: messageListResult, ...errors },
      },
    },
    async (request) => {
      const q = request.query as { topic: string; key: string; max: number; begin?: number; end?: number }
      // Ajv's query-string coercion turns "1e309" or "Infinity" into Infinity past `integer` and `maximum`.
      for (const [name, value] of Object.entries({ max: q.max, begin: q.begin, end: q.end })) {
        if (value !== undefined && !Number.isSafeInteger(value)) {
          throw new InvalidArgumentError(`querystring/${name} must be an integer`)
        }
      }
      const r = await broker.store.queryMessage(q.topic, q.key, q.max, q.begin ?? 0, q.end ?? Number.MAX_SAFE_INTEGER)
      return { messages: r.messages.map((m) => messageView(broker, m)) }
    },
  )
}
