/**
 * A process appending to the store is killed with SIGKILL mid-stream. With SYNC_FLUSH every acknowledged message
 * must be there afterwards, with its body; with ASYNC_FLUSH nothing may be corrupt. Either way the queue offsets
 * stay contiguous and recovery says the last stop was unclean.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import { afterEach, describe, expect, it } from 'vitest'

import { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { indexedBody, testMessage } from '../helpers/messages.js'
import { readQueue } from '../helpers/read-queue.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'

const ACKS_BEFORE_KILL = 3000

async function appendThenKill(dir: string, flushDiskType: string): Promise<Map<number, number>> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', 'fixtures', 'append-child.ts'), dir, flushDiskType], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const acked = new Map<number, number>()
  const lines = createInterface({ input: child.stdout })
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)))
  for await (const line of lines) {
    const [, i, queueOffset] = line.split(' ')
    acked.set(Number(i), Number(queueOffset))
    if (acked.size === ACKS_BEFORE_KILL) child.kill('SIGKILL')
  }
  expect(await exited).toBe('SIGKILL')
  return acked
}

describe('crash recovery', () => {
  let dir: TempDir
  let store: NativeMessageStore | undefined
  afterEach(async () => {
    await store?.shutdown()
    dir.remove()
  })

  it.each(['SYNC_FLUSH', 'ASYNC_FLUSH'])('after SIGKILL with %s keeps every acknowledged message, intact and in order', async (flushDiskType) => {
    dir = tempDir()
    const acked = await appendThenKill(dir.path, flushDiskType)
    expect(acked.size).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL)
    store = await NativeMessageStore.open({
      storePathRootDir: dir.path,
      flushDiskType: flushDiskType as 'SYNC_FLUSH',
      mappedFileSizeCommitLog: 256 * 1024,
      mappedFileSizeConsumeQueue: 1000 * 20,
      maxHashSlotNum: 1000,
      maxIndexNum: 10_000,
    })
    expect(store.recovery.lastExitOk).toBe(false)
    const messages = await readQueue(store)
    messages.forEach((m, offset) => expect(m.queueOffset).toBe(offset))
    const byIndex = new Map(messages.map((m) => [m.body.readUInt32BE(0), m]))
    for (const m of messages) {
      const i = m.body.readUInt32BE(0)
      expect(m.body.equals(indexedBody(i, 300 + (i % 200))), `body of message ${i}`).toBe(true)
    }
    // SIGKILL loses no page cache, so with either flush type every acknowledged put survives; SYNC_FLUSH promises
    // it even across power loss, which a test cannot cut.
    for (const [i, queueOffset] of acked) {
      const m = byIndex.get(i)
      expect(m, `acknowledged message ${i}`).toBeDefined()
      expect(m!.queueOffset).toBe(queueOffset)
    }
    expect(store.getMaxOffsetInQueue('TopicTest', 0)).toBe(messages.length)
    const found = await store.queryMessage('TopicTest', 'k42', 4, 0, Date.now() + 1000)
    expect(found.messages.map((m) => m.body.readUInt32BE(0))).toEqual([42])
    const next = await store.putMessage(testMessage())
    expect(next.appendMessageResult!.logicsOffset).toBe(messages.length)
  })
})
