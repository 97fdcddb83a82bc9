/**
 * Offset stores (client.md §4.10; RocketMQ `ControllableOffset`, `RemoteBrokerOffsetStore`, `LocalFileOffsetStore`).
 * The remote store runs against a fake backend; the local store against a temp dir per test.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { MQClientError } from '../../../ts/client/client-error.js'
import {
  ControllableOffset,
  decodeOffsetsFile,
  encodeOffsetsFile,
  LocalFileOffsetStore,
  ReadOffsetType,
  RemoteBrokerOffsetStore,
  type OffsetBackend,
  type OffsetStore,
} from '../../../ts/client/offset-store.js'
import type { Logger } from '../../../ts/common/logger.js'
import { messageQueueKey, type MessageQueue } from '../../../ts/remoting/protocol/message-queue.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'

const mq = (queueId: number, topic = 'TopicTest', brokerName = 'broker-a'): MessageQueue => ({
  topic,
  brokerName,
  queueId,
})

interface LogLine {
  level: string
  obj: object
  msg: string | undefined
}

/** A logger that keeps what it is given. */
function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, msg })
    }
  const logger: Logger & { lines: LogLine[] } = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  }
  return logger
}

/** A broker double: a map of stored offsets, plus switches to make calls fail. */
class FakeBackend implements OffsetBackend {
  stored = new Map<string, number>()
  queries: MessageQueue[] = []
  updates: [MessageQueue, number][] = []
  failQuery = false
  failUpdate = false

  async queryConsumerOffset(q: MessageQueue): Promise<number | null> {
    this.queries.push(q)
    if (this.failQuery) throw new Error('broker unreachable')
    return this.stored.get(messageQueueKey(q)) ?? null
  }

  async updateConsumerOffsetOneway(q: MessageQueue, offset: number): Promise<void> {
    if (this.failUpdate) throw new Error('no connection')
    this.updates.push([q, offset])
    this.stored.set(messageQueueKey(q), offset)
  }
}

describe('ControllableOffset', () => {
  it('updates freely, keeps the maximum with increaseOnly, and ignores every update once frozen', () => {
    const o = new ControllableOffset(10)
    o.update(5)
    expect(o.offset).toBe(5)
    o.update(3, true)
    expect(o.offset).toBe(5)
    o.update(8, true)
    expect(o.offset).toBe(8)
    o.updateAndFreeze(2)
    expect([o.offset, o.frozen]).toEqual([2, true])
    o.update(100)
    o.update(100, true)
    expect(o.offset).toBe(2)
    // Freezing again moves the frozen value (Java's updateAndFreeze does not check the flag).
    o.updateAndFreeze(4)
    expect(o.offset).toBe(4)
  })
})

