/**
 * The producer's table of topic → publish queues (`topicPublishInfoTable` with
 * `tryToFindTopicPublishInfo`, client.md §1.5): looked up on first use, with the default topic's route as the
 * fallback for a topic that has none yet, and refreshed periodically.
 */
import type { Logger } from '../common/logger.js'
import { MixAll } from '../common/mix-all.js'
import type { TopicRouteData } from '../remoting/protocol/route.js'
import { topicRouteDataToJson } from '../remoting/protocol/route.js'
import { MQClientError } from './client-error.js'
import { routeFromDefaultTopic, TopicPublishInfo } from './topic-publish-info.js'

/** The route of a topic, `null` when the name servers know none. */
export type RouteFetcher = (topic: string) => Promise<TopicRouteData | null>

export class PublishRouteTable {
  private readonly table = new Map<string, { info: TopicPublishInfo; signature: string }>()

  constructor(
    private readonly fetchRoute: RouteFetcher,
    private readonly createTopicKey: string,
    private readonly defaultTopicQueueNums: number,
    private readonly log: Logger,
  ) {}

  get(topic: string): TopicPublishInfo | undefined {
    return this.table.get(topic)?.info
  }

  topics(): string[] {
    return [...this.table.keys()]
  }

  /** The cached publish info when it has queues to send to, without a lookup (the per-send fast path). */
  cached(topic: string): TopicPublishInfo | undefined {
    const info = this.table.get(topic)?.info
    return info?.ok() ? info : undefined
  }

  /** The topic's publish info, from the table or the name servers; an error when there is no usable route. */
  async find(topic: string): Promise<TopicPublishInfo> {
    let info = this.get(topic)
    let cause: unknown
    if (info === undefined || !info.ok()) {
      try {
        await this.update(topic, false)
      } catch (err) {
        cause = err
      }
      info = this.get(topic)
    }
    if (info?.ok()) return info
    try {
      await this.update(topic, true)
    } catch (err) {
      cause ??= err
    }
    info = this.get(topic)
    if (info?.ok()) return info
    throw new MQClientError('RMQ_ERR_NO_ROUTE', `No route info of this topic: ${topic}`, { cause })
  }

  /**
   * Fetches the route of `topic` (or, with `fromDefault`, of the default topic, its queue counts capped) and
   * stores it when it changed. Returns whether a route was found.
   */
  async update(topic: string, fromDefault: boolean): Promise<boolean> {
    let route: TopicRouteData | null
    if (fromDefault) {
      const def = await this.fetchRoute(this.createTopicKey)
      route = def === null ? null : routeFromDefaultTopic(def, this.defaultTopicQueueNums)
    } else {
      route = await this.fetchRoute(topic)
    }
    if (route === null) return false
    const signature = topicRouteDataToJson(route, { strict: true })
    if (this.table.get(topic)?.signature !== signature) {
      this.table.set(topic, { info: new TopicPublishInfo(topic, route), signature })
      this.log.info({ topic, fromDefault }, 'topic publish route changed')
    }
    return true
  }

  /** Refreshes every known topic; a failed lookup keeps the old route. */
  async refreshAll(): Promise<void> {
    for (const topic of this.topics()) {
      if (topic === MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC) continue
      try {
        await this.update(topic, false)
      } catch (err) {
        // Safe to continue: the cached route stays in use until a later refresh succeeds.
        this.log.warn({ topic, err }, 'refreshing the topic route failed')
      }
    }
  }
}
