/**
 * `GET /metrics` in Prometheus text format (prom-client). Each app has its own registry, so several brokers in one
 * process do not mix; every figure is read from the broker when scraped, from one snapshot per scrape.
 */
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'

import { CURRENT_VERSION, versionDesc } from '../../common/mq-version.js'
import type { StoreStats } from '../../store/message-store.js'
import type { AdminBroker } from '../admin-broker.js'
import {
  groupNames,
  groupOffsets,
  replicationView,
  topicSummaries,
  type GroupTopicView,
  type ReplicationView,
  type TopicSummary,
} from '../admin-views.js'

interface Snapshot {
  store: StoreStats
  topics: TopicSummary[]
  groups: { group: string; consumers: number; offsets: GroupTopicView[] }[]
  replication: ReplicationView
}

type Labels = Record<string, string>
type Reading = readonly [Labels, number]

/** The figures of one scrape. */
async function takeSnapshot(broker: AdminBroker): Promise<Snapshot> {
  const groups: Snapshot['groups'] = []
  for (const group of groupNames(broker)) {
    const info = broker.consumerManager.getConsumerGroupInfo(group)
    groups.push({ group, consumers: info?.channels.size ?? 0, offsets: await groupOffsets(broker, group) })
  }
  return { store: broker.store.stats(), topics: topicSummaries(broker), groups, replication: replicationView(broker) }
}

