/** RocketMQ's `PutMessageStatus`. The array index is the Java ordinal, which the native store reports. */
export const PUT_MESSAGE_STATUSES = [
  'PUT_OK',
  'FLUSH_DISK_TIMEOUT',
  'FLUSH_SLAVE_TIMEOUT',
  'SLAVE_NOT_AVAILABLE',
  'SERVICE_NOT_AVAILABLE',
  'CREATE_MAPPED_FILE_FAILED',
  'MESSAGE_ILLEGAL',
  'PROPERTIES_SIZE_EXCEEDED',
  'OS_PAGE_CACHE_BUSY',
  'UNKNOWN_ERROR',
] as const

export type PutMessageStatus = (typeof PUT_MESSAGE_STATUSES)[number]

export function putMessageStatusOf(code: number): PutMessageStatus {
  return PUT_MESSAGE_STATUSES[code] ?? 'UNKNOWN_ERROR'
}

/** The message is stored (possibly without the flush or replication the producer asked for). */
export function isStored(status: PutMessageStatus): boolean {
  return (
    status === 'PUT_OK' ||
    status === 'FLUSH_DISK_TIMEOUT' ||
    status === 'FLUSH_SLAVE_TIMEOUT' ||
    status === 'SLAVE_NOT_AVAILABLE'
  )
}
