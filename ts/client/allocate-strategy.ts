/**
 * Queue allocation strategies for rebalance (client.md §4.3), mirroring RocketMQ's
 * `AllocateMessageQueueStrategy` implementations: `AllocateMessageQueueAveragely` (AVG),
 * `AllocateMessageQueueAveragelyByCircle` (AVG_BY_CIRCLE), `AllocateMessageQueueConsistentHash` with
 * `ConsistentHashRouter` (CONSISTENT_HASH), `AllocateMessageQueueByConfig` (CONFIG) and
 * `AllocateMessageQueueByMachineRoom` (MACHINE_ROOM), plus the argument check of
 * `AbstractAllocateMessageQueueStrategy` and the ordering of `MessageQueue#compareTo`.
 *
 * Every strategy is a pure function of its arguments: no I/O, no logging, no clock. Like Java, strategies do not
 * sort their inputs; rebalance passes `mqAll` sorted with `sortMessageQueues` and `cidAll` sorted.
 */
import { createHash } from 'node:crypto'

import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import { MQClientError } from './client-error.js'

export type AllocateStrategy = {
  /** The name Java reports from `getName()`: AVG, AVG_BY_CIRCLE, CONSISTENT_HASH, CONFIG, MACHINE_ROOM. */
  name: string
  /**
   * The queues `currentCid` should own. Throws `MQClientError` (`RMQ_ERR_ALLOCATE_ARGUMENT`) when `currentCid`,
   * `mqAll` or `cidAll` is empty; returns an empty list when `currentCid` is not in `cidAll`.
   */
  allocate(group: string, currentCid: string, mqAll: readonly MessageQueue[], cidAll: readonly string[]): MessageQueue[]
}

/** `MessageQueue#compareTo`: topic, then brokerName (UTF-16 code units, as `String#compareTo`), then queueId. */
export function compareMessageQueues(a: MessageQueue, b: MessageQueue): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1
  return a.queueId - b.queueId
}

/** A sorted copy of `mqs` (the input is left alone), the order rebalance feeds to a strategy. */
export function sortMessageQueues(mqs: Iterable<MessageQueue>): MessageQueue[] {
  return [...mqs].sort(compareMessageQueues)
}

/**
 * `AbstractAllocateMessageQueueStrategy#check`: empty arguments are a caller bug and throw; a client missing from
 * `cidAll` (it registered after the broker answered) gets nothing this round. Java logs that case; we stay pure and
 * leave the logging to rebalance, which sees the empty result.
 */
function check(currentCid: string, mqAll: readonly MessageQueue[], cidAll: readonly string[]): boolean {
  if (currentCid.length === 0) throw new MQClientError('RMQ_ERR_ALLOCATE_ARGUMENT', 'currentCID is empty')
  if (mqAll.length === 0) throw new MQClientError('RMQ_ERR_ALLOCATE_ARGUMENT', 'mqAll is null or mqAll empty')
  if (cidAll.length === 0) throw new MQClientError('RMQ_ERR_ALLOCATE_ARGUMENT', 'cidAll is null or cidAll empty')
  return cidAll.includes(currentCid)
}

/**
 * AVG (`AllocateMessageQueueAveragely`): contiguous blocks, the first `N % C` clients taking one extra queue.
 * N=8, C=3 → [0,1,2], [3,4,5], [6,7]. With N < C the last C − N clients get nothing.
 */
export const allocateAveragely: AllocateStrategy = {
  name: 'AVG',
  allocate(_group, currentCid, mqAll, cidAll) {
    if (!check(currentCid, mqAll, cidAll)) return []
    const n = mqAll.length
    const c = cidAll.length
    const index = cidAll.indexOf(currentCid)
    const mod = n % c
    const extra = mod > 0 && index < mod
    const averageSize = n <= c ? 1 : extra ? Math.floor(n / c) + 1 : Math.floor(n / c)
    const startIndex = extra ? index * averageSize : index * averageSize + mod
    const range = Math.min(averageSize, n - startIndex)
    // A negative range (N < C, index ≥ N) yields an empty slice, as Java's loop runs zero times.
    return range > 0 ? mqAll.slice(startIndex, startIndex + range) : []
  },
}

/** AVG_BY_CIRCLE (`AllocateMessageQueueAveragelyByCircle`): every queue whose index ≡ this client's index mod C. */
export const allocateAveragelyByCircle: AllocateStrategy = {
  name: 'AVG_BY_CIRCLE',
  allocate(_group, currentCid, mqAll, cidAll) {
    if (!check(currentCid, mqAll, cidAll)) return []
    const index = cidAll.indexOf(currentCid)
    const result: MessageQueue[] = []
    for (let i = index; i < mqAll.length; i += cidAll.length) result.push(mqAll[i]!)
    return result
  },
}

/**
 * `ConsistentHashRouter`'s default `MD5Hash`: the first 4 bytes of MD5(UTF-8 key) as an unsigned big-endian
 * 32-bit number (Java builds it in a `long`, so it is never negative).
 */
export function consistentHashMd5(key: string): number {
  return createHash('md5').update(key, 'utf8').digest().readUInt32BE(0)
}

