/**
 * The admin client (`DefaultMQAdminExt` over `DefaultMQAdminExtImpl` and `MQAdminImpl`): clusters, topics and their
 * routes and offsets, consumer progress and connections, and message lookups, against name servers and brokers
 * speaking RocketMQ 4.x remoting. A non-success answer from a name server or a broker becomes a
 * `BrokerResponseError` carrying the response code and remark; conclusions the client draws itself (no stats, no
 * message) are `MQClientError`s, with the RocketMQ code Java would report where there is one.
 */
import { BrokerResponseError, ProtocolError, RemotingError, RocketMQError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { messageKeys, messageUniqKey, type MessageExt } from '../common/message/message-ext.js'
import { decodeMessageId } from '../common/message/message-id.js'
import { decodeMessage, decodeMessages } from '../common/message/message-record.js'
import { parseJsonObject } from '../common/fastjson.js'
import { getRetryTopic, MixAll } from '../common/mix-all.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import type { TopicConfig } from '../common/topic-config.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import {
  decodeKVTable,
  NAMESPACE_ORDER_TOPIC_CONFIG,
  topicConfigSerializeWrapperFromJson,
} from '../remoting/protocol/namesrv.js'
import {
  decodeClusterInfo,
  decodeTopicList,
  decodeTopicRouteData,
  type ClusterInfo,
  type QueueData,
  type TopicRouteData,
} from '../remoting/protocol/route.js'
import { RemotingClient } from '../remoting/remoting-client.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RPCHook } from '../remoting/rpc-hook.js'
import {
  checkResponse,
  compareQueues,
  compareText,
  consumeStatsRequest,
  consumerConnectionListRequest,
  createTopicRequest,
  decodeConsumerConnection,
  decodeConsumeStats,
  decodeGroupList,
  decodeResetOffsetBody,
  decodeTopicStatsTable,
  deleteTopicInBrokerRequest,
  deleteTopicInNamesrvRequest,
  kvConfigRequest,
  longHeader,
  queryConsumerOffsetRequest,
  queryMessageRequest,
  queryTopicConsumeByWhoRequest,
  queueOffsetRequest,
  resetOffsetRequest,
  searchOffsetRequest,
  topicStatsRequest,
  updateConsumerOffsetRequest,
  viewMessageRequest,
  type QueryMessageRequest,
  type QueueConsumeStats,
} from './admin-api.js'
import {
  brokerHAStatusFrom,
  checkAdminTopic,
  checkGroup,
  hasTarget,
  illegal,
  mergeOrderConf,
  RESET_TO_MAX_OFFSET,
  selectBrokerAddr,
  sortMessages,
  topicConfigFor,
  uniqIdTimestampMs,
  type BrokerAddr,
  type BrokerHAStatus,
  type ClusterBroker,
  type ClusterBrokerRuntime,
  type ConsumerConnections,
  type ConsumerProgress,
  type ConsumerQueueProgress,
  type QueryMessageByIdOptions,
  type QueryResult,
  type ResetOffsetQueue,
  type ResetOffsetResult,
  type TopicBrokerConfig,
  type TopicDeleteResult,
  type TopicOptions,
  type TopicStats,
  type TopicTarget,
  type TopicUpdateResult,
} from './admin-model.js'
import { parseNamesrvAddr } from './client-config.js'
import { MQClientError } from './client-error.js'

/** `DefaultMQAdminExt#timeoutMillis`. */
export const ADMIN_TIMEOUT_MS_DEFAULT = 5000
/** Index queries scan files: each broker gets three request timeouts (`MQAdminImpl#queryMessage`). */
const QUERY_TIMEOUT_FACTOR = 3
/** Messages one broker returns for a unique-key lookup (`MQAdminImpl#queryMessageByUniqKey`). */
const UNIQ_KEY_QUERY_MAX_NUM = 32
/** Messages one broker returns for a key lookup unless told (`mqadmin queryMsgByKey`; the broker caps it at 64). */
export const KEY_QUERY_MAX_NUM_DEFAULT = 64
/** A unique-key lookup starts this long before the time encoded in the id (`MQAdminImpl#queryMessageByUniqKey`). */
const UNIQ_KEY_QUERY_SLACK_MS = 1000

export interface AdminClientOptions {
  /** Name servers, `;`-separated; defaults to the `NAMESRV_ADDR` environment variable. */
  namesrvAddr?: string
  /** Hooks run before every request and after every response (e.g. `AclClientRPCHook`). */
  rpcHooks?: RPCHook[]
  logger?: Logger
  /** Timeout of each request (index queries get three times this); default 5000 ms. */
  timeoutMs?: number
}

type State = 'created' | 'running' | 'shutdown'

export class AdminClient {
  private readonly options: AdminClientOptions
  private readonly log: Logger
  private readonly timeoutMs: number
  private namesrvAddrs: string[] = []
  /** The name server that answered last; the next request starts there. */
  private namesrvIndex = 0
  private remoting!: RemotingClient
  private state: State = 'created'

  constructor(options: AdminClientOptions = {}) {
    this.options = options
    this.log = (options.logger ?? noopLogger).child({ component: 'admin-client' })
    this.timeoutMs = options.timeoutMs ?? ADMIN_TIMEOUT_MS_DEFAULT
  }

  /** Checks the configuration and opens the runtime; connections open on first use. */
  async start(): Promise<void> {
    if (this.state !== 'created') {
      throw new MQClientError('RMQ_ERR_ADMIN_STATE', `the admin client is ${this.state}, it can be started only once`)
    }
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0) {
      throw illegal(`timeoutMs must be a positive number of milliseconds, got ${this.timeoutMs}`)
    }
    this.namesrvAddrs = parseNamesrvAddr(this.options.namesrvAddr ?? process.env.NAMESRV_ADDR ?? '')
    if (this.namesrvAddrs.length === 0) {
      throw new MQClientError(
        'RMQ_ERR_ADMIN_CONFIG',
        'no name server address: set namesrvAddr or the NAMESRV_ADDR environment variable',
      )
    }
    this.remoting = new RemotingClient({ logger: this.log })
    for (const hook of this.options.rpcHooks ?? []) this.remoting.registerRPCHook(hook)
    this.state = 'running'
  }

  async shutdown(): Promise<void> {
    if (this.state === 'running') this.remoting.shutdown()
    this.state = 'shutdown'
  }

  // ---- name servers -------------------------------------------------------------------------------------------

  /** GET_BROKER_CLUSTER_INFO: broker names per cluster and the addresses of each broker name. */
  async clusterInfo(): Promise<ClusterInfo> {
    this.checkRunning()
    const response = await this.namesrvRequest(() => RemotingCommand.createRequest(RequestCode.GET_BROKER_CLUSTER_INFO))
    return decodeClusterInfo(checkResponse(response).body)
  }

  /** Every broker address the name servers know, by cluster, broker name and broker id. */
  async clusterList(): Promise<ClusterBroker[]> {
    const info = await this.clusterInfo()
    const rows: ClusterBroker[] = []
    for (const [clusterName, names] of info.clusterAddrTable) {
      for (const brokerName of names) {
        for (const [brokerId, addr] of info.brokerAddrTable.get(brokerName)?.brokerAddrs ?? []) {
          rows.push({ clusterName, brokerName, brokerId, addr })
        }
      }
    }
    return rows.sort(
      (a, b) =>
        compareText(a.clusterName, b.clusterName) || compareText(a.brokerName, b.brokerName) || a.brokerId - b.brokerId,
    )
  }

  /** GET_ALL_TOPIC_LIST_FROM_NAMESERVER, sorted. */
  async topicList(): Promise<string[]> {
    this.checkRunning()
    const response = await this.namesrvRequest(() =>
      RemotingCommand.createRequest(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER),
    )
    return decodeTopicList(checkResponse(response).body).topicList.sort(compareText)
  }

  /**
   * GET_ROUTEINFO_BY_TOPIC. An unknown topic is `TOPIC_NOT_EXIST` (17) as `BrokerResponseError`: the name server's
   * own answer, or, when a ferrymq name server offers a route to auto-create the topic instead
   * (`autoCreateTopicRouteEnable`), the same code after the topic list (asked at the same time) shows the topic
   * does not exist.
   */
  async topicRoute(topic: string): Promise<TopicRouteData> {
    this.checkRunning()
    const [response, topics] = await Promise.all([
      this.namesrvRequest(() => RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })),
      this.topicList(),
    ])
    const route = decodeTopicRouteData(checkResponse(response).body)
    if (!topics.includes(topic)) {
      throw new BrokerResponseError(
        ResponseCode.TOPIC_NOT_EXIST,
        `No topic route info in name server for the topic: ${topic} (it offers only a route to auto-create it)`,
        false,
      )
    }
    return route
  }

  // ---- topics -------------------------------------------------------------------------------------------------

  /**
   * UPDATE_AND_CREATE_TOPIC to every target master, one after the other (`mqadmin updateTopic`); the first
   * failure stops there and is thrown. Unset numbers default to 8 queues, perm 6.
   */
  async createTopic(topic: string, options: TopicOptions = {}): Promise<TopicUpdateResult> {
    this.checkRunning()
    checkAdminTopic(topic)
    const config = topicConfigFor(topic, options, {})
    const brokers = await this.resolveMasters(options)
    return this.applyTopicConfigs(
      topic,
      brokers.map((b) => ({ ...b, topicConfig: config })),
      options,
    )
  }

  /**
   * Like `createTopic`, but what the options leave unset keeps each broker's current values (read with
   * GET_ALL_TOPIC_CONFIG, so a change just made counts even before the route shows it), and without a target it
   * goes to the masters that serve the topic now.
   */
  async updateTopic(topic: string, options: TopicOptions = {}): Promise<TopicUpdateResult> {
    this.checkRunning()
    checkAdminTopic(topic)
    const brokers = hasTarget(options)
      ? await this.resolveMasters(options)
      : this.routeMasters(await this.topicRoute(topic))
    const configs: TopicBrokerConfig[] = []
    for (const b of brokers) {
      const current = await this.brokerTopicConfig(b.addr, topic)
      configs.push({ ...b, topicConfig: topicConfigFor(topic, options, current ?? {}) })
    }
    return this.applyTopicConfigs(topic, configs, options)
  }

  /**
   * DELETE_TOPIC_IN_BROKER on the masters of `clusterName` (or, without it, those serving the topic), then
   * DELETE_TOPIC_IN_NAMESRV and the topic's ORDER_TOPIC_CONFIG entry on every name server (`mqadmin deleteTopic`).
   */
  async deleteTopic(topic: string, clusterName?: string): Promise<TopicDeleteResult> {
    this.checkRunning()
    checkAdminTopic(topic)
    const brokers =
      clusterName === undefined
        ? this.routeMasters(await this.topicRoute(topic))
        : await this.resolveMasters({ clusterName })
    for (const b of brokers) {
      checkResponse(await this.remoting.invoke(b.addr, deleteTopicInBrokerRequest(topic), this.timeoutMs))
      this.log.info({ topic, broker: b.addr }, 'topic deleted from broker')
    }
    await this.eachNamesrv(() => deleteTopicInNamesrvRequest(topic, clusterName))
    await this.eachNamesrv(() => kvConfigRequest(RequestCode.DELETE_KV_CONFIG, NAMESPACE_ORDER_TOPIC_CONFIG, topic))
    return { topic, brokerAddrs: brokers.map((b) => b.addr), namesrvAddrs: [...this.namesrvAddrs] }
  }

  /** GET_TOPIC_STATS_INFO on every broker of the topic's route, merged (`examineTopicStats`). */
  async topicStats(topic: string): Promise<TopicStats> {
    this.checkRunning()
    const brokers = this.routeBrokers(await this.topicRoute(topic))
    const tables = await Promise.all(
      brokers.map(async (b) =>
        decodeTopicStatsTable(
          checkResponse(await this.remoting.invoke(b.addr, topicStatsRequest(topic), this.timeoutMs)).body,
        ),
      ),
    )
    const queues = tables.flat().sort(compareQueues)
    if (queues.length === 0) {
      throw new MQClientError('RMQ_ERR_NO_TOPIC_STATS', `Not found the topic stats info of ${topic}`)
    }
    return { topic, queues }
  }

  /** GET_MAX_OFFSET of a queue: the offset the next message gets. */
  async maxOffset(mq: MessageQueue): Promise<number> {
    const addr = await this.queueBrokerAddr(mq)
    return longHeader(
      checkResponse(
        await this.remoting.invoke(addr, queueOffsetRequest(RequestCode.GET_MAX_OFFSET, mq), this.timeoutMs),
      ),
      'offset',
    )
  }

  /** GET_MIN_OFFSET of a queue: the oldest offset still stored. */
  async minOffset(mq: MessageQueue): Promise<number> {
    const addr = await this.queueBrokerAddr(mq)
    return longHeader(
      checkResponse(
        await this.remoting.invoke(addr, queueOffsetRequest(RequestCode.GET_MIN_OFFSET, mq), this.timeoutMs),
      ),
      'offset',
    )
  }

  /** QUERY_CONSUMER_OFFSET: the group's committed offset of a queue, -1 when the broker has none (`QUERY_NOT_FOUND`). */
  async consumerOffset(group: string, mq: MessageQueue): Promise<number> {
    checkGroup(group)
    const addr = await this.queueBrokerAddr(mq)
    const response = await this.remoting.invoke(addr, queryConsumerOffsetRequest(group, mq), this.timeoutMs)
    if (checkResponse(response, [ResponseCode.QUERY_NOT_FOUND]).code === ResponseCode.QUERY_NOT_FOUND) return -1
    return longHeader(response, 'offset')
  }

  // ---- consumers ----------------------------------------------------------------------------------------------

  /**
   * GET_CONSUME_STATS on every broker of the group's retry topic (and of `topic`), merged, with the lag of each
   * queue and the totals (`examineConsumeStats`, `mqadmin consumerProgress`). Both failures are
   * `RMQ_ERR_NO_CONSUME_STATS`: with `responseCode` `TOPIC_NOT_EXIST` (17) when neither the retry topic nor `topic`
   * has a route (no consumer of the group ever reached a broker), with `CONSUMER_NOT_ONLINE` (206) when the brokers
   * have no offsets or subscription for it, as Java reports that case.
   */
  async consumerProgress(group: string, topic?: string): Promise<ConsumerProgress> {
    this.checkRunning()
    checkGroup(group)
    if (topic !== undefined) checkAdminTopic(topic)
    const brokers = await this.groupBrokers(group, topic)
    const answers = await Promise.all(
      brokers.map(async (b) => {
        const response = await this.remoting.invoke(
          b.addr,
          consumeStatsRequest(group, topic),
          this.timeoutMs * QUERY_TIMEOUT_FACTOR,
        )
        return decodeConsumeStats(checkResponse(response).body)
      }),
    )
    const merged = new Map<string, QueueConsumeStats>()
    let consumeTps = 0
    for (const a of answers) {
      consumeTps += a.consumeTps
      for (const q of a.queues) merged.set(`${q.topic}\u0000${q.brokerName}\u0000${q.queueId}`, q)
    }
    if (merged.size === 0) {
      throw new MQClientError(
        'RMQ_ERR_NO_CONSUME_STATS',
        `Not found the consumer group consume stats of ${group}${topic === undefined ? '' : ` on ${topic}`}: no broker has offsets or a subscription for it`,
        { responseCode: ResponseCode.CONSUMER_NOT_ONLINE },
      )
    }
    const queues = [...merged.values()]
      .sort(compareQueues)
      .map((q) => ({ ...q, lag: q.brokerOffset - q.consumerOffset }))
    const sum = (f: (q: ConsumerQueueProgress) => number): number => queues.reduce((s, q) => s + f(q), 0)
    return {
      group,
      topic: topic ?? null,
      queues,
      consumeTps,
      brokerOffsetTotal: sum((q) => q.brokerOffset),
      consumerOffsetTotal: sum((q) => q.consumerOffset),
      lagTotal: sum((q) => q.lag),
    }
  }

  /**
   * Moves a group's consumption of a topic to the first message stored at or after `timestamp` (epoch ms), or to
   * each queue's max offset with `RESET_TO_MAX_OFFSET` (`mqadmin resetOffsetByTime`,
   * `DefaultMQAdminExtImpl#resetOffsetByTimestamp`). INVOKE_BROKER_TO_RESET_OFFSET goes to each master of the
   * topic's route in turn; the broker tells the group's online consumers to move (they commit the new offsets
   * themselves). Without `force` a queue moves only backwards: one whose committed offset is already below the
   * target keeps it. The result's `oldOffset`s are the committed offsets read just before.
   *
   * When a broker answers that no consumer of the group is online (`CONSUMER_NOT_ONLINE`, 206), the committed
   * offsets are written instead, as
   * `resetOffsetByTimestampOld` does: for every queue the group has offsets on (or, when it has none on the topic,
   * every queue, counted from its min offset), the offset at the time (SEARCH_OFFSET_BY_TIMESTAMP, or GET_MAX_OFFSET)
   * is written with UPDATE_CONSUMER_OFFSET when `force` is set or it is not above the committed offset. Any other
   * failure is thrown as it comes (the broker's "consumer group not exist" when the group has no offset on a queue).
   */
  async resetOffsetByTime(group: string, topic: string, timestamp: number, force = true): Promise<ResetOffsetResult> {
    this.checkRunning()
    checkGroup(group)
    checkAdminTopic(topic)
    if (!Number.isSafeInteger(timestamp) || timestamp < RESET_TO_MAX_OFFSET) {
      throw illegal(`timestamp must be epoch milliseconds or ${RESET_TO_MAX_OFFSET} (max offset), got ${timestamp}`)
    }
    const route = await this.topicRoute(topic)
    const masters = this.routeMasters(route)
    const done = (mode: ResetOffsetResult['mode'], queues: ResetOffsetQueue[]): ResetOffsetResult => ({
      group,
      topic,
      timestamp,
      force,
      mode,
      queues: queues.sort(compareQueues),
    })
    // The broker answers only the new offsets: read the committed ones first.
    const before = new Map<string, number>()
    await Promise.all(
      masters.map(async (b) => {
        const qd = route.queueDatas.find((q) => q.brokerName === b.brokerName)
        const queueNums = Math.max(qd?.readQueueNums ?? 0, qd?.writeQueueNums ?? 0)
        await Promise.all(
          Array.from({ length: queueNums }, async (_, queueId) => {
            const mq = { topic, brokerName: b.brokerName, queueId }
            before.set(queueKey(mq), await this.committedOffset(b.addr, group, mq))
          }),
        )
      }),
    )
    const queues: ResetOffsetQueue[] = []
    for (const b of masters) {
      const response = await this.remoting.invoke(
        b.addr,
        resetOffsetRequest(topic, group, timestamp, force),
        this.timeoutMs,
      )
      if (consumerNotOnline(response)) {
        this.log.info(
          { group, topic, broker: b.addr, remark: response.remark },
          'no consumer of the group online: writing the committed offsets',
        )
        return done(
          'offline',
          await this.resetCommittedOffsets(masters, route.queueDatas, group, topic, timestamp, force),
        )
      }
      for (const { mq, offset } of decodeResetOffsetBody(checkResponse(response).body)) {
        queues.push({
          ...mq,
          oldOffset: before.get(queueKey(mq)) ?? -1,
          newOffset: offset,
          brokerOffset: null,
          timestampOffset: null,
        })
      }
      this.log.info({ group, topic, broker: b.addr, timestamp, force }, 'broker told the consumers to reset offsets')
    }
    return done('online', queues)
  }

  /** QUERY_TOPIC_CONSUME_BY_WHO on every broker of the topic: the groups consuming it (online or with offsets), sorted. */
  async topicConsumerGroups(topic: string): Promise<string[]> {
    this.checkRunning()
    const brokers = this.routeBrokers(await this.topicRoute(topic))
    const lists = await Promise.all(
      brokers.map(async (b) =>
        decodeGroupList(
          checkResponse(await this.remoting.invoke(b.addr, queryTopicConsumeByWhoRequest(topic), this.timeoutMs)).body,
        ),
      ),
    )
    return [...new Set(lists.flat())].sort(compareText)
  }

  /**
   * GET_CONSUMER_CONNECTION_LIST on every broker of the group's retry topic (every broker of every cluster when
   * the group has none yet), merged. When no broker knows the group online, the broker's `CONSUMER_NOT_ONLINE`
   * (206) is thrown as `BrokerResponseError`.
   */
  async consumerConnections(group: string): Promise<ConsumerConnections> {
    this.checkRunning()
    checkGroup(group)
    const retry = await this.topicRouteOrNull(getRetryTopic(group))
    const brokers = retry !== null ? this.routeBrokers(retry) : await this.allBrokers()
    const settled = await Promise.allSettled(
      brokers.map(async (b) => {
        const response = await this.remoting.invoke(b.addr, consumerConnectionListRequest(group), this.timeoutMs)
        return decodeConsumerConnection(checkResponse(response).body)
      }),
    )
    const found = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []))
    if (found.length === 0) {
      const notOnline = failures.find(
        (e) => e instanceof BrokerResponseError && e.responseCode === ResponseCode.CONSUMER_NOT_ONLINE,
      )
      throw notOnline ?? failures[0] ?? new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', 'the name servers know no broker')
    }
    for (const err of failures) this.log.warn({ group, err }, 'a broker did not list the connections of the group')
    const first = found[0]!
    const connections = new Map(found.flatMap((f) => f.connections).map((c) => [c.clientId, c]))
    const subscriptions = new Map(found.flatMap((f) => f.subscriptions).map((s) => [s.topic, s]))
    return {
      group,
      ...first,
      connections: [...connections.values()].sort((a, b) => compareText(a.clientId, b.clientId)),
      subscriptions: [...subscriptions.values()].sort((a, b) => compareText(a.topic, b.topic)),
    }
  }

  // ---- messages -----------------------------------------------------------------------------------------------

  /**
   * One message by id (`DefaultMQAdminExtImpl#viewMessage`): an offset message id is decoded into broker address
   * and commit-log offset and fetched with VIEW_MESSAGE_BY_ID there. When that fails (or the id is no offset id)
   * and a topic is given, the id is taken as a client unique id (`UNIQ_KEY`) and looked up with QUERY_MESSAGE by
   * unique key on every broker of the topic; of duplicates, the earliest stored wins. Not found:
   * `RMQ_ERR_NO_MESSAGE` (`NO_MESSAGE`, 208); without a topic, the failure of VIEW_MESSAGE_BY_ID itself.
   */
  async queryMessageById(msgId: string, options: QueryMessageByIdOptions = {}): Promise<MessageExt> {
    this.checkRunning()
    const decoded = decodeMessageId(msgId)
    let viewError: unknown
    if (decoded !== null) {
      try {
        return await this.viewMessage(decoded.address, decoded.commitLogOffset)
      } catch (err) {
        if (!(err instanceof RocketMQError)) throw err
        // Java does the same: an id that is no offset id of a reachable broker may be a unique key.
        viewError = err
        this.log.debug({ msgId, err }, 'not found as an offset message id')
      }
    }
    const topic = options.topic
    if (topic === undefined) {
      if (viewError !== undefined) throw viewError
      throw illegal(`${msgId} is not an offset message id; give its topic to look it up as a unique key`)
    }
    checkAdminTopic(topic)
    const result = await this.queryMessages({
      topic,
      key: msgId,
      maxNum: UNIQ_KEY_QUERY_MAX_NUM,
      beginTimestampMs:
        options.beginTimestampMs ?? Math.max(0, (uniqIdTimestampMs(msgId, Date.now()) ?? 0) - UNIQ_KEY_QUERY_SLACK_MS),
      endTimestampMs: options.endTimestampMs,
      uniqueKey: true,
    })
    const found = result.messages[0]
    if (found === undefined) {
      throw new MQClientError('RMQ_ERR_NO_MESSAGE', `query message by id finished, but no message: ${msgId}`, {
        responseCode: ResponseCode.NO_MESSAGE,
        cause: viewError,
      })
    }
    return found
  }

  /**
   * QUERY_MESSAGE by key on every broker of the topic, merged (`MQAdminImpl#queryMessage`): each broker returns at
   * most `maxNum` (it caps this at 64) of the messages stored between the two times whose `KEYS` hold `key`. No
   * match is an empty list. A broker that fails is skipped unless every broker fails.
   */
  async queryMessageByKey(
    topic: string,
    key: string,
    maxNum = KEY_QUERY_MAX_NUM_DEFAULT,
    beginTimestampMs = 0,
    endTimestampMs?: number,
  ): Promise<QueryResult> {
    this.checkRunning()
    checkAdminTopic(topic)
    if (typeof key !== 'string' || key.length === 0) throw illegal('the key is empty')
    if (!Number.isInteger(maxNum) || maxNum < 1) throw illegal(`maxNum must be a positive integer, got ${maxNum}`)
    return this.queryMessages({ topic, key, maxNum, beginTimestampMs, endTimestampMs, uniqueKey: false })
  }

  // ---- brokers ------------------------------------------------------------------------------------------------

  /**
   * Every broker of every cluster with its version, 10 s rates, role and (a master) its slaves from
   * GET_BROKER_RUNTIME_INFO; a broker that does not answer keeps its row, with nulls (as mqadmin's `clusterList`
   * prints dashes).
   */
  async clusterListWithRuntime(): Promise<ClusterBrokerRuntime[]> {
    const brokers = await this.clusterList()
    return Promise.all(
      brokers.map(async (b) => {
        try {
          const info = await this.examineBrokerRuntimeInfo(b.addr)
          const ha = brokerHAStatusFrom(b.addr, info)
          return {
            ...b,
            version: info.brokerVersionDesc ?? null,
            inTps: firstRate(info.putTps),
            outTps: firstRate(info.getTransferedTps),
            brokerRole: ha.brokerRole,
            slaves: ha.slaves,
          }
        } catch (err) {
          // One unreachable broker must not hide the others.
          if (!(err instanceof RocketMQError)) throw err
          return { ...b, version: null, inTps: null, outTps: null, brokerRole: null, slaves: null }
        }
      }),
    )
  }

  /**
   * A broker's role and replication from GET_BROKER_RUNTIME_INFO: a master's connected slaves with their lag, a
   * slave's master connection (RocketMQ 5.x asks GET_BROKER_HA_STATUS for this; 4.x brokers have no such request).
   */
  async getBrokerHAStatus(addr: string): Promise<BrokerHAStatus> {
    return brokerHAStatusFrom(addr, await this.examineBrokerRuntimeInfo(addr))
  }

  /** GET_BROKER_RUNTIME_INFO: the broker's runtime figures (`brokerVersionDesc`, `putTps`, …), keys sorted. */
  async examineBrokerRuntimeInfo(addr: string): Promise<Record<string, string>> {
    this.checkRunning()
    const request = RemotingCommand.createRequest(RequestCode.GET_BROKER_RUNTIME_INFO)
    const table = decodeKVTable(checkResponse(await this.remoting.invoke(addr, request, this.timeoutMs)).body)
    // Without a prototype: a key such as `__proto__` from the broker stays a plain entry.
    const out = Object.create(null) as Record<string, string>
    for (const k of [...table.keys()].sort(compareText)) out[k] = table.get(k)!
    return out
  }

  // -------------------------------------------------------------------------------------------------------------

  private checkRunning(): void {
    if (this.state !== 'running') {
      throw new MQClientError('RMQ_ERR_ADMIN_STATE', `the admin client is not running (state: ${this.state})`)
    }
  }

  /** A name server request, trying each name server in turn until one answers; the answer is not checked. */
  private async namesrvRequest(build: () => RemotingCommand): Promise<RemotingCommand> {
    let lastError: unknown
    for (let i = 0; i < this.namesrvAddrs.length; i++) {
      const idx = (this.namesrvIndex + i) % this.namesrvAddrs.length
      const request = build()
      try {
        const response = await this.remoting.invoke(this.namesrvAddrs[idx]!, request, this.timeoutMs)
        this.namesrvIndex = idx
        return response
      } catch (err) {
        if (!(err instanceof RemotingError)) throw err
        lastError = err // this name server is unreachable: try the next one
      }
    }
    const last = lastError as RemotingError
    throw new MQClientError(
      'RMQ_ERR_NAMESRV_UNAVAILABLE',
      `no name server answered (${this.namesrvAddrs.join(';')}): ${last.message}`,
      { cause: lastError },
    )
  }

  /** The same request to every name server (deletions must reach all of them); the first failure is thrown. */
  private async eachNamesrv(build: () => RemotingCommand): Promise<void> {
    await Promise.all(
      this.namesrvAddrs.map(async (addr) => checkResponse(await this.remoting.invoke(addr, build(), this.timeoutMs))),
    )
  }

  private async topicRouteOrNull(topic: string): Promise<TopicRouteData | null> {
    try {
      return await this.topicRoute(topic)
    } catch (err) {
      if (err instanceof BrokerResponseError && err.responseCode === ResponseCode.TOPIC_NOT_EXIST) return null
      throw err
    }
  }

  /** One address per broker name of a route (master, else a slave), sorted by broker name. */
  private routeBrokers(route: TopicRouteData): BrokerAddr[] {
    const out: BrokerAddr[] = []
    for (const b of route.brokerDatas) {
      const addr = selectBrokerAddr(b)
      if (addr !== undefined) out.push({ brokerName: b.brokerName, addr })
    }
    return out.sort((a, b) => compareText(a.brokerName, b.brokerName))
  }

  /** The masters of a route, sorted by broker name; broker names without a master are skipped. */
  private routeMasters(route: TopicRouteData): BrokerAddr[] {
    const out: BrokerAddr[] = []
    for (const b of route.brokerDatas) {
      const addr = b.brokerAddrs.get(MixAll.MASTER_ID)
      if (addr !== undefined) out.push({ brokerName: b.brokerName, addr })
    }
    if (out.length === 0) throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', 'no master serves the topic')
    return out.sort((a, b) => compareText(a.brokerName, b.brokerName))
  }

  /** One address per broker name the name servers know. */
  private async allBrokers(): Promise<BrokerAddr[]> {
    const info = await this.clusterInfo()
    const out: BrokerAddr[] = []
    for (const b of info.brokerAddrTable.values()) {
      const addr = selectBrokerAddr(b)
      if (addr !== undefined) out.push({ brokerName: b.brokerName, addr })
    }
    return out.sort((a, b) => compareText(a.brokerName, b.brokerName))
  }

  /** The masters a topic change goes to (`CommandUtil#fetchMasterAddrByClusterName` and friends). */
  private async resolveMasters(target: TopicTarget): Promise<BrokerAddr[]> {
    const info = await this.clusterInfo()
    if ((target.brokerAddrs?.length ?? 0) > 0) {
      return target.brokerAddrs!.map((addr) => {
        const b = [...info.brokerAddrTable.values()].find((d) => [...d.brokerAddrs.values()].includes(addr))
        return { brokerName: b?.brokerName ?? addr, addr }
      })
    }
    if ((target.brokerNames?.length ?? 0) > 0) {
      return target.brokerNames!.map((brokerName) => {
        const addr = info.brokerAddrTable.get(brokerName)?.brokerAddrs.get(MixAll.MASTER_ID)
        if (addr === undefined) {
          throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `the name servers know no master of broker ${brokerName}`)
        }
        return { brokerName, addr }
      })
    }
    let cluster = target.clusterName
    if (cluster === undefined) {
      const clusters = [...info.clusterAddrTable.keys()].sort(compareText)
      if (clusters.length !== 1) {
        throw illegal(
          clusters.length === 0
            ? 'the name servers know no cluster'
            : `the name servers know several clusters (${clusters.join(', ')}): name the cluster or the brokers`,
        )
      }
      cluster = clusters[0]!
    }
    const names = info.clusterAddrTable.get(cluster)
    if (names === undefined) {
      throw new MQClientError('RMQ_ERR_CLUSTER_NOT_FOUND', `the name servers know no cluster ${cluster}`)
    }
    const masters: BrokerAddr[] = []
    for (const brokerName of [...names].sort(compareText)) {
      const addr = info.brokerAddrTable.get(brokerName)?.brokerAddrs.get(MixAll.MASTER_ID)
      if (addr !== undefined) masters.push({ brokerName, addr })
    }
    if (masters.length === 0) throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `cluster ${cluster} has no master`)
    return masters
  }

  /** Sends each broker its config in turn, then publishes an ordered topic's queues to the name servers. */
  private async applyTopicConfigs(
    topic: string,
    brokers: TopicBrokerConfig[],
    target: TopicTarget,
  ): Promise<TopicUpdateResult> {
    for (const b of brokers) {
      checkResponse(await this.remoting.invoke(b.addr, createTopicRequest(b.topicConfig), this.timeoutMs))
      this.log.info({ topic, broker: b.addr, config: b.topicConfig }, 'topic config sent')
    }
    let orderTopicConf: string | null = null
    if (brokers.some((b) => b.topicConfig.order)) {
      const unknown = brokers.find((b) => b.brokerName === b.addr)
      if (unknown !== undefined) {
        throw new MQClientError(
          'RMQ_ERR_BROKER_NOT_FOUND',
          `no broker name for ${unknown.addr}: cannot order the topic`,
        )
      }
      const updates = new Map(brokers.map((b) => [b.brokerName, b.topicConfig.writeQueueNums]))
      // A whole cluster replaces the entry; named brokers merge into it (`createOrUpdateOrderConf`, `isCluster`).
      const wholeCluster = (target.brokerNames?.length ?? 0) === 0 && (target.brokerAddrs?.length ?? 0) === 0
      const existing = wholeCluster ? null : await this.orderTopicConf(topic)
      orderTopicConf = mergeOrderConf(existing, updates)
      const conf = orderTopicConf
      await this.eachNamesrv(() =>
        kvConfigRequest(RequestCode.PUT_KV_CONFIG, NAMESPACE_ORDER_TOPIC_CONFIG, topic, conf),
      )
    }
    return { topic, brokers, orderTopicConf }
  }

  /** The topic's config on one broker (from GET_ALL_TOPIC_CONFIG), `undefined` when the broker has none. */
  private async brokerTopicConfig(addr: string, topic: string): Promise<TopicConfig | undefined> {
    const request = RemotingCommand.createRequest(RequestCode.GET_ALL_TOPIC_CONFIG)
    const response = checkResponse(await this.remoting.invoke(addr, request, this.timeoutMs))
    const body = parseJsonObject(response.body, 'TopicConfigSerializeWrapper')
    return topicConfigSerializeWrapperFromJson(body, Date.now()).topicConfigTable.get(topic)
  }

  /** The topic's ORDER_TOPIC_CONFIG entry (GET_KV_CONFIG), `null` when there is none. */
  private async orderTopicConf(topic: string): Promise<string | null> {
    const response = await this.namesrvRequest(() =>
      kvConfigRequest(RequestCode.GET_KV_CONFIG, NAMESPACE_ORDER_TOPIC_CONFIG, topic),
    )
    if (checkResponse(response, [ResponseCode.QUERY_NOT_FOUND]).code === ResponseCode.QUERY_NOT_FOUND) return null
    return response.ext('value') ?? null
  }

  /** The master serving a queue's broker name in the route of its topic. */
  private async queueBrokerAddr(mq: MessageQueue): Promise<string> {
    this.checkRunning()
    const route = await this.topicRoute(mq.topic)
    const b = route.brokerDatas.find((d) => d.brokerName === mq.brokerName)
    const addr = b === undefined ? undefined : selectBrokerAddr(b)
    if (addr === undefined)
      throw new MQClientError('RMQ_ERR_BROKER_NOT_FOUND', `The broker[${mq.brokerName}] not exist`)
    return addr
  }

  /** Brokers holding a group's offsets: those of its retry topic and of `topic`; none known → an error. */
  private async groupBrokers(group: string, topic: string | undefined): Promise<BrokerAddr[]> {
    const retryTopic = getRetryTopic(group)
    const routes = [await this.topicRouteOrNull(retryTopic)]
    if (topic !== undefined) routes.push(await this.topicRouteOrNull(topic))
    const byAddr = new Map<string, BrokerAddr>()
    for (const route of routes) if (route !== null) for (const b of this.routeBrokers(route)) byAddr.set(b.addr, b)
    if (byAddr.size === 0) {
      throw new MQClientError(
        'RMQ_ERR_NO_CONSUME_STATS',
        `no route for ${retryTopic}${topic === undefined ? '' : ` or ${topic}`}: no consumer of group ${group} ever reached a broker`,
        { responseCode: ResponseCode.TOPIC_NOT_EXIST },
      )
    }
    return [...byAddr.values()]
  }

  /** QUERY_CONSUMER_OFFSET at one broker: the group's committed offset of a queue, -1 when it has none. */
  private async committedOffset(addr: string, group: string, mq: MessageQueue): Promise<number> {
    const response = await this.remoting.invoke(addr, queryConsumerOffsetRequest(group, mq), this.timeoutMs)
    if (checkResponse(response, [ResponseCode.QUERY_NOT_FOUND]).code === ResponseCode.QUERY_NOT_FOUND) return -1
    return longHeader(response, 'offset')
  }

  /** `resetOffsetByTimestampOld`: writes the group's committed offsets on each master (see `resetOffsetByTime`). */
  private async resetCommittedOffsets(
    masters: BrokerAddr[],
    queueDatas: readonly QueueData[],
    group: string,
    topic: string,
    timestamp: number,
    force: boolean,
  ): Promise<ResetOffsetQueue[]> {
    const rows: ResetOffsetQueue[] = []
    for (const b of masters) {
      const stats = decodeConsumeStats(
        checkResponse(
          await this.remoting.invoke(b.addr, consumeStatsRequest(group), this.timeoutMs * QUERY_TIMEOUT_FACTOR),
        ).body,
      )
      let queues = stats.queues
        .filter((q) => q.topic === topic)
        .map((q) => ({
          mq: { topic, brokerName: q.brokerName, queueId: q.queueId },
          brokerOffset: q.brokerOffset,
          consumerOffset: q.consumerOffset,
          committed: true,
        }))
      if (queues.length === 0) {
        // The group has no offsets on the topic at this broker: Java counts each queue from its min offset.
        const table = decodeTopicStatsTable(
          checkResponse(await this.remoting.invoke(b.addr, topicStatsRequest(topic), this.timeoutMs)).body,
        )
        const readQueueNums = queueDatas.find((q) => q.brokerName === b.brokerName)?.readQueueNums ?? 0
        queues = table
          .filter((t) => t.topic === topic && t.queueId < readQueueNums)
          .map((t) => ({
            mq: { topic, brokerName: t.brokerName, queueId: t.queueId },
            brokerOffset: t.maxOffset,
            consumerOffset: t.minOffset,
            committed: false,
          }))
      }
      for (const q of queues) {
        const request =
          timestamp === RESET_TO_MAX_OFFSET
            ? queueOffsetRequest(RequestCode.GET_MAX_OFFSET, q.mq)
            : searchOffsetRequest(q.mq, timestamp)
        const timestampOffset = longHeader(
          checkResponse(await this.remoting.invoke(b.addr, request, this.timeoutMs)),
          'offset',
        )
        const move = force || timestampOffset <= q.consumerOffset
        if (move) {
          checkResponse(
            await this.remoting.invoke(
              b.addr,
              updateConsumerOffsetRequest(group, q.mq, timestampOffset),
              this.timeoutMs,
            ),
          )
        }
        rows.push({
          ...q.mq,
          oldOffset: q.committed ? q.consumerOffset : -1,
          newOffset: move ? timestampOffset : q.consumerOffset,
          brokerOffset: q.brokerOffset,
          timestampOffset,
        })
      }
      this.log.info({ group, topic, broker: b.addr, timestamp, force }, 'committed offsets reset')
    }
    return rows
  }

  private async viewMessage(addr: string, commitLogOffset: number): Promise<MessageExt> {
    const response = checkResponse(
      await this.remoting.invoke(addr, viewMessageRequest(commitLogOffset), this.timeoutMs),
    )
    const message = response.body === null ? null : decodeMessage(response.body, 0)
    if (message === null) {
      throw new ProtocolError('RMQ_ERR_BODY', `VIEW_MESSAGE_BY_ID from ${addr} answered no stored message record`)
    }
    return message
  }

  /** `MQAdminImpl#queryMessage`: every broker of the topic, merged, candidates re-checked (the index hashes keys). */
  private async queryMessages(q: QueryMessageRequest): Promise<QueryResult> {
    const brokers = this.routeBrokers(await this.topicRoute(q.topic))
    const settled = await Promise.allSettled(
      brokers.map(async (b) => {
        const response = await this.remoting.invoke(
          b.addr,
          queryMessageRequest(q),
          this.timeoutMs * QUERY_TIMEOUT_FACTOR,
        )
        if (checkResponse(response, [ResponseCode.QUERY_NOT_FOUND]).code === ResponseCode.QUERY_NOT_FOUND) {
          return { indexLastUpdateTimestamp: 0, messages: [] as MessageExt[] }
        }
        return {
          indexLastUpdateTimestamp: longHeader(response, 'indexLastUpdateTimestamp'),
          messages: decodeMessages(response.body ?? Buffer.alloc(0)),
        }
      }),
    )
    const answers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
    const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []))
    if (answers.length === 0 && failures.length > 0) throw failures[0]
    for (const err of failures) this.log.warn({ topic: q.topic, key: q.key, err }, 'a broker failed a message query')
    const matches = (m: MessageExt): boolean =>
      q.uniqueKey ? (messageUniqKey(m) ?? m.msgId) === q.key : m.topic === q.topic && messageKeys(m).includes(q.key)
    const messages = sortMessages(answers.flatMap((a) => a.messages).filter(matches))
    const indexLastUpdateTimestamp = answers.reduce((t, a) => Math.max(t, a.indexLastUpdateTimestamp), 0)
    return { indexLastUpdateTimestamp, messages }
  }
}

function queueKey(mq: MessageQueue): string {
  return `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`
}

/** The answer of a broker that has no consumer of the group online to tell (`Broker2Client#resetOffset`). */
function consumerNotOnline(response: RemotingCommand): boolean {
  return response.code === ResponseCode.CONSUMER_NOT_ONLINE
}

/** The first of the space-separated rates (10 s, 60 s, 600 s) of `putTps` / `getTransferedTps`. */
function firstRate(text: string | undefined): number | null {
  const n = Number.parseFloat(text?.split(' ')[0] ?? '')
  return Number.isFinite(n) ? n : null
}
