import { afterEach, describe, expect, it } from 'vitest'

import type { MessageExt } from '../../ts/common/message/message-ext.js'
import { decodeMessageId } from '../../ts/common/message/message-id.js'
import { decodeMessage, decodeMessages } from '../../ts/common/message/message-record.js'
import { MessageSysFlag } from '../../ts/common/message/message-sys-flag.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import type { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { heartbeat, pull, request, send } from '../helpers/broker-requests.js'
import { startCluster, type StartClusterOptions, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

const HALF = 'RMQ_SYS_TRANS_HALF_TOPIC'
const OP = 'RMQ_SYS_TRANS_OP_HALF_TOPIC'
const PG = 'TxPG'

/** Check-backs never run unless a test asks for them with short settings. */
const NO_CHECKS = { transactionCheckInterval: 3_600_000, transactionOpBatchInterval: 50 }

describe('broker: transactional (half) messages', () => {
  let c: TestCluster | undefined
  afterEach(async () => {
    await c?.stop()
    c = undefined
  })

  async function start(broker: StartClusterOptions['broker'] = {}): Promise<TestCluster> {
    c = await startCluster({ broker: { ...NO_CHECKS, ...broker } })
    return c
  }

  async function readAll(topic: string, queueId = 0): Promise<MessageExt[]> {
    const r = await pull(c!.client, c!.brokerAddr, { group: 'reader', topic, queueId, offset: 0 })
    return r.code === ResponseCode.SUCCESS ? decodeMessages(r.body!) : []
  }

  function sendHalf(topic: string, uniq: string, extra: Record<string, string> = {}): Promise<RemotingCommand> {
    return send(c!.client, c!.brokerAddr, {
      topic,
      queueId: 2,
      producerGroup: PG,
      sysFlag: MessageSysFlag.TRANSACTION_PREPARED_TYPE,
      body: Buffer.from(`body-${uniq}`),
      properties: { TRAN_MSG: 'true', PGROUP: PG, UNIQ_KEY: uniq, TAGS: 'TagA', KEYS: `key-${uniq}`, ...extra },
    })
  }

  function endTransaction(
    sent: RemotingCommand,
    commitOrRollback: number,
    over: Record<string, string | number | boolean> = {},
  ): Promise<RemotingCommand> {
    return request(c!.client, c!.brokerAddr, RequestCode.END_TRANSACTION, {
      producerGroup: PG,
      tranStateTableOffset: sent.ext('queueOffset')!,
      commitLogOffset: decodeMessageId(sent.ext('msgId')!)!.commitLogOffset,
      commitOrRollback,
      fromTransactionCheck: false,
      msgId: sent.ext('transactionId')!,
      ...over,
    })
  }

  it('stores a TRAN_MSG send in the half topic, queue 0, out of sight of the real topic', async () => {
    await start()
    const sent = await sendHalf('TxT', 'U1')
    expect(sent.code).toBe(ResponseCode.SUCCESS)
    expect(sent.ext('queueId')).toBe('2')
    expect(sent.ext('queueOffset')).toBe('0')
    expect(sent.ext('transactionId')).toBe('U1')
    const [half] = await readAll(HALF)
    expect(half!.msgId).toBe(sent.ext('msgId'))
    expect(half!.sysFlag & 0xc).toBe(MessageSysFlag.TRANSACTION_NOT_TYPE)
    expect(Object.fromEntries(half!.properties)).toMatchObject({
      REAL_TOPIC: 'TxT',
      REAL_QID: '2',
      __transactionId__: 'U1',
      TRAN_MSG: 'true',
      PGROUP: PG,
    })
    expect(await readAll('TxT', 2)).toEqual([])
  })

  it('refuses half messages with NO_PERMISSION when rejectTransactionMessage is set', async () => {
    await start({ rejectTransactionMessage: true })
    const sent = await sendHalf('TxT', 'U1')
    expect(sent.code).toBe(ResponseCode.NO_PERMISSION)
    expect(sent.remark).toContain('sending transaction message is forbidden')
    expect(await readAll(HALF)).toEqual([])
  })

  it('commits: the final message goes to the real queue with COMMIT bits, then an op marker is written', async () => {
    await start()
    const sent = await sendHalf('TxT', 'U1')
    const ended = await endTransaction(sent, MessageSysFlag.TRANSACTION_COMMIT_TYPE)
    expect(ended.code).toBe(ResponseCode.SUCCESS)
    const [final] = await readAll('TxT', 2)
    expect(final!.body.toString()).toBe('body-U1')
    expect(final!.sysFlag & 0xc).toBe(MessageSysFlag.TRANSACTION_COMMIT_TYPE)
    expect(final!.preparedTransactionOffset).toBe(decodeMessageId(sent.ext('msgId')!)!.commitLogOffset)
    expect(final!.properties.get('TAGS')).toBe('TagA')
    expect(final!.properties.get('KEYS')).toBe('key-U1')
    expect(final!.properties.get('UNIQ_KEY')).toBe('U1')
    // As RocketMQ stores it: the properties string is the half message's (consumers read TRAN_MSG).
    expect(final!.properties.get('TRAN_MSG')).toBe('true')
    const ops = await waitFor(
      async () => {
        const got = await readAll(OP)
        return got.length > 0 && got
      },
      { what: 'the op marker' },
    )
    expect(ops.map((m) => [m.properties.get('TAGS'), m.body.toString()])).toEqual([['d', '0,']])
  })

  it('rolls back: only an op marker, nothing delivered; unknown is left for the check', async () => {
    await start()
    const a = await sendHalf('TxT', 'U1')
    const b = await sendHalf('TxT', 'U2')
    expect((await endTransaction(a, MessageSysFlag.TRANSACTION_ROLLBACK_TYPE)).code).toBe(ResponseCode.SUCCESS)
    // "Unknown" changes nothing (no op marker, no delivery); a caller waiting for an answer gets SUCCESS.
    expect((await endTransaction(b, MessageSysFlag.TRANSACTION_NOT_TYPE)).code).toBe(ResponseCode.SUCCESS)
    const ops = await waitFor(
      async () => {
        const got = await readAll(OP)
        return got.length > 0 && got
      },
      { what: 'the op marker' },
    )
    expect(ops.map((m) => m.body.toString())).toEqual(['0,'])
    expect(await readAll('TxT', 2)).toEqual([])
  }, 30_000)

  it('refuses a commit with a wrong producer group or offsets with SYSTEM_ERROR and a remark', async () => {
    await start()
    const sent = await sendHalf('TxT', 'U1')
    const wrongGroup = await endTransaction(sent, MessageSysFlag.TRANSACTION_COMMIT_TYPE, { producerGroup: 'Other' })
    expect([wrongGroup.code, wrongGroup.remark]).toEqual([ResponseCode.SYSTEM_ERROR, 'The producer group wrong'])
    const wrongQueueOffset = await endTransaction(sent, MessageSysFlag.TRANSACTION_COMMIT_TYPE, {
      tranStateTableOffset: 7,
    })
    expect([wrongQueueOffset.code, wrongQueueOffset.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      'The transaction state table offset wrong',
    ])
    const missing = await endTransaction(sent, MessageSysFlag.TRANSACTION_COMMIT_TYPE, { commitLogOffset: 1 << 30 })
    expect([missing.code, missing.remark]).toEqual([
      ResponseCode.SYSTEM_ERROR,
      'Find prepared transaction message failed',
    ])
    expect(await readAll('TxT', 2)).toEqual([])
  })

  it('checks back with the producer group, which commits from the check', async () => {
    await start({ transactionCheckInterval: 100, transactionTimeOut: 300 })
    const checks: RemotingCommand[] = []
    c!.client.registerProcessor(RequestCode.CHECK_TRANSACTION_STATE, {
      processRequest: (_channel, req) => {
        checks.push(req)
        return null
      },
    })
    expect((await heartbeat(c!.client, c!.brokerAddr, 'tx-client', [], [PG])).code).toBe(ResponseCode.SUCCESS)
    const sent = await sendHalf('TxT', 'U1')
    const check = await waitFor(() => checks[0], { what: 'a CHECK_TRANSACTION_STATE', timeoutMs: 15_000 })
    expect(check.ext('msgId')).toBe('U1')
    expect(check.ext('transactionId')).toBe('U1')
    // The check names the re-appended copy, not the original half message.
    expect(Number(check.ext('tranStateTableOffset'))).toBeGreaterThan(Number(sent.ext('queueOffset')))
    const body = decodeMessage(check.body!)!
    expect([body.topic, body.queueId, body.body.toString()]).toEqual(['TxT', 2, 'body-U1'])
    expect(body.properties.get('TRANSACTION_CHECK_TIMES')).toBe('1')
    expect(body.msgId).toBe(check.ext('offsetMsgId'))
    const ended = await request(c!.client, c!.brokerAddr, RequestCode.END_TRANSACTION, {
      producerGroup: PG,
      tranStateTableOffset: check.ext('tranStateTableOffset')!,
      commitLogOffset: check.ext('commitLogOffset')!,
      commitOrRollback: MessageSysFlag.TRANSACTION_COMMIT_TYPE,
      fromTransactionCheck: true,
      msgId: 'U1',
      transactionId: 'U1',
    })
    expect(ended.code).toBe(ResponseCode.SUCCESS)
    const delivered = await readAll('TxT', 2)
    expect(delivered.map((m) => m.body.toString())).toEqual(['body-U1'])
    // Once resolved it is not checked again: the half offsets move past it.
    const halfMax = c!.broker.store.getMaxOffsetInQueue(HALF, 0)
    await waitFor(() => c!.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', HALF, 0) === halfMax, {
      what: 'the check offset past every half message',
      timeoutMs: 15_000,
    })
    const checksSoFar = checks.length
    await waitFor(() => c!.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', OP, 0) >= 1, {
      what: 'the op offset past the marker',
      timeoutMs: 15_000,
    })
    expect(checks.length).toBe(checksSoFar)
  })

  it('discards a half message checked transactionCheckMax times into TRANS_CHECK_MAX_TIME_TOPIC', async () => {
    await start({ transactionCheckInterval: 100, transactionTimeOut: 200, transactionCheckMax: 2 })
    await sendHalf('TxT', 'U1')
    const [discarded] = await waitFor(
      async () => {
        const got = await readAll('TRANS_CHECK_MAX_TIME_TOPIC')
        return got.length > 0 && got
      },
      { what: 'the discarded half message', timeoutMs: 20_000 },
    )
    expect(discarded!.body.toString()).toBe('body-U1')
    expect(discarded!.properties.get('TRANSACTION_CHECK_TIMES')).toBe('2')
    expect(discarded!.properties.get('REAL_TOPIC')).toBe('TxT')
    // The original and two checked copies are in the half queue; nothing reached the real topic.
    expect((await readAll(HALF)).length).toBe(3)
    expect(await readAll('TxT', 2)).toEqual([])
  })

  it('commits a half message after a broker restart; check offsets survive the restart', async () => {
    // Checks run, but no half message is old enough to be asked about.
    await start({ transactionCheckInterval: 100, transactionTimeOut: 600_000 })
    const rolledBack = await sendHalf('TxT', 'U0')
    await endTransaction(rolledBack, MessageSysFlag.TRANSACTION_ROLLBACK_TYPE)
    await waitFor(() => c!.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', HALF, 0) === 1, {
      what: 'the check offset past the rolled-back half message',
      timeoutMs: 15_000,
    })
    await waitFor(() => c!.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', OP, 0) === 1, {
      what: 'the op offset past the marker',
      timeoutMs: 15_000,
    })
    const sent = await sendHalf('TxT', 'U1')
    await c!.stopBroker()
    await c!.restartBroker()
    expect(c!.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', HALF, 0)).toBe(1)
    expect(c!.broker.consumerOffsetManager.queryOffset('CID_RMQ_SYS_TRANS', OP, 0)).toBe(1)
    const ended = await endTransaction(sent, MessageSysFlag.TRANSACTION_COMMIT_TYPE)
    expect(ended.code).toBe(ResponseCode.SUCCESS)
    expect((await readAll('TxT', 2)).map((m) => m.body.toString())).toEqual(['body-U1'])
  })
})
