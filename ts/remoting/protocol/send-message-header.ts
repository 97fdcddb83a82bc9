/**
 * The send request header (protocol.md §2.4): `SEND_MESSAGE` spells fields out, `SEND_MESSAGE_V2` and
 * `SEND_BATCH_MESSAGE` use one letter each (`SendMessageRequestHeaderV2`). Both decode to one shape.
 */
import { RequestCode } from '../../common/request-code.js'
import type { ExtFields, RemotingCommand } from '../remoting-command.js'
import { HeaderReader } from './header-reader.js'

export interface SendMessageRequestHeader {
  producerGroup: string
  topic: string
  defaultTopic: string
  defaultTopicQueueNums: number
  queueId: number
  sysFlag: number
  bornTimestamp: number
  flag: number
  properties: string | undefined
  reconsumeTimes: number | undefined
  unitMode: boolean
  maxReconsumeTimes: number | undefined
  batch: boolean
}

/** V1 name → V2 letter. */
export const SEND_V2_KEYS = {
  producerGroup: 'a',
  topic: 'b',
  defaultTopic: 'c',
  defaultTopicQueueNums: 'd',
  queueId: 'e',
  sysFlag: 'f',
  bornTimestamp: 'g',
  flag: 'h',
  properties: 'i',
  reconsumeTimes: 'j',
  unitMode: 'k',
  maxReconsumeTimes: 'l',
  batch: 'm',
} as const

type Key = keyof typeof SEND_V2_KEYS

function usesV2(code: number): boolean {
  return code === RequestCode.SEND_MESSAGE_V2 || code === RequestCode.SEND_BATCH_MESSAGE || code === RequestCode.SEND_REPLY_MESSAGE_V2
}

export function decodeSendMessageRequestHeader(request: RemotingCommand): SendMessageRequestHeader {
  const h = new HeaderReader(request)
  const v2 = usesV2(request.code)
  const k = (name: Key): string => (v2 ? SEND_V2_KEYS[name] : name)
  return {
    producerGroup: h.string(k('producerGroup')),
    topic: h.string(k('topic')),
    defaultTopic: h.string(k('defaultTopic')),
    defaultTopicQueueNums: h.int(k('defaultTopicQueueNums')),
    queueId: h.int(k('queueId')),
    sysFlag: h.int(k('sysFlag')),
    bornTimestamp: h.long(k('bornTimestamp')),
    flag: h.int(k('flag')),
    properties: h.optString(k('properties')),
    reconsumeTimes: h.optInt(k('reconsumeTimes')),
    unitMode: h.optBool(k('unitMode')) ?? false,
    maxReconsumeTimes: h.optInt(k('maxReconsumeTimes')),
    // The batch path is chosen by the flag; code 320 implies it too (protocol.md §2.4).
    batch: (h.optBool(k('batch')) ?? false) || request.code === RequestCode.SEND_BATCH_MESSAGE,
  }
}

/** Ext fields of a send request, V1 or V2 spelling (what a client writes). */
export function encodeSendMessageRequestHeader(header: SendMessageRequestHeader, v2: boolean): ExtFields {
  const ext: ExtFields = {}
  for (const name of Object.keys(SEND_V2_KEYS) as Key[]) {
    const value = header[name]
    if (value === undefined || value === null) continue
    ext[v2 ? SEND_V2_KEYS[name] : name] = String(value)
  }
  return ext
}
