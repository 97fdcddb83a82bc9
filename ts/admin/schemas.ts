/**
 * JSON schemas of the admin API's inputs and answers. Fastify validates requests against them, serialises answers
 * with them, and @fastify/swagger publishes them at `/docs/json`; the tests validate every answer against them.
 */
const num = { type: 'number' } as const
const int = { type: 'integer' } as const
const str = { type: 'string' } as const
const bool = { type: 'boolean' } as const
const nullableStr = { type: ['string', 'null'] } as const
const brokerRole = { type: 'string', enum: ['ASYNC_MASTER', 'SYNC_MASTER', 'SLAVE'] } as const

function object<P extends Record<string, object>>(properties: P, description?: string) {
  return {
    type: 'object',
    ...(description === undefined ? {} : { description }),
    properties,
    required: Object.keys(properties),
    additionalProperties: false,
  } as const
}

export const errorSchema = {
  type: 'object',
  properties: {
    code: str,
    message: str,
    responseCode: { type: 'integer', description: 'RocketMQ response code, when the broker refused' },
  },
  required: ['code', 'message'],
  additionalProperties: false,
} as const

const percentiles = object({ p50Us: num, p99Us: num, p999Us: num, maxUs: num })

export const storeSchema = object({
  brokerName: str,
  brokerAddr: str,
  clusterName: str,
  brokerId: int,
  brokerRole,
  flushDiskType: str,
  putTps: object({ last1s: num, last1m: num }, 'messages per second put'),
  getTps: object({ last1s: num, last1m: num }, 'messages per second delivered to consumers'),
  putMessages: num,
  putBytes: num,
  getMessages: num,
  putLatency: percentiles,
  busyRefusals: { type: 'number', description: 'puts refused with OS_PAGE_CACHE_BUSY' },
  slowPuts: { type: 'number', description: 'puts that held the put lock longer than 500 ms' },
  flushes: num,
  flushLatency: percentiles,
  commitLogMinOffset: num,
  commitLogMaxOffset: num,
  commitLogFlushedOffset: num,
  commitLogFileCount: num,
  consumeQueueCount: num,
  indexFileCount: num,
  diskUsedBytes: num,
  diskFreeBytes: num,
  diskTotalBytes: num,
  diskFull: bool,
  tailResidency: { type: 'number', description: 'fraction of the last 64 MiB of the commit log in the page cache' },
  pageCacheBusy: bool,
  bootTimestamp: num,
})

const topicSummaryProperties = {
  topic: str,
  readQueueNums: int,
  writeQueueNums: int,
  perm: int,
  order: bool,
  system: bool,
  messages: { type: 'number', description: 'messages stored now' },
  putMessages: { type: 'number', description: 'messages put since the broker started' },
  putTps: num,
  lastPutTimestamp: num,
} as const

export const topicListSchema = object({ topics: { type: 'array', items: object(topicSummaryProperties) } })

export const topicDetailSchema = object({
  ...topicSummaryProperties,
  topicFilterType: str,
  queues: {
    type: 'array',
    items: object({ queueId: int, minOffset: num, maxOffset: num, messages: num, lastStoreTimestamp: num }),
  },
  groups: { type: 'array', items: str },
})

export const topicNameParams = object({ topic: { type: 'string', minLength: 1, maxLength: 127 } })

const queueNums = { type: 'integer', minimum: 0, maximum: 65536 } as const
const topicSettings = {
  readQueueNums: queueNums,
  writeQueueNums: queueNums,
  perm: { type: 'integer', minimum: 0, maximum: 15, description: '2 read, 4 write, 6 both (PermName)' },
  order: bool,
  topicFilterType: { type: 'string', enum: ['SINGLE_TAG', 'MULTI_TAG'] },
} as const

export const topicCreateBody = {
  type: 'object',
  properties: { topic: { type: 'string', minLength: 1, maxLength: 127 }, ...topicSettings },
  required: ['topic'],
  additionalProperties: false,
} as const

export const topicUpdateBody = {
  type: 'object',
  properties: topicSettings,
  additionalProperties: false,
  minProperties: 1,
} as const

export const topicWriteResult = object({ topic: str, readQueueNums: int, writeQueueNums: int, perm: int, order: bool })
export const topicDeleteResult = object({ topic: str, deleted: bool })

const groupSummaryProperties = {
  group: str,
  online: bool,
  system: bool,
  consumers: int,
  consumeType: nullableStr,
  messageModel: nullableStr,
  topics: { type: 'array', items: str },
  lag: num,
  consumeTps: num,
} as const

export const groupListSchema = object({ groups: { type: 'array', items: object(groupSummaryProperties) } })

export const groupDetailSchema = object({
  ...groupSummaryProperties,
  consumeFromWhere: nullableStr,
  subscriptions: { type: 'array', items: object({ topic: str, expressionType: str, expression: str }) },
  connections: {
    type: 'array',
    items: object({ clientId: str, address: str, language: str, version: str, lastHeartbeatTimestamp: num }),
  },
  offsets: {
    type: 'array',
    items: object({
      topic: str,
      lag: num,
      consumeTps: num,
      queues: {
        type: 'array',
        items: object({ queueId: int, brokerOffset: num, consumerOffset: num, lag: num, lastConsumeTimestamp: num }),
      },
    }),
  },
})

export const groupNameParams = object({ group: { type: 'string', minLength: 1, maxLength: 255 } })

