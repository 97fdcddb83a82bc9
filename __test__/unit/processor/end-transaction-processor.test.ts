import { describe, expect, it } from 'vitest'

import { defaultBrokerConfig, type BrokerConfig } from '../../../ts/broker/broker-config.js'
import type { HalfMessage } from '../../../ts/broker/transaction/transactional-message-service.js'
import { noopLogger } from '../../../ts/common/logger.js'
import type { MessageExt } from '../../../ts/common/message/message-ext.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import type { BrokerContext } from '../../../ts/processor/broker-context.js'
import { EndTransactionProcessor } from '../../../ts/processor/end-transaction-processor.js'
import type { RemotingChannel } from '../../../ts/remoting/remoting-channel.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'
import type { MessageExtBrokerInner, PutMessageResult } from '../../../ts/store/message-store.js'
import type { PutMessageStatus } from '../../../ts/store/put-message-status.js'

const COMMIT = 8
const ROLLBACK = 12

function halfMessage(over: Partial<MessageExt> = {}, props: Record<string, string> = {}): HalfMessage {
  const msg: MessageExt = {
    topic: 'RMQ_SYS_TRANS_HALF_TOPIC',
    flag: 3,
    properties: new Map(Object.entries({ PGROUP: 'PG', REAL_TOPIC: 'T', REAL_QID: '1', TRAN_MSG: 'true', ...props })),
    body: Buffer.from('b'),
    queueId: 0,
    storeSize: 200,
    queueOffset: 7,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: '10.0.0.1:5000',
    storeTimestamp: Date.now(),
    storeHost: '127.0.0.1:10911',
    msgId: 'X',
    commitLogOffset: 4096,
    bodyCRC: 0,
    reconsumeTimes: 2,
    preparedTransactionOffset: 0,
    ...over,
  }
  return { msg, record: Buffer.alloc(120) }
}

/** The processor over a fake broker: one half message at 4096, puts answered with `putStatus`. */
function setup(
  o: {
    half?: HalfMessage | null
    putStatus?: PutMessageStatus
    broker?: Partial<BrokerConfig>
    anyOffset?: boolean
  } = {},
) {
  const puts: MessageExtBrokerInner[] = []
  const done: MessageExt[] = []
  const half = o.half === undefined ? halfMessage() : o.half
  const ctx = {
    brokerConfig: { ...defaultBrokerConfig(), ...o.broker },
    logger: noopLogger,
    maxMessageSize: 4 * 1024 * 1024,
    stats: { incPut: () => {} },
    transactionalMessageService: {
      lookupHalfMessage: async (offset: number) =>
        half !== null && (o.anyOffset === true || offset === half.msg.commitLogOffset) ? half : null,
      deletePrepareMessage: async (m: MessageExt) => {
        done.push(m)
        return true
      },
    },
    putMessage: async (m: MessageExtBrokerInner): Promise<PutMessageResult> => {
      puts.push(m)
      const status = o.putStatus ?? 'PUT_OK'
      return {
        putMessageStatus: status,
        appendMessageResult:
          status === 'PUT_OK' ? ({ wroteBytes: 100 } as PutMessageResult['appendMessageResult']) : null,
      }
    },
  } as unknown as BrokerContext
  const processor = new EndTransactionProcessor(ctx)
  const channel = { remoteAddress: '10.0.0.1:5000' } as RemotingChannel
  const end = (fields: Record<string, string | number | boolean> = {}) => {
    const ext: Record<string, string> = {}
    const all = {
      producerGroup: 'PG',
      tranStateTableOffset: 7,
      commitLogOffset: 4096,
      commitOrRollback: COMMIT,
      fromTransactionCheck: false,
      msgId: 'U',
      ...fields,
    }
    for (const [k, v] of Object.entries(all)) ext[k] = String(v)
    return processor.processRequest(channel, RemotingCommand.createRequest(RequestCode.END_TRANSACTION, ext))
  }
  return { end, puts, done }
}

