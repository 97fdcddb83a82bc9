/** Small requests the torture scenarios read queues back with. */
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import type { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'

/** A pull of up to `maxMsgNums` messages of one queue from `offset`, never held by the broker (no SUSPEND flag). */
export function pullRequest(
  group: string,
  topic: string,
  queueId: number,
  offset: number,
  maxMsgNums: number,
): RemotingCommand {
  return RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, {
    consumerGroup: group,
    topic,
    queueId: String(queueId),
    queueOffset: String(offset),
    maxMsgNums: String(maxMsgNums),
    sysFlag: String(0x4),
    commitOffset: '0',
    suspendTimeoutMillis: '0',
    subscription: '*',
    subVersion: '0',
    expressionType: 'TAG',
  })
}

/** The queue's max offset (`code` GET_MAX_OFFSET) or min offset (GET_MIN_OFFSET); 0 when the broker refuses. */
export async function queueOffset(
  client: RemotingClient,
  addr: string,
  topic: string,
  queueId: number,
  code: number,
): Promise<number> {
  const r = await client.invoke(addr, RemotingCommand.createRequest(code, { topic, queueId: String(queueId) }), 5000)
  return r.code === ResponseCode.SUCCESS ? Number(r.extFields?.offset ?? 0) : 0
}
