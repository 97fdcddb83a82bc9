/**
 * Response codes (`ResponseCode` and `RemotingSysResponseCode`, protocol.md §3), with the metadata a client's
 * retry policy reads. 209–211 were ACL codes in 4.x and mean something else in 5.x: never emitted.
 */
export const ResponseCode = {
  SUCCESS: 0,
  SYSTEM_ERROR: 1,
  SYSTEM_BUSY: 2,
  REQUEST_CODE_NOT_SUPPORTED: 3,
  TRANSACTION_FAILED: 4,
  FLUSH_DISK_TIMEOUT: 10,
  SLAVE_NOT_AVAILABLE: 11,
  FLUSH_SLAVE_TIMEOUT: 12,
  MESSAGE_ILLEGAL: 13,
  SERVICE_NOT_AVAILABLE: 14,
  VERSION_NOT_SUPPORTED: 15,
  NO_PERMISSION: 16,
  TOPIC_NOT_EXIST: 17,
  TOPIC_EXIST_ALREADY: 18,
  PULL_NOT_FOUND: 19,
  PULL_RETRY_IMMEDIATELY: 20,
  PULL_OFFSET_MOVED: 21,
  QUERY_NOT_FOUND: 22,
  SUBSCRIPTION_PARSE_FAILED: 23,
  SUBSCRIPTION_NOT_EXIST: 24,
  SUBSCRIPTION_NOT_LATEST: 25,
  SUBSCRIPTION_GROUP_NOT_EXIST: 26,
  FILTER_DATA_NOT_EXIST: 27,
  FILTER_DATA_NOT_LATEST: 28,
  TRANSACTION_SHOULD_COMMIT: 200,
  TRANSACTION_SHOULD_ROLLBACK: 201,
  TRANSACTION_STATE_UNKNOW: 202,
  TRANSACTION_STATE_GROUP_WRONG: 203,
  NO_BUYER_ID: 204,
  NOT_IN_CURRENT_UNIT: 205,
  CONSUMER_NOT_ONLINE: 206,
  CONSUME_MSG_TIMEOUT: 207,
  NO_MESSAGE: 208,
  FLOW_CONTROL: 215,
  /** A commit of a half message whose producer may already be asked by a check (5.x `EndTransactionProcessor`). */
  ILLEGAL_OPERATION: 604,
} as const

export type ResponseCodeName = keyof typeof ResponseCode

export interface ResponseCodeInfo {
  name: string
  /** The Java 4.9.8 producer retries a send on another broker after these (`retryResponseCodes`). */
  retriable: boolean
}

const PRODUCER_RETRY_CODES = new Set<number>([
  ResponseCode.TOPIC_NOT_EXIST,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.SYSTEM_ERROR,
  ResponseCode.NO_PERMISSION,
  ResponseCode.NO_BUYER_ID,
  ResponseCode.NOT_IN_CURRENT_UNIT,
])

const INFO = new Map<number, ResponseCodeInfo>(
  Object.entries(ResponseCode).map(([name, code]) => [code, { name, retriable: PRODUCER_RETRY_CODES.has(code) }]),
)

/** Name and retry class of a response code; unknown codes are named by their number and not retried. */
export function responseCodeInfo(code: number): ResponseCodeInfo {
  return INFO.get(code) ?? { name: String(code), retriable: false }
}
