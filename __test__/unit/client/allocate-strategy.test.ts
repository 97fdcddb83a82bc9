/**
 * Allocation strategies (client.md §4.3). The machine-room and averagely vectors are ports of RocketMQ's
 * `AllocateMessageQueueByMachineRoomTest` and `AllocateMessageQueueAveragelyTest`; the consistent-hash vector was
 * computed independently from MD5 digests (Python's hashlib) and is pinned digest by digest below.
 */
import { createHash } from 'node:crypto'

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import {
  allocateAveragely,
  allocateAveragelyByCircle,
  allocateByConfig,
  allocateByMachineRoom,
  allocateConsistentHash,
  compareMessageQueues,
  consistentHashMd5,
  messageQueueHashKey,
  sortMessageQueues,
  type AllocateStrategy,
} from '../../../ts/client/allocate-strategy.js'
import { MQClientError } from '../../../ts/client/client-error.js'
import type { MessageQueue } from '../../../ts/remoting/protocol/message-queue.js'

function queues(n: number, topic = 'T', brokerName = 'b'): MessageQueue[] {
  return Array.from({ length: n }, (_, queueId) => ({ topic, brokerName, queueId }))
}

function cids(c: number): string[] {
  return Array.from({ length: c }, (_, i) => `CID_PREFIX${i}`)
}

const ids = (mqs: readonly MessageQueue[]): number[] => mqs.map((q) => q.queueId)

/** Every client's allocation, in `cidAll` order. */
function allocateAll(s: AllocateStrategy, mqAll: readonly MessageQueue[], cidAll: readonly string[]): MessageQueue[][] {
  return cidAll.map((cid) => s.allocate('G', cid, mqAll, cidAll))
}

describe('sortMessageQueues', () => {
  it('orders by topic, then brokerName, then queueId, and leaves its input alone', () => {
    const input: MessageQueue[] = [
      { topic: 'b', brokerName: 'x', queueId: 0 },
      { topic: 'a', brokerName: 'y', queueId: 2 },
      { topic: 'a', brokerName: 'y', queueId: 10 },
      { topic: 'a', brokerName: 'x', queueId: 5 },
    ]
    const before = structuredClone(input)
    expect(sortMessageQueues(input)).toEqual([
      { topic: 'a', brokerName: 'x', queueId: 5 },
      { topic: 'a', brokerName: 'y', queueId: 2 },
      { topic: 'a', brokerName: 'y', queueId: 10 },
      { topic: 'b', brokerName: 'x', queueId: 0 },
    ])
    expect(input).toEqual(before)
  })

  it('compares strings by UTF-16 code units like String#compareTo, not by locale or code point', () => {
    // 'Z' (0x5A) < 'a' (0x61): a locale compare would put 'a' first.
    expect(
      compareMessageQueues({ topic: 'Z', brokerName: '', queueId: 0 }, { topic: 'a', brokerName: '', queueId: 0 }),
    ).toBeLessThan(0)
    // U+FF5E (one unit 0xFF5E) sorts after U+1F600 (surrogates 0xD83D 0xDE00) by code units, before it by code point.
    const astral = { topic: 'T', brokerName: '\u{1F600}', queueId: 0 }
    const bmp = { topic: 'T', brokerName: '\uFF5E', queueId: 0 }
    expect(sortMessageQueues([bmp, astral])).toEqual([astral, bmp])
  })

  it('compares queue ids numerically', () => {
    expect(ids(sortMessageQueues([2, 10, 1].map((queueId) => ({ topic: 'T', brokerName: 'b', queueId }))))).toEqual([
      1, 2, 10,
    ])
  })
})

