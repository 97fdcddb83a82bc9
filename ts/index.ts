/** ferrymq's public entry point. */
export { NativeMessageStore, type MessageStoreConfig, type NativeMessageStoreOptions } from './store/native-message-store.js'
export {
  AppendMessageResult,
  GetMessageResult,
  type MessageExtBrokerInner,
  type MessageFilter,
  type MessageStore,
  type PutMessageResult,
  type QueryMessageResult,
  type RecoveryReport,
  type StoreStats,
  type CleanReport,
  type QueueInfo,
} from './store/message-store.js'
export { PUT_MESSAGE_STATUSES, type PutMessageStatus, isStored } from './store/put-message-status.js'
export { GET_MESSAGE_STATUSES, type GetMessageStatus } from './store/get-message-status.js'
export { decodeMessage, decodeMessages } from './common/message/message-record.js'
export type { MessageExt } from './common/message/message-ext.js'
export { messageProperties2String, string2messageProperties } from './common/message/message-properties.js'
export { MessageConst } from './common/message/message-const.js'
export { MessageSysFlag } from './common/message/message-sys-flag.js'
export { createMessageId, decodeMessageId } from './common/message/message-id.js'
export { encodeHost } from './common/message/socket-address.js'
export { javaStringHash } from './common/java-hash.js'
export { RocketMQError, StoreError, ConfigError, RemotingError, ProtocolError, BrokerResponseError } from './common/errors.js'
export type { Logger } from './common/logger.js'