/** The in-memory semantics shared by both stores. */
function memorySemantics(name: string, make: () => OffsetStore): void {
  describe(`${name}: in-memory table`, () => {
    it('creates a missing entry with the given offset, whatever increaseOnly says', async () => {
      const s = make()
      s.updateOffset(mq(0), 7, true)
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(7)
    })

    it('increaseOnly never lowers an offset; a plain update does', async () => {
      const s = make()
      s.updateOffset(mq(0), 50, false)
      s.updateOffset(mq(0), 40, true)
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(50)
      s.updateOffset(mq(0), 60, true)
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(60)
      s.updateOffset(mq(0), 30, false)
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(30)
    })

    it('a frozen entry ignores updates until it is removed, which is the only way to unfreeze it', async () => {
      const s = make()
      s.updateOffset(mq(0), 100, false)
      s.updateAndFreezeOffset(mq(0), 20)
      s.updateOffset(mq(0), 150, false)
      s.updateOffset(mq(0), 150, true)
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(20)
      s.removeOffset(mq(0))
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(-1)
      s.updateOffset(mq(0), 150, false)
      s.updateOffset(mq(0), 160, false)
      expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(160)
    })

    it('updateAndFreezeOffset creates a missing entry frozen', async () => {
      const s = make()
      s.updateAndFreezeOffset(mq(1), 9)
      s.updateOffset(mq(1), 99, false)
      expect(await s.readOffset(mq(1), ReadOffsetType.READ_FROM_MEMORY)).toBe(9)
    })

    it('READ_FROM_MEMORY answers −1 for an unknown queue', async () => {
      expect(await make().readOffset(mq(3), ReadOffsetType.READ_FROM_MEMORY)).toBe(-1)
    })

    it('cloneOffsetTable selects one topic, or every topic for a blank one, and returns copies', () => {
      const s = make()
      s.updateOffset(mq(0, 'A'), 1, false)
      s.updateOffset(mq(1, 'A'), 2, false)
      s.updateOffset(mq(0, 'B'), 3, false)
      const a = s.cloneOffsetTable('A')
      expect([...a.values()]).toEqual([
        { mq: mq(0, 'A'), offset: 1 },
        { mq: mq(1, 'A'), offset: 2 },
      ])
      expect(a.get(messageQueueKey(mq(1, 'A')))?.offset).toBe(2)
      expect(s.cloneOffsetTable('').size).toBe(3)
      expect(s.cloneOffsetTable('  ').size).toBe(3)
      expect(s.cloneOffsetTable('C').size).toBe(0)
      a.get(messageQueueKey(mq(0, 'A')))!.mq.topic = 'mutated'
      s.updateOffset(mq(0, 'A'), 5, false)
      expect(s.cloneOffsetTable('A').get(messageQueueKey(mq(0, 'A')))).toEqual({ mq: mq(0, 'A'), offset: 5 })
    })

    it('does not alias the queue object it was given', () => {
      const s = make()
      const q = mq(0)
      s.updateOffset(q, 1, false)
      q.queueId = 9
      expect([...s.cloneOffsetTable('').values()]).toEqual([{ mq: mq(0), offset: 1 }])
    })
  })
}

memorySemantics('RemoteBrokerOffsetStore', () => new RemoteBrokerOffsetStore(new FakeBackend(), 'G'))

