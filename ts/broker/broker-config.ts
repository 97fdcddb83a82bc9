/**
 * The broker's configuration: `BrokerConfig`, `NettyServerConfig` and `MessageStoreConfig` keys with their Java
 * names and defaults (protocol.md Appendix B, store.md §12), read from a `broker.conf`, `FERRYMQ_*` variables and
 * flags, and validated once at start (STYLE.md §9). Store keys go to the native store as they are.
 */
import { existsSync, readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { resolve } from 'node:path'

import {
  envLayer,
  parseProperties,
  resolveConfig,
  type ConfigKeySpec,
  type ConfigLayer,
  type ConfigValue,
} from '../common/config-loader.js'
import { ConfigError } from '../common/errors.js'
import type { MessageStoreConfig } from '../store/native-message-store.js'

type Spec = ConfigKeySpec & { default: ConfigValue }

/** Broker keys, each with its default. Comments name what RocketMQ does with it. */
export const BROKER_CONFIG_KEYS = {
  /**
   * Address clients reach this broker at; stored in every record and offset msgId. Empty: `bindAddress` when that
   * is one address, else the first non-loopback IPv4.
   */
  brokerIP1: { kind: 'string', default: '' },
  brokerName: { kind: 'string', default: 'broker-a' },
  brokerClusterName: { kind: 'string', default: 'DefaultCluster' },
  /** 0 = the master of the broker group `brokerName`; 1 and up = its slaves. */
  brokerId: { kind: 'long', default: 0, min: 0 },
  brokerPermission: { kind: 'int', default: 6, min: 0, max: 15 },
  /**
   * `ASYNC_MASTER` answers a send once stored; `SYNC_MASTER` once a slave also has it (store.md §11.5); `SLAVE`
   * copies its master's commit log and refuses writes.
   */
  brokerRole: { kind: ['ASYNC_MASTER', 'SYNC_MASTER', 'SLAVE'], default: 'ASYNC_MASTER' },
  /** Name servers, `host:port;host:port`. */
  namesrvAddr: { kind: 'string', default: '' },
  listenPort: { kind: 'int', default: 10911, min: 0, max: 65535 },
  /** Local address the broker's ports listen on (`bindAddress`); empty: every interface. */
  bindAddress: { kind: 'string', default: '' },
  /** Also listen on `listenPort − 2`, the "VIP channel" older Java clients use. */
  fastListenPortEnable: { kind: 'bool', default: true },
  serverChannelMaxIdleTimeSeconds: { kind: 'int', default: 120, min: 0 },
  defaultTopicQueueNums: { kind: 'int', default: 8, min: 1, max: 1024 },
  autoCreateTopicEnable: { kind: 'bool', default: true },
  clusterTopicEnable: { kind: 'bool', default: true },
  brokerTopicEnable: { kind: 'bool', default: true },
  autoCreateSubscriptionGroup: { kind: 'bool', default: true },
  traceTopicEnable: { kind: 'bool', default: false },
  msgTraceTopicName: { kind: 'string', default: 'RMQ_SYS_TRACE_TOPIC' },
  rejectTransactionMessage: { kind: 'bool', default: false },
  // Transactions (store.md §10.6).
  /** A half message is first checked back this long after it was born, ms (`transactionTimeOut`). */
  transactionTimeOut: { kind: 'long', default: 6000, min: 1 },
  /** Check-backs of one half message before it is discarded to `TRANS_CHECK_MAX_TIME_TOPIC`. */
  transactionCheckMax: { kind: 'int', default: 15, min: 1 },
  /** Period of the check-back service, ms. */
  transactionCheckInterval: { kind: 'long', default: 30_000, min: 10 },
  /** Op markers of one half queue are written once they reach this many bytes. */
  transactionOpMsgMaxSize: { kind: 'int', default: 4096, min: 16, max: 1024 * 1024 },
  /** ... or once the oldest has waited this long, ms. */
  transactionOpBatchInterval: { kind: 'long', default: 3000, min: 1 },
  /** END_TRANSACTION requests that may wait for the transaction executor (`endTransactionPoolQueueCapacity`). */
  endTransactionPoolQueueCapacity: { kind: 'int', default: 100_000, min: 1 },
  waitTimeMillsInTransactionQueue: { kind: 'long', default: 3000, min: 1 },
  startAcceptSendRequestTimeStamp: { kind: 'long', default: 0 },
  traceOn: { kind: 'bool', default: true },
  regionId: { kind: 'string', default: 'DefaultRegion' },
  longPollingEnable: { kind: 'bool', default: true },
  shortPollingTimeMills: { kind: 'long', default: 1000, min: 1 },
  notifyConsumerIdsChangedEnable: { kind: 'bool', default: true },
  slaveReadEnable: { kind: 'bool', default: false },
  /** SQL92 filtering (`MessageSelector.bySql`): consumers with SQL92 subscriptions are refused while false. */
  enablePropertyFilter: { kind: 'bool', default: false },
  filterSupportRetry: { kind: 'bool', default: false },
  flushConsumerOffsetInterval: { kind: 'int', default: 5000, min: 100 },
  flushDelayOffsetInterval: { kind: 'long', default: 10_000, min: 100 },
  registerNameServerPeriod: { kind: 'int', default: 30_000, min: 10_000, max: 60_000 },
  registerBrokerTimeoutMills: { kind: 'int', default: 6000, min: 100 },
  compressedRegister: { kind: 'bool', default: false },
  sendThreadPoolQueueCapacity: { kind: 'int', default: 10_000, min: 1 },
  pullThreadPoolQueueCapacity: { kind: 'int', default: 100_000, min: 1 },
  queryThreadPoolQueueCapacity: { kind: 'int', default: 20_000, min: 1 },
  clientManagerThreadPoolQueueCapacity: { kind: 'int', default: 1_000_000, min: 1 },
  consumerManagerThreadPoolQueueCapacity: { kind: 'int', default: 1_000_000, min: 1 },
  heartbeatThreadPoolQueueCapacity: { kind: 'int', default: 50_000, min: 1 },
  brokerFastFailureEnable: { kind: 'bool', default: true },
  waitTimeMillsInSendQueue: { kind: 'long', default: 200, min: 1 },
  waitTimeMillsInPullQueue: { kind: 'long', default: 5000, min: 1 },
  waitTimeMillsInHeartbeatQueue: { kind: 'long', default: 31_000, min: 1 },
  /** Puts the broker lets the store work on at once before sends wait in the send queue. */
  sendMessageConcurrency: { kind: 'int', default: 4096, min: 1 },
  channelExpiredTimeout: { kind: 'long', default: 120_000, min: 1000 },
  aclEnable: { kind: 'bool', default: false },
  /** The plain ACL file; empty: `<storePathRootDir>/config/plain_acl.yml`. */
  aclFile: { kind: 'string', default: '' },
  /** Answer ACL refusals with `NO_PERMISSION` (5.x) instead of `SYSTEM_ERROR` (4.x). */
  aclRefusalNoPermission: { kind: 'bool', default: false },
  tlsMode: { kind: ['disabled', 'permissive', 'enforcing'], default: 'disabled' },
  tlsServerCertPath: { kind: 'string', default: '' },
  tlsServerKeyPath: { kind: 'string', default: '' },
  tlsServerKeyPassword: { kind: 'string', default: '' },
  tlsServerAuthClient: { kind: 'bool', default: false },
  tlsServerTrustCertPath: { kind: 'string', default: '' },
  // Replication (`MessageStoreConfig` HA keys, store.md §11.6).
  /** Port the master serves its slaves on; -1: `listenPort + 1` (an ephemeral port when `listenPort` is 0). */
  haListenPort: { kind: 'int', default: -1, min: -1, max: 65535 },
  /** A slave's master HA address `host:port`; empty: the one the name server returns at registration. */
  haMasterAddress: { kind: 'string', default: '' },
  haSendHeartbeatInterval: { kind: 'long', default: 5000, min: 100 },
  haHousekeepingInterval: { kind: 'long', default: 20_000, min: 1000 },
  haTransferBatchSize: { kind: 'int', default: 32_768, min: 1024, max: 16 * 1024 * 1024 },
  /** A slave further behind than this does not count for `SYNC_MASTER` (answers `SLAVE_NOT_AVAILABLE`). */
  haMaxGapNotInSync: { kind: 'long', default: 256 * 1024 * 1024, min: 1 },
  /** On a slave, correct out-of-range pull offsets as a master does (else answer `PULL_RETRY_IMMEDIATELY`). */
  offsetCheckInSlave: { kind: 'bool', default: false },
  /** Port of the admin HTTP API; 0 picks one, -1 disables it. */
  adminPort: { kind: 'int', default: 8080, min: -1, max: 65535 },
  adminHost: { kind: 'string', default: '127.0.0.1' },
  /** Bearer token the admin API requires; needed when `adminHost` is not a loopback address. */
  adminToken: { kind: 'string', default: '' },
} as const satisfies Record<string, Spec>

/** Store keys passed to the native store (`MessageStoreConfig`); absent keys take RocketMQ's defaults there. */
export const STORE_CONFIG_KEYS = {
  storePathRootDir: { kind: 'string' },
  storePathCommitLog: { kind: 'string' },
  mappedFileSizeCommitLog: { kind: 'long', min: 4096 },
  mappedFileSizeConsumeQueue: { kind: 'long', min: 20 },
  maxMessageSize: { kind: 'int', min: 1 },
  flushDiskType: { kind: ['ASYNC_FLUSH', 'SYNC_FLUSH'] },
  flushIntervalCommitLog: { kind: 'int', min: 1 },
  flushCommitLogLeastPages: { kind: 'int', min: 0 },
  flushCommitLogThoroughInterval: { kind: 'int', min: 1 },
  syncFlushTimeout: { kind: 'long', min: 1 },
  flushIntervalConsumeQueue: { kind: 'int', min: 1 },
  flushConsumeQueueLeastPages: { kind: 'int', min: 0 },
  flushConsumeQueueThoroughInterval: { kind: 'int', min: 1 },
  osPageCacheBusyTimeOutMills: { kind: 'long', min: 1 },
  checkCRCOnRecover: { kind: 'bool' },
  messageIndexEnable: { kind: 'bool' },
  maxHashSlotNum: { kind: 'int', min: 1 },
  maxIndexNum: { kind: 'int', min: 1 },
  maxMsgsNumBatch: { kind: 'int', min: 1 },
  fileReservedTime: { kind: 'int', min: 0 },
  deleteWhen: { kind: 'string' },
  cleanResourceInterval: { kind: 'int', min: 1 },
  deleteCommitLogFilesInterval: { kind: 'int', min: 0 },
  destroyMapedFileIntervalForcibly: { kind: 'int', min: 0 },
  deleteFileBatchMax: { kind: 'int', min: 1 },
  diskMaxUsedSpaceRatio: { kind: 'int', min: 10, max: 95 },
  diskSpaceWarningLevelRatio: { kind: 'float', min: 0, max: 1 },
  diskSpaceCleanForciblyRatio: { kind: 'float', min: 0, max: 1 },
  cleanFileForciblyEnable: { kind: 'bool' },
  messageDelayLevel: { kind: 'string' },
  maxTransferBytesOnMessageInMemory: { kind: 'int', min: 1 },
  maxTransferCountOnMessageInMemory: { kind: 'int', min: 1 },
  maxTransferBytesOnMessageInDisk: { kind: 'int', min: 1 },
  maxTransferCountOnMessageInDisk: { kind: 'int', min: 1 },
  accessMessageInMemoryMaxRatio: { kind: 'int', min: 0, max: 100 },
  maxFilterMessageSize: { kind: 'int', min: 20 },
  dataReadAheadEnable: { kind: 'bool' },
  commitLogPretouchAheadBytes: { kind: 'long', min: 0 },
  allocateMappedFileTimeoutMs: { kind: 'long', min: 1 },
  autoMessageVersionOnTopicLen: { kind: 'bool' },
} as const satisfies Record<string, ConfigKeySpec>

type ValueOf<K> = K extends 'bool' ? boolean : K extends 'string' ? string : K extends readonly (infer E)[] ? E : number

export type BrokerConfig = {
  -readonly [K in keyof typeof BROKER_CONFIG_KEYS]: ValueOf<(typeof BROKER_CONFIG_KEYS)[K]['kind']>
}

const SCHEMA: Record<string, ConfigKeySpec> = { ...BROKER_CONFIG_KEYS, ...STORE_CONFIG_KEYS }

export interface LoadBrokerConfigOptions {
  /** A `broker.conf` (Java properties). */
  configFile?: string
  env?: NodeJS.ProcessEnv
  /** Values from the command line, by key; they win over everything. */
  overrides?: Record<string, string | ConfigValue | undefined>
  /** The store directory when no source sets `storePathRootDir`. */
  defaultStorePath: string
}

export interface LoadedBrokerConfig {
  brokerConfig: BrokerConfig
  storeConfig: MessageStoreConfig
  /** Keys no schema knows (ignored, as Java does), for a warning at start. */
  unknownKeys: string[]
}

export function defaultBrokerConfig(): BrokerConfig {
  const out: Record<string, ConfigValue> = {}
  for (const [key, spec] of Object.entries(BROKER_CONFIG_KEYS)) out[key] = spec.default
  return out as BrokerConfig
}

/** Reads every source, checks every value, and fails with a `ConfigError` before anything starts. */
export function loadBrokerConfig(options: LoadBrokerConfigOptions): LoadedBrokerConfig {
  const layers: ConfigLayer[] = []
  if (options.configFile) {
    const path = resolve(options.configFile)
    if (!existsSync(path)) throw new ConfigError('RMQ_ERR_CONFIG', `config file ${path} does not exist`)
    layers.push({ source: path, values: parseProperties(readConfigText(path), path) })
  }
  layers.push(envLayer(SCHEMA, options.env ?? {}))
  const overrides = new Map<string, string | ConfigValue>()
  for (const [k, v] of Object.entries(options.overrides ?? {})) if (v !== undefined) overrides.set(k, v)
  layers.push({ source: 'command line', values: overrides })
  const { values, unknown } = resolveConfig(SCHEMA, layers)

  const brokerConfig = defaultBrokerConfig() as Record<string, ConfigValue>
  const storeConfig: Record<string, ConfigValue> = {}
  for (const [key, value] of values) {
    if (key in BROKER_CONFIG_KEYS) brokerConfig[key] = value
    else storeConfig[key] = value
  }
  const broker = brokerConfig as BrokerConfig
  if (!storeConfig.storePathRootDir) storeConfig.storePathRootDir = options.defaultStorePath
  storeConfig.storePathRootDir = resolve(String(storeConfig.storePathRootDir))
  if (broker.brokerIP1 === '') {
    // Bound to one address: that is where clients reach us; otherwise the first non-loopback IPv4.
    const bound = broker.bindAddress
    broker.brokerIP1 = bound !== '' && bound !== '0.0.0.0' && bound !== '::' ? bound : localAddress()
  }
  validate(broker)
  return { brokerConfig: broker, storeConfig: storeConfig as unknown as MessageStoreConfig, unknownKeys: unknown }
}

/** The text of a `broker.conf`; a `ConfigError` naming the file when it cannot be read or is not text at all. */
function readConfigText(path: string): string {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new ConfigError('RMQ_ERR_CONFIG', `config file ${path} cannot be read: ${(err as Error).message}`, {
      cause: err,
    })
  }
  // Java reads any bytes as Latin-1 and ignores the keys it does not know, so a binary file would start a broker
  // with every default (ports, store path) in place of the one meant. No properties file has a NUL byte.
  const nul = bytes.indexOf(0)
  if (nul >= 0) throw new ConfigError('RMQ_ERR_CONFIG', `config file ${path} is not a text file (NUL byte at ${nul})`)
  return bytes.toString('utf8')
}

