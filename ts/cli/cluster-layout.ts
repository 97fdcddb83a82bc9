/**
 * The plan of `ferrymq start --cluster GxR`: which brokers run, with which identity, ports and data directory.
 * Pure (no processes, no sockets), so the supervisor in run-cluster.ts only starts what this decides.
 */
import { join } from 'node:path'

import { ConfigError } from '../common/errors.js'

/** Broker groups one local cluster may have: broker-a … broker-h. */
export const CLUSTER_GROUPS_MAX = 8
/** Brokers per group: the master and up to three slaves. */
export const CLUSTER_REPLICAS_MAX = 4
/**
 * Listen ports of consecutive brokers are this far apart. A broker uses `listenPort − 2` (VIP channel),
 * `listenPort` and `listenPort + 1` (HA), so any stride of 4 or more keeps brokers apart; 10 keeps the numbers
 * readable (10911, 10921, …).
 */
export const CLUSTER_PORT_STRIDE = 10

export type MasterRole = 'ASYNC_MASTER' | 'SYNC_MASTER'
export type ClusterBrokerRole = MasterRole | 'SLAVE'

export interface ClusterShape {
  groups: number
  replicas: number
}

export interface ClusterBrokerPlan {
  /** `broker-a-0`: the name of the data directory and the prefix of the broker's log lines. */
  label: string
  brokerName: string
  brokerId: number
  brokerRole: ClusterBrokerRole
  /** 0: an ephemeral port. */
  listenPort: number
  /** 0: an ephemeral port; -1: no admin API. */
  adminPort: number
  dataDir: string
}

export interface ClusterLayoutOptions {
  shape: ClusterShape
  masterRole: MasterRole
  dataDir: string
  /** The first broker's listen port; 0 gives every broker an ephemeral port. */
  listenPortBase: number
  /** The first broker's admin port; 0 gives every broker an ephemeral port, -1 disables the admin API. */
  adminPortBase: number
  /** Whether brokers also listen on `listenPort − 2`. */
  vipChannel: boolean
  /** The name server's port, checked against the brokers' ports; 0 when ephemeral. */
  namesrvPort: number
}

export interface ClusterOption {
  shape: ClusterShape
  masterRole: MasterRole
}

/**
 * Parses `--cluster GxR` (`2x2`: G broker groups of R brokers each, one master and R − 1 slaves) and
 * `--sync-master`; a `ConfigError` that says what is wrong otherwise.
 */
export function parseClusterOption(value: string, syncMaster: boolean): ClusterOption {
  const m = /^(\d+)x(\d+)$/i.exec(value.trim())
  if (m === null) {
    throw new ConfigError(
      'RMQ_ERR_CONFIG',
      `--cluster ${JSON.stringify(value)}: expected GxR, e.g. 2x2 (G groups of R brokers)`,
    )
  }
  const groups = Number(m[1])
  const replicas = Number(m[2])
  if (groups < 1 || groups > CLUSTER_GROUPS_MAX) {
    throw new ConfigError(
      'RMQ_ERR_CONFIG',
      `--cluster ${value}: G (broker groups) must be 1 to ${CLUSTER_GROUPS_MAX}, got ${groups}`,
    )
  }
  if (replicas < 1 || replicas > CLUSTER_REPLICAS_MAX) {
    throw new ConfigError(
      'RMQ_ERR_CONFIG',
      `--cluster ${value}: R (brokers per group: a master and R-1 slaves) must be 1 to ${CLUSTER_REPLICAS_MAX}, got ${replicas}`,
    )
  }
  if (syncMaster && replicas < 2) {
    throw new ConfigError(
      'RMQ_ERR_CONFIG',
      `--sync-master needs a slave in every group (R of --cluster ${value} at least 2): a SYNC_MASTER without one fails every send`,
    )
  }
  return { shape: { groups, replicas }, masterRole: syncMaster ? 'SYNC_MASTER' : 'ASYNC_MASTER' }
}

/** `broker-a` for group 0, `broker-b` for group 1, … */
export function groupBrokerName(group: number): string {
  return `broker-${String.fromCharCode('a'.charCodeAt(0) + group)}`
}

/** Every broker of the cluster, group by group, master first; checks that the fixed ports fit and never collide. */
export function clusterLayout(options: ClusterLayoutOptions): ClusterBrokerPlan[] {
  const { shape, listenPortBase, adminPortBase } = options
  const plans: ClusterBrokerPlan[] = []
  for (let group = 0; group < shape.groups; group++) {
    const brokerName = groupBrokerName(group)
    for (let brokerId = 0; brokerId < shape.replicas; brokerId++) {
      const index = plans.length
      const label = `${brokerName}-${brokerId}`
      plans.push({
        label,
        brokerName,
        brokerId,
        brokerRole: brokerId === 0 ? options.masterRole : 'SLAVE',
        listenPort: listenPortBase === 0 ? 0 : listenPortBase + index * CLUSTER_PORT_STRIDE,
        adminPort: adminPortBase <= 0 ? adminPortBase : adminPortBase + index,
        dataDir: join(options.dataDir, label),
      })
    }
  }
  checkPorts(plans, options)
  return plans
}

/** Fixed ports must lie in 1..65535 and each be used once: name server, VIP, listen, HA and admin ports. */
function checkPorts(plans: readonly ClusterBrokerPlan[], options: ClusterLayoutOptions): void {
  const owners = new Map<number, string>()
  const claim = (port: number, owner: string): void => {
    if (port === 0) return
    if (port < 1 || port > 65535) {
      throw new ConfigError(
        'RMQ_ERR_CONFIG',
        `--cluster: ${owner} would be port ${port}, outside 1-65535; pick a lower base port`,
      )
    }
    const other = owners.get(port)
    if (other !== undefined) {
      throw new ConfigError(
        'RMQ_ERR_CONFIG',
        `--cluster: port ${port} would be both ${other} and ${owner}; pick other base ports`,
      )
    }
    owners.set(port, owner)
  }
  claim(options.namesrvPort, 'the name server port')
  for (const p of plans) {
    if (p.listenPort !== 0) {
      if (options.vipChannel) claim(p.listenPort - 2, `the VIP port of ${p.label}`)
      claim(p.listenPort, `the listen port of ${p.label}`)
      claim(p.listenPort + 1, `the HA port of ${p.label}`)
    }
    if (p.adminPort > 0) claim(p.adminPort, `the admin port of ${p.label}`)
  }
}
