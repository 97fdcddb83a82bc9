/**
 * The native store through its TypeScript facade, over every configuration permutation that changes the write
 * path: async and sync flush, tiny segments (every few messages roll a file) and roomy ones.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { javaStringHash } from '../../ts/common/java-hash.js'
import { decodeMessage, decodeMessages } from '../../ts/common/message/message-record.js'
import { decodeMessageId } from '../../ts/common/message/message-id.js'
import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { indexedBody, testMessage } from '../helpers/messages.js'
import { openStore, smallStoreConfig } from '../helpers/open-store.js'
import { readQueue } from '../helpers/read-queue.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'

const PERMUTATIONS = [
  { name: 'async flush, tiny files', flushDiskType: 'ASYNC_FLUSH', commitLog: 16 * 1024, cqUnits: 10 },
  { name: 'async flush, roomy files', flushDiskType: 'ASYNC_FLUSH', commitLog: 4 * 1024 * 1024, cqUnits: 100_000 },
  { name: 'sync flush, tiny files', flushDiskType: 'SYNC_FLUSH', commitLog: 16 * 1024, cqUnits: 10 },
  { name: 'sync flush, roomy files', flushDiskType: 'SYNC_FLUSH', commitLog: 4 * 1024 * 1024, cqUnits: 100_000 },
] as const

describe.each(PERMUTATIONS)('NativeMessageStore ($name)', (p) => {
  let dir: TempDir
  let store: NativeMessageStore
  const config = (): Parameters<typeof smallStoreConfig>[1] => ({
    flushDiskType: p.flushDiskType,
    mappedFileSizeCommitLog: p.commitLog,
    mappedFileSizeConsumeQueue: p.cqUnits * 20,
  })

  beforeEach(async () => {
    dir = tempDir()
    store = await openStore(smallStoreConfig(dir.path, config()))
  })

  afterEach(async () => {
    await store.shutdown()
    dir.remove()
  })

  it('stores messages with dense queue offsets and reads them back intact across segment rolls', async () => {
    const n = 300
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => store.putMessage(testMessage({ body: indexedBody(i, 100 + (i % 50)) }))),
    )
    results.forEach((r, i) => {
      expect(r.putMessageStatus).toBe('PUT_OK')
      expect(r.appendMessageResult!.logicsOffset).toBe(i)
    })
    const offsets = results.map((r) => r.appendMessageResult!.wroteOffset)
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets)
    const messages = await readQueue(store, 'TopicTest', 0)
    expect(messages).toHaveLength(n)
    messages.forEach((m, i) => {
      expect(m.queueOffset).toBe(i)
      expect(m.body.equals(indexedBody(i, 100 + (i % 50)))).toBe(true)
      expect(m.commitLogOffset).toBe(offsets[i])
      expect(m.msgId).toBe(results[i]!.appendMessageResult!.msgId)
      expect(m.storeTimestamp).toBe(results[i]!.appendMessageResult!.storeTimestamp)
    })
    if (p.commitLog === 16 * 1024) expect(store.stats().commitLogFileCount).toBeGreaterThan(2)
  })

  it('stores a batch contiguously with consecutive queue offsets and one id per record', async () => {
    await store.putMessage(testMessage())
    const batch = Array.from({ length: 5 }, (_, i) => testMessage({ body: indexedBody(i) }))
    const r = await store.putMessages(batch)
    expect(r.putMessageStatus).toBe('PUT_OK')
    const a = r.appendMessageResult!
    expect(a.msgNum).toBe(5)
    expect(a.logicsOffset).toBe(1)
    expect(a.msgIds).toHaveLength(5)
    expect(a.msgId.split(',')).toEqual(a.msgIds)
    const offsets = a.commitLogOffsets
    for (let i = 1; i < 5; i++) expect(offsets[i]! - offsets[i - 1]!).toBe(offsets[1]! - offsets[0]!)
    expect(decodeMessageId(a.msgIds[2]!)!.commitLogOffset).toBe(offsets[2])
    const messages = await readQueue(store, 'TopicTest', 0)
    expect(messages.map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('keeps topics and queues apart', async () => {
    await Promise.all([
      store.putMessage(testMessage({ topic: 'A', queueId: 0 })),
      store.putMessage(testMessage({ topic: 'A', queueId: 1 })),
      store.putMessage(testMessage({ topic: 'A', queueId: 1 })),
      store.putMessage(testMessage({ topic: 'B', queueId: 0 })),
    ])
    expect(store.getMaxOffsetInQueue('A', 0)).toBe(1)
    expect(store.getMaxOffsetInQueue('A', 1)).toBe(2)
    expect(store.getMaxOffsetInQueue('B', 0)).toBe(1)
    expect(store.getMaxOffsetInQueue('C', 0)).toBe(0)
    expect(store.queues().map((q) => `${q.topic}/${q.queueId}=${q.maxOffset}`)).toEqual(['A/0=1', 'A/1=2', 'B/0=1'])
  })

  it('filters by tag hash code, a consume-queue segment at a time', async () => {
    for (let i = 0; i < 20; i++) await store.putMessage(testMessage({ tags: i % 3 === 0 ? 'TagA' : 'TagB', body: indexedBody(i) }))
    const filter = { tagCodes: Int32Array.of(javaStringHash('TagA')) }
    const bodies: number[] = []
    let offset = 0
    while (offset < 20) {
      const r = await store.getMessage('g', 'TopicTest', 0, offset, 32, filter)
      expect(['FOUND', 'NO_MATCHED_MESSAGE']).toContain(r.status)
      bodies.push(...decodeMessages(r.buffer).map((m) => m.body.readUInt32BE(0)))
      expect(r.nextBeginOffset).toBeGreaterThan(offset)
      offset = r.nextBeginOffset
    }
    expect(offset).toBe(20)
    expect(bodies).toEqual([0, 3, 6, 9, 12, 15, 18])
    const none = await store.getMessage('g', 'TopicTest', 0, 19, 32, { tagCodes: Int32Array.of(javaStringHash('TagZ')) })
    expect([none.status, none.nextBeginOffset]).toEqual(['NO_MATCHED_MESSAGE', 20])
  })

  it('answers every out-of-range pull with the status and next offset RocketMQ gives', async () => {
    expect((await store.getMessage('g', 'Nope', 0, 0, 32)).status).toBe('NO_MATCHED_LOGIC_QUEUE')
    for (let i = 0; i < 3; i++) await store.putMessage(testMessage())
    const one = await store.getMessage('g', 'TopicTest', 0, 3, 32)
    expect([one.status, one.nextBeginOffset]).toEqual(['OFFSET_OVERFLOW_ONE', 3])
    const badly = await store.getMessage('g', 'TopicTest', 0, 10, 32)
    expect([badly.status, badly.nextBeginOffset]).toEqual(['OFFSET_OVERFLOW_BADLY', 3])
    const max2 = await store.getMessage('g', 'TopicTest', 0, 0, 2)
    expect([max2.status, max2.messageCount, max2.nextBeginOffset]).toEqual(['FOUND', 2, 2])
  })

  it('finds messages by key, by unique key, by offset id and by time', async () => {
    const before = Date.now()
    const results = []
    for (let i = 0; i < 10; i++) {
      results.push(await store.putMessage(testMessage({ keys: `order-${i} shared`, uniqKey: `U${i}`, body: indexedBody(i) })))
    }
    const byKey = await store.queryMessage('TopicTest', 'order-4', 32, 0, Date.now() + 1000)
    expect(byKey.messages.map((m) => m.body.readUInt32BE(0))).toEqual([4])
    const shared = await store.queryMessage('TopicTest', 'shared', 32, 0, Date.now() + 1000)
    expect(shared.messages).toHaveLength(10)
    const byUniq = await store.queryMessage('TopicTest', 'U7', 32, 0, Date.now() + 1000)
    expect(byUniq.messages[0]!.body.readUInt32BE(0)).toBe(7)
    expect((await store.queryMessage('Other', 'order-4', 32, 0, Date.now() + 1000)).messages).toHaveLength(0)
    const third = results[3]!.appendMessageResult!
    const m = await store.lookMessageByOffset(third.wroteOffset)
    expect(m!.body.readUInt32BE(0)).toBe(3)
    expect(await store.lookMessageByOffset(third.wroteOffset + 1)).toBeNull()
    const firstTime = await store.getEarliestMessageTime('TopicTest', 0)
    expect(firstTime).toBe(results[0]!.appendMessageResult!.storeTimestamp)
    expect(firstTime).toBeGreaterThanOrEqual(before)
    expect(await store.getOffsetInQueueByTime('TopicTest', 0, before - 1000)).toBe(0)
    expect(await store.getOffsetInQueueByTime('TopicTest', 0, Date.now() + 60_000)).toBe(10)
    expect(await store.getOffsetInQueueByTime('TopicTest', 0, Date.now() + 60_000, 'UPPER')).toBe(9)
  })

  it('reopens after a clean close with every message and continues the queue offsets', async () => {
    for (let i = 0; i < 50; i++) await store.putMessage(testMessage({ body: indexedBody(i, 500) }))
    await store.shutdown()
    store = await openStore(smallStoreConfig(dir.path, config()))
    expect(store.recovery.lastExitOk).toBe(true)
    expect(store.recovery.damage).toBeNull()
    const r = await store.putMessage(testMessage({ body: indexedBody(50, 500) }))
    expect(r.appendMessageResult!.logicsOffset).toBe(50)
    const all = await readQueue(store, 'TopicTest', 0)
    expect(all.map((m) => m.body.readUInt32BE(0))).toEqual(Array.from({ length: 51 }, (_, i) => i))
  })

  it('makes a put durable before acknowledging it only with SYNC_FLUSH', async () => {
    const r = await store.putMessage(testMessage({ body: indexedBody(1, 2000) }))
    const end = r.appendMessageResult!.wroteOffset + r.appendMessageResult!.wroteBytes
    if (p.flushDiskType === 'SYNC_FLUSH') {
      expect(store.stats().commitLogFlushedOffset).toBeGreaterThanOrEqual(end)
      const noWait = await store.putMessage(testMessage({ waitStoreMsgOK: false }))
      expect(noWait.putMessageStatus).toBe('PUT_OK')
    } else {
      expect(await store.flush()).toBeGreaterThanOrEqual(end)
    }
    expect(store.stats().flushDiskType).toBe(p.flushDiskType)
  })

  it('keeps its counters', async () => {
    await Promise.all(Array.from({ length: 10 }, () => store.putMessage(testMessage({ body: Buffer.alloc(100) }))))
    await store.getMessage('g', 'TopicTest', 0, 0, 32)
    const s = store.stats()
    expect(s.putMessages).toBe(10)
    expect(s.putBytes).toBe(10 * (91 + 100 + 9))
    expect(s.getMessages).toBe(10)
    expect(s.putLatency.p50Us).toBeGreaterThan(0)
    expect(s.commitLogMaxOffset).toBe(10 * 200)
    expect(s.consumeQueueCount).toBe(1)
    expect(s.diskUsedBytes).toBeGreaterThan(0)
    expect(s.tailResidency).toBeGreaterThan(0)
    const single = decodeMessage((await store.selectOneMessageByOffset(0))!)
    expect(single!.storeSize).toBe(200)
  })
})