describe('argument check (AbstractAllocateMessageQueueStrategy#check)', () => {
  const strategies: AllocateStrategy[] = [
    allocateAveragely,
    allocateAveragelyByCircle,
    allocateConsistentHash(),
    allocateByMachineRoom(['room1']),
  ]

  for (const s of strategies) {
    it(`${s.name}: empty currentCid, mqAll or cidAll throw RMQ_ERR_ALLOCATE_ARGUMENT`, () => {
      const mqAll = queues(4)
      const expectError = (f: () => unknown, message: string): void => {
        let caught: unknown
        try {
          f()
        } catch (err) {
          caught = err
        }
        expect(caught).toBeInstanceOf(MQClientError)
        expect((caught as MQClientError).code).toBe('RMQ_ERR_ALLOCATE_ARGUMENT')
        expect((caught as MQClientError).message).toBe(message)
      }
      expectError(() => s.allocate('G', '', mqAll, ['c']), 'currentCID is empty')
      expectError(() => s.allocate('G', 'c', [], ['c']), 'mqAll is null or mqAll empty')
      expectError(() => s.allocate('G', 'c', mqAll, []), 'cidAll is null or cidAll empty')
    })

    it(`${s.name}: a client missing from cidAll gets nothing`, () => {
      expect(s.allocate('G', 'stranger', queues(4, 'T', 'room1@b'), ['c1', 'c2'])).toEqual([])
    })
  }

  it('CONFIG skips the check, as Java does: it returns the configured queues whatever the arguments', () => {
    const configured = [{ topic: 'T', brokerName: 'b', queueId: 3 }]
    const s = allocateByConfig(configured)
    expect(s.name).toBe('CONFIG')
    expect(s.allocate('G', '', [], [])).toEqual(configured)
    expect(s.allocate('G', 'c', queues(8), ['x'])).toEqual(configured)
  })

  it('CONFIG hands out copies: neither the caller mutating its input nor a result changes later answers', () => {
    const configured = [{ topic: 'T', brokerName: 'b', queueId: 3 }]
    const s = allocateByConfig(configured)
    configured[0]!.queueId = 99
    s.allocate('G', 'c', queues(1), ['c'])[0]!.queueId = 42
    expect(ids(s.allocate('G', 'c', queues(1), ['c']))).toEqual([3])
  })
})

describe('AVG (AllocateMessageQueueAveragely)', () => {
  it('N=8, C=3 gives [0,1,2], [3,4,5], [6,7]', () => {
    expect(allocateAll(allocateAveragely, queues(8), cids(3)).map(ids)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7],
    ])
  })

  it('N=10, C=4 gives sizes 3,3,2,2 (AllocateMessageQueueAveragelyTest)', () => {
    expect(allocateAll(allocateAveragely, queues(10), cids(4)).map((r) => r.length)).toEqual([3, 3, 2, 2])
  })

  it('N=6, C=3 divides evenly', () => {
    expect(allocateAll(allocateAveragely, queues(6), cids(3)).map(ids)).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ])
  })

  it('N < C: the first N clients get one queue each, the others none', () => {
    expect(allocateAll(allocateAveragely, queues(2), cids(5)).map(ids)).toEqual([[0], [1], [], [], []])
  })

  it('uses the position of currentCid in cidAll as given (it does not sort)', () => {
    expect(ids(allocateAveragely.allocate('G', 'a', queues(4), ['z', 'a']))).toEqual([2, 3])
  })
})

describe('AVG_BY_CIRCLE (AllocateMessageQueueAveragelyByCircle)', () => {
  it('N=8, C=3 deals queues round the table', () => {
    expect(allocateAll(allocateAveragelyByCircle, queues(8), cids(3)).map(ids)).toEqual([
      [0, 3, 6],
      [1, 4, 7],
      [2, 5],
    ])
  })

  it('N < C: the first N clients get one queue each, the others none', () => {
    expect(allocateAll(allocateAveragelyByCircle, queues(2), cids(5)).map(ids)).toEqual([[0], [1], [], [], []])
  })
})

