import { MessageConst, KEY_SEPARATOR } from './message-const.js'

/** A stored message as a reader sees it (`MessageExt`). */
export interface MessageExt {
  topic: string
  flag: number
  properties: Map<string, string>
  body: Buffer
  queueId: number
  /** Size of the whole stored record. */
  storeSize: number
  queueOffset: number
  sysFlag: number
  bornTimestamp: number
  /** `ip:port` of the producer. */
  bornHost: string
  storeTimestamp: number
  /** `ip:port` of the broker that stored it. */
  storeHost: string
  /** The offset message id (store host + commit-log offset). */
  msgId: string
  commitLogOffset: number
  bodyCRC: number
  reconsumeTimes: number
  preparedTransactionOffset: number
}

export function messageTags(m: { properties: Map<string, string> }): string | undefined {
  return m.properties.get(MessageConst.PROPERTY_TAGS)
}

export function messageKeys(m: { properties: Map<string, string> }): string[] {
  const keys = m.properties.get(MessageConst.PROPERTY_KEYS)
  return keys ? keys.split(KEY_SEPARATOR).filter((k) => k.length > 0) : []
}

export function messageUniqKey(m: { properties: Map<string, string> }): string | undefined {
  return m.properties.get(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX)
}
