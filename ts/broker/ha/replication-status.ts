/**
 * What `BrokerController#replicationStatus()` reports: the broker's role and, for a master, each connected slave;
 * for a slave, its master and the HA connection. The admin API, the metrics and the runtime info read it.
 */
import type { BrokerConfig } from '../broker-config.js'
import type { HAClientInfo } from './ha-client.js'
import type { SlaveConnectionInfo } from './ha-service.js'

export interface ReplicationStatus {
  brokerRole: BrokerConfig['brokerRole']
  brokerId: number
  /** This broker's commit-log max offset. */
  maxOffset: number
  /** Master: its HA port. */
  haPort: number | null
  /** Master: the highest offset a slave acknowledged. */
  slaveAckOffset: number | null
  /** Master: each connected slave. */
  slaves: SlaveConnectionInfo[]
  /** Slave: its master and the HA connection. */
  master: (HAClientInfo & { masterAddr: string | null }) | null
}
