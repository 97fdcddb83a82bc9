import type { MessageExt } from '../../ts/common/message/message-ext.js'
import { decodeMessages } from '../../ts/common/message/message-record.js'
import type { MessageStore } from '../../ts/store/message-store.js'

/** Every message of a queue, from its min offset, pulled 32 at a time as a consumer would. */
export async function readQueue(store: MessageStore, topic = 'TopicTest', queueId = 0): Promise<MessageExt[]> {
  const out: MessageExt[] = []
  let offset = store.getMinOffsetInQueue(topic, queueId)
  for (;;) {
    const r = await store.getMessage('g', topic, queueId, offset, 32)
    if (r.status !== 'FOUND') break
    out.push(...decodeMessages(r.buffer))
    offset = r.nextBeginOffset
  }
  return out
}

/** The index each test body carries in its first four bytes (see `indexedBody`). */
export function bodyIndexes(messages: MessageExt[]): number[] {
  return messages.map((m) => m.body.readUInt32BE(0))
}
