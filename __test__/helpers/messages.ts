import { messageProperties2String } from '../../ts/common/message/message-properties.js'
import { encodeHost } from '../../ts/common/message/socket-address.js'
import type { MessageExtBrokerInner } from '../../ts/store/message-store.js'

export const BORN_HOST = encodeHost('10.1.2.3', 50_001)

export interface TestMessageOptions {
  topic?: string
  queueId?: number
  body?: Buffer
  tags?: string
  keys?: string
  uniqKey?: string
  properties?: Record<string, string>
  waitStoreMsgOK?: boolean
  sysFlag?: number
}

/** A message as the broker would hand it to the store. */
export function testMessage(o: TestMessageOptions = {}): MessageExtBrokerInner {
  const props: Record<string, string> = { ...o.properties }
  if (o.tags) props.TAGS = o.tags
  if (o.keys) props.KEYS = o.keys
  if (o.uniqKey) props.UNIQ_KEY = o.uniqKey
  return {
    topic: o.topic ?? 'TopicTest',
    queueId: o.queueId ?? 0,
    flag: 0,
    body: o.body ?? Buffer.from('hello'),
    propertiesString: messageProperties2String(props),
    bornTimestamp: 1_700_000_000_000,
    bornHost: BORN_HOST,
    sysFlag: o.sysFlag ?? 0,
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    waitStoreMsgOK: o.waitStoreMsgOK,
  }
}

/** A body that carries its index, so tests can tell bodies apart. */
export function indexedBody(i: number, size = 64): Buffer {
  const b = Buffer.alloc(size, i % 251)
  b.writeUInt32BE(i, 0)
  return b
}
