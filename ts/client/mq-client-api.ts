/**
 * The client's requests (`MQClientAPIImpl`): the topic route from the name servers, and the send request
 * (client.md §3.9).
 */
import { RemotingError } from '../common/errors.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode } from '../common/response-code.js'
import { decodeTopicRouteData, type TopicRouteData } from '../remoting/protocol/route.js'
import {
  encodeSendMessageRequestHeader,
  type SendMessageRequestHeader,
} from '../remoting/protocol/send-message-header.js'
import type { RemotingClient } from '../remoting/remoting-client.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import { MQClientError } from './client-error.js'

/** V2 letter of `brokerName` (`SendMessageRequestHeaderV2#n`). */
const BROKER_NAME_V2_KEY = 'n'

export interface SendRequest {
  header: SendMessageRequestHeader
  brokerName: string
  body: Buffer
}

/** A `SEND_MESSAGE_V2` (or `SEND_BATCH_MESSAGE`) request. */
export function buildSendRequest(req: SendRequest): RemotingCommand {
  const ext = encodeSendMessageRequestHeader(req.header, true)
  ext[BROKER_NAME_V2_KEY] = req.brokerName
  const code = req.header.batch ? RequestCode.SEND_BATCH_MESSAGE : RequestCode.SEND_MESSAGE_V2
  return RemotingCommand.createRequest(code, ext, req.body)
}

export class MQClientAPI {
  /** The name server that answered last; the next lookup starts there. */
  private namesrvIndex = 0

  constructor(
    private readonly remoting: RemotingClient,
    private readonly namesrvAddrs: readonly string[],
  ) {}

  /**
   * GET_ROUTEINFO_BY_TOPIC, trying each name server in turn until one answers. `null` when the topic has no
   * route (TOPIC_NOT_EXIST); an error when no name server answered or one answered with another code.
   */
  async getTopicRouteInfoFromNameServer(topic: string, timeoutMs: number): Promise<TopicRouteData | null> {
    let lastError: unknown
    for (let i = 0; i < this.namesrvAddrs.length; i++) {
      const idx = (this.namesrvIndex + i) % this.namesrvAddrs.length
      const addr = this.namesrvAddrs[idx]!
      let response: RemotingCommand
      try {
        const request = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })
        response = await this.remoting.invoke(addr, request, timeoutMs)
      } catch (err) {
        if (!(err instanceof RemotingError)) throw err
        lastError = err // this name server is unreachable: try the next one
        continue
      }
      this.namesrvIndex = idx
      if (response.code === ResponseCode.TOPIC_NOT_EXIST) return null
      if (response.code !== ResponseCode.SUCCESS) {
        throw new MQClientError(
          'RMQ_ERR_ROUTE',
          `name server ${addr} answered ${response.code} for the route of ${topic}: ${response.remark ?? ''}`,
          {
            responseCode: response.code,
          },
        )
      }
      return decodeTopicRouteData(response.body)
    }
    throw new MQClientError(
      'RMQ_ERR_ROUTE',
      `no name server answered for the route of ${topic} (${this.namesrvAddrs.join(';')})`,
      {
        cause: lastError,
      },
    )
  }

  /** Sends and waits for the response. */
  send(addr: string, req: SendRequest, timeoutMs: number): Promise<RemotingCommand> {
    return this.remoting.invoke(addr, buildSendRequest(req), timeoutMs)
  }

  /** Sends without waiting for a response. */
  sendOneway(addr: string, req: SendRequest, timeoutMs: number): Promise<void> {
    return this.remoting.invokeOneway(addr, buildSendRequest(req).markOneway(), timeoutMs)
  }
}
