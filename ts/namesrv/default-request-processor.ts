/**
 * Answers every name server request (`DefaultRequestProcessor`, protocol.md §2.3). Outcomes are responses with a
 * code and a remark; only a missing required header field throws (`HeaderReader`), which the dispatcher answers
 * with SYSTEM_ERROR as Java answers a `@CFNotNull` violation.
 */
import { ProtocolError } from '../common/errors.js'
import { parseJsonObject } from '../common/fastjson.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { MQVersion } from '../common/mq-version.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import type { DataVersion } from '../common/topic-config.js'
import { printable } from '../common/topic-validator.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import {
  NAMESPACE_ORDER_TOPIC_CONFIG,
  bodyCrc32,
  decodeDataVersion,
  decodeRegisterBrokerBody,
  encodeDataVersion,
  encodeKVTable,
  readBrokerIdentity,
  readRegisterBrokerRequestHeader,
  topicConfigSerializeWrapperFromJson,
  type RegisterBrokerBody,
} from '../remoting/protocol/namesrv.js'
import { encodeClusterInfo, encodeTopicList, encodeTopicRouteData } from '../remoting/protocol/route.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RequestProcessor } from '../remoting/request-dispatcher.js'
import type { KVConfigManager } from './kv-config-manager.js'
import type { BrokerChannel, RouteInfoManager } from './route-info-manager.js'

/** `FAQUrl.suggestTodo(FAQUrl.APPLY_TOPIC_URL)`, appended to the TOPIC_NOT_EXIST remark. */
const APPLY_TOPIC_TIP = '\nSee http://rocketmq.apache.org/docs/faq/ for further details.'

export interface DefaultRequestProcessorOptions {
  routeInfoManager: RouteInfoManager
  kvConfigManager: KVConfigManager
  /** `orderMessageEnable`: put `orderTopicConf` into routes. */
  orderMessageEnable: boolean
  logger?: Logger
  now?: () => number
}

type Handler = (channel: BrokerChannel, request: RemotingCommand) => RemotingCommand | Promise<RemotingCommand>

function success(body?: Buffer | null): RemotingCommand {
  const response = RemotingCommand.createResponse(ResponseCode.SUCCESS)
  response.body = body ?? null
  return response
}

export class DefaultRequestProcessor implements RequestProcessor {
  private readonly routes: RouteInfoManager
  private readonly kv: KVConfigManager
  private readonly orderMessageEnable: boolean
  private readonly log: Logger
  private readonly now: () => number
  private readonly handlers: ReadonlyMap<number, Handler>

  constructor(options: DefaultRequestProcessorOptions) {
    this.routes = options.routeInfoManager
    this.kv = options.kvConfigManager
    this.orderMessageEnable = options.orderMessageEnable
    this.log = (options.logger ?? noopLogger).child({ component: 'namesrv-processor' })
    this.now = options.now ?? Date.now
    this.handlers = new Map<number, Handler>([
      [RequestCode.PUT_KV_CONFIG, (_, r) => this.putKVConfig(r)],
      [RequestCode.GET_KV_CONFIG, (_, r) => this.getKVConfig(r)],
      [RequestCode.DELETE_KV_CONFIG, (_, r) => this.deleteKVConfig(r)],
      [RequestCode.QUERY_DATA_VERSION, (_, r) => this.queryBrokerTopicConfig(r)],
      [RequestCode.REGISTER_BROKER, (c, r) => this.registerBroker(c, r)],
      [RequestCode.UNREGISTER_BROKER, (_, r) => this.unregisterBroker(r)],
      [RequestCode.GET_ROUTEINFO_BY_TOPIC, (_, r) => this.getRouteInfoByTopic(r)],
      [RequestCode.GET_BROKER_CLUSTER_INFO, () => success(encodeClusterInfo(this.routes.getAllClusterInfo()))],
      [RequestCode.WIPE_WRITE_PERM_OF_BROKER, (c, r) => this.writePermOfBroker(c, r, 'wipe')],
      [RequestCode.ADD_WRITE_PERM_OF_BROKER, (c, r) => this.writePermOfBroker(c, r, 'add')],
      [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, () => success(encodeTopicList(this.routes.getAllTopicList()))],
      [RequestCode.DELETE_TOPIC_IN_NAMESRV, (_, r) => this.deleteTopicInNamesrv(r)],
      [RequestCode.GET_KVLIST_BY_NAMESPACE, (_, r) => this.getKVListByNamespace(r)],
      [RequestCode.GET_TOPICS_BY_CLUSTER, (_, r) => this.getTopicsByCluster(r)],
      [RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_NS, () => success(encodeTopicList(this.routes.getSystemTopicList()))],
    ])
  }

