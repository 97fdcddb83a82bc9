/**
 * The admin HTTP API (Fastify), built by a factory so tests use `inject()` and the broker listens elsewhere
 * (STYLE.md §2). This first cut serves health, readiness, store figures and topics; every route declares its
 * response schema.
 */
import Fastify, { type FastifyInstance } from 'fastify'

import type { AdminBroker } from './admin-broker.js'

export interface AdminAppOptions {
  broker: AdminBroker
  /** Fastify's logger option: false, or a pino instance / options. */
  logger?: boolean | object
}

const storeSchema = {
  type: 'object',
  properties: {
    brokerAddr: { type: 'string' },
    flushDiskType: { type: 'string' },
    putTps: { type: 'number' },
    getTps: { type: 'number' },
    putMessages: { type: 'number' },
    putBytes: { type: 'number' },
    putLatencyP50Us: { type: 'number' },
    putLatencyP99Us: { type: 'number' },
    busyRefusals: { type: 'number' },
    slowPuts: { type: 'number' },
    flushes: { type: 'number' },
    flushLatencyP99Us: { type: 'number' },
    commitLogMinOffset: { type: 'number' },
    commitLogMaxOffset: { type: 'number' },
    commitLogFlushedOffset: { type: 'number' },
    commitLogFileCount: { type: 'number' },
    diskUsedBytes: { type: 'number' },
    diskFreeBytes: { type: 'number' },
    diskTotalBytes: { type: 'number' },
    tailResidency: { type: 'number' },
    pageCacheBusy: { type: 'boolean' },
  },
} as const

const topicsSchema = {
  type: 'object',
  properties: {
    topics: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          topic: { type: 'string' },
          readQueueNums: { type: 'number' },
          writeQueueNums: { type: 'number' },
          perm: { type: 'number' },
          system: { type: 'boolean' },
          messages: { type: 'number' },
        },
      },
    },
  },
} as const

export function buildAdminApp(options: AdminAppOptions): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false })
  const broker = options.broker

  app.get('/healthz', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({
    status: 'ok',
  }))

  app.get(
    '/readyz',
    { schema: { response: { 200: { type: 'object', properties: { ready: { type: 'boolean' } } }, 503: { type: 'object', properties: { ready: { type: 'boolean' } } } } } },
    async (_req, reply) => {
      const ready = broker.isReady()
      return reply.code(ready ? 200 : 503).send({ ready })
    },
  )

  app.get('/api/store', { schema: { response: { 200: storeSchema } } }, async () => {
    const s = broker.store.stats()
    return {
      brokerAddr: broker.brokerAddr,
      flushDiskType: s.flushDiskType,
      putTps: broker.stats.rate('put', 1000),
      getTps: broker.stats.rate('get', 1000),
      putMessages: s.putMessages,
      putBytes: s.putBytes,
      putLatencyP50Us: s.putLatency.p50Us,
      putLatencyP99Us: s.putLatency.p99Us,
      busyRefusals: s.busyRefusals,
      slowPuts: s.slowPuts,
      flushes: s.flushes,
      flushLatencyP99Us: s.flushLatency.p99Us,
      commitLogMinOffset: s.commitLogMinOffset,
      commitLogMaxOffset: s.commitLogMaxOffset,
      commitLogFlushedOffset: s.commitLogFlushedOffset,
      commitLogFileCount: s.commitLogFileCount,
      diskUsedBytes: s.diskUsedBytes,
      diskFreeBytes: s.diskFreeBytes,
      diskTotalBytes: s.diskTotalBytes,
      tailResidency: s.tailResidency,
      pageCacheBusy: s.pageCacheBusy,
    }
  })

  app.get('/api/topics', { schema: { response: { 200: topicsSchema } } }, async () => {
    const tcm = broker.topicConfigManager
    const topics = [...tcm.topics()].map((tc) => {
      let messages = 0
      for (let q = 0; q < tc.writeQueueNums; q++) {
        messages += broker.store.getMaxOffsetInQueue(tc.topicName, q) - broker.store.getMinOffsetInQueue(tc.topicName, q)
      }
      return {
        topic: tc.topicName,
        readQueueNums: tc.readQueueNums,
        writeQueueNums: tc.writeQueueNums,
        perm: tc.perm,
        system: tcm.isSystemTopic(tc.topicName),
        messages,
      }
    })
    return { topics: topics.sort((a, b) => a.topic.localeCompare(b.topic)) }
  })

  return app
}
