import { describe, expect, it } from 'vitest'

import {
  calculateOpOffset,
  checkDecision,
  encodeCheckMessageBody,
  encodeOpBody,
  parseOpBody,
  toDiscardMessage,
  toHalfMessage,
  type CheckInput,
} from '../../../ts/broker/transaction/transactional-message-util.js'
import type { MessageExt } from '../../../ts/common/message/message-ext.js'
import { string2messageProperties } from '../../../ts/common/message/message-properties.js'
import { decodeMessage } from '../../../ts/common/message/message-record.js'
import { immunityTimeMs } from '../../../ts/processor/end-transaction-processor.js'
import { testMessage } from '../../helpers/messages.js'

describe('TransactionalMessageUtil: op marker bodies', () => {
  it('encodes each half offset as decimal text followed by a comma', () => {
    expect(encodeOpBody([17, 18])).toBe('17,18,')
    expect(encodeOpBody([0])).toBe('0,')
    expect(encodeOpBody([])).toBe('')
  })

  it('parses the offsets at or above the current half offset, skipping what is not a number', () => {
    expect(parseOpBody('17,18,', 0)).toEqual([17, 18])
    expect(parseOpBody('3,9,12,', 9)).toEqual([9, 12])
    // A last piece without its comma still counts (Java's split); junk reads as -1 and never passes the bound.
    expect(parseOpBody('5,x,,7', 0)).toEqual([5, 7])
    expect(parseOpBody('', 0)).toEqual([])
  })

  it('round-trips', () => {
    const offsets = [0, 1, 2, 4096, 2 ** 40]
    expect(parseOpBody(encodeOpBody(offsets), 0)).toEqual(offsets)
  })

  it('moves the op offset past done op offsets without a gap only', () => {
    expect(calculateOpOffset([5, 3, 4], 3)).toBe(6)
    expect(calculateOpOffset([4, 5], 3)).toBe(3)
    expect(calculateOpOffset([], 7)).toBe(7)
    expect(calculateOpOffset([1, 2, 3], 2)).toBe(4)
  })

  it('reads CHECK_IMMUNITY_TIME_IN_SECONDS in seconds, never below transactionTimeOut', () => {
    expect(immunityTimeMs('60', 6000)).toBe(60_000)
    expect(immunityTimeMs('2', 6000)).toBe(6000)
    expect(immunityTimeMs('soon', 6000)).toBe(6000)
  })
})

describe('TransactionalMessageServiceImpl#check: the decision per half message', () => {
  const base: CheckInput = {
    storeTimestamp: 1_000,
    bornTimestamp: 1_000,
    checkTimes: undefined,
    checkImmunityTimeInSeconds: undefined,
    nowMs: 20_000,
    startMs: 19_000,
    transactionTimeoutMs: 6000,
    transactionCheckMax: 15,
    fileReservedTimeHours: 72,
    lastOpBornTimestamp: null,
  }

  it('checks an old message when no op message was found, counting the first check as 1', () => {
    expect(checkDecision(base)).toEqual({ kind: 'check', checkTimes: 1 })
    expect(checkDecision({ ...base, checkTimes: '3' })).toEqual({ kind: 'check', checkTimes: 4 })
  })

  it('discards at transactionCheckMax checks, or when older than fileReservedTime', () => {
    expect(checkDecision({ ...base, checkTimes: '15' })).toEqual({ kind: 'discard' })
    expect(checkDecision({ ...base, checkTimes: '14' })).toEqual({ kind: 'check', checkTimes: 15 })
    expect(checkDecision({ ...base, nowMs: 1_000 + 72 * 3_600_000 + 1, startMs: 2_000 })).toEqual({
      kind: 'discard',
    })
  })

  it('stops at a message stored after the run began, or still inside transactionTimeOut', () => {
    expect(checkDecision({ ...base, storeTimestamp: 19_000 })).toEqual({ kind: 'stop' })
    expect(checkDecision({ ...base, bornTimestamp: 15_000, storeTimestamp: 15_000 })).toEqual({ kind: 'stop' })
  })

  it('re-appends a message inside its own immunity time instead of stopping', () => {
    const young = { ...base, bornTimestamp: 15_000, storeTimestamp: 15_000, checkImmunityTimeInSeconds: '60' }
    expect(checkDecision(young)).toEqual({ kind: 'immunity', checkTimes: 1 })
    // Past its immunity it is checked like any other.
    expect(checkDecision({ ...young, nowMs: 15_000 + 60_001, startMs: 16_000 })).toEqual({
      kind: 'check',
      checkTimes: 1,
    })
  })

  it('reads more op messages when those read so far may not cover the message', () => {
    expect(checkDecision({ ...base, lastOpBornTimestamp: 18_000 })).toEqual({ kind: 'pullMoreOps' })
    // Op messages born well after the run began: the message is not among the done ones.
    expect(checkDecision({ ...base, lastOpBornTimestamp: 19_000 + 6001 })).toEqual({ kind: 'check', checkTimes: 1 })
  })

  it('checks a message born in the future (a clock moved back)', () => {
    expect(checkDecision({ ...base, bornTimestamp: 25_000, lastOpBornTimestamp: 18_000 })).toEqual({
      kind: 'check',
      checkTimes: 1,
    })
  })
})

