/**
 * Every SendResult status, and the refusals, as the SDK producer reads them off the wire: a fake broker answers
 * each send with the code the test asks for (a real single broker never reports slave or flush timeouts on demand).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { MQClientError } from '../../ts/client/client-error.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { BrokerResponseError } from '../../ts/common/errors.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { startFakeBroker, type FakeBroker } from '../helpers/fake-broker.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'

describe('client: send statuses from the wire', () => {
  let c: TestCluster
  let fake: FakeBroker
  let producer: Producer
  /** The code the fake broker answers the next sends with. */
  let answer: number
  let sends: number

  beforeEach(async () => {
    c = await startCluster()
    sends = 0
    fake = await startFakeBroker({
      namesrvAddr: c.namesrvAddr,
      client: c.client,
      brokerName: 'broker-fake',
      clusterName: 'FakeCluster',
      topics: { StatusT: 1 },
      handle(req) {
        if (req.code !== RequestCode.SEND_MESSAGE_V2) {
          return RemotingCommand.createResponse(ResponseCode.REQUEST_CODE_NOT_SUPPORTED, `fake: ${req.code}`)
        }
        sends++
        return RemotingCommand.createResponse(answer, `fake answers ${answer}`, {
          msgId: 'C0A8000100002A9F0000000000000000',
          queueId: '0',
          queueOffset: String(sends - 1),
        })
      },
    })
    producer = new Producer({ producerGroup: 'PG', namesrvAddr: c.namesrvAddr, retryTimesWhenSendFailed: 2 })
    await producer.start()
  })
  afterEach(async () => {
    await producer.shutdown()
    await fake.close()
    await c.stop()
  })

  it.each([
    [ResponseCode.SUCCESS, SendStatus.SEND_OK],
    [ResponseCode.FLUSH_DISK_TIMEOUT, SendStatus.FLUSH_DISK_TIMEOUT],
    [ResponseCode.FLUSH_SLAVE_TIMEOUT, SendStatus.FLUSH_SLAVE_TIMEOUT],
    [ResponseCode.SLAVE_NOT_AVAILABLE, SendStatus.SLAVE_NOT_AVAILABLE],
  ])('code %i is a stored message with status %s, for sync and async sends', async (code, status) => {
    answer = code
    const sync = await producer.send(new Message({ topic: 'StatusT', body: 'x' }))
    expect(sync.sendStatus).toBe(status)
    expect(sync.messageQueue).toEqual({ topic: 'StatusT', brokerName: 'broker-fake', queueId: 0 })
    expect(sync.offsetMsgId).toBe('C0A8000100002A9F0000000000000000')
    expect((await producer.sendAsync(new Message({ topic: 'StatusT', body: 'x' }))).sendStatus).toBe(status)
    // A stored message is never sent twice (retryAnotherBrokerWhenNotStoreOK is off).
    expect(sends).toBe(2)
  })

  it('a retriable refusal is tried three times, then fails with the broker code; others fail at once', async () => {
    answer = ResponseCode.SYSTEM_BUSY
    const busy = await producer.send(new Message({ topic: 'StatusT', body: 'x' })).catch((e: unknown) => e)
    expect(busy).toBeInstanceOf(MQClientError)
    expect((busy as MQClientError).responseCode).toBe(ResponseCode.SYSTEM_BUSY)
    expect(sends).toBe(3)
    answer = ResponseCode.MESSAGE_ILLEGAL
    const illegal = await producer.send(new Message({ topic: 'StatusT', body: 'x' })).catch((e: unknown) => e)
    expect(illegal).toBeInstanceOf(BrokerResponseError)
    expect((illegal as BrokerResponseError).remark).toBe(`fake answers ${ResponseCode.MESSAGE_ILLEGAL}`)
    expect(sends).toBe(4)
    // Async sends hand a broker refusal back at once, whatever the code.
    answer = ResponseCode.SYSTEM_BUSY
    await expect(producer.sendAsync(new Message({ topic: 'StatusT', body: 'x' }))).rejects.toBeInstanceOf(
      BrokerResponseError,
    )
    expect(sends).toBe(5)
  })
})
