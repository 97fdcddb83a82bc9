/** Bad input and faults: each gets a RocketMQ status or a clear error, and nothing acknowledged is lost. */
import { fork } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, rmdirSync, rmSync, statfsSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { decodeMessages } from '../../ts/common/message/message-record.js'
import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { indexedBody, testMessage } from '../helpers/messages.js'
import { openStore, recordingLogger, smallStoreConfig } from '../helpers/open-store.js'
import { bodyIndexes, readQueue } from '../helpers/read-queue.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { mountTmpfs } from '../helpers/tmpfs.js'
import { waitFor } from '../helpers/wait-for.js'

const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

function scratch(): TempDir {
  const dir = tempDir()
  cleanups.push(() => dir.remove())
  return dir
}

async function open(dir: string, overrides: Parameters<typeof smallStoreConfig>[1] = {}): Promise<NativeMessageStore> {
  const store = await openStore(smallStoreConfig(dir, overrides))
  cleanups.push(() => store.shutdown())
  return store
}

function segment(dir: string, offset: number): string {
  return join(dir, 'commitlog', String(offset).padStart(20, '0'))
}

describe('store faults', () => {
  it('refuses a message over maxMessageSize with MESSAGE_ILLEGAL and writes nothing', async () => {
    const dir = scratch()
    const store = await open(dir.path, { maxMessageSize: 1024 })
    const r = await store.putMessage(testMessage({ body: Buffer.alloc(1025) }))
    expect(r.putMessageStatus).toBe('MESSAGE_ILLEGAL')
    expect(r.appendMessageResult).toBeNull()
    expect(store.stats().commitLogMaxOffset).toBe(0)
    expect(store.getMaxOffsetInQueue('TopicTest', 0)).toBe(0)
    expect((await store.putMessage(testMessage({ body: Buffer.alloc(1024) }))).putMessageStatus).toBe('PUT_OK')
  })

  it('refuses hostile topic names with MESSAGE_ILLEGAL before they reach the file system', async () => {
    const dir = scratch()
    const store = await open(dir.path)
    for (const topic of ['../x', 'a/b', '..', 'a\u0000b', 'tab\there', 'x'.repeat(128), '', '%RETRY%/../../etc']) {
      const r = await store.putMessage(testMessage({ topic }))
      expect(r.putMessageStatus, JSON.stringify(topic)).toBe('MESSAGE_ILLEGAL')
    }
    const bad = await store.putMessage(testMessage({ queueId: -1 }))
    expect(bad.putMessageStatus).toBe('MESSAGE_ILLEGAL')
    expect(existsSync(join(dir.path, 'consumequeue'))).toBe(false)
    expect(existsSync(join(dir.path, 'x'))).toBe(false)
    expect(store.stats().commitLogMaxOffset).toBe(0)
  })

  it('refuses a queue id that does not fit 32 bits instead of wrapping it onto another queue', async () => {
    const dir = scratch()
    const store = await open(dir.path)
    await store.putMessage(testMessage({ queueId: 1 }))
    await expect(store.getMessage('g', 'TopicTest', 2 ** 32 + 1, 0, 1)).rejects.toMatchObject({
      nativeCode: 'FERRYMQ_INVALID_ARG',
      message: expect.stringContaining('queueId must fit in 32 bits'),
    })
    expect(() => store.getMaxOffsetInQueue('TopicTest', 2 ** 32 + 1)).toThrow(
      expect.objectContaining({ code: 'RMQ_ERR_STORE', nativeCode: 'FERRYMQ_INVALID_ARG' }),
    )
  })

  it('refuses properties longer than 32767 bytes with PROPERTIES_SIZE_EXCEEDED', async () => {
    const dir = scratch()
    const store = await open(dir.path)
    const r = await store.putMessage(testMessage({ properties: { HUGE: 'é'.repeat(17_000) } }))
    expect(r.putMessageStatus).toBe('PROPERTIES_SIZE_EXCEEDED')
    expect(store.stats().commitLogMaxOffset).toBe(0)
  })

  it('refuses to open a store directory another process has open', async () => {
    const dir = scratch()
    const child = fork(join(import.meta.dirname, '..', 'fixtures', 'hold-store.ts'), [dir.path], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    })
    cleanups.push(() => void child.kill('SIGKILL'))
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve())
      child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)))
    })
    await expect(openStore(smallStoreConfig(dir.path))).rejects.toMatchObject({
      code: 'RMQ_ERR_STORE_LOCKED',
      message: expect.stringContaining('already open in another process'),
    })
  })

  it('reports where a flipped byte stopped recovery and keeps every record before it', async () => {
    const dir = scratch()
    let store = await openStore(smallStoreConfig(dir.path))
    const results = []
    for (let i = 0; i < 20; i++) results.push(await store.putMessage(testMessage({ body: indexedBody(i, 300) })))
    await store.shutdown()
    const victim = results[12]!.appendMessageResult!.wroteOffset
    const fd = openSync(segment(dir.path, 0), 'r+')
    writeSync(fd, Buffer.from([0x5a]), 0, 1, victim + 150)
    closeSync(fd)
    const log = recordingLogger()
    store = await openStore(smallStoreConfig(dir.path), log)
    cleanups.push(() => store.shutdown())
    expect(store.recovery.damage).toEqual({ offset: victim, reason: 'body CRC mismatch' })
    expect(log.lines.some((l) => l.level === 'warn' && l.msg?.includes(`recovery stopped at offset ${victim}`))).toBe(true)
    const r = await store.getMessage('g', 'TopicTest', 0, 0, 32)
    expect(decodeMessages(r.buffer).map((m) => m.body.readUInt32BE(0))).toEqual(Array.from({ length: 12 }, (_, i) => i))
    const next = await store.putMessage(testMessage())
    expect(next.appendMessageResult!.logicsOffset).toBe(12)
  })

  it('never serves a record whose CRC no longer matches', async () => {
    const dir = scratch()
    const store = await open(dir.path)
    const results = []
    for (let i = 0; i < 5; i++) results.push(await store.putMessage(testMessage({ body: indexedBody(i, 100) })))
    await store.flush()
    // Rot one body under the running store, as a bad disk would.
    const fd = openSync(segment(dir.path, 0), 'r+')
    writeSync(fd, Buffer.from([0xff, 0xff]), 0, 2, results[2]!.appendMessageResult!.wroteOffset + 100)
    closeSync(fd)
    const r = await store.getMessage('g', 'TopicTest', 0, 0, 32)
    expect(decodeMessages(r.buffer).map((m) => m.body.readUInt32BE(0))).toEqual([0, 1, 3, 4])
    expect(r.nextBeginOffset).toBe(5)
    expect(await store.lookMessageByOffset(results[2]!.appendMessageResult!.wroteOffset)).toBeNull()
  })

  it('answers CREATE_MAPPED_FILE_FAILED while a segment cannot be created, keeps serving reads, then resumes', async () => {
    const dir = scratch()
    const log = recordingLogger()
    const store = await openStore(smallStoreConfig(dir.path, { allocateMappedFileTimeoutMs: 2000 }), log)
    cleanups.push(() => store.shutdown())
    const first = await store.putMessage(testMessage({ body: indexedBody(0, 1000) }))
    expect(first.putMessageStatus).toBe('PUT_OK')
    // The allocator made the next segment ahead of time; replace it (and the one after) with directories.
    await waitFor(() => existsSync(segment(dir.path, 65536)), { what: 'the pre-allocated segment' })
    for (const offset of [65536, 131072]) {
      rmSync(segment(dir.path, offset), { force: true })
      mkdirSync(segment(dir.path, offset))
    }
    const acked: number[] = [0]
    let refusal = ''
    for (let i = 1; i < 200 && refusal === ''; i++) {
      const r = await store.putMessage(testMessage({ body: indexedBody(i, 1000) }))
      if (r.putMessageStatus === 'PUT_OK') acked.push(i)
      else refusal = r.putMessageStatus
    }
    expect(refusal).toBe('CREATE_MAPPED_FILE_FAILED')
    expect(log.lines.some((l) => l.level === 'error' && l.msg === 'could not create a store file')).toBe(true)
    const read = await store.getMessage('g', 'TopicTest', 0, 0, 8)
    expect(read.status).toBe('FOUND')
    rmdirSync(segment(dir.path, 65536))
    rmdirSync(segment(dir.path, 131072))
    const resumed = await store.putMessage(testMessage({ body: indexedBody(999, 1000) }))
    expect(resumed.putMessageStatus).toBe('PUT_OK')
    acked.push(999)
    expect(bodyIndexes(await readQueue(store))).toEqual(acked)
  })

  it('on a full disk answers CREATE_MAPPED_FILE_FAILED, keeps reads and acknowledged data, and resumes once space frees', async () => {
    const fs = mountTmpfs(1024 * 1024)
    cleanups.push(() => fs.remove())
    const ballast = join(fs.path, 'ballast')
    const storeDir = join(fs.path, 'store')
    const store = await openStore(smallStoreConfig(storeDir, { allocateMappedFileTimeoutMs: 2000 }))
    let open = true
    cleanups.push(() => (open ? store.shutdown() : undefined))
    // Leave room for little more than what the store has already reserved.
    const { bavail, bsize } = statfsSync(fs.path)
    writeFileSync(ballast, Buffer.alloc(Math.max(0, bavail * bsize - 100 * 1024)))
    const acked: number[] = []
    let refusal = ''
    for (let i = 0; i < 2000 && refusal === ''; i++) {
      const r = await store.putMessage(testMessage({ body: indexedBody(i, 2000) }))
      if (r.putMessageStatus === 'PUT_OK') acked.push(i)
      else refusal = r.putMessageStatus
    }
    expect(refusal).toBe('CREATE_MAPPED_FILE_FAILED')
    expect(acked.length).toBeGreaterThan(10)
    const read = await store.getMessage('g', 'TopicTest', 0, 0, 4)
    expect(read.status).toBe('FOUND')
    rmSync(ballast)
    const resumed = await store.putMessage(testMessage({ body: indexedBody(100_000, 2000) }))
    expect(resumed.putMessageStatus).toBe('PUT_OK')
    acked.push(100_000)
    await store.shutdown()
    open = false
    const reopened = await openStore(smallStoreConfig(storeDir))
    cleanups.push(() => reopened.shutdown())
    expect(bodyIndexes(await readQueue(reopened))).toEqual(acked)
  })
})

describe('sync flush timeout', () => {
  it('answers FLUSH_DISK_TIMEOUT when the flush does not confirm within syncFlushTimeout, and keeps the message', async () => {
    const dir = scratch()
    const store = await open(dir.path, { flushDiskType: 'SYNC_FLUSH', syncFlushTimeout: 200, testHooksEnable: true })
    expect((await store.putMessage(testMessage({ body: indexedBody(0) }))).putMessageStatus).toBe('PUT_OK')
    store.stallForTest('flush', 1000)
    const late = await store.putMessage(testMessage({ body: indexedBody(1) }))
    expect(late.putMessageStatus).toBe('FLUSH_DISK_TIMEOUT')
    expect(late.appendMessageResult!.logicsOffset).toBe(1)
    await waitFor(() => store.getMaxOffsetInQueue('TopicTest', 0) === 2, { what: 'the late message to become durable' })
    const r = await store.getMessage('g', 'TopicTest', 0, 0, 32)
    expect(decodeMessages(r.buffer).map((m) => m.body.readUInt32BE(0))).toEqual([0, 1])
  })
})