describe('TransactionalMessageBridge: half, discarded and check messages', () => {
  it('stores a half message in the half topic, queue 0, with its real queue and transaction id, bits reset', () => {
    const msg = testMessage({
      topic: 'T',
      queueId: 3,
      uniqKey: 'U',
      sysFlag: 0x4 | 0x1,
      properties: { TRAN_MSG: 'true', PGROUP: 'PG', DELAY: '3' },
    })
    toHalfMessage(msg, string2messageProperties(msg.propertiesString))
    expect([msg.topic, msg.queueId, msg.sysFlag]).toEqual(['RMQ_SYS_TRANS_HALF_TOPIC', 0, 0x1])
    const props = string2messageProperties(msg.propertiesString)
    expect(Object.fromEntries(props)).toEqual({
      TRAN_MSG: 'true',
      PGROUP: 'PG',
      UNIQ_KEY: 'U',
      REAL_TOPIC: 'T',
      REAL_QID: '3',
      __transactionId__: 'U',
    })
  })

  it('builds the CHECK_TRANSACTION_STATE body from the stored record with the real topic and queue', () => {
    const record = fakeRecord('RMQ_SYS_TRANS_HALF_TOPIC', 0, 'PGROUP\u0001PG\u0002REAL_TOPIC\u0001Orders\u0002')
    const body = encodeCheckMessageBody(record, 'Orders', 5)
    const m = decodeMessage(body)!
    expect([m.topic, m.queueId, m.body.toString(), m.storeSize]).toEqual(['Orders', 5, 'payload', body.length])
    expect(m.properties.get('PGROUP')).toBe('PG')
    expect(m.commitLogOffset).toBe(4096)
  })

  it('discards into TRANS_CHECK_MAX_TIME_TOPIC queue 0 with every property', () => {
    const half = decodeMessage(fakeRecord('RMQ_SYS_TRANS_HALF_TOPIC', 0, 'TRANSACTION_CHECK_TIMES\u000115\u0002'))!
    const d = toDiscardMessage(half as MessageExt, Buffer.alloc(8))
    expect([d.topic, d.queueId, d.propertiesString]).toEqual([
      'TRANS_CHECK_MAX_TIME_TOPIC',
      0,
      'TRANSACTION_CHECK_TIMES\u000115\u0002',
    ])
  })
})

/** A V1 record with IPv4 hosts, as the store writes it. */
function fakeRecord(topic: string, queueId: number, properties: string): Buffer {
  const body = Buffer.from('payload')
  const t = Buffer.from(topic)
  const p = Buffer.from(properties)
  const size = 91 + body.length + t.length + p.length
  const b = Buffer.alloc(size)
  b.writeInt32BE(size, 0)
  b.writeInt32BE(-626843481, 4)
  b.writeInt32BE(queueId, 12)
  b.writeInt32BE(0, 20)
  b.writeInt32BE(4, 24) // queue offset 4
  b.writeInt32BE(4096, 32) // physical offset
  b.writeInt32BE(0, 36)
  let at = 48 + 8 + 8 + 8 + 4 + 8
  b.writeInt32BE(body.length, at)
  body.copy(b, at + 4)
  at += 4 + body.length
  b.writeInt8(t.length, at)
  t.copy(b, at + 1)
  at += 1 + t.length
  b.writeInt16BE(p.length, at)
  p.copy(b, at + 2)
  return b
}