/** Why `addr` is not `host:port` with a port a socket can connect to, or null. */
function hostPortProblem(addr: string): string | null {
  const m = /^(\[[^\]]+\]|[^:;]+):(\d{1,5})$/.exec(addr)
  if (m === null) return 'is not host:port'
  return Number(m[2]) > 65535 ? 'has a port over 65535' : null
}

function validate(c: BrokerConfig): void {
  const fail = (msg: string): never => {
    throw new ConfigError('RMQ_ERR_CONFIG', msg)
  }
  if (!/^[%|a-zA-Z0-9_-]{1,127}$/.test(c.brokerName))
    fail(`brokerName ${JSON.stringify(c.brokerName)} is not a valid name`)
  if (!/^[%|a-zA-Z0-9_-]{1,127}$/.test(c.brokerClusterName)) {
    fail(`brokerClusterName ${JSON.stringify(c.brokerClusterName)} is not a valid name`)
  }
  if (c.brokerIP1 === '0.0.0.0' || c.brokerIP1 === '::')
    fail('brokerIP1 must be an address clients can reach, not a wildcard')
  if (c.fastListenPortEnable && c.listenPort !== 0 && c.listenPort < 3)
    fail('listenPort must be at least 3 when the VIP port (listenPort - 2) is enabled')
  for (const addr of c.namesrvAddr.split(';').filter((a) => a.length > 0)) {
    const problem = hostPortProblem(addr.trim())
    if (problem !== null) fail(`namesrvAddr: ${JSON.stringify(addr)} ${problem}`)
  }
  if (c.brokerRole === 'SLAVE' && c.brokerId < 1) fail('brokerRole=SLAVE needs brokerId 1 or more (0 is the master)')
  if (c.brokerRole !== 'SLAVE' && c.brokerId !== 0)
    fail(`brokerRole=${c.brokerRole} needs brokerId 0; slaves have brokerId 1 or more`)
  const haProblem = c.haMasterAddress === '' ? null : hostPortProblem(c.haMasterAddress)
  if (haProblem !== null) fail(`haMasterAddress: ${JSON.stringify(c.haMasterAddress)} ${haProblem}`)
  if (c.tlsMode !== 'disabled' && (c.tlsServerCertPath === '' || c.tlsServerKeyPath === '')) {
    fail(`tlsMode=${c.tlsMode} needs tlsServerCertPath and tlsServerKeyPath`)
  }
}

/** The first non-internal IPv4 address (`RemotingUtil.getLocalAddress`), else loopback. */
export function localAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}