describe('RemoteBrokerOffsetStore', () => {
  let backend: FakeBackend
  let logger: ReturnType<typeof recordingLogger>
  let store: RemoteBrokerOffsetStore

  beforeEach(() => {
    backend = new FakeBackend()
    logger = recordingLogger()
    store = new RemoteBrokerOffsetStore(backend, 'G', { logger })
  })

  it('load does nothing', async () => {
    await store.load()
    expect(store.cloneOffsetTable('').size).toBe(0)
    expect(backend.queries).toEqual([])
  })

  it('READ_FROM_MEMORY never asks the broker', async () => {
    backend.stored.set(messageQueueKey(mq(0)), 12)
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(-1)
    expect(backend.queries).toEqual([])
  })

  it('READ_FROM_STORE returns the broker offset and caches it', async () => {
    backend.stored.set(messageQueueKey(mq(0)), 12)
    store.updateOffset(mq(0), 3, false)
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(12)
    expect(backend.queries).toEqual([mq(0)])
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(12)
  })

  it('READ_FROM_STORE returns −1 for QUERY_NOT_FOUND and caches nothing', async () => {
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(-1)
    expect(store.cloneOffsetTable('').size).toBe(0)
  })

  it('READ_FROM_STORE returns −2 when the broker call fails, logs a warning and keeps the cached value', async () => {
    store.updateOffset(mq(0), 5, false)
    backend.failQuery = true
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(-2)
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1)
    expect(logger.lines[0]!.obj).toMatchObject({ mq: mq(0) })
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(5)
  })

  it('READ_FROM_STORE on a frozen entry returns what the broker said but leaves the frozen value', async () => {
    store.updateAndFreezeOffset(mq(0), 40)
    backend.stored.set(messageQueueKey(mq(0)), 12)
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(12)
    expect(await store.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(40)
  })

  it('MEMORY_FIRST_THEN_STORE answers from memory when it can, else from the broker', async () => {
    backend.stored.set(messageQueueKey(mq(0)), 12)
    backend.stored.set(messageQueueKey(mq(1)), 34)
    store.updateOffset(mq(0), 7, false)
    expect(await store.readOffset(mq(0), ReadOffsetType.MEMORY_FIRST_THEN_STORE)).toBe(7)
    expect(backend.queries).toEqual([])
    expect(await store.readOffset(mq(1), ReadOffsetType.MEMORY_FIRST_THEN_STORE)).toBe(34)
    expect(backend.queries).toEqual([mq(1)])
    expect(await store.readOffset(mq(2), ReadOffsetType.MEMORY_FIRST_THEN_STORE)).toBe(-1)
    backend.failQuery = true
    expect(await store.readOffset(mq(3), ReadOffsetType.MEMORY_FIRST_THEN_STORE)).toBe(-2)
  })

  it('persist sends the in-memory offset oneway, and nothing when there is none', async () => {
    store.updateOffset(mq(0), 21, false)
    await store.persist(mq(0))
    await store.persist(mq(1))
    expect(backend.updates).toEqual([[mq(0), 21]])
  })

  it('persist resolves and logs an error when the send fails', async () => {
    store.updateOffset(mq(0), 21, false)
    backend.failUpdate = true
    await expect(store.persist(mq(0))).resolves.toBeUndefined()
    expect(logger.lines.some((l) => l.level === 'error')).toBe(true)
  })

  it('persistAll sends owned queues and drops in-memory entries of queues no longer owned', async () => {
    store.updateOffset(mq(0), 10, false)
    store.updateOffset(mq(1), 11, false)
    store.updateOffset(mq(2), 12, false)
    await store.persistAll([mq(0), mq(2), mq(3)])
    expect(backend.updates).toEqual([
      [mq(0), 10],
      [mq(2), 12],
    ])
    expect([...store.cloneOffsetTable('').values()].map((e) => e.mq.queueId)).toEqual([0, 2])
  })

  it('persistAll with no owned queues does nothing at all (Java returns early)', async () => {
    store.updateOffset(mq(0), 10, false)
    await store.persistAll([])
    expect(backend.updates).toEqual([])
    expect(store.cloneOffsetTable('').size).toBe(1)
  })

  it('persistAll keeps going past a failed send and still drops unowned entries', async () => {
    store.updateOffset(mq(0), 10, false)
    store.updateOffset(mq(1), 11, false)
    backend.failUpdate = true
    await expect(store.persistAll([mq(0)])).resolves.toBeUndefined()
    expect(store.cloneOffsetTable('').size).toBe(1)
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(1)
  })
})

// ---------------------------------------------------------------------------------------------------------------

/** The file Java writes for two queues (fastjson PrettyFormat), as captured in the RocketMQ docs. */
const JAVA_FILE =
  '{\n' +
  '\t"offsetTable":{{\n' +
  '\t\t\t"brokerName":"broker-a",\n' +
  '\t\t\t"queueId":3,\n' +
  '\t\t\t"topic":"TopicTest"\n' +
  '\t\t}:1470,{\n' +
  '\t\t\t"brokerName":"broker-a",\n' +
  '\t\t\t"queueId":2,\n' +
  '\t\t\t"topic":"TopicTest"\n' +
  '\t\t}:1471\n' +
  '\t}\n' +
  '}'

