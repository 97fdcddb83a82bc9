/** ferrymq's public entry point. */
import { BrokerController, type BrokerControllerOptions } from './broker/broker-controller.js'
import { NamesrvController } from './namesrv/namesrv-controller.js'

export {
  NativeMessageStore,
  type MessageStoreConfig,
  type NativeMessageStoreOptions,
} from './store/native-message-store.js'
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
export {
  RocketMQError,
  StoreError,
  ConfigError,
  RemotingError,
  ProtocolError,
  BrokerResponseError,
} from './common/errors.js'
export type { Logger } from './common/logger.js'

// Server side: name server, broker, remoting.
export { NamesrvController, type NamesrvControllerOptions } from './namesrv/namesrv-controller.js'
export { newNamesrvConfig, type NamesrvConfig } from './namesrv/namesrv-config.js'
export { BrokerController, type BrokerControllerOptions } from './broker/broker-controller.js'
export {
  loadBrokerConfig,
  defaultBrokerConfig,
  type BrokerConfig,
  type LoadedBrokerConfig,
} from './broker/broker-config.js'
export { buildAdminApp, type AdminAppOptions } from './admin/build-admin-app.js'
export { RemotingClient, type RemotingClientOptions } from './remoting/remoting-client.js'
export { RemotingServer, type RemotingServerOptions, type TlsMode } from './remoting/remoting-server.js'
export { RemotingCommand, SerializeType } from './remoting/remoting-command.js'
export type { RPCHook } from './remoting/rpc-hook.js'
export { AclClientRPCHook } from './remoting/acl-client-rpc-hook.js'
export { RequestCode } from './common/request-code.js'
export { ResponseCode, responseCodeInfo } from './common/response-code.js'

/** Starts a name server; resolves once it listens (`NamesrvStartup`). */
export const startNamesrv = NamesrvController.start

/** Starts a broker; resolves once it listens, its store is open and it has registered (`BrokerStartup`). */
export async function startBroker(options: BrokerControllerOptions): Promise<BrokerController> {
  const broker = new BrokerController(options)
  await broker.start()
  return broker
}

// Client SDK: the producer.
export { Producer, type SendOptions, encodeMessageBatch } from './client/producer.js'
export { Message, type MessageInit } from './client/message.js'
export { MQClientError } from './client/client-error.js'
export { type ProducerOptions } from './client/client-config.js'
export { SendStatus, type SendResult } from './client/send-result.js'
export {
  LocalTransactionState,
  TransactionProducer,
  type TransactionListener,
  type TransactionProducerOptions,
  type TransactionSendResult,
} from './client/transaction-producer.js'
export type { TransactionCheckMessage } from './client/client-instance.js'
export {
  selectByHash,
  selectByMachineRoom,
  selectRandom,
  type MachineRoomSelector,
  type MessageQueueSelector,
} from './client/message-queue-selector.js'
export { createUniqId } from './client/message-client-id.js'
export type { MessageQueue } from './remoting/protocol/message-queue.js'
// Client SDK: consumers.
export { PushConsumer } from './client/push-consumer.js'
export { MessageSelector } from './client/message-selector.js'
export {
  LitePullConsumer,
  type LitePullConsumerOptions,
  type TopicMessageQueueChangeListener,
} from './client/lite-pull-consumer.js'
export { ConsumeFromWhere, type ConsumerOptions, type PushConsumerOptions } from './client/consumer-config.js'
export type { ClientOptions } from './client/client-config.js'
export {
  ConsumeConcurrentlyStatus,
  ConsumeOrderlyStatus,
  type ConsumeConcurrentlyContext,
  type ConsumeOrderlyContext,
  type MessageListenerConcurrently,
  type MessageListenerOrderly,
} from './client/consume-service.js'
export type { ReceivedMessage } from './client/pull-api-wrapper.js'
export {
  allocateAveragely,
  allocateAveragelyByCircle,
  allocateByConfig,
  allocateByMachineRoom,
  allocateConsistentHash,
  type AllocateStrategy,
} from './client/allocate-strategy.js'
export {
  LocalFileOffsetStore,
  ReadOffsetType,
  RemoteBrokerOffsetStore,
  type OffsetBackend,
  type OffsetStore,
} from './client/offset-store.js'
// Client SDK: the admin client.
export { AdminClient, type AdminClientOptions } from './client/admin-client.js'
export {
  RESET_TO_MAX_OFFSET,
  uniqIdTimestampMs,
  type BrokerHAStatus,
  type ClusterBroker,
  type ClusterBrokerRuntime,
  type ConsumerConnections,
  type ConsumerProgress,
  type ConsumerQueueProgress,
  type HAMasterLink,
  type HASlaveRuntime,
  type QueryMessageByIdOptions,
  type QueryResult,
  type ResetOffsetQueue,
  type ResetOffsetResult,
  type TopicBrokerConfig,
  type TopicDeleteResult,
  type TopicOptions,
  type TopicStats,
  type TopicTarget,
  type TopicUpdateResult,
} from './client/admin-model.js'
export type { Connection, ConsumerConnection, QueueConsumeStats, TopicQueueStats } from './client/admin-api.js'
export type { BrokerData, ClusterInfo, QueueData, TopicRouteData } from './remoting/protocol/route.js'
export type { ExpressionType, SubscriptionData } from './remoting/protocol/heartbeat.js'
export type { TopicConfig, TopicFilterType } from './common/topic-config.js'
