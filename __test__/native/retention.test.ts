/** Retention (store.md §8): expired segments go oldest first, consume queues and index follow, disk watermarks. */
import { statfsSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { decodeMessages } from '../../ts/common/message/message-record.js'
import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { indexedBody, testMessage } from '../helpers/messages.js'
import { openStore, recordingLogger, smallStoreConfig } from '../helpers/open-store.js'
import { tempDir } from '../helpers/temp-dir.js'
import { mountTmpfs } from '../helpers/tmpfs.js'
import { waitFor } from '../helpers/wait-for.js'

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

async function fill(store: NativeMessageStore, n: number, size = 1000): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await store.putMessage(testMessage({ body: indexedBody(i, size), keys: `k${i}` }))
    expect(r.putMessageStatus).toBe('PUT_OK')
  }
}

describe('retention', () => {
  it('deletes expired segments oldest first, never the newest, and moves queue and index minimums with them', async () => {
    const dir = tempDir()
    cleanups.push(() => dir.remove())
    const store = await openStore(
      smallStoreConfig(dir.path, {
        fileReservedTime: 0,
        deleteCommitLogFilesInterval: 0,
        mappedFileSizeConsumeQueue: 20 * 20,
        maxIndexNum: 50,
      }),
    )
    cleanups.push(() => store.shutdown())
    await fill(store, 300)
    const before = store.stats()
    expect(before.commitLogFileCount).toBeGreaterThan(3)
    const report = await store.cleanExpiredFiles()
    expect(report.commitLogDeleted).toBe(Math.min(10, before.commitLogFileCount - 1))
    expect(report.queueSegmentsDeleted).toBeGreaterThan(0)
    expect(report.indexFilesDeleted).toBeGreaterThan(0)
    const after = store.stats()
    expect(after.commitLogFileCount).toBe(before.commitLogFileCount - report.commitLogDeleted)
    expect(after.commitLogMinOffset).toBeGreaterThan(0)
    const min = store.getMinOffsetInQueue('TopicTest', 0)
    expect(min).toBeGreaterThan(0)
    const tooSmall = await store.getMessage('g', 'TopicTest', 0, 0, 32)
    expect([tooSmall.status, tooSmall.nextBeginOffset]).toEqual(['OFFSET_TOO_SMALL', min])
    const first = decodeMessages((await store.getMessage('g', 'TopicTest', 0, min, 1)).buffer)[0]!
    expect(first.commitLogOffset).toBeGreaterThanOrEqual(after.commitLogMinOffset)
    expect(first.queueOffset).toBe(min)
    expect((await store.queryMessage('TopicTest', 'k0', 4, 0, Date.now() + 1000)).messages).toHaveLength(0)
    expect((await store.queryMessage('TopicTest', 'k299', 4, 0, Date.now() + 1000)).messages).toHaveLength(1)
  })

  it('runs by itself at the deleteWhen hour and keeps files younger than fileReservedTime', async () => {
    const dir = tempDir()
    cleanups.push(() => dir.remove())
    // This hour and the next, so that crossing the hour mid-test changes nothing.
    const h = new Date().getHours()
    const hour = `${String(h).padStart(2, '0')};${String((h + 1) % 24).padStart(2, '0')}`
    const young = await openStore(smallStoreConfig(dir.path, { fileReservedTime: 72, deleteWhen: hour, cleanResourceInterval: 50 }))
    await fill(young, 200)
    const files = young.stats().commitLogFileCount
    expect((await young.cleanExpiredFiles()).commitLogDeleted).toBe(0)
    await young.shutdown()
    const store = await openStore(
      smallStoreConfig(dir.path, { fileReservedTime: 0, deleteWhen: hour, cleanResourceInterval: 50, deleteCommitLogFilesInterval: 0 }),
    )
    cleanups.push(() => store.shutdown())
    await waitFor(() => store.stats().commitLogFileCount === 1, { what: 'the scheduled clean-up' })
    expect(files).toBeGreaterThan(1)
  })

  it('refuses writes with SERVICE_NOT_AVAILABLE above the disk warning level and accepts them again below it', async () => {
    const fs = mountTmpfs(4 * 1024 * 1024)
    cleanups.push(() => fs.remove())
    const log = recordingLogger()
    const store = await openStore(smallStoreConfig(join(fs.path, 'store'), { cleanResourceInterval: 50, fileReservedTime: 72 }), log)
    cleanups.push(() => store.shutdown())
    await fill(store, 20)
    const { blocks, bsize, bavail } = statfsSync(fs.path)
    const ballast = join(fs.path, 'ballast')
    // 95 % used: above diskSpaceWarningLevelRatio (90 %).
    writeFileSync(ballast, Buffer.alloc(Math.max(0, bavail * bsize - Math.floor(blocks * bsize * 0.05))))
    await waitFor(() => store.stats().diskFull, { what: 'the disk-full flag' })
    expect((await store.putMessage(testMessage())).putMessageStatus).toBe('SERVICE_NOT_AVAILABLE')
    expect((await store.getMessage('g', 'TopicTest', 0, 0, 4)).status).toBe('FOUND')
    // The notice travels on the event channel, so it may land a moment after the flag is visible.
    await waitFor(() => log.lines.some((l) => l.level === 'error' && l.msg?.startsWith('disk usage above the warning level')), {
      what: 'the disk-full notice',
    })
    rmSync(ballast)
    await waitFor(() => !store.stats().diskFull, { what: 'the disk-full flag to clear' })
    expect((await store.putMessage(testMessage())).putMessageStatus).toBe('PUT_OK')
  })
})
