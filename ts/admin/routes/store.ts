import type { FastifyInstance } from 'fastify'

import type { AdminBroker } from '../admin-broker.js'
import { errorSchema, storeSchema } from '../schemas.js'

export function storeRoutes(app: FastifyInstance, broker: AdminBroker): void {
  app.get(
    '/api/store',
    {
      schema: {
        summary: 'Store and broker figures',
        tags: ['store'],
        response: { 200: storeSchema, 503: errorSchema },
      },
    },
    async () => {
      const s = broker.store.stats()
      const c = broker.brokerConfig
      return {
        brokerName: c.brokerName,
        brokerAddr: broker.brokerAddr,
        clusterName: c.brokerClusterName,
        brokerId: c.brokerId,
        brokerRole: c.brokerRole,
        flushDiskType: s.flushDiskType,
        putTps: { last1s: broker.stats.rate('put', 1000), last1m: broker.stats.rate('put', 60_000) },
        getTps: { last1s: broker.stats.rate('get', 1000), last1m: broker.stats.rate('get', 60_000) },
        putMessages: broker.stats.putMessages,
        putBytes: broker.stats.putBytes,
        getMessages: broker.stats.getMessages,
        putLatency: s.putLatency,
        busyRefusals: s.busyRefusals,
        slowPuts: s.slowPuts,
        flushes: s.flushes,
        flushLatency: s.flushLatency,
        commitLogMinOffset: s.commitLogMinOffset,
        commitLogMaxOffset: s.commitLogMaxOffset,
        commitLogFlushedOffset: s.commitLogFlushedOffset,
        commitLogFileCount: s.commitLogFileCount,
        consumeQueueCount: s.consumeQueueCount,
        indexFileCount: s.indexFileCount,
        diskUsedBytes: s.diskUsedBytes,
        diskFreeBytes: s.diskFreeBytes,
        diskTotalBytes: s.diskTotalBytes,
        diskFull: s.diskFull,
        tailResidency: s.tailResidency,
        pageCacheBusy: s.pageCacheBusy,
        bootTimestamp: broker.stats.bootTimestamp,
      }
    },
  )
}
