/**
 * Client configuration (client.md §1.2) shared by producers and consumers, the producer's (§3.1), with
 * RocketMQ's defaults, and the start-time checks of `Validators.checkGroup`.
 */
import os from 'node:os'

import {
  CompressionType,
  compressionTypeOf,
  type CompressionTypeValue,
} from '../common/compression/compression-type.js'
import { ConfigError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { MixAll } from '../common/mix-all.js'
import { ResponseCode } from '../common/response-code.js'
import { SerializeType } from '../remoting/remoting-command.js'
import type { RPCHook } from '../remoting/rpc-hook.js'
import type { ClientRuntimeConfig } from './client-instance.js'
import { localAddress } from './message-client-id.js'

/** What every producer and consumer accepts (`ClientConfig`, client.md §1.2). */
export interface ClientOptions {
  /** Name servers, `;`-separated; defaults to the `NAMESRV_ADDR` environment variable. */
  namesrvAddr?: string
  /** With the same instance name, producers and consumers of one process share one runtime (client.md §1.1). */
  instanceName?: string
  /** Route refresh period, ms (`pollNameServerInterval`). */
  pollNameServerInterval?: number
  /** Heartbeat period, ms (`heartbeatBrokerInterval`). */
  heartbeatBrokerInterval?: number
  /** Consumer offset persistence period, ms (`persistConsumerOffsetInterval`). */
  persistConsumerOffsetInterval?: number
  /** Timeout of name server and admin-style requests, ms (`mqClientApiTimeout`). */
  mqClientApiTimeout?: number
  /** Hooks run before every request and after every response (e.g. `AclClientRPCHook`). */
  rpcHooks?: RPCHook[]
  /**
   * Request header serialization (`rocketmq.serialize.type`): `JSON` (default, as the Java client) or `ROCKETMQ`,
   * the binary form every RocketMQ 4.x/5.x broker also reads; it costs the client less CPU per request.
   */
  serializeType?: 'JSON' | 'ROCKETMQ'
  logger?: Logger
}

export interface ProducerOptions extends ClientOptions {
  producerGroup: string
  /** Latency fault tolerance (§3.7). */
  sendLatencyEnable?: boolean
  /**
   * Reachability detector (§3.7, `com.rocketmq.startDetectorEnable`, default off): a broker a send could not reach
   * is kept out as unreachable and probed with GET_MAX_OFFSET every round (3 s) until it answers.
   */
  startDetectorEnable?: boolean
  /** Detector probe timeout, ms (`detectTimeout`, 200). */
  detectTimeout?: number
  /** Least time between two probes of one broker, ms (`detectInterval`, 2000). */
  detectInterval?: number
  createTopicKey?: string
  defaultTopicQueueNums?: number
  sendMsgTimeout?: number
  sendMsgMaxTimeoutPerRequest?: number
  retryTimesWhenSendFailed?: number
  retryTimesWhenSendAsyncFailed?: number
  retryAnotherBrokerWhenNotStoreOK?: boolean
  compressMsgBodyOverHowmuch?: number
  /** `compressType` (`rocketmq.message.compressType`): `ZLIB` (default), `LZ4` or `ZSTD`, any case. */
  compressType?: string
  compressLevel?: number
  maxMessageSize?: number
  enableBackpressureForAsyncMode?: boolean
  backPressureForAsyncSendNum?: number
  backPressureForAsyncSendSize?: number
  retryResponseCodes?: Iterable<number>
  /** Clock for latency bookkeeping; tests inject a fake one. */
  now?: () => number
}

export interface ResolvedProducerConfig {
  producerGroup: string
  runtime: ClientRuntimeConfig
  instanceName: string
  sendLatencyEnable: boolean
  startDetectorEnable: boolean
  detectTimeout: number
  detectInterval: number
  createTopicKey: string
  defaultTopicQueueNums: number
  sendMsgTimeout: number
  sendMsgMaxTimeoutPerRequest: number
  retryTimesWhenSendFailed: number
  retryTimesWhenSendAsyncFailed: number
  retryAnotherBrokerWhenNotStoreOK: boolean
  compressMsgBodyOverHowmuch: number
  compressType: CompressionTypeValue
  compressLevel: number
  maxMessageSize: number
  enableBackpressureForAsyncMode: boolean
  backPressureForAsyncSendNum: number
  backPressureForAsyncSendSize: number
  retryResponseCodes: ReadonlySet<number>
}

export const DEFAULT_PRODUCER_GROUP = 'DEFAULT_PRODUCER'
/** `Validators.CHARACTER_MAX_LENGTH` for groups as client.md §2.2 gives it. */
export const GROUP_NAME_MAX_LENGTH = 120
const GROUP_CHARS = /^[%|a-zA-Z0-9_-]+$/

/** `DefaultMQProducer#retryResponseCodes`. */
export const DEFAULT_RETRY_RESPONSE_CODES: readonly number[] = [
  ResponseCode.TOPIC_NOT_EXIST,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.SYSTEM_ERROR,
  ResponseCode.SYSTEM_BUSY,
  ResponseCode.NO_PERMISSION,
  ResponseCode.NO_BUYER_ID,
  ResponseCode.NOT_IN_CURRENT_UNIT,
  1500, // GO_AWAY
]

/** Why a group name is refused, or `null` (`Validators.checkGroup`): blank, too long, or other characters. */
export function groupNameProblem(group: string): string | null {
  if (group.trim().length === 0) return 'the specified group is blank'
  if (group.length > GROUP_NAME_MAX_LENGTH)
    return `the specified group is longer than ${GROUP_NAME_MAX_LENGTH} characters`
  if (!GROUP_CHARS.test(group))
    return `the specified group [${group}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$`
  return null
}

/** Why a producer group is refused, or `null`. */
export function producerGroupProblem(group: string): string | null {
  if (group === DEFAULT_PRODUCER_GROUP)
    return `producerGroup cannot be ${DEFAULT_PRODUCER_GROUP}, please specify another one`
  return groupNameProblem(group)
}

/** `;`-separated name server list → addresses, blanks dropped. */
export function parseNamesrvAddr(list: string): string[] {
  return list
    .split(';')
    .map((a) => a.trim())
    .filter((a) => a.length > 0)
}

export function positive(name: string, v: number, min = 1): number {
  if (!Number.isFinite(v) || v < min)
    throw new ConfigError('RMQ_ERR_CONFIG', `${name} must be a number >= ${min}, got ${v}`)
  return v
}

function serializeTypeOption(v: ClientOptions['serializeType']): SerializeType {
  if (v === undefined || v === 'JSON') return SerializeType.JSON
  if (v === 'ROCKETMQ') return SerializeType.ROCKETMQ
  throw new ConfigError('RMQ_ERR_CONFIG', `serializeType must be JSON or ROCKETMQ, got ${String(v)}`)
}

/** The runtime part of the options, checked (client.md §1.2 defaults). */
export function resolveClientRuntimeConfig(o: ClientOptions): ClientRuntimeConfig {
  const namesrvAddrs = parseNamesrvAddr(o.namesrvAddr ?? process.env.NAMESRV_ADDR ?? '')
  if (namesrvAddrs.length === 0) {
    throw new ConfigError(
      'RMQ_ERR_CONFIG',
      'no name server address: set namesrvAddr or the NAMESRV_ADDR environment variable',
    )
  }
  return {
    namesrvAddrs,
    pollNameServerInterval: positive('pollNameServerInterval', o.pollNameServerInterval ?? 30_000, 10),
    heartbeatBrokerInterval: positive('heartbeatBrokerInterval', o.heartbeatBrokerInterval ?? 30_000, 10),
    persistConsumerOffsetInterval: positive(
      'persistConsumerOffsetInterval',
      o.persistConsumerOffsetInterval ?? 5000,
      10,
    ),
    mqClientApiTimeout: positive('mqClientApiTimeout', o.mqClientApiTimeout ?? 3000),
    rpcHooks: o.rpcHooks ?? [],
    serializeType: serializeTypeOption(o.serializeType),
    logger: o.logger ?? noopLogger,
  }
}

/**
 * `clientIP@instanceName` (client.md §1.1); `DEFAULT` becomes `<pid>#<nanoTime>` when `ownRuntime` (producers and
 * clustering consumers), so each gets a runtime of its own unless the user names the instance.
 */
export function buildClientId(instanceName: string | undefined, ownRuntime: boolean): string {
  let instance = instanceName ?? 'DEFAULT'
  if (instance === 'DEFAULT' && ownRuntime) instance = `${process.pid}#${process.hrtime.bigint()}`
  return `${localAddress() ?? os.hostname()}@${instance}`
}

function resolveCompressType(name: string | undefined): CompressionTypeValue {
  if (name === undefined) return CompressionType.ZLIB
  try {
    return compressionTypeOf(name)
  } catch (err) {
    throw new ConfigError('RMQ_ERR_CONFIG', `compressType: ${(err as Error).message}`, { cause: err })
  }
}

export function resolveProducerConfig(o: ProducerOptions): ResolvedProducerConfig {
  const problem = producerGroupProblem(o.producerGroup ?? '')
  if (problem !== null) throw new ConfigError('RMQ_ERR_CONFIG', `producer group: ${problem}`)
  const retries = (name: string, v: number | undefined): number => positive(name, v ?? 2, 0)
  return {
    producerGroup: o.producerGroup,
    runtime: resolveClientRuntimeConfig(o),
    instanceName: o.instanceName ?? 'DEFAULT',
    sendLatencyEnable: o.sendLatencyEnable ?? false,
    startDetectorEnable: o.startDetectorEnable ?? false,
    detectTimeout: positive('detectTimeout', o.detectTimeout ?? 200),
    detectInterval: positive('detectInterval', o.detectInterval ?? 2000, 0),
    createTopicKey: o.createTopicKey ?? MixAll.AUTO_CREATE_TOPIC_KEY_TOPIC,
    defaultTopicQueueNums: positive('defaultTopicQueueNums', o.defaultTopicQueueNums ?? 4),
    sendMsgTimeout: positive('sendMsgTimeout', o.sendMsgTimeout ?? 3000),
    sendMsgMaxTimeoutPerRequest: o.sendMsgMaxTimeoutPerRequest ?? -1,
    retryTimesWhenSendFailed: retries('retryTimesWhenSendFailed', o.retryTimesWhenSendFailed),
    retryTimesWhenSendAsyncFailed: retries('retryTimesWhenSendAsyncFailed', o.retryTimesWhenSendAsyncFailed),
    retryAnotherBrokerWhenNotStoreOK: o.retryAnotherBrokerWhenNotStoreOK ?? false,
    compressMsgBodyOverHowmuch: positive('compressMsgBodyOverHowmuch', o.compressMsgBodyOverHowmuch ?? 4096, 0),
    compressType: resolveCompressType(o.compressType),
    compressLevel: Math.min(9, positive('compressLevel', o.compressLevel ?? 5, 0)),
    maxMessageSize: positive('maxMessageSize', o.maxMessageSize ?? 4 * 1024 * 1024),
    enableBackpressureForAsyncMode: o.enableBackpressureForAsyncMode ?? false,
    // `setBackPressureForAsyncSendNum` / `…Size` keep at least 10 sends and 1 MiB.
    backPressureForAsyncSendNum: Math.max(10, o.backPressureForAsyncSendNum ?? 1024),
    backPressureForAsyncSendSize: Math.max(1024 * 1024, o.backPressureForAsyncSendSize ?? 100 * 1024 * 1024),
    retryResponseCodes: new Set(o.retryResponseCodes ?? DEFAULT_RETRY_RESPONSE_CODES),
  }
}
