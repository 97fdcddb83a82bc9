import { describe, expect, it } from 'vitest'

import {
  consumeMessageDirectly,
  getConsumerRunningInfo,
  getConsumerStatus,
  type ConsumerAdminHost,
  type ConsumerAdminTarget,
} from '../../../ts/client/client-remoting-processor.js'
import type { ProcessQueueInfo } from '../../../ts/client/consumer-running-info.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'

const pqInfo = (commitOffset: number): ProcessQueueInfo => ({
  commitOffset,
  cachedMsgMinOffset: 0,
  cachedMsgMaxOffset: 0,
  cachedMsgCount: 0,
  cachedMsgSizeInMiB: 0,
  transactionMsgMinOffset: 0,
  transactionMsgMaxOffset: 0,
  transactionMsgCount: 0,
  locked: false,
  tryUnlockTimes: 0,
  lastLockTimestamp: 1,
  droped: false,
  lastPullTimestamp: 2,
  lastConsumeTimestamp: 3,
})

function host(consumers: Record<string, ConsumerAdminTarget>): ConsumerAdminHost {
  return {
    selectConsumer: (g) => consumers[g],
    namesrvAddrs: ['127.0.0.1:9876', '127.0.0.1:9877'],
    clientVersionDesc: 'V4_9_8',
    log: noopLogger,
  }
}

describe('broker → consumer admin requests (ClientRemotingProcessor)', () => {
  it('answers SYSTEM_ERROR with Java remark for a group this client does not host', async () => {
    const h = host({ lite: { consumerOffsets: () => [] } })
    for (const group of ['nobody', 'lite']) {
      const info = await getConsumerRunningInfo(
        h,
        RemotingCommand.createRequest(RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: group, clientId: 'x' }),
      )
      expect(info.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(info.remark).toBe(`The Consumer Group <${group}> not exist in this consumer`)
      const direct = await consumeMessageDirectly(
        h,
        RemotingCommand.createRequest(RequestCode.CONSUME_MESSAGE_DIRECTLY, { consumerGroup: group }),
      )
      expect(direct.code).toBe(ResponseCode.SYSTEM_ERROR)
      expect(direct.remark).toBe(`The Consumer Group <${group}> not exist in this consumer`)
    }
  })

  it('adds PROP_NAMESERVER_ADDR and PROP_CLIENT_VERSION, and writes the JSON fastjson writes', async () => {
    const target: ConsumerAdminTarget = {
      consumerRunningInfo: async () => ({
        properties: new Map([
          ['b', '2'],
          ['a', '1'],
        ]),
        subscriptionSet: [],
        mqTable: new Map([
          [{ topic: 'T', brokerName: 'b', queueId: 1 }, pqInfo(7)],
          [{ topic: 'T', brokerName: 'b', queueId: 0 }, pqInfo(5)],
        ]),
        statusTable: new Map(),
      }),
    }
    const r = await getConsumerRunningInfo(
      host({ G: target }),
      RemotingCommand.createRequest(RequestCode.GET_CONSUMER_RUNNING_INFO, { consumerGroup: 'G', clientId: 'x' }),
    )
    expect(r.code).toBe(ResponseCode.SUCCESS)
    const pq = (o: number): string =>
      `{"cachedMsgCount":0,"cachedMsgMaxOffset":0,"cachedMsgMinOffset":0,"cachedMsgSizeInMiB":0,"commitOffset":${o},` +
      '"droped":false,"lastConsumeTimestamp":3,"lastLockTimestamp":1,"lastPullTimestamp":2,"locked":false,' +
      '"transactionMsgCount":0,"transactionMsgMaxOffset":0,"transactionMsgMinOffset":0,"tryUnlockTimes":0}'
    expect(r.body!.toString()).toBe(
      '{"mqPopTable":{},"mqTable":{' +
        `{"brokerName":"b","queueId":0,"topic":"T"}:${pq(5)},{"brokerName":"b","queueId":1,"topic":"T"}:${pq(7)}},` +
        '"properties":{"PROP_CLIENT_VERSION":"V4_9_8","PROP_NAMESERVER_ADDR":"127.0.0.1:9876;127.0.0.1:9877;",' +
        '"a":"1","b":"2"},"statusTable":{},"subscriptionSet":[],"userConsumerInfo":{}}',
    )
  })

  it('GET_CONSUMER_STATUS_FROM_CLIENT: the offsets of the topic, or an empty table for an unknown group', () => {
    const target: ConsumerAdminTarget = {
      consumerOffsets: (topic) =>
        topic === 'T' ? [{ mq: { topic: 'T', brokerName: 'b', queueId: 0 }, offset: 42 }] : [],
    }
    const h = host({ G: target })
    const r = getConsumerStatus(
      h,
      RemotingCommand.createRequest(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, { topic: 'T', group: 'G' }),
    )
    expect(r.code).toBe(ResponseCode.SUCCESS)
    expect(r.body!.toString()).toBe(
      '{"consumerTable":{},"messageQueueTable":{{"brokerName":"b","queueId":0,"topic":"T"}:42}}',
    )
    const none = getConsumerStatus(
      h,
      RemotingCommand.createRequest(RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT, { topic: 'T', group: 'X' }),
    )
    expect(none.code).toBe(ResponseCode.SUCCESS)
    expect(none.body!.toString()).toBe('{"consumerTable":{},"messageQueueTable":{}}')
  })
})