  /** The request codes this processor answers; the controller registers it for each. */
  codes(): number[] {
    return [...this.handlers.keys()]
  }

  processRequest(channel: BrokerChannel, request: RemotingCommand): RemotingCommand | Promise<RemotingCommand> {
    const handler = this.handlers.get(request.code)
    if (handler === undefined) {
      return RemotingCommand.createResponse(
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        ` request type ${request.code} not supported`,
      )
    }
    return handler(channel, request)
  }

  // -------------------------------------------------------------------------------------------------------------
  // KV config

  private async putKVConfig(request: RemotingCommand): Promise<RemotingCommand> {
    const h = new HeaderReader(request)
    const namespace = h.string('namespace')
    const key = h.string('key')
    const value = h.string('value')
    if (!this.kv.putKVConfig(namespace, key, value)) {
      return RemotingCommand.createResponse(
        ResponseCode.SYSTEM_ERROR,
        'KV config is full: delete items before adding more',
      )
    }
    return this.persisted()
  }

  private async deleteKVConfig(request: RemotingCommand): Promise<RemotingCommand> {
    const h = new HeaderReader(request)
    this.kv.deleteKVConfig(h.string('namespace'), h.string('key'))
    return this.persisted()
  }

  /** Java persists each change before it answers; a failed write is reported instead of hidden in a log. */
  private async persisted(): Promise<RemotingCommand> {
    try {
      await this.kv.persist()
      return success()
    } catch (err) {
      this.log.error({ err }, 'persisting the KV config failed')
      return RemotingCommand.createResponse(
        ResponseCode.SYSTEM_ERROR,
        `KV config changed in memory but not persisted: ${(err as Error).message}`,
      )
    }
  }

  private getKVConfig(request: RemotingCommand): RemotingCommand {
    const h = new HeaderReader(request)
    const namespace = h.string('namespace')
    const key = h.string('key')
    const value = this.kv.getKVConfig(namespace, key)
    if (value === null) {
      return RemotingCommand.createResponse(
        ResponseCode.QUERY_NOT_FOUND,
        `No config item, Namespace: ${namespace} Key: ${key}`,
      )
    }
    const response = success()
    response.putExt('value', value)
    return response
  }

  private getKVListByNamespace(request: RemotingCommand): RemotingCommand {
    const namespace = new HeaderReader(request).string('namespace')
    const table = this.kv.getKVListByNamespace(namespace)
    if (table === null) {
      return RemotingCommand.createResponse(ResponseCode.QUERY_NOT_FOUND, `No config item, Namespace: ${namespace}`)
    }
    return success(encodeKVTable(table))
  }

  // -------------------------------------------------------------------------------------------------------------
  // Broker registration

