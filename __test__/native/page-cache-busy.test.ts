/**
 * OS page-cache busy, as RocketMQ decides it (`DefaultMessageStore#isOSPageCacheBusy`): once the put lock has been
 * held longer than `osPageCacheBusyTimeOutMills`, new puts are refused at once with OS_PAGE_CACHE_BUSY, while the
 * JavaScript thread keeps running. A test hook makes one put sleep inside the lock.
 */
import { afterEach, describe, expect, it } from 'vitest'

import type { NativeMessageStore } from '../../ts/store/native-message-store.js'
import { testMessage } from '../helpers/messages.js'
import { openStore, recordingLogger, smallStoreConfig } from '../helpers/open-store.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

describe('page-cache busy', () => {
  let dir: TempDir
  let store: NativeMessageStore
  afterEach(async () => {
    await store.shutdown()
    dir.remove()
  })

  it('refuses a concurrent put within 100 ms while a put is stuck in the lock, and the event loop keeps running', async () => {
    dir = tempDir()
    const log = recordingLogger()
    store = await openStore(smallStoreConfig(dir.path, { testHooksEnable: true, osPageCacheBusyTimeOutMills: 1000 }), log)
    expect((await store.putMessage(testMessage())).putMessageStatus).toBe('PUT_OK')

    store.stallForTest('put', 2500)
    const stuck = store.putMessage(testMessage())
    let ticks = 0
    const timer = setInterval(() => ticks++, 10)
    try {
      // Before the timeout the lock is held but the store is not busy yet: a put then waits its turn.
      const early = store.putMessage(testMessage())
      await waitFor(() => store.stats().pageCacheBusy, { timeoutMs: 5000, what: 'the store to turn busy' })
      expect(ticks, 'timers fired while the writer was stuck').toBeGreaterThan(20)

      const started = performance.now()
      const refused = await store.putMessage(testMessage())
      const elapsedMs = performance.now() - started
      expect(refused.putMessageStatus).toBe('OS_PAGE_CACHE_BUSY')
      expect(refused.appendMessageResult).toBeNull()
      expect(elapsedMs).toBeLessThan(100)
      expect(store.stats().pageCacheBusy, 'refused while the lock was still held').toBe(true)

      expect((await stuck).putMessageStatus).toBe('PUT_OK')
      expect((await early).putMessageStatus).toBe('PUT_OK')
    } finally {
      clearInterval(timer)
    }
    const s = store.stats()
    expect(s.pageCacheBusy).toBe(false)
    expect(s.busyRefusals).toBe(1)
    expect(s.slowPuts).toBe(1)
    expect(log.lines.some((l) => l.level === 'warn' && l.msg === 'put message held the put lock too long')).toBe(true)
    expect((await store.putMessage(testMessage())).putMessageStatus).toBe('PUT_OK')
  })
})
