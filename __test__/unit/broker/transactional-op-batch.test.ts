import { afterEach, describe, expect, it } from 'vitest'

import { TransactionalOpBatch } from '../../../ts/broker/transaction/transactional-op-batch.js'
import { noopLogger } from '../../../ts/common/logger.js'
import { waitFor } from '../../helpers/wait-for.js'

describe('TransactionalOpBatch', () => {
  let batch: TransactionalOpBatch | undefined
  afterEach(async () => {
    await batch?.shutdown()
    batch = undefined
  })

  function start(opMsgMaxSizeBytes: number, batchIntervalMs: number): [TransactionalOpBatch, [number, string][]] {
    const written: [number, string][] = []
    batch = new TransactionalOpBatch({
      opMsgMaxSizeBytes,
      batchIntervalMs,
      writeOp: async (queueId, body) => {
        written.push([queueId, body])
        return true
      },
      logger: noopLogger,
    })
    batch.start()
    return [batch, written]
  }

  it('writes the markers of each queue as one op message once the interval has passed', async () => {
    const [b, written] = start(4096, 50)
    await b.add(0, 17)
    await b.add(0, 18)
    await b.add(1, 3)
    expect(written).toEqual([])
    await waitFor(() => written.length === 2, { what: 'two op messages' })
    expect(new Map(written)).toEqual(
      new Map([
        [0, '17,18,'],
        [1, '3,'],
      ]),
    )
    expect(b.bufferedBytes(0)).toBe(0)
  })

  it('writes at once when a queue holds more than transactionOpMsgMaxSize bytes, in bodies of about that size', async () => {
    const [b, written] = start(16, 3_600_000)
    for (let i = 100; i < 106; i++) await b.add(0, i)
    await waitFor(() => written.length >= 1, { what: 'an op message before the interval' })
    await b.flush()
    expect(written.map(([, body]) => body).join('')).toBe('100,101,102,103,104,105,')
    for (const [, body] of written) expect(body.length).toBeLessThanOrEqual(16 + 4)
  })

  it('writes everything buffered at shutdown, and a marker alone once stopped', async () => {
    const [b, written] = start(4096, 3_600_000)
    await b.add(2, 9)
    await b.shutdown()
    expect(written).toEqual([[2, '9,']])
    await b.add(2, 10)
    expect(written).toEqual([
      [2, '9,'],
      [2, '10,'],
    ])
  })
})