  /** `registerBrokerWithFilterServer` (version ≥ V3_0_11) and the older `registerBroker`. */
  private registerBroker(channel: BrokerChannel, request: RemotingCommand): RemotingCommand {
    const header = readRegisterBrokerRequestHeader(request)
    if (header.bodyCrc32 !== 0 && bodyCrc32(request.body) !== header.bodyCrc32) {
      this.log.warn(
        { remote: channel.remoteAddress, brokerAddr: header.brokerAddr },
        'register broker: crc32 not match',
      )
      return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, 'crc32 not match')
    }
    let body: RegisterBrokerBody
    try {
      body = this.decodeRegistration(request, header.compressed)
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      this.log.warn({ remote: channel.remoteAddress, err: err.message }, 'register broker: bad body')
      return RemotingCommand.createResponse(
        ResponseCode.SYSTEM_ERROR,
        `Failed to decode RegisterBrokerBody: ${err.message}`,
      )
    }
    const result = this.routes.registerBroker({
      clusterName: header.clusterName,
      brokerAddr: header.brokerAddr,
      brokerName: header.brokerName,
      brokerId: header.brokerId,
      haServerAddr: header.haServerAddr,
      topicConfigWrapper: body.topicConfigSerializeWrapper,
      // Brokers older than 3.0.11 send no filter server list: leave the table as it is.
      filterServerList: request.version >= MQVersion.V3_0_11 ? body.filterServerList : null,
      channel,
    })
    const orderTopics = this.kv.getKVListByNamespace(NAMESPACE_ORDER_TOPIC_CONFIG)
    const response = success(orderTopics === null ? null : encodeKVTable(orderTopics))
    if (result.haServerAddr !== null) response.putExt('haServerAddr', result.haServerAddr)
    if (result.masterAddr !== null) response.putExt('masterAddr', result.masterAddr)
    return response
  }

  /** No body means an empty topic table at DataVersion {0, 0}; before 3.0.11 the body is a bare wrapper. */
  private decodeRegistration(request: RemotingCommand, compressed: boolean): RegisterBrokerBody {
    const now = this.now()
    if (request.body === null || request.body.length === 0) {
      const wrapper = { topicConfigTable: new Map(), dataVersion: { timestamp: 0, counter: 0 } }
      return { topicConfigSerializeWrapper: wrapper, filterServerList: [] }
    }
    if (request.version >= MQVersion.V3_0_11) return decodeRegisterBrokerBody(request.body, compressed, now)
    const wrapper = topicConfigSerializeWrapperFromJson(
      parseJsonObject(request.body, 'TopicConfigSerializeWrapper'),
      now,
    )
    return { topicConfigSerializeWrapper: wrapper, filterServerList: [] }
  }

  private unregisterBroker(request: RemotingCommand): RemotingCommand {
    const b = readBrokerIdentity(request)
    this.routes.unregisterBroker(b.clusterName, b.brokerAddr, b.brokerName, b.brokerId)
    return success()
  }

  /** QUERY_DATA_VERSION: `changed` against the stored version; an unchanged one counts as a heartbeat. */
  private queryBrokerTopicConfig(request: RemotingCommand): RemotingCommand {
    const b = readBrokerIdentity(request)
    let dataVersion: DataVersion
    try {
      dataVersion = decodeDataVersion(request.body, this.now())
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, err.message)
    }
    const changed = this.routes.isBrokerTopicConfigChanged(b.brokerAddr, dataVersion)
    if (!changed) this.routes.updateBrokerInfoUpdateTimestamp(b.brokerAddr, this.now())
    const stored = this.routes.queryBrokerTopicConfig(b.brokerAddr)
    const response = success(stored === null ? null : encodeDataVersion(stored))
    response.putExt('changed', changed)
    return response
  }

  // -------------------------------------------------------------------------------------------------------------
  // Routes and topics

  /**
   * GET_ROUTEINFO_BY_TOPIC. An unknown topic gets the auto-create route when the ferrymq extension allows it
   * (`RouteInfoManager#pickupAutoCreateRouteData`), TOPIC_NOT_EXIST otherwise.
   */
  private getRouteInfoByTopic(request: RemotingCommand): RemotingCommand {
    const h = new HeaderReader(request)
    const topic = h.string('topic')
    const route = this.routes.pickupTopicRouteData(topic) ?? this.routes.pickupAutoCreateRouteData(topic)
    if (route === null) {
      return RemotingCommand.createResponse(
        ResponseCode.TOPIC_NOT_EXIST,
        `No topic route info in name server for the topic: ${printable(topic, 256)}${APPLY_TOPIC_TIP}`,
      )
    }
    if (this.orderMessageEnable) route.orderTopicConf = this.kv.getKVConfig(NAMESPACE_ORDER_TOPIC_CONFIG, topic)
    return success(encodeTopicRouteData(route, request.version, h.optBool('acceptStandardJsonOnly') === true))
  }

  private writePermOfBroker(channel: BrokerChannel, request: RemotingCommand, op: 'wipe' | 'add'): RemotingCommand {
    const brokerName = new HeaderReader(request).string('brokerName')
    const count =
      op === 'wipe' ? this.routes.wipeWritePermOfBroker(brokerName) : this.routes.addWritePermOfBroker(brokerName)
    this.log.info({ brokerName, remote: channel.remoteAddress, topics: count }, `${op} write perm of broker`)
    const response = success()
    response.putExt(op === 'wipe' ? 'wipeTopicCount' : 'addTopicCount', count)
    return response
  }

  private deleteTopicInNamesrv(request: RemotingCommand): RemotingCommand {
    const h = new HeaderReader(request)
    this.routes.deleteTopic(h.string('topic'), h.optString('clusterName'))
    return success()
  }

  private getTopicsByCluster(request: RemotingCommand): RemotingCommand {
    const cluster = new HeaderReader(request).string('cluster')
    return success(encodeTopicList(this.routes.getTopicsByCluster(cluster)))
  }
}