describe('CONSISTENT_HASH (AllocateMessageQueueConsistentHash)', () => {
  /** Digest prefixes computed with Python's hashlib.md5, not with node. */
  const digests: [string, string][] = [
    ['cidA-0', '0338da5c'],
    ['cidA-1', 'b4492305'],
    ['cidB-0', '3d581291'],
    ['cidB-1', 'def808c9'],
    ['MessageQueue [topic=T, brokerName=b, queueId=0]', '218a9c35'],
    ['MessageQueue [topic=T, brokerName=b, queueId=1]', 'e2ae4b25'],
    ['MessageQueue [topic=T, brokerName=b, queueId=2]', '75ff8207'],
    ['MessageQueue [topic=T, brokerName=b, queueId=3]', '19e13e53'],
    ['MessageQueue [topic=T, brokerName=b, queueId=4]', 'ff8e7fee'],
    ['MessageQueue [topic=T, brokerName=b, queueId=5]', 'e2d6c924'],
  ]

  it('hashes a key to the first 4 MD5 bytes, big-endian and unsigned', () => {
    for (const [key, prefix] of digests) {
      expect(createHash('md5').update(key, 'utf8').digest('hex').slice(0, 8)).toBe(prefix)
      expect(consistentHashMd5(key)).toBe(parseInt(prefix, 16))
    }
    // Top bit set: must stay positive.
    expect(consistentHashMd5('cidA-1')).toBe(3_024_691_973)
  })

  it('keys a queue like MessageQueue#toString', () => {
    expect(messageQueueHashKey({ topic: 'T', brokerName: 'b', queueId: 4 })).toBe(
      'MessageQueue [topic=T, brokerName=b, queueId=4]',
    )
  })

  it('matches the hand-computed vector (2 clients, 2 virtual nodes each, 6 queues)', () => {
    // Ring: 0338da5c A, 3d581291 B, b4492305 A, def808c9 B.
    // q0 218a9c35 → 3d58 B; q1 e2ae4b25 → past the end, wraps → A; q2 75ff8207 → b449 A;
    // q3 19e13e53 → 3d58 B; q4 ff8e7fee → wraps → A; q5 e2d6c924 → wraps → A.
    const s = allocateConsistentHash(2)
    expect(s.name).toBe('CONSISTENT_HASH')
    expect(ids(s.allocate('G', 'cidA', queues(6), ['cidA', 'cidB']))).toEqual([1, 2, 4, 5])
    expect(ids(s.allocate('G', 'cidB', queues(6), ['cidA', 'cidB']))).toEqual([0, 3])
  })

  it('a single client owns every queue, wherever its points fall', () => {
    expect(ids(allocateConsistentHash(1).allocate('G', 'cidA', queues(6), ['cidA']))).toEqual([0, 1, 2, 3, 4, 5])
  })

  /** A hash function from a table, recording the keys it was asked for (Java's `customHashFunction`). */
  function tableHash(table: Record<string, number>): { hash: (key: string) => number; asked: string[] } {
    const asked: string[] = []
    return {
      asked,
      hash: (key) => {
        asked.push(key)
        const v = table[key]
        if (v === undefined) throw new Error(`no hash for ${key}`)
        return v
      },
    }
  }
  const qkey = (queueId: number): string => messageQueueHashKey({ topic: 'T', brokerName: 'b', queueId })

  it('a queue hashing exactly onto a ring point belongs to that point; past the last point it wraps', () => {
    const { hash } = tableHash({
      'a-0': 100,
      'b-0': 200,
      [qkey(0)]: 100,
      [qkey(1)]: 150,
      [qkey(2)]: 200,
      [qkey(3)]: 201,
      [qkey(4)]: 0,
    })
    const s = allocateConsistentHash(1, hash)
    expect(ids(s.allocate('G', 'a', queues(5), ['a', 'b']))).toEqual([0, 3, 4])
    expect(ids(s.allocate('G', 'b', queues(5), ['a', 'b']))).toEqual([1, 2])
  })

  it('a later node hashing onto an occupied point replaces the earlier one (TreeMap#put)', () => {
    const { hash } = tableHash({ 'a-0': 100, 'b-0': 100, [qkey(0)]: 50, [qkey(1)]: 150 })
    const s = allocateConsistentHash(1, hash)
    expect(s.allocate('G', 'a', queues(2), ['a', 'b'])).toEqual([])
    expect(ids(s.allocate('G', 'b', queues(2), ['a', 'b']))).toEqual([0, 1])
  })

  it('a repeated cid numbers its nodes after those of its own still on the ring (getExistingReplicas)', () => {
    const plain = tableHash({ 'a-0': 1, 'a-1': 2, 'a-2': 3, 'a-3': 4, [qkey(0)]: 0 })
    allocateConsistentHash(2, plain.hash).allocate('G', 'a', queues(1), ['a', 'a'])
    expect(plain.asked.slice(0, 4)).toEqual(['a-0', 'a-1', 'a-2', 'a-3'])
    // b's node took a's only point, so a has no node left when it is added again and restarts at 0.
    const clash = tableHash({ 'a-0': 100, 'b-0': 100, [qkey(0)]: 0 })
    allocateConsistentHash(1, clash.hash).allocate('G', 'a', queues(1), ['a', 'b', 'a'])
    expect(clash.asked.slice(0, 3)).toEqual(['a-0', 'b-0', 'a-0'])
  })

  it('with zero virtual nodes the ring is empty and nobody gets anything', () => {
    expect(allocateConsistentHash(0).allocate('G', 'c', queues(3), ['c'])).toEqual([])
  })

  it('refuses a negative or fractional virtual node count', () => {
    expect(() => allocateConsistentHash(-1)).toThrow(MQClientError)
    expect(() => allocateConsistentHash(1.5)).toThrow(MQClientError)
  })

  it('when one client leaves, only the queues it owned move', () => {
    const mqAll = sortMessageQueues([...queues(40, 'T', 'a'), ...queues(24, 'T', 'b'), ...queues(8, 'U', 'a')])
    const before = ['10.0.0.1@1', '10.0.0.2@1', '10.0.0.3@1', '10.0.0.4@1', '10.0.0.5@1']
    const leaving = '10.0.0.3@1'
    const after = before.filter((c) => c !== leaving)
    const s = allocateConsistentHash()
    const owner = (cidAll: string[]): Map<string, string> => {
      const m = new Map<string, string>()
      for (const cid of cidAll) for (const q of s.allocate('G', cid, mqAll, cidAll)) m.set(messageQueueHashKey(q), cid)
      return m
    }
    const o1 = owner(before)
    const o2 = owner(after)
    let moved = 0
    for (const [key, cid] of o1) {
      if (cid === leaving) {
        moved++
        expect(o2.get(key)).not.toBe(leaving)
      } else {
        expect(o2.get(key)).toBe(cid)
      }
    }
    expect(moved).toBeGreaterThan(0)
  })

  it('stability holds for any client set (property)', () => {
    const s = allocateConsistentHash()
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 8 }),
        fc.integer({ min: 1, max: 48 }),
        fc.nat(),
        (cidAll, n, pick) => {
          const mqAll = queues(n)
          const leaving = cidAll[pick % cidAll.length]!
          const rest = cidAll.filter((c) => c !== leaving)
          for (const cid of rest) {
            const kept = new Set(ids(s.allocate('G', cid, mqAll, cidAll)))
            const now = new Set(ids(s.allocate('G', cid, mqAll, rest)))
            for (const q of kept) expect(now.has(q)).toBe(true)
          }
        },
      ),
    )
  })
})

