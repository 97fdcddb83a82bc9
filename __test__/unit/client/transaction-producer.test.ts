import { describe, expect, it } from 'vitest'

import type { TransactionCheckMessage } from '../../../ts/client/client-instance.js'
import {
  LocalTransactionState,
  TransactionProducer,
  type TransactionListener,
} from '../../../ts/client/transaction-producer.js'
import { waitFor } from '../../helpers/wait-for.js'

const header = { tranStateTableOffset: 1, commitLogOffset: 2, msgId: 'U', transactionId: 'U', offsetMsgId: 'X' }

function checkMessage(): TransactionCheckMessage {
  return { topic: 'T', properties: new Map([['UNIQ_KEY', 'U']]), msgId: 'X' } as unknown as TransactionCheckMessage
}

describe('TransactionProducer', () => {
  it('needs a transaction listener', () => {
    expect(
      () =>
        new TransactionProducer({
          producerGroup: 'PG',
          transactionListener: undefined as unknown as TransactionListener,
        }),
    ).toThrow(/transactionListener is required/)
  })

  it('queues at most checkThreadPoolMaxSize + checkRequestHoldMax checks and drops the rest', async () => {
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    let calls = 0
    const p = new TransactionProducer({
      producerGroup: 'PG',
      checkThreadPoolMaxSize: 1,
      checkRequestHoldMax: 2,
      transactionListener: {
        executeLocalTransaction: () => LocalTransactionState.UNKNOW,
        checkLocalTransaction: async () => {
          calls++
          await released
          return LocalTransactionState.COMMIT_MESSAGE
        },
      },
    })
    for (let i = 0; i < 5; i++) p.checkTransactionState('127.0.0.1:10911', checkMessage(), header)
    await waitFor(() => calls === 1, { what: 'the first check to run' })
    release()
    // The answer cannot be sent (the producer never started); that is logged, and the queue moves on.
    await waitFor(() => calls === 3, { what: 'the two queued checks' })
    await p.shutdown()
    expect(calls).toBe(3)
  })
})
