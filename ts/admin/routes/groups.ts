import type { FastifyInstance } from 'fastify'

import { BrokerResponseError } from '../../common/errors.js'
import { ResponseCode } from '../../common/response-code.js'
import type { AdminBroker, ResetOffsetSpec } from '../admin-broker.js'
import { groupDetail, groupSummaries } from '../admin-views.js'
import {
  errorSchema,
  groupDetailSchema,
  groupListSchema,
  groupNameParams,
  resetOffsetBody,
  resetOffsetResult,
} from '../schemas.js'

export function groupRoutes(app: FastifyInstance, broker: AdminBroker): void {
  const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema }

  app.get(
    '/api/groups',
    {
      schema: {
        summary: 'Consumer groups with their lag',
        tags: ['groups'],
        response: { 200: groupListSchema, ...errors },
      },
    },
    async () => ({ groups: await groupSummaries(broker) }),
  )

  app.get(
    '/api/groups/:group',
    {
      schema: {
        summary: 'One group: offsets and lag per queue, connected consumers',
        tags: ['groups'],
        params: groupNameParams,
        response: { 200: groupDetailSchema, ...errors },
      },
    },
    async (request) => {
      const { group } = request.params as { group: string }
      const detail = await groupDetail(broker, group)
      if (detail === null) {
        throw new BrokerResponseError(
          ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
          `consumer group ${group} not exist on this broker`,
          false,
        )
      }
      return detail
    },
  )

  app.post(
    '/api/groups/:group/reset-offset',
    {
      schema: {
        summary: "Move a group's offsets on a topic to a time or an offset; online consumers are told to move",
        tags: ['groups'],
        params: groupNameParams,
        body: resetOffsetBody,
        response: { 200: resetOffsetResult, ...errors },
      },
    },
    async (request) => {
      const { group } = request.params as { group: string }
      const body = request.body as Omit<ResetOffsetSpec, 'group'>
      const outcome = await broker.resetConsumerOffset({ ...body, group })
      return { group, topic: body.topic, notifiedClients: outcome.notifiedClients, queues: outcome.queues }
    },
  )
}
