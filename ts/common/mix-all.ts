/**
 * Names and ids fixed by RocketMQ (`MixAll`, `TopicValidator`, protocol.md §7.5).
 */
export const MixAll = {
  MASTER_ID: 0,
  DEFAULT_CLUSTER: 'DefaultCluster',
  /** The template topic for auto-creation. */
  AUTO_CREATE_TOPIC_KEY_TOPIC: 'TBW102',
  BENCHMARK_TOPIC: 'BenchmarkTest',
  SELF_TEST_TOPIC: 'SELF_TEST_TOPIC',
  OFFSET_MOVED_EVENT: 'OFFSET_MOVED_EVENT',
  SCHEDULE_TOPIC: 'SCHEDULE_TOPIC_XXXX',
  RMQ_SYS_TRANS_HALF_TOPIC: 'RMQ_SYS_TRANS_HALF_TOPIC',
  RMQ_SYS_TRANS_OP_HALF_TOPIC: 'RMQ_SYS_TRANS_OP_HALF_TOPIC',
  TRANS_CHECK_MAX_TIME_TOPIC: 'TRANS_CHECK_MAX_TIME_TOPIC',
  RMQ_SYS_TRACE_TOPIC: 'RMQ_SYS_TRACE_TOPIC',
  RETRY_GROUP_TOPIC_PREFIX: '%RETRY%',
  DLQ_GROUP_TOPIC_PREFIX: '%DLQ%',
  SYSTEM_TOPIC_PREFIX: 'rmq_sys_',
  CLIENT_INNER_PRODUCER_GROUP: 'CLIENT_INNER_PRODUCER',
  TOOLS_CONSUMER_GROUP: 'TOOLS_CONSUMER',
  FILTERSRV_CONSUMER_GROUP: 'FILTERSRV_CONSUMER',
  MONITOR_CONSUMER_GROUP: '__MONITOR_CONSUMER',
  SELF_TEST_PRODUCER_GROUP: 'SELF_TEST_P_GROUP',
  SELF_TEST_CONSUMER_GROUP: 'SELF_TEST_C_GROUP',
  ONS_HTTP_PROXY_GROUP: 'CID_ONS-HTTP-PROXY',
  CID_ONSAPI_PERMISSION_GROUP: 'CID_ONSAPI_PERMISSION',
  CID_ONSAPI_OWNER_GROUP: 'CID_ONSAPI_OWNER',
  CID_ONSAPI_PULL_GROUP: 'CID_ONSAPI_PULL',
  CID_RMQ_SYS_PREFIX: 'CID_RMQ_SYS_',
  DEFAULT_TRACE_REGION_ID: 'DefaultRegion',
  REPLY_TOPIC_POSTFIX: 'REPLY_TOPIC',
} as const

export function getRetryTopic(group: string): string {
  return MixAll.RETRY_GROUP_TOPIC_PREFIX + group
}

export function getDLQTopic(group: string): string {
  return MixAll.DLQ_GROUP_TOPIC_PREFIX + group
}

export function isRetryTopic(topic: string): boolean {
  return topic.startsWith(MixAll.RETRY_GROUP_TOPIC_PREFIX)
}

export function isDLQTopic(topic: string): boolean {
  return topic.startsWith(MixAll.DLQ_GROUP_TOPIC_PREFIX)
}

/** Topics producers may not send to (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`, protocol.md §2.4.1 rule 4). */
export const NOT_ALLOWED_SEND_TOPICS: ReadonlySet<string> = new Set([
  MixAll.SCHEDULE_TOPIC,
  MixAll.RMQ_SYS_TRANS_HALF_TOPIC,
  MixAll.RMQ_SYS_TRANS_OP_HALF_TOPIC,
  MixAll.TRANS_CHECK_MAX_TIME_TOPIC,
  MixAll.SELF_TEST_TOPIC,
  MixAll.OFFSET_MOVED_EVENT,
])

/** Consumer groups the broker creates at start (`SubscriptionGroupManager#init`). */
export const SYSTEM_GROUPS: readonly string[] = [
  MixAll.TOOLS_CONSUMER_GROUP,
  MixAll.FILTERSRV_CONSUMER_GROUP,
  MixAll.SELF_TEST_CONSUMER_GROUP,
  MixAll.ONS_HTTP_PROXY_GROUP,
  MixAll.CID_ONSAPI_PULL_GROUP,
  MixAll.CID_ONSAPI_PERMISSION_GROUP,
  MixAll.CID_ONSAPI_OWNER_GROUP,
]