/** `MessageQueue#toString`, the key a queue is hashed by on the ring. */
export function messageQueueHashKey(mq: MessageQueue): string {
  return `MessageQueue [topic=${mq.topic}, brokerName=${mq.brokerName}, queueId=${mq.queueId}]`
}

/** The ring as sorted hashes and, at the same index, the client owning that point. */
interface HashRing {
  hashes: number[]
  owners: string[]
}

/**
 * Builds the ring as `ConsistentHashRouter` does: clients are added in `cidAll` order, each with virtual nodes
 * `"<cid>-<i>"`, where i starts at the number of that client's nodes already on the ring (non-zero only for a
 * duplicated cid), and a later node that hashes to an occupied point replaces the earlier one (`TreeMap#put`).
 */
function buildRing(cidAll: readonly string[], virtualNodeCnt: number, hash: (key: string) => number): HashRing {
  const ring = new Map<number, string>()
  const nodesPerCid = new Map<string, number>()
  for (const cid of cidAll) {
    const existingReplicas = nodesPerCid.get(cid) ?? 0
    for (let i = 0; i < virtualNodeCnt; i++) {
      const point = hash(`${cid}-${i + existingReplicas}`)
      const previous = ring.get(point)
      if (previous !== undefined) nodesPerCid.set(previous, nodesPerCid.get(previous)! - 1)
      ring.set(point, cid)
      nodesPerCid.set(cid, (nodesPerCid.get(cid) ?? 0) + 1)
    }
  }
  const hashes = [...ring.keys()].sort((a, b) => a - b)
  return { hashes, owners: hashes.map((h) => ring.get(h)!) }
}

/** `ConsistentHashRouter#routeNode`: the first ring point ≥ the key's hash, wrapping to the smallest. */
function routeNode(ring: HashRing, hash: number): string | undefined {
  const { hashes, owners } = ring
  if (hashes.length === 0) return undefined
  let lo = 0
  let hi = hashes.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (hashes[mid]! < hash) lo = mid + 1
    else hi = mid
  }
  return owners[lo === hashes.length ? 0 : lo]
}

/**
 * CONSISTENT_HASH (`AllocateMessageQueueConsistentHash`): a queue belongs to the client owning the first ring
 * point at or after the queue's hash. When a client leaves, only the queues it owned move. `hashFunction` is Java's
 * optional `customHashFunction`; it must return non-negative integers below 2^53 so the ring order is exact.
 */
export function allocateConsistentHash(
  virtualNodeCnt = 10,
  hashFunction: (key: string) => number = consistentHashMd5,
): AllocateStrategy {
  if (!Number.isInteger(virtualNodeCnt) || virtualNodeCnt < 0) {
    throw new MQClientError('RMQ_ERR_ALLOCATE_ARGUMENT', `illegal virtualNodeCnt :${virtualNodeCnt}`)
  }
  return {
    name: 'CONSISTENT_HASH',
    allocate(_group, currentCid, mqAll, cidAll) {
      if (!check(currentCid, mqAll, cidAll)) return []
      const ring = buildRing(cidAll, virtualNodeCnt, hashFunction)
      return mqAll.filter((mq) => routeNode(ring, hashFunction(messageQueueHashKey(mq))) === currentCid)
    },
  }
}

/**
 * CONFIG (`AllocateMessageQueueByConfig`): always the configured queues. Java skips the argument check here, so
 * this strategy never throws and ignores `cidAll`.
 */
export function allocateByConfig(queues: Iterable<MessageQueue>): AllocateStrategy {
  const configured = [...queues].map((q) => ({ topic: q.topic, brokerName: q.brokerName, queueId: q.queueId }))
  return {
    name: 'CONFIG',
    allocate() {
      return configured.map((q) => ({ ...q }))
    },
  }
}

/**
 * `String#split("@")` as Java does it: trailing empty strings are dropped, so `"room@name@"` has two parts and
 * `"room@"` one.
 */
function javaSplitAt(s: string): string[] {
  const parts = s.split('@')
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop()
  return parts
}

/**
 * MACHINE_ROOM (`AllocateMessageQueueByMachineRoom`): only queues on brokers named `"<room>@<name>"` with `room`
 * in `rooms`; of those P queues each client takes a block of floor(P/C), and the first P % C clients one more from
 * the tail.
 */
export function allocateByMachineRoom(rooms: Iterable<string>): AllocateStrategy {
  const consumeridcs = new Set(rooms)
  return {
    name: 'MACHINE_ROOM',
    allocate(_group, currentCid, mqAll, cidAll) {
      if (!check(currentCid, mqAll, cidAll)) return []
      const currentIndex = cidAll.indexOf(currentCid)
      const premqAll = mqAll.filter((mq) => {
        const parts = javaSplitAt(mq.brokerName)
        return parts.length === 2 && consumeridcs.has(parts[0]!)
      })
      const mod = Math.floor(premqAll.length / cidAll.length)
      const rem = premqAll.length % cidAll.length
      const result = premqAll.slice(mod * currentIndex, mod * currentIndex + mod)
      if (rem > currentIndex) result.push(premqAll[currentIndex + mod * cidAll.length]!)
      return result
    },
  }
}