describe('offsets file format (OffsetSerializeWrapper, fastjson PrettyFormat)', () => {
  it('writes the Java layout, entries sorted by queue', () => {
    const text = encodeOffsetsFile([
      { mq: mq(3), offset: 1470 },
      { mq: mq(2), offset: 1471 },
    ])
    expect(text).toBe(
      '{\n' +
        '\t"offsetTable":{{\n' +
        '\t\t\t"brokerName":"broker-a",\n' +
        '\t\t\t"queueId":2,\n' +
        '\t\t\t"topic":"TopicTest"\n' +
        '\t\t}:1471,{\n' +
        '\t\t\t"brokerName":"broker-a",\n' +
        '\t\t\t"queueId":3,\n' +
        '\t\t\t"topic":"TopicTest"\n' +
        '\t\t}:1470\n' +
        '\t}\n' +
        '}',
    )
  })

  it('writes an empty table as fastjson does', () => {
    expect(encodeOffsetsFile([])).toBe('{\n\t"offsetTable":{}\n}')
  })

  it('reads the Java file, the compact form and string keys holding the queue JSON', () => {
    expect(decodeOffsetsFile(JAVA_FILE)).toEqual([
      { mq: mq(3), offset: 1470 },
      { mq: mq(2), offset: 1471 },
    ])
    expect(decodeOffsetsFile('{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:5}}')).toEqual([
      { mq: { topic: 't', brokerName: 'b', queueId: 1 }, offset: 5 },
    ])
    expect(
      decodeOffsetsFile('{"offsetTable":{"{\\"brokerName\\":\\"b\\",\\"queueId\\":1,\\"topic\\":\\"t\\"}":5}}'),
    ).toEqual([{ mq: { topic: 't', brokerName: 'b', queueId: 1 }, offset: 5 }])
    expect(decodeOffsetsFile('{}')).toEqual([])
  })

  it('round-trips names that need escaping', () => {
    const entries = [{ mq: mq(0, 'to"pic\\x', 'br\u00f6ker'), offset: 9 }]
    expect(decodeOffsetsFile(encodeOffsetsFile(entries))).toEqual(entries)
  })

  it('rejects text that is not an offsets file with RMQ_ERR_OFFSET_FILE', () => {
    for (const bad of [
      '{"offsetTable":{{"brokerName":"b"',
      '[1]',
      '{"offsetTable":[]}',
      '{"offsetTable":{"TopicTest@0":5}}',
      '{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:"5"}}',
      '{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"t"}:1.5}}',
    ]) {
      expect(() => decodeOffsetsFile(bad), bad).toThrow(MQClientError)
      try {
        decodeOffsetsFile(bad)
      } catch (err) {
        expect((err as MQClientError).code).toBe('RMQ_ERR_OFFSET_FILE')
      }
    }
  })
})

