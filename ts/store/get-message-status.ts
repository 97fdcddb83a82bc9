/** RocketMQ's `GetMessageStatus`. The array index is the Java ordinal, which the native store reports. */
export const GET_MESSAGE_STATUSES = [
  'FOUND',
  'NO_MATCHED_MESSAGE',
  'MESSAGE_WAS_REMOVING',
  'OFFSET_FOUND_NULL',
  'OFFSET_OVERFLOW_BADLY',
  'OFFSET_OVERFLOW_ONE',
  'OFFSET_TOO_SMALL',
  'NO_MATCHED_LOGIC_QUEUE',
  'NO_MESSAGE_IN_QUEUE',
] as const

export type GetMessageStatus = (typeof GET_MESSAGE_STATUSES)[number]

export function getMessageStatusOf(code: number): GetMessageStatus {
  const status = GET_MESSAGE_STATUSES[code]
  if (status === undefined) throw new RangeError(`unknown GetMessageStatus ${code}`)
  return status
}
