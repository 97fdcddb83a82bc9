import { randomBytes } from 'node:crypto'
import { crc32 as zlibCrc32 } from 'node:zlib'

import { afterEach, describe, expect, it } from 'vitest'

import { loadBinding } from '../../ts/native/binding.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import { openStore, smallStoreConfig } from '../helpers/open-store.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { testMessage } from '../helpers/messages.js'

describe('CRC32', () => {
  let dir: TempDir | undefined
  afterEach(() => dir?.remove())

  it('matches zlib.crc32 on random buffers of every small size and some large ones', () => {
    const native = loadBinding()
    for (let len = 0; len < 300; len++) {
      const b = randomBytes(len)
      expect(native.crc32(b), `length ${len}`).toBe(zlibCrc32(b))
    }
    for (const len of [4096, 65_537, 1_048_576]) {
      const b = randomBytes(len)
      expect(native.crc32(b)).toBe(zlibCrc32(b))
    }
  })

  it('stores BODYCRC as zlib.crc32(body) with the sign bit cleared', async () => {
    dir = tempDir()
    const store = await openStore(smallStoreConfig(dir.path))
    const bodies = Array.from({ length: 50 }, () => randomBytes(200))
    await Promise.all(bodies.map((body) => store.putMessage(testMessage({ body }))))
    const got = await store.getMessage('g', 'TopicTest', 0, 0, 32)
    const messages = decodeMessages(got.buffer)
    let sawHighBit = false
    for (const m of messages) {
      const crc = zlibCrc32(m.body)
      sawHighBit ||= crc >= 0x8000_0000
      expect(m.bodyCRC).toBe(crc & 0x7fff_ffff)
    }
    expect(sawHighBit, 'some CRC must have had its sign bit set for the mask to matter').toBe(true)
    await store.shutdown()
  })
})
