/**
 * Queue selectors for orderly sends (`SelectMessageQueueByHash`, `SelectMessageQueueByRandom`, client.md §3.12).
 */
import { javaStringHash } from '../common/java-hash.js'
import type { MessageQueue } from '../remoting/protocol/message-queue.js'
import type { Message } from './message.js'

export type MessageQueueSelector = (mqs: readonly MessageQueue[], msg: Message, arg: unknown) => MessageQueue

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
export const selectByHash: MessageQueueSelector = (mqs, _msg, arg) => {
  return mqs[Math.abs(javaHashCode(arg) % mqs.length)]!
}

export const selectRandom: MessageQueueSelector = (mqs) => {
  return mqs[Math.floor(Math.random() * mqs.length)]!
}
