/**
 * Name server configuration (`NamesrvConfig` plus the `NettyServerConfig` fields the name server uses), with
 * every default in one place. Keys keep their Java spelling where Java has the setting; settings ferrymq adds
 * carry their unit in the name.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'

import { ConfigError } from '../common/errors.js'

export interface NamesrvConfig {
  /** Port to listen on (`NamesrvStartup`: 9876); 0 picks a free one. */
  listenPort: number
  /** Interface to listen on; all interfaces when undefined. */
  bindAddress: string | undefined
  /** Where the KV config is persisted (`kvConfigPath`, default `~/namesrv/kvConfig.json`). */
  kvConfigPath: string
  /** Put `orderTopicConf` from the ORDER_TOPIC_CONFIG namespace into routes (`orderMessageEnable`, false). */
  orderMessageEnable: boolean
  /** Requests processed at once (`serverWorkerThreads`, 8). */
  serverWorkerThreads: number
  /** Requests that may wait for a worker; beyond this they are refused `[OVERLOAD]`. */
  requestQueueCapacity: number
  /** Close connections idle this long (`serverChannelMaxIdleTimeSeconds`, 120). */
  serverChannelMaxIdleTimeSeconds: number
  /** A broker not heard from for this long is removed (`RouteInfoManager.BROKER_CHANNEL_EXPIRED_TIME`). */
  brokerChannelExpiredMs: number
  /** Period of the dead-broker scan (`NamesrvController#initialize`: every 10 s)… */
  scanNotActiveBrokerIntervalMs: number
  /** …and its first run (5 s after start). */
  scanNotActiveBrokerDelayMs: number
  /**
   * ferrymq extension: answer GET_ROUTEINFO_BY_TOPIC for an unknown topic with a route built from the brokers
   * that offer `TBW102` for auto-creation, instead of TOPIC_NOT_EXIST. See `RouteInfoManager#pickupAutoCreateRouteData`.
   */
  autoCreateTopicRouteEnable: boolean
  /**
   * Queues per broker in such a route: the producers' `defaultTopicQueueNums` (4), which is also what a broker
   * gives the topic when it creates it from TBW102 (`min(4, TBW102 queues)`).
   */
  autoCreateTopicQueueNums: number
  /** KV items across all namespaces; a PUT beyond this is refused. */
  kvConfigItemsMax: number
}

export const NAMESRV_LISTEN_PORT_DEFAULT = 9876

export function defaultNamesrvConfig(): NamesrvConfig {
  return {
    listenPort: NAMESRV_LISTEN_PORT_DEFAULT,
    bindAddress: undefined,
    kvConfigPath: join(homedir(), 'namesrv', 'kvConfig.json'),
    orderMessageEnable: false,
    serverWorkerThreads: 8,
    requestQueueCapacity: 10_000,
    serverChannelMaxIdleTimeSeconds: 120,
    brokerChannelExpiredMs: 120_000,
    scanNotActiveBrokerIntervalMs: 10_000,
    scanNotActiveBrokerDelayMs: 5_000,
    autoCreateTopicRouteEnable: true,
    autoCreateTopicQueueNums: 4,
    kvConfigItemsMax: 100_000,
  }
}

/** Defaults overlaid with `overrides`, validated; a `ConfigError` names the first bad field. */
export function newNamesrvConfig(overrides: Partial<NamesrvConfig> = {}): NamesrvConfig {
  const config: NamesrvConfig = { ...defaultNamesrvConfig() }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value
  }
  validateNamesrvConfig(config)
  return config
}

export function validateNamesrvConfig(c: NamesrvConfig): void {
  const intIn = (name: keyof NamesrvConfig, min: number, max: number): void => {
    const v = c[name]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError(
        'RMQ_ERR_CONFIG',
        `namesrv config ${name} must be an integer in [${min}, ${max}], got ${String(v)}`,
      )
    }
  }
  intIn('listenPort', 0, 65535)
  intIn('serverWorkerThreads', 1, 1024)
  intIn('requestQueueCapacity', 0, 1_000_000)
  intIn('serverChannelMaxIdleTimeSeconds', 0, 86_400)
  intIn('brokerChannelExpiredMs', 1, 86_400_000)
  intIn('scanNotActiveBrokerIntervalMs', 1, 86_400_000)
  intIn('scanNotActiveBrokerDelayMs', 0, 86_400_000)
  intIn('autoCreateTopicQueueNums', 1, 1024)
  intIn('kvConfigItemsMax', 0, 10_000_000)
  if (typeof c.kvConfigPath !== 'string' || c.kvConfigPath.length === 0) {
    throw new ConfigError('RMQ_ERR_CONFIG', 'namesrv config kvConfigPath must be a non-empty path')
  }
  for (const name of ['orderMessageEnable', 'autoCreateTopicRouteEnable'] as const) {
    if (typeof c[name] !== 'boolean')
      throw new ConfigError('RMQ_ERR_CONFIG', `namesrv config ${name} must be a boolean`)
  }
}