describe('EndTransactionProcessor', () => {
  it('commits: puts the final message to the real queue with COMMIT bits, then marks the half message done', async () => {
    const { end, puts, done } = setup()
    const r = await end()
    expect(r!.code).toBe(ResponseCode.SUCCESS)
    expect(puts).toHaveLength(1)
    const p = puts[0]!
    expect([p.topic, p.queueId, p.flag, p.reconsumeTimes, p.sysFlag & 0xc, p.preparedTransactionOffset]).toEqual([
      'T',
      1,
      3,
      2,
      COMMIT,
      4096,
    ])
    expect(p.waitStoreMsgOK).toBe(false)
    expect(done.map((m) => m.queueOffset)).toEqual([7])
  })

  it('rolls back: no put, only the op marker', async () => {
    const { end, puts, done } = setup()
    expect((await end({ commitOrRollback: ROLLBACK }))!.code).toBe(ResponseCode.SUCCESS)
    expect(puts).toEqual([])
    expect(done).toHaveLength(1)
  })

  it('leaves unknown (0) for the check and refuses any other value, answering both', async () => {
    const { end, puts, done } = setup()
    expect((await end({ commitOrRollback: 0 }))!.code).toBe(ResponseCode.SUCCESS)
    const refused = (await end({ commitOrRollback: 4, fromTransactionCheck: true }))!
    expect([refused.code, refused.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      'commitOrRollback 4 is none of 0 (unknown), 8 (commit) and 12 (rollback)',
    ])
    expect([puts, done]).toEqual([[], []])
  })

  it.each([
    [{ producerGroup: 'Other' }, 'The producer group wrong'],
    [{ tranStateTableOffset: 8 }, 'The transaction state table offset wrong'],
    [{ commitLogOffset: 8192 }, 'Find prepared transaction message failed'],
  ])('answers SYSTEM_ERROR when the half message does not match: %j', async (fields, remark) => {
    for (const commitOrRollback of [COMMIT, ROLLBACK]) {
      const { end, puts, done } = setup()
      const r = await end({ ...fields, commitOrRollback })
      expect([r!.code, r!.remark]).toEqual([ResponseCode.SYSTEM_ERROR, remark])
      expect([puts, done]).toEqual([[], []])
    }
  })

  it('answers SYSTEM_ERROR when the record found is not at the commit-log offset asked for', async () => {
    const { end, puts } = setup({ half: halfMessage({ commitLogOffset: 5000 }), anyOffset: true })
    const r = await end()
    expect([r!.code, r!.remark]).toEqual([ResponseCode.SYSTEM_ERROR, 'The commit log offset wrong'])
    expect(puts).toEqual([])
  })

  it('refuses a late commit of a message with its own immunity time with ILLEGAL_OPERATION, unless from a check', async () => {
    const old = halfMessage({ bornTimestamp: Date.now() - 120_000 }, { CHECK_IMMUNITY_TIME_IN_SECONDS: '60' })
    const late = setup({ half: old })
    expect((await late.end())!.code).toBe(ResponseCode.ILLEGAL_OPERATION)
    expect(late.puts).toEqual([])
    expect((await late.end({ fromTransactionCheck: true }))!.code).toBe(ResponseCode.SUCCESS)
    const young = setup({
      half: halfMessage({ bornTimestamp: Date.now() - 10_000 }, { CHECK_IMMUNITY_TIME_IN_SECONDS: '60' }),
    })
    expect((await young.end())!.code).toBe(ResponseCode.SUCCESS)
  })

  it('refuses on a slave with SLAVE_NOT_AVAILABLE', async () => {
    const { end, puts } = setup({ broker: { brokerRole: 'SLAVE', brokerId: 1 } })
    expect((await end())!.code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE)
    expect(puts).toEqual([])
  })

  it('maps a failed put of the final message and writes no op marker', async () => {
    const { end, done } = setup({ putStatus: 'SERVICE_NOT_AVAILABLE' })
    const r = await end()
    expect(r!.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE)
    expect(done).toEqual([])
    const stored = setup({ putStatus: 'FLUSH_DISK_TIMEOUT' })
    expect((await stored.end())!.code).toBe(ResponseCode.SUCCESS)
  })

  it('answers SYSTEM_ERROR for a half message without a real queue', async () => {
    const h = halfMessage()
    h.msg.properties.delete('REAL_QID')
    const { end, puts } = setup({ half: h })
    expect((await end())!.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(puts).toEqual([])
  })
})