describe('MACHINE_ROOM (AllocateMessageQueueByMachineRoom)', () => {
  const mqAll = [
    ...queues(5, 'topic', 'room1@broker-a'),
    ...queues(5, 'topic', 'room2@broker-b').map((q) => ({ ...q, queueId: q.queueId + 5 })),
  ]

  it('AllocateMessageQueueByMachineRoomTest: room1 queues split as [0,1,4] and [2,3]', () => {
    const s = allocateByMachineRoom(['room1'])
    expect(s.name).toBe('MACHINE_ROOM')
    expect(allocateAll(s, mqAll, cids(2)).map(ids)).toEqual([
      [0, 1, 4],
      [2, 3],
    ])
  })

  it('P < C: the first P clients get one queue each from the tail rule', () => {
    const s = allocateByMachineRoom(['room2'])
    expect(allocateAll(s, mqAll.slice(0, 7), cids(3)).map(ids)).toEqual([[5], [6], []])
  })

  it('takes only brokerNames that split on "@" into exactly two parts, Java-style', () => {
    const s = allocateByMachineRoom(['r'])
    const names = ['r@x', 'r@x@', 'r@', 'r@x@y', 'r', 'q@x', '@x']
    const mqs = names.map((brokerName, queueId) => ({ topic: 'T', brokerName, queueId }))
    // 'r@x@' keeps two parts (trailing empty strings are dropped); 'r@' has one; 'r@x@y' three.
    expect(ids(s.allocate('G', 'c', mqs, ['c']))).toEqual([0, 1])
    // An empty room name is a room like any other.
    expect(ids(allocateByMachineRoom(['']).allocate('G', 'c', mqs, ['c']))).toEqual([6])
  })
})

describe('partition property: all clients together own every queue exactly once', () => {
  const room = 'r1'
  const strategies: [string, () => AllocateStrategy][] = [
    ['AVG', () => allocateAveragely],
    ['AVG_BY_CIRCLE', () => allocateAveragelyByCircle],
    ['CONSISTENT_HASH', () => allocateConsistentHash()],
    ['MACHINE_ROOM', () => allocateByMachineRoom([room])],
  ]

  for (const [name, make] of strategies) {
    it(name, () => {
      const s = make()
      fc.assert(
        fc.property(
          fc.uniqueArray(
            fc.record({
              topic: fc.constantFrom('T', 'U'),
              brokerName: fc.constantFrom(`${room}@a`, `${room}@b`),
              queueId: fc.integer({ min: 0, max: 63 }),
            }),
            { minLength: 1, maxLength: 64, selector: (q) => messageQueueHashKey(q) },
          ),
          fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 12 }),
          (mqs, cidList) => {
            const mqAll = sortMessageQueues(mqs)
            const cidAll = [...cidList].sort()
            const seen = new Map<string, number>()
            for (const r of allocateAll(s, mqAll, cidAll)) {
              for (const q of r) seen.set(messageQueueHashKey(q), (seen.get(messageQueueHashKey(q)) ?? 0) + 1)
            }
            expect(seen.size).toBe(mqAll.length)
            for (const count of seen.values()) expect(count).toBe(1)
          },
        ),
      )
    })
  }

  it('AVG gives contiguous blocks whose sizes differ by at most one, larger ones first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 30 }), (n, c) => {
        const results = allocateAll(allocateAveragely, queues(n), cids(c))
        expect(results.flatMap(ids)).toEqual(ids(queues(n)))
        const sizes = results.map((r) => r.length)
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
        expect([...sizes].sort((a, b) => b - a)).toEqual(sizes)
      }),
    )
  })
})