export function buildMetricsRegistry(broker: AdminBroker): { registry: Registry; scrape(): Promise<string> } {
  const registry = new Registry()
  const c = broker.brokerConfig
  registry.setDefaultLabels({ cluster: c.brokerClusterName, broker: c.brokerName })
  collectDefaultMetrics({ register: registry, prefix: 'ferrymq_' })
  let snap: Snapshot | null = null

  /** A metric whose samples are read from the scrape's snapshot: gauges are set, counters carry the total. */
  const collected =
    (Kind: typeof Gauge | typeof Counter) =>
    (name: string, help: string, labelNames: string[], read: (s: Snapshot) => Iterable<Reading>): void => {
      registry.registerMetric(
        new Kind({
          name,
          help,
          labelNames,
          registers: [],
          collect(this: Gauge | Counter) {
            this.reset()
            if (snap === null) return
            for (const [labels, v] of read(snap)) {
              if (this instanceof Gauge) this.set(labels, v)
              else this.inc(labels, v)
            }
          },
        }),
      )
    }
  const gauge = collected(Gauge)
  const counter = collected(Counter)
  const one = (v: number): Reading[] => [[{}, v]]
  const quantiles = (p: StoreStats['putLatency']): Reading[] => [
    [{ quantile: '0.5' }, p.p50Us / 1e6],
    [{ quantile: '0.99' }, p.p99Us / 1e6],
    [{ quantile: '0.999' }, p.p999Us / 1e6],
    [{ quantile: '1' }, p.maxUs / 1e6],
  ]

  gauge('ferrymq_broker_info', 'Broker identity; always 1', ['addr', 'role', 'version', 'flush_disk_type'], (s) => [
    [
      {
        addr: broker.brokerAddr,
        role: c.brokerRole,
        version: versionDesc(CURRENT_VERSION),
        flush_disk_type: s.store.flushDiskType,
      },
      1,
    ],
  ])
  counter('ferrymq_put_messages_total', 'Messages stored since the broker started', [], () =>
    one(broker.stats.putMessages),
  )
  counter('ferrymq_put_bytes_total', 'Message bytes stored since the broker started', [], () =>
    one(broker.stats.putBytes),
  )
  counter('ferrymq_get_messages_total', 'Messages delivered to consumers since the broker started', [], () =>
    one(broker.stats.getMessages),
  )
  gauge('ferrymq_put_tps', 'Messages stored per second over the window', ['window'], () => [
    [{ window: '1s' }, broker.stats.rate('put', 1000)],
    [{ window: '1m' }, broker.stats.rate('put', 60_000)],
  ])
  gauge('ferrymq_get_tps', 'Messages delivered per second over the window', ['window'], () => [
    [{ window: '1s' }, broker.stats.rate('get', 1000)],
    [{ window: '1m' }, broker.stats.rate('get', 60_000)],
  ])
  gauge('ferrymq_store_put_latency_seconds', 'Store put latency percentiles', ['quantile'], (s) =>
    quantiles(s.store.putLatency),
  )
  gauge('ferrymq_store_flush_latency_seconds', 'Commit-log flush latency percentiles', ['quantile'], (s) =>
    quantiles(s.store.flushLatency),
  )
  counter('ferrymq_store_flushes_total', 'Commit-log flushes', [], (s) => one(s.store.flushes))
  counter('ferrymq_store_page_cache_busy_refusals_total', 'Puts refused with OS_PAGE_CACHE_BUSY', [], (s) =>
    one(s.store.busyRefusals),
  )
  counter('ferrymq_store_slow_puts_total', 'Puts that held the put lock longer than 500 ms', [], (s) =>
    one(s.store.slowPuts),
  )
  counter('ferrymq_store_put_failures_total', 'Puts the store failed', [], (s) => one(s.store.putFailures))
  gauge('ferrymq_commitlog_offset_bytes', 'Commit-log offsets', ['kind'], (s) => [
    [{ kind: 'min' }, s.store.commitLogMinOffset],
    [{ kind: 'max' }, s.store.commitLogMaxOffset],
    [{ kind: 'flushed' }, s.store.commitLogFlushedOffset],
  ])
  gauge('ferrymq_commitlog_files', 'Commit-log segment files', [], (s) => one(s.store.commitLogFileCount))
  gauge('ferrymq_disk_bytes', 'Disk space of the store', ['kind'], (s) => [
    [{ kind: 'used' }, s.store.diskUsedBytes],
    [{ kind: 'free' }, s.store.diskFreeBytes],
    [{ kind: 'total' }, s.store.diskTotalBytes],
  ])
  gauge('ferrymq_store_tail_residency_ratio', 'Fraction of the commit log tail (64 MiB) in the page cache', [], (s) =>
    one(s.store.tailResidency),
  )
  gauge('ferrymq_store_page_cache_busy', '1 while the put lock is held too long', [], (s) =>
    one(s.store.pageCacheBusy ? 1 : 0),
  )
  gauge('ferrymq_store_disk_full', '1 while the store refuses puts for lack of disk', [], (s) =>
    one(s.store.diskFull ? 1 : 0),
  )

  gauge('ferrymq_topic_messages', 'Messages stored in the topic now', ['topic'], (s) =>
    s.topics.map((t) => [{ topic: t.topic }, t.messages] as const),
  )
  counter('ferrymq_topic_put_messages_total', 'Messages put to the topic since the broker started', ['topic'], (s) =>
    s.topics.map((t) => [{ topic: t.topic }, t.putMessages] as const),
  )
  gauge('ferrymq_topic_put_tps', 'Messages put to the topic per second, last 1-2 min', ['topic'], (s) =>
    s.topics.map((t) => [{ topic: t.topic }, t.putTps] as const),
  )
  gauge('ferrymq_group_consumers', 'Consumers of the group connected to this broker', ['group'], (s) =>
    s.groups.map((g) => [{ group: g.group }, g.consumers] as const),
  )
  const perGroupTopic = (s: Snapshot, read: (o: GroupTopicView, group: string) => number): Reading[] =>
    s.groups.flatMap((g) => g.offsets.map((o) => [{ group: g.group, topic: o.topic }, read(o, g.group)] as const))
  gauge('ferrymq_group_lag_messages', 'Messages stored but not yet consumed by the group', ['group', 'topic'], (s) =>
    perGroupTopic(s, (o) => o.lag),
  )
  gauge('ferrymq_group_consume_tps', 'Messages per second the group consumed, last 1-2 min', ['group', 'topic'], (s) =>
    perGroupTopic(s, (o) => o.consumeTps),
  )
  counter(
    'ferrymq_group_get_messages_total',
    'Messages delivered to the group since the broker started',
    ['group', 'topic'],
    (s) => perGroupTopic(s, (o, group) => broker.stats.groupGets.get(`${group}@${o.topic}`) ?? 0),
  )

  // The role is fixed for the broker's life: a master has slaves to show, a slave a master connection.
  if (c.brokerRole === 'SLAVE') {
    gauge('ferrymq_ha_master_connected', "1 while this slave is connected to its master's HA port", [], (s) =>
      one(s.replication.master?.connected === true ? 1 : 0),
    )
  } else {
    gauge('ferrymq_ha_connected_slaves', "Slaves connected to this master's HA port", [], (s) =>
      one(s.replication.slaves.length),
    )
    gauge('ferrymq_ha_slave_lag_bytes', 'Commit-log bytes the slave has not acknowledged', ['slave'], (s) =>
      s.replication.slaves.map((x) => [{ slave: x.addr }, x.lagBytes] as const),
    )
    gauge(
      'ferrymq_ha_slave_lag_seconds',
      'How long ago the master wrote the oldest byte the slave has not acknowledged; 0 when caught up',
      ['slave'],
      (s) => s.replication.slaves.map((x) => [{ slave: x.addr }, x.lagMs / 1000] as const),
    )
  }

  return {
    registry,
    async scrape() {
      snap = await takeSnapshot(broker)
      return registry.metrics()
    },
  }
}

export function metricsRoutes(app: FastifyInstance, broker: AdminBroker): void {
  const metrics = buildMetricsRegistry(broker)
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['metrics'], produces: ['text/plain'] } },
    async (_request, reply) => {
      const text = await metrics.scrape()
      return reply.type(metrics.registry.contentType).send(text)
    },
  )
}
