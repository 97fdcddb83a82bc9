import type { FastifyInstance } from 'fastify'

import { AdminClient } from '../../client/admin-client.js'
import type { HASlaveRuntime } from '../../client/admin-model.js'
import { MixAll } from '../../common/mix-all.js'
import type { AdminBroker } from '../admin-broker.js'
import { clusterSchema, errorSchema } from '../schemas.js'

/** The largest figure over a master's slaves; null without slaves. */
function largest(slaves: readonly HASlaveRuntime[] | null, read: (s: HASlaveRuntime) => number): number | null {
  return slaves === null || slaves.length === 0 ? null : Math.max(...slaves.map(read))
}

/**
 * `GET /api/cluster`: the clusters and brokers the name servers know, each broker with its version, rates, role and (a
 * master) its slaves' largest lag from GET_BROKER_RUNTIME_INFO (null where a broker does not answer or say). The
 * SDK's AdminClient asks; it starts on first use and stops with the app.
 */
export function clusterRoutes(app: FastifyInstance, broker: AdminBroker): void {
  let admin: AdminClient | null = null
  let starting: Promise<AdminClient> | null = null
  const client = (): Promise<AdminClient> => {
    starting ??= (async () => {
      const a = new AdminClient({ namesrvAddr: broker.namesrvAddrs().join(';') })
      await a.start()
      admin = a
      return a
    })().catch((err: unknown) => {
      starting = null
      throw err
    })
    return starting
  }
  app.addHook('onClose', async () => {
    await admin?.shutdown()
  })

  app.get(
    '/api/cluster',
    {
      schema: {
        summary: 'Name servers, clusters and brokers',
        tags: ['cluster'],
        response: { 200: clusterSchema, 401: errorSchema, 503: errorSchema },
      },
    },
    async () => {
      const namesrvAddrs = [...broker.namesrvAddrs()]
      const rows = namesrvAddrs.length === 0 ? [] : await (await client()).clusterListWithRuntime()
      const clusters = new Map<string, object[]>()
      for (const b of rows) {
        const list = clusters.get(b.clusterName) ?? []
        clusters.set(b.clusterName, list)
        list.push({
          brokerName: b.brokerName,
          brokerId: b.brokerId,
          addr: b.addr,
          role: b.brokerId === MixAll.MASTER_ID ? 'MASTER' : 'SLAVE',
          brokerRole: b.brokerRole,
          slaves: b.slaves?.length ?? null,
          slaveLagBytes: largest(b.slaves, (s) => s.lagBytes),
          slaveLagMs: largest(b.slaves, (s) => s.lagMs),
          version: b.version,
          putTps: b.inTps,
          getTps: b.outTps,
        })
      }
      return {
        self: broker.brokerAddr,
        namesrvAddrs,
        clusters: [...clusters].map(([cluster, brokers]) => ({ cluster, brokers })),
      }
    },
  )
}
