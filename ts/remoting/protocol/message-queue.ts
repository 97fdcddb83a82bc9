/**
 * `MessageQueue` (protocol.md §2.9.2): the identity of a queue; equality is on all three members.
 */
import { ProtocolError } from '../../common/errors.js'

export interface MessageQueue {
  topic: string
  brokerName: string
  queueId: number
}

/** A key for maps: equal queues give equal keys. */
export function messageQueueKey(mq: MessageQueue): string {
  return `${mq.topic}\u0000${mq.brokerName}\u0000${mq.queueId}`
}

export function messageQueueFromJson(v: unknown, what: string): MessageQueue {
  const o = v as Record<string, unknown> | null
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.topic !== 'string' ||
    typeof o.brokerName !== 'string' ||
    typeof o.queueId !== 'number' ||
    !Number.isInteger(o.queueId)
  ) {
    throw new ProtocolError('RMQ_ERR_BODY', `${what} is not a MessageQueue`)
  }
  return { topic: o.topic, brokerName: o.brokerName, queueId: o.queueId }
}

/** Members in fastjson's order, so the object can serve as a fastjson map key. */
export function messageQueueJson(mq: MessageQueue): { brokerName: string; queueId: number; topic: string } {
  return { brokerName: mq.brokerName, queueId: mq.queueId, topic: mq.topic }
}
