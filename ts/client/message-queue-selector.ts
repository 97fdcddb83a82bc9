/**
 * Queue selectors for orderly sends (`SelectMessageQueueByHash`, `SelectMessageQueueByRandom`,
 * `SelectMessageQueueByMachineRoom`, client.md §3.12).
 */
import { javaStringHash } from '../common/java-hash.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { Message } from './message.js'

/** Picks the queue of an orderly send; no queue (`null`) fails the send, as in Java ("select message queue return null"). */
export type MessageQueueSelector = (
  mqs: readonly MessageQueue[],
  msg: Message,
  arg: unknown,
) => MessageQueue | null | undefined

/** Java's `hashCode()` of a string (`String`), a 32-bit integer (`Integer`) or a 64-bit one (`Long`). */
export function javaHashCode(arg: unknown): number {
  if (typeof arg === 'string') return javaStringHash(arg)
  if (typeof arg === 'number' && Number.isInteger(arg) && arg >= -0x80000000 && arg <= 0x7fffffff) return arg
  if (typeof arg === 'bigint' || (typeof arg === 'number' && Number.isSafeInteger(arg))) {
    const v = BigInt.asUintN(64, BigInt(arg))
    return Number(BigInt.asIntN(32, v ^ (v >> 32n)))
  }
  throw new TypeError(`selectByHash needs a string or an integer argument, got ${typeof arg}`)
}

/** `|hashCode(arg) % size|`: equal arguments go to the same queue. */
export function selectByHash(mqs: readonly MessageQueue[], _msg: Message, arg: unknown): MessageQueue {
  return mqs[Math.abs(javaHashCode(arg) % mqs.length)]!
}

export function selectRandom(mqs: readonly MessageQueue[]): MessageQueue {
  return mqs[Math.floor(Math.random() * mqs.length)]!
}

/** A selector by machine room, with the consumer IDCs it was given (`SelectMessageQueueByMachineRoom`). */
export interface MachineRoomSelector extends MessageQueueSelector {
  readonly consumeridcs: ReadonlySet<string>
}

/**
 * `SelectMessageQueueByMachineRoom`, reproduced as RocketMQ ships it (4.9.x and 5.x alike): it holds a set of
 * consumer IDCs (`consumeridcs`) but `select` ignores them and returns null, so an orderly send through it always
 * fails with "select message queue return null". It is an unfinished placeholder upstream; we keep the behaviour
 * rather than invent a machine-room rule Java clients would not share. Write your own selector to pin a room.
 */
export function selectByMachineRoom(consumeridcs: Iterable<string> = []): MachineRoomSelector {
  const selector = (() => null) as unknown as MessageQueueSelector
  return Object.assign(selector, { consumeridcs: new Set(consumeridcs) as ReadonlySet<string> })
}