export const resetOffsetBody = {
  type: 'object',
  properties: {
    topic: { type: 'string', minLength: 1, maxLength: 127 },
    timestamp: { type: 'integer', minimum: -1, description: 'epoch ms; -1 moves to the end of each queue' },
    offset: { type: 'integer', minimum: 0 },
    queueId: { type: 'integer', minimum: 0, description: 'with offset or timestamp: this queue only' },
    force: { type: 'boolean', description: 'also move forward (default true)' },
  },
  required: ['topic'],
  additionalProperties: false,
  oneOf: [{ required: ['timestamp'] }, { required: ['offset'] }],
} as const

export const resetOffsetResult = object({
  group: str,
  topic: str,
  notifiedClients: int,
  queues: { type: 'array', items: object({ queueId: int, previousOffset: num, offset: num }) },
})

const messageSchema = object({
  msgId: str,
  uniqKey: nullableStr,
  topic: str,
  queueId: int,
  queueOffset: num,
  commitLogOffset: num,
  storeSize: int,
  bodyCRC: num,
  flag: int,
  sysFlag: int,
  bornTimestamp: num,
  bornHost: str,
  storeTimestamp: num,
  storeHost: str,
  reconsumeTimes: int,
  tags: nullableStr,
  keys: nullableStr,
  properties: { type: 'object', additionalProperties: str },
  bodySize: int,
  body: object({ encoding: { type: 'string', enum: ['utf8', 'base64'] }, data: str, truncated: bool }),
  deliveries: {
    type: 'array',
    items: object({
      group: str,
      status: { type: 'string', enum: ['CONSUMED', 'CONSUMED_BUT_FILTERED', 'NOT_CONSUMED_YET'] },
      online: bool,
    }),
  },
  deliveredTo: { type: 'array', items: str },
})

export const messageResult = messageSchema
export const messageListResult = object({ messages: { type: 'array', items: messageSchema } })
export const messageIdParams = object({ msgId: { type: 'string', minLength: 1, maxLength: 128 } })
export const messageIdQuery = {
  type: 'object',
  properties: { topic: { type: 'string', minLength: 1, maxLength: 127 } },
  additionalProperties: false,
} as const
export const messageKeyQuery = {
  type: 'object',
  properties: {
    topic: { type: 'string', minLength: 1, maxLength: 127 },
    key: { type: 'string', minLength: 1, maxLength: 255 },
    max: { type: 'integer', minimum: 1, maximum: 64, default: 32 },
    begin: { type: 'integer', minimum: 0, description: 'store time from, epoch ms' },
    end: { type: 'integer', minimum: 0, description: 'store time to, epoch ms' },
  },
  required: ['topic', 'key'],
  additionalProperties: false,
} as const

export const clusterSchema = object({
  self: str,
  namesrvAddrs: { type: 'array', items: str },
  clusters: {
    type: 'array',
    items: object({
      cluster: str,
      brokers: {
        type: 'array',
        items: object({
          brokerName: str,
          brokerId: int,
          addr: str,
          role: { type: 'string', enum: ['MASTER', 'SLAVE'], description: 'by broker id: 0 is the master' },
          brokerRole: {
            type: ['string', 'null'],
            description: "the broker's configured role (runtime info), null where it did not say",
          },
          slaves: {
            type: ['integer', 'null'],
            description: 'master: slaves connected to it (runtime info); null for a slave or where it did not say',
          },
          slaveLagBytes: { type: ['number', 'null'], description: 'master: the largest lag of its slaves, in bytes' },
          slaveLagMs: { type: ['number', 'null'], description: 'master: the largest lag of its slaves, in time' },
          version: nullableStr,
          putTps: { type: ['number', 'null'] },
          getTps: { type: ['number', 'null'] },
        }),
      },
    }),
  },
})

export const replicationSchema = object({
  brokerRole,
  brokerId: int,
  maxOffset: { type: 'number', description: "this broker's commit-log max offset" },
  haPort: { type: ['integer', 'null'], description: 'master: the port slaves connect to; null on a slave' },
  slaveAckOffset: {
    type: ['number', 'null'],
    description: 'master: the highest offset a slave acknowledged (push2SlaveMaxOffset); null on a slave',
  },
  slaves: {
    type: 'array',
    description: 'master: each connected slave; empty on a slave',
    items: object({
      addr: { type: 'string', description: "the slave's end of the HA connection" },
      ackOffset: { type: 'number', description: 'what the slave last reported having; -1 before its first report' },
      transferOffset: { type: 'number', description: 'where the master sends from next; -1 before the first report' },
      lagBytes: { type: 'number', description: 'master max offset less the acknowledged offset' },
      lagMs: {
        type: 'number',
        description: 'how long ago the master wrote the oldest unacknowledged byte; 0 when caught up',
      },
      connectedTimestamp: num,
      lastReportTimestamp: { type: 'number', description: 'epoch ms of the last report; 0 before the first' },
    }),
  },
  master: {
    description: 'slave: its master and the HA connection; null on a master',
    anyOf: [
      { type: 'null' },
      object({
        masterAddr: { type: ['string', 'null'], description: 'the master broker, as the name server gave it' },
        masterHaAddr: { type: ['string', 'null'], description: "the master's HA address" },
        connected: bool,
        maxOffset: { type: 'number', description: "the slave's commit-log max offset, what it reports" },
        receivedBytes: { type: 'number', description: 'bytes received from the master since the broker started' },
        lastFrameTimestamp: { type: 'number', description: 'epoch ms of the last data frame; 0 before the first' },
      }),
    ],
  },
})

export const healthSchema = object({ status: str })
export const readySchema = object({ ready: bool })
