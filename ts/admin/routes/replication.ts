import type { FastifyInstance } from 'fastify'

import type { AdminBroker } from '../admin-broker.js'
import { replicationView } from '../admin-views.js'
import { errorSchema, replicationSchema } from '../schemas.js'

/** `GET /api/replication`: the broker's role; a master's slaves with their lag, or a slave's master connection. */
export function replicationRoutes(app: FastifyInstance, broker: AdminBroker): void {
  app.get(
    '/api/replication',
    {
      schema: {
        summary: 'Role, connected slaves and their lag (master), or the master connection (slave)',
        tags: ['replication'],
        response: { 200: replicationSchema, 401: errorSchema, 503: errorSchema },
      },
    },
    async () => replicationView(broker),
  )
}
