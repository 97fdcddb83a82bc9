import type { FastifyInstance } from 'fastify'

import { BrokerResponseError } from '../../common/errors.js'
import { ResponseCode } from '../../common/response-code.js'
import type { AdminBroker } from '../admin-broker.js'
import { topicDetail, topicSummaries } from '../admin-views.js'
import {
  errorSchema,
  topicCreateBody,
  topicDeleteResult,
  topicDetailSchema,
  topicListSchema,
  topicNameParams,
  topicUpdateBody,
  topicWriteResult,
} from '../schemas.js'

interface TopicSettings {
  readQueueNums?: number
  writeQueueNums?: number
  perm?: number
  order?: boolean
  topicFilterType?: string
}

/** RocketMQ's defaults for a topic created without settings: the broker's queue count, read and write. */
const PERM_READ_WRITE = 6

function notFound(topic: string): BrokerResponseError {
  return new BrokerResponseError(ResponseCode.TOPIC_NOT_EXIST, `topic[${topic}] not exist on this broker`, false)
}

export function topicRoutes(app: FastifyInstance, broker: AdminBroker): void {
  const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema }

  app.get(
    '/api/topics',
    { schema: { summary: 'Topics on this broker', tags: ['topics'], response: { 200: topicListSchema, ...errors } } },
    async () => ({
      topics: topicSummaries(broker),
    }),
  )

  app.get(
    '/api/topics/:topic',
    {
      schema: {
        summary: 'One topic with its queues',
        tags: ['topics'],
        params: topicNameParams,
        response: { 200: topicDetailSchema, ...errors },
      },
    },
    async (request) => {
      const { topic } = request.params as { topic: string }
      const detail = await topicDetail(broker, topic)
      if (detail === null) throw notFound(topic)
      return detail
    },
  )

  const write = async (topic: string, settings: TopicSettings, existing: boolean) => {
    const current = broker.topicConfigManager.selectTopicConfig(topic)
    if (existing && current === undefined) throw notFound(topic)
    const queues = broker.brokerConfig.defaultTopicQueueNums
    const spec = {
      topic,
      readQueueNums: settings.readQueueNums ?? current?.readQueueNums ?? settings.writeQueueNums ?? queues,
      writeQueueNums: settings.writeQueueNums ?? current?.writeQueueNums ?? settings.readQueueNums ?? queues,
      perm: settings.perm ?? current?.perm ?? PERM_READ_WRITE,
      order: settings.order ?? current?.order ?? false,
      topicFilterType: settings.topicFilterType ?? current?.topicFilterType ?? 'SINGLE_TAG',
      topicSysFlag: current?.topicSysFlag ?? 0,
    }
    await broker.applyTopic(spec)
    return {
      topic,
      readQueueNums: spec.readQueueNums,
      writeQueueNums: spec.writeQueueNums,
      perm: spec.perm,
      order: spec.order,
    }
  }

  app.post(
    '/api/topics',
    {
      schema: {
        summary: 'Create a topic (or change it, as UPDATE_AND_CREATE_TOPIC does)',
        tags: ['topics'],
        body: topicCreateBody,
        response: { 201: topicWriteResult, 200: topicWriteResult, ...errors },
      },
    },
    async (request, reply) => {
      const { topic, ...settings } = request.body as TopicSettings & { topic: string }
      const created = broker.topicConfigManager.selectTopicConfig(topic) === undefined
      const result = await write(topic, settings, false)
      return reply.code(created ? 201 : 200).send(result)
    },
  )

  app.put(
    '/api/topics/:topic',
    {
      schema: {
        summary: 'Change a topic: queue numbers, perm, order, filter type',
        tags: ['topics'],
        params: topicNameParams,
        body: topicUpdateBody,
        response: { 200: topicWriteResult, ...errors },
      },
    },
    async (request) => {
      const { topic } = request.params as { topic: string }
      return write(topic, request.body as TopicSettings, true)
    },
  )

  app.delete(
    '/api/topics/:topic',
    {
      schema: {
        summary: "Delete a topic here and from the name servers' routes for this cluster",
        tags: ['topics'],
        params: topicNameParams,
        response: { 200: topicDeleteResult, ...errors },
      },
    },
    async (request) => {
      const { topic } = request.params as { topic: string }
      await broker.deleteTopic(topic)
      return { topic, deleted: true }
    },
  )
}
