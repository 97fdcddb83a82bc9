/**
 * Admin and consumer-support requests (`AdminBrokerProcessor`, protocol.md §2.5–§2.6). Each family lives in
 * `admin/`; this class only routes by request code.
 */
import { RequestCode } from '../common/request-code.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RequestProcessor } from '../remoting/request-dispatcher.js'
import { ResponseCode } from '../common/response-code.js'
import * as consumers from './admin/consumer-admin.js'
import * as groups from './admin/group-admin.js'
import * as offsets from './admin/offset-admin.js'
import * as runtime from './admin/runtime-admin.js'
import * as topics from './admin/topic-admin.js'
import type { BrokerContext } from './broker-context.js'

type Handler = (ctx: BrokerContext, request: RemotingCommand) => RemotingCommand | Promise<RemotingCommand>

/** Codes this processor answers; the broker registers it for exactly these. */
export const ADMIN_HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [RequestCode.UPDATE_AND_CREATE_TOPIC, topics.updateAndCreateTopic],
  [RequestCode.DELETE_TOPIC_IN_BROKER, topics.deleteTopic],
  [RequestCode.GET_ALL_TOPIC_CONFIG, (ctx) => topics.getAllTopicConfig(ctx)],
  [RequestCode.GET_TOPIC_STATS_INFO, topics.getTopicStatsInfo],
  [RequestCode.GET_SYSTEM_TOPIC_LIST_FROM_BROKER, (ctx) => topics.getSystemTopicListFromBroker(ctx)],
  [RequestCode.GET_MAX_OFFSET, offsets.getMaxOffset],
  [RequestCode.GET_MIN_OFFSET, offsets.getMinOffset],
  [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, offsets.searchOffsetByTimestamp],
  [RequestCode.GET_EARLIEST_MSG_STORETIME, offsets.getEarliestMsgStoretime],
  [RequestCode.GET_ALL_CONSUMER_OFFSET, (ctx) => offsets.getAllConsumerOffset(ctx)],
  [RequestCode.GET_ALL_DELAY_OFFSET, (ctx) => offsets.getAllDelayOffset(ctx)],
  [RequestCode.GET_CONSUME_STATS, offsets.getConsumeStats],
  [RequestCode.INVOKE_BROKER_TO_RESET_OFFSET, offsets.resetOffset],
  [RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, groups.updateAndCreateSubscriptionGroup],
  [RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG, (ctx) => groups.getAllSubscriptionGroupConfig(ctx)],
  [RequestCode.DELETE_SUBSCRIPTIONGROUP, groups.deleteSubscriptionGroup],
  [RequestCode.GET_CONSUMER_CONNECTION_LIST, groups.getConsumerConnectionList],
  [RequestCode.GET_PRODUCER_CONNECTION_LIST, groups.getProducerConnectionList],
  [RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, groups.queryTopicConsumeByWho],
  [RequestCode.LOCK_BATCH_MQ, groups.lockBatchMQ],
  [RequestCode.UNLOCK_BATCH_MQ, groups.unlockBatchMQ],
  [RequestCode.GET_BROKER_CONFIG, (ctx) => runtime.getBrokerConfig(ctx)],
  [RequestCode.GET_CONSUMER_RUNNING_INFO, consumers.getConsumerRunningInfo],
  [RequestCode.CONSUME_MESSAGE_DIRECTLY, consumers.consumeMessageDirectly],
])

export class AdminBrokerProcessor implements RequestProcessor {
  constructor(
    private readonly ctx: BrokerContext,
    private readonly queues: runtime.RuntimeQueues,
  ) {}

  processRequest(_channel: RemotingChannel, request: RemotingCommand): RemotingCommand | Promise<RemotingCommand> {
    if (request.code === RequestCode.GET_BROKER_RUNTIME_INFO) return runtime.getBrokerRuntimeInfo(this.ctx, this.queues)
    const handler = ADMIN_HANDLERS.get(request.code)
    if (handler === undefined) {
      return RemotingCommand.createResponse(
        ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        ` request type ${request.code} not supported`,
      )
    }
    return handler(this.ctx, request)
  }
}
