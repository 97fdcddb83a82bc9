/**
 * `GET_CONSUMER_LIST_BY_GROUP`, `QUERY_CONSUMER_OFFSET` and `UPDATE_CONSUMER_OFFSET` (`ConsumerManageProcessor`,
 * protocol.md §2.5).
 */
import { totalmem } from 'node:os'

import { stringifyJson } from '../common/fastjson.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import { groupProblem, printable, topicProblem } from '../common/topic-validator.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RequestProcessor } from '../remoting/request-dispatcher.js'
import type { BrokerContext } from './broker-context.js'

/** Share of RAM behind the commit-log head still counted "in memory" (`accessMessageInMemoryMaxRatio`, 40 %). */
const IN_MEMORY_RATIO = 0.4

export class ConsumerManageProcessor implements RequestProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  processRequest(channel: RemotingChannel, request: RemotingCommand): RemotingCommand | Promise<RemotingCommand> {
    switch (request.code) {
      case RequestCode.GET_CONSUMER_LIST_BY_GROUP:
        return this.getConsumerListByGroup(request)
      case RequestCode.UPDATE_CONSUMER_OFFSET:
        return this.updateConsumerOffset(channel, request)
      default:
        return this.queryConsumerOffset(request)
    }
  }

  private getConsumerListByGroup(request: RemotingCommand): RemotingCommand {
    const group = new HeaderReader(request).string('consumerGroup')
    const ids = this.ctx.consumerManager.getConsumerGroupInfo(group)?.allClientIds() ?? []
    if (ids.length === 0) return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, `no consumer for this group, ${group}`)
    const response = RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
    response.body = Buffer.from(stringifyJson({ consumerIdList: ids }))
    return response
  }

  private updateConsumerOffset(channel: RemotingChannel, request: RemotingCommand): RemotingCommand {
    const h = new HeaderReader(request)
    const group = h.string('consumerGroup')
    const topic = h.string('topic')
    const queueId = h.int('queueId')
    const offset = h.long('commitOffset')
    // A name that can be no group or topic is refused as one that does not exist (5.x `updateConsumerOffset`
    // refuses those), so it never reaches consumerOffset.json; 4.9.8 stores any name.
    if (groupProblem(group) !== null) {
      return RemotingCommand.createResponse(
        ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
        `Group ${printable(group)} not exist!`,
      )
    }
    if (topicProblem(topic) !== null) {
      return RemotingCommand.createResponse(ResponseCode.TOPIC_NOT_EXIST, `Topic ${printable(topic)} not exist!`)
    }
    // ali-ons sends -1 for "no offset yet" (real-clients.md §2.4): never store it.
    if (offset >= 0) this.ctx.consumerOffsetManager.commitOffset(channel.remoteAddress, group, topic, queueId, offset)
    return RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
  }

  /**
   * The committed offset; for a group without one, 0 when the queue still starts at 0 and its first message is
   * within 40 % of RAM of the commit-log head, as Java judges "in memory"; else `QUERY_NOT_FOUND`.
   */
  private async queryConsumerOffset(request: RemotingCommand): Promise<RemotingCommand> {
    const h = new HeaderReader(request)
    const group = h.string('consumerGroup')
    const topic = h.string('topic')
    const queueId = h.int('queueId')
    const ctx = this.ctx
    let offset = ctx.consumerOffsetManager.queryOffset(group, topic, queueId)
    if (offset < 0) {
      const minOffset = ctx.store.getMinOffsetInQueue(topic, queueId)
      if (minOffset <= 0 && !(await this.firstMessageOnDisk(topic, queueId))) offset = 0
    }
    if (offset < 0) return RemotingCommand.createResponse(ResponseCode.QUERY_NOT_FOUND, 'Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first')
    return RemotingCommand.createResponse(ResponseCode.SUCCESS, null, { offset: String(offset) })
  }

  /** `checkInDiskByConsumeOffset(topic, queueId, 0)`; an empty queue is not on disk. */
  private async firstMessageOnDisk(topic: string, queueId: number): Promise<boolean> {
    const store = this.ctx.store
    if (store.getMaxOffsetInQueue(topic, queueId) === 0) return false
    const first = await store.getMessage('', topic, queueId, 0, 1)
    if (first.messageCount === 0) return false
    return store.getMaxPhyOffset() - first.commitLogOffsetAt(0) > totalmem() * IN_MEMORY_RATIO
  }
}