describe('LocalFileOffsetStore', () => {
  let dir: TempDir
  const clientId = '10.0.0.1@12345#1'
  const group = 'G_BROADCAST'
  let file: string

  beforeEach(() => {
    dir = tempDir()
    file = join(dir.path, clientId, group, 'offsets.json')
  })

  afterEach(() => {
    dir.remove()
  })

  const open = (logger?: Logger): LocalFileOffsetStore =>
    new LocalFileOffsetStore(dir.path, clientId, group, logger ? { logger } : {})

  memorySemantics('LocalFileOffsetStore', () => new LocalFileOffsetStore('/nonexistent-dir-never-written', 'c', 'g'))

  it('lives at <dir>/<clientId>/<group>/offsets.json', () => {
    expect(open().storePath).toBe(file)
  })

  it('load without any file leaves the table empty', async () => {
    const s = open()
    await s.load()
    expect(s.cloneOffsetTable('').size).toBe(0)
  })

  it('round-trips offsets through persistAll and load, in the Java file layout, leaving no temp file', async () => {
    const s = open()
    s.updateOffset(mq(3), 1470, false)
    s.updateOffset(mq(2), 1471, false)
    await s.persistAll([mq(2), mq(3)])
    expect(readFileSync(file, 'utf8')).toBe(
      encodeOffsetsFile([
        { mq: mq(2), offset: 1471 },
        { mq: mq(3), offset: 1470 },
      ]),
    )
    expect(readdirSync(join(dir.path, clientId, group))).toEqual(['offsets.json'])

    const again = open()
    await again.load()
    expect(await again.readOffset(mq(3), ReadOffsetType.READ_FROM_MEMORY)).toBe(1470)
    expect(await again.readOffset(mq(2), ReadOffsetType.READ_FROM_MEMORY)).toBe(1471)
  })

  it('loads a file written by Java', async () => {
    mkdirSync(join(dir.path, clientId, group), { recursive: true })
    writeFileSync(file, JAVA_FILE)
    const s = open()
    await s.load()
    expect([...s.cloneOffsetTable('TopicTest').values()]).toEqual([
      { mq: mq(3), offset: 1470 },
      { mq: mq(2), offset: 1471 },
    ])
  })

  it('load replaces in-memory entries and unfreezes them', async () => {
    const s = open()
    s.updateOffset(mq(0), 5, false)
    await s.persistAll([mq(0)])
    s.updateAndFreezeOffset(mq(0), 1)
    await s.load()
    s.updateOffset(mq(0), 8, false)
    expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(8)
  })

  it('persistAll writes only owned queues and keeps other queues already in the file (Java merges)', async () => {
    const s = open()
    s.updateOffset(mq(0), 10, false)
    await s.persistAll([mq(0)])
    s.removeOffset(mq(0))
    s.updateOffset(mq(1), 11, false)
    s.updateOffset(mq(2), 12, false)
    await s.persistAll([mq(1)])
    expect(decodeOffsetsFile(readFileSync(file, 'utf8'))).toEqual([
      { mq: mq(0), offset: 10 },
      { mq: mq(1), offset: 11 },
    ])
    // The local store does not drop unowned in-memory entries (only the remote one does).
    expect(s.cloneOffsetTable('').size).toBe(2)
  })

  it('persistAll with no owned queues writes nothing', async () => {
    const s = open()
    s.updateOffset(mq(0), 10, false)
    await s.persistAll([])
    expect(existsSync(file)).toBe(false)
  })

  it('persist merges one queue into the file; a queue without an in-memory offset writes nothing', async () => {
    const s = open()
    await s.persist(mq(0))
    expect(existsSync(file)).toBe(false)
    s.updateOffset(mq(0), 10, false)
    s.updateOffset(mq(1), 20, false)
    await s.persist(mq(0))
    expect(decodeOffsetsFile(readFileSync(file, 'utf8'))).toEqual([{ mq: mq(0), offset: 10 }])
    await s.persist(mq(1))
    expect(decodeOffsetsFile(readFileSync(file, 'utf8'))).toEqual([
      { mq: mq(0), offset: 10 },
      { mq: mq(1), offset: 20 },
    ])
  })

  it('concurrent persists run one after the other, so neither write is lost', async () => {
    const s = open()
    for (let i = 0; i < 8; i++) s.updateOffset(mq(i), 100 + i, false)
    await Promise.all(Array.from({ length: 8 }, (_, i) => s.persist(mq(i))))
    expect(decodeOffsetsFile(readFileSync(file, 'utf8')).map((e) => e.offset)).toEqual([
      100, 101, 102, 103, 104, 105, 106, 107,
    ])
  })

  it('READ_FROM_STORE reads the file and caches the value; −1 when the queue is not in it', async () => {
    const writer = open()
    writer.updateOffset(mq(0), 33, false)
    await writer.persistAll([mq(0)])
    const s = open()
    expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(33)
    expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(33)
    expect(await s.readOffset(mq(1), ReadOffsetType.READ_FROM_STORE)).toBe(-1)
    s.updateOffset(mq(0), 40, false)
    expect(await s.readOffset(mq(0), ReadOffsetType.MEMORY_FIRST_THEN_STORE)).toBe(40)
    expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(33)
  })

  it('keeps the previous valid file as offsets.json.bak on every write', async () => {
    const s = open()
    s.updateOffset(mq(0), 1, false)
    await s.persistAll([mq(0)])
    expect(existsSync(`${file}.bak`)).toBe(false)
    const first = readFileSync(file, 'utf8')
    s.updateOffset(mq(0), 2, false)
    await s.persistAll([mq(0)])
    expect(readFileSync(`${file}.bak`, 'utf8')).toBe(first)
    expect(decodeOffsetsFile(readFileSync(file, 'utf8'))).toEqual([{ mq: mq(0), offset: 2 }])
  })

  for (const [what, content] of [
    ['corrupt', '{"offsetTable":{{"brokerName":"broker-a","queueId":0,'],
    ['empty', ''],
  ] as const) {
    it(`recovers from the .bak when the main file is ${what}`, async () => {
      const logger = recordingLogger()
      const s = open(logger)
      s.updateOffset(mq(0), 1, false)
      await s.persistAll([mq(0)])
      s.updateOffset(mq(0), 2, false)
      await s.persistAll([mq(0)]) // the .bak now holds offset 1
      writeFileSync(file, content)

      const reloaded = open(logger)
      await reloaded.load()
      expect(await reloaded.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(1)
      expect(await reloaded.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(1)
      if (what === 'corrupt') expect(logger.lines.some((l) => l.level === 'warn')).toBe(true)
    })
  }

  it('recovers from the .bak when the main file is missing', async () => {
    const s = open()
    s.updateOffset(mq(0), 1, false)
    await s.persistAll([mq(0)])
    s.updateOffset(mq(0), 2, false)
    await s.persistAll([mq(0)])
    writeFileSync(`${file}.bak`, readFileSync(file))
    rmSync(file)
    const reloaded = open()
    await reloaded.load()
    expect(await reloaded.readOffset(mq(0), ReadOffsetType.READ_FROM_MEMORY)).toBe(2)
  })

  it('a corrupt main file never replaces a good .bak, and the next write repairs the main file', async () => {
    const s = open()
    s.updateOffset(mq(0), 1, false)
    s.updateOffset(mq(1), 5, false)
    await s.persistAll([mq(0), mq(1)])
    s.updateOffset(mq(0), 2, false)
    await s.persistAll([mq(0), mq(1)])
    const goodBak = readFileSync(`${file}.bak`, 'utf8')
    writeFileSync(file, 'garbage')

    s.updateOffset(mq(0), 3, false)
    await s.persist(mq(0))
    expect(readFileSync(`${file}.bak`, 'utf8')).toBe(goodBak)
    // The rewrite merged the .bak's entries (mq 1 at 5) with the new offset.
    expect(decodeOffsetsFile(readFileSync(file, 'utf8'))).toEqual([
      { mq: mq(0), offset: 3 },
      { mq: mq(1), offset: 5 },
    ])
  })

  it('with both files corrupt, load fails with RMQ_ERR_OFFSET_FILE, reads give −1 and writes are skipped', async () => {
    mkdirSync(join(dir.path, clientId, group), { recursive: true })
    writeFileSync(file, 'garbage')
    writeFileSync(`${file}.bak`, 'more garbage')
    const logger = recordingLogger()
    const s = open(logger)
    await expect(s.load()).rejects.toMatchObject({ name: 'MQClientError', code: 'RMQ_ERR_OFFSET_FILE' })
    expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(-1)
    s.updateOffset(mq(0), 4, false)
    await expect(s.persistAll([mq(0)])).resolves.toBeUndefined()
    expect(readFileSync(file, 'utf8')).toBe('garbage')
    expect(logger.lines.some((l) => l.level === 'error')).toBe(true)
  })

  it('a write that cannot create the directory is logged, and later operations still run', async () => {
    writeFileSync(join(dir.path, clientId), 'a file where the client directory should be')
    const logger = recordingLogger()
    const s = open(logger)
    s.updateOffset(mq(0), 4, false)
    await expect(s.persistAll([mq(0)])).resolves.toBeUndefined()
    expect(logger.lines.some((l) => l.level === 'error')).toBe(true)
    expect(await s.readOffset(mq(0), ReadOffsetType.READ_FROM_STORE)).toBe(-1)
  })
})
