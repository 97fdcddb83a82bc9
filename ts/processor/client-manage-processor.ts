/**
 * `HEART_BEAT`, `UNREGISTER_CLIENT` and `CHECK_CLIENT_CONFIG` (`ClientManageProcessor`, protocol.md §2.5).
 */
import { PermName } from '../common/constant/perm-name.js'
import { parseJsonObject } from '../common/fastjson.js'
import { buildTagFilter } from '../common/filter/filter-api.js'
import { compileSql92 } from '../common/filter/sql-filter.js'
import { getRetryTopic } from '../common/mix-all.js'
import { RequestCode } from '../common/request-code.js'
import { groupProblem } from '../common/topic-validator.js'
import { ResponseCode } from '../common/response-code.js'
import type { ClientChannelInfo } from '../broker/client-channel-info.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import {
  heartbeatDataFromJson,
  subscriptionDataFromJson,
  type SubscriptionData,
} from '../remoting/protocol/heartbeat.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RequestProcessor } from '../remoting/request-dispatcher.js'
import type { BrokerContext } from './broker-context.js'

export class ClientManageProcessor implements RequestProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  processRequest(channel: RemotingChannel, request: RemotingCommand): RemotingCommand {
    switch (request.code) {
      case RequestCode.HEART_BEAT:
        return this.heartBeat(channel, request)
      case RequestCode.UNREGISTER_CLIENT:
        return this.unregisterClient(channel, request)
      default:
        return this.checkClientConfig(request)
    }
  }

  private heartBeat(channel: RemotingChannel, request: RemotingCommand): RemotingCommand {
    const data = heartbeatDataFromJson(parseJsonObject(request.body, 'HEART_BEAT'))
    const ctx = this.ctx
    // Consumer groups name retry topics, and those name directories: refuse the heartbeat before anything changes.
    for (const consumer of data.consumerDataSet) {
      const problem = groupProblem(consumer.groupName)
      if (problem !== null)
        return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, `HEART_BEAT refused: ${problem}`)
    }
    const info: ClientChannelInfo = {
      channel,
      clientId: data.clientID,
      language: request.language,
      version: request.version,
      lastUpdateTimestamp: Date.now(),
    }
    for (const consumer of data.consumerDataSet) {
      const config = ctx.subscriptionGroupManager.findSubscriptionGroupConfig(consumer.groupName)
      let notify = true
      if (config !== undefined) {
        notify = config.notifyConsumerIdsChangedEnable
        // The retry topic exists as soon as the group does, so send-backs and its route need no extra round.
        ctx.topicConfigManager.createTopicInSendMessageBackMethod(
          getRetryTopic(consumer.groupName),
          config.retryQueueNums,
          PermName.PERM_READ | PermName.PERM_WRITE,
          consumer.unitMode ? 2 : 0,
        )
      }
      const changed = ctx.consumerManager.registerConsumer(
        consumer.groupName,
        info,
        consumer.consumeType,
        consumer.messageModel,
        consumer.consumeFromWhere,
        consumer.subscriptionDataSet.map(normalizeSubscription),
        notify && ctx.brokerConfig.notifyConsumerIdsChangedEnable,
      )
      if (changed) {
        ctx.logger.info(
          { group: consumer.groupName, clientId: data.clientID, remote: channel.remoteAddress },
          'consumer group changed',
        )
      }
      this.warnUncompiledFilters(consumer.groupName, consumer.subscriptionDataSet)
    }
    for (const producer of data.producerDataSet) ctx.producerManager.registerProducer(producer.groupName, info)
    return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
  }

  private unregisterClient(channel: RemotingChannel, request: RemotingCommand): RemotingCommand {
    const h = new HeaderReader(request)
    h.string('clientID')
    const producerGroup = h.optString('producerGroup')
    const consumerGroup = h.optString('consumerGroup')
    const ctx = this.ctx
    if (producerGroup) ctx.producerManager.unregisterProducer(producerGroup, channel)
    if (consumerGroup) {
      const config = ctx.subscriptionGroupManager.get(consumerGroup)
      const notify = (config?.notifyConsumerIdsChangedEnable ?? true) && ctx.brokerConfig.notifyConsumerIdsChangedEnable
      ctx.consumerManager.unregisterConsumer(consumerGroup, channel, notify)
    }
    return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
  }

  /** An SQL92 subscription the group's pulls cannot use: its expression did not compile. */
  private warnUncompiledFilters(group: string, subs: readonly SubscriptionData[]): void {
    const info = this.ctx.consumerManager.getConsumerGroupInfo(group)
    for (const sub of subs) {
      if (sub.expressionType !== 'SQL92' || info?.findFilterData(sub.topic) !== undefined) continue
      let error: unknown
      try {
        compileSql92(sub.subString)
      } catch (err) {
        error = err
      }
      this.ctx.logger.warn(
        { group, topic: sub.topic, expression: sub.subString, err: error },
        'SQL92 subscription does not compile',
      )
    }
  }

  /**
   * `checkClientConfig`: TAG expressions always pass; SQL92 ones need `enablePropertyFilter` (SYSTEM_ERROR) and must
   * compile (SUBSCRIPTION_PARSE_FAILED with the compiler's message).
   */
  private checkClientConfig(request: RemotingCommand): RemotingCommand {
    const body = parseJsonObject(request.body, 'CHECK_CLIENT_CONFIG')
    if (body.subscriptionData === undefined || body.subscriptionData === null) {
      return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
    }
    const sub = subscriptionDataFromJson(body.subscriptionData, 'subscriptionData')
    if (sub.expressionType === 'TAG') return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
    if (!this.ctx.brokerConfig.enablePropertyFilter) {
      return RemotingCommand.createResponse(
        ResponseCode.SYSTEM_ERROR,
        `The broker does not support consumer to filter message by ${sub.expressionType}`,
      )
    }
    try {
      compileSql92(sub.subString)
    } catch (err) {
      this.ctx.logger.warn(
        { clientId: body.clientId, group: body.group, expression: sub.subString, err },
        'client filter expression does not compile',
      )
      return RemotingCommand.createResponse(ResponseCode.SUBSCRIPTION_PARSE_FAILED, (err as Error).message)
    }
    return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
  }
}

/** Tag hash codes are recomputed from the expression rather than trusted from the client (§2.5 HEART_BEAT). */
function normalizeSubscription(sub: SubscriptionData): SubscriptionData {
  if (sub.expressionType !== 'TAG') return sub
  const f = buildTagFilter(sub.subString)
  return { ...sub, subString: f.subString, tagsSet: f.tagsSet, codeSet: f.codeSet }
}
