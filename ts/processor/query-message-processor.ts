/**
 * `QUERY_MESSAGE` (by key or unique key, through the index) and `VIEW_MESSAGE_BY_ID` (by commit-log offset)
 * (`QueryMessageProcessor`, protocol.md §2.5). Both answer with stored records as they are on disk.
 */
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import { HeaderReader } from '../remoting/protocol/header-reader.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RequestProcessor } from '../remoting/request-dispatcher.js'
import type { BrokerContext } from './broker-context.js'

/** `maxMsgsNumBatch`: the most messages one query returns. */
const QUERY_MAX_NUM = 64
/** `defaultQueryMaxNum`: the cap for unique-key queries. */
const UNIQUE_KEY_QUERY_MAX_NUM = 32

export class QueryMessageProcessor implements RequestProcessor {
  constructor(private readonly ctx: BrokerContext) {}

  processRequest(_channel: RemotingChannel, request: RemotingCommand): Promise<RemotingCommand> {
    return request.code === RequestCode.VIEW_MESSAGE_BY_ID ? this.viewMessageById(request) : this.queryMessage(request)
  }

  private async queryMessage(request: RemotingCommand): Promise<RemotingCommand> {
    const h = new HeaderReader(request)
    const topic = h.string('topic')
    const key = h.string('key')
    let maxNum = Math.min(Math.max(h.int('maxNum'), 1), QUERY_MAX_NUM)
    const begin = h.long('beginTimestamp')
    const end = h.long('endTimestamp')
    if (h.optBool('_UNIQUE_KEY_QUERY') === true) maxNum = UNIQUE_KEY_QUERY_MAX_NUM
    const result = await this.ctx.store.queryMessage(topic, key, maxNum, begin, end)
    if (result.records.length === 0) {
      return RemotingCommand.createResponse(ResponseCode.QUERY_NOT_FOUND, `can not find message, maybe time range not correct`)
    }
    const response = RemotingCommand.createResponse(ResponseCode.SUCCESS, null, {
      indexLastUpdateTimestamp: String(result.indexLastUpdateTimestamp),
      indexLastUpdatePhyoffset: String(result.indexLastUpdatePhyoffset),
    })
    response.body = Buffer.concat(result.records)
    return response
  }

  private async viewMessageById(request: RemotingCommand): Promise<RemotingCommand> {
    const offset = new HeaderReader(request).long('offset')
    const record = offset >= 0 ? await this.ctx.store.selectOneMessageByOffset(offset) : null
    if (record === null) return RemotingCommand.createResponse(ResponseCode.SYSTEM_ERROR, `can not find message by the offset, ${offset}`)
    const response = RemotingCommand.createResponse(ResponseCode.SUCCESS, null)
    response.body = record
    return response
  }
}
