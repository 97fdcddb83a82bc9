/**
 * Replication in the admin API, the metrics, the runtime info and the CLI, over a master and its slave in this
 * process: roles, the master's slave with its lag, the slave's master connection, and what changes when one goes.
 */
import { afterEach, describe, expect, it } from 'vitest'

import type { BrokerHAStatus, ClusterBrokerRuntime } from '../../ts/client/admin-model.js'
import { AdminClient } from '../../ts/client/admin-client.js'
import { runAdminCommand } from '../../ts/cli/admin-commands.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { checkedAdminApp, type CheckedAdminApp } from '../helpers/admin-app.js'
import { send } from '../helpers/broker-requests.js'
import { killCliProcesses, runCli, type CliRun } from '../helpers/cli-process.js'
import { startHAPair, type HAPair } from '../helpers/ha-pair.js'
import { waitFor } from '../helpers/wait-for.js'

let pair: HAPair | null = null
const apps: CheckedAdminApp[] = []
const clients: AdminClient[] = []

afterEach(async () => {
  killCliProcesses()
  for (const a of clients.splice(0)) await a.shutdown()
  for (const a of apps.splice(0)) await a.app.close()
  await pair?.stop()
  pair = null
})

async function startPair(): Promise<HAPair> {
  pair = await startHAPair()
  return pair
}

async function adminApp(broker: HAPair['master']): Promise<CheckedAdminApp> {
  const a = checkedAdminApp(broker)
  apps.push(a)
  await a.app.ready()
  return a
}

async function adminClient(p: HAPair): Promise<AdminClient> {
  const a = new AdminClient({ namesrvAddr: p.cluster.namesrvAddr })
  clients.push(a)
  await a.start()
  return a
}

/** Sends `n` messages to the master and waits until the slave has acknowledged all of them. */
async function sendAndCatchUp(p: HAPair, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await send(p.cluster.client, p.master.brokerAddr, { topic: 'HaAdminTopic', body: Buffer.alloc(200, i) })
    expect(r.code).toBe(ResponseCode.SUCCESS)
  }
  await p.waitCaughtUp()
}

async function get<T>(app: CheckedAdminApp, url: string): Promise<T> {
  const r = await app.call({ url })
  expect(r.statusCode, `${url}: ${r.body}`).toBe(200)
  return r.json() as T
}

interface ReplicationJson {
  brokerRole: string
  brokerId: number
  maxOffset: number
  haPort: number | null
  slaveAckOffset: number | null
  slaves: { addr: string; ackOffset: number; lagBytes: number; lagMs: number; lastReportTimestamp: number }[]
  master: {
    masterAddr: string | null
    masterHaAddr: string | null
    connected: boolean
    maxOffset: number
    receivedBytes: number
    lastFrameTimestamp: number
  } | null
}

interface ClusterJson {
  clusters: {
    cluster: string
    brokers: {
      brokerId: number
      addr: string
      role: string
      brokerRole: string | null
      slaves: number | null
      slaveLagBytes: number | null
    }[]
  }[]
}

/** Samples of a Prometheus text page by `name{labels}` as printed (default labels included). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

/** The value of the one sample of `name` whose labels include each of `labels`. */
function sample(all: Map<string, number>, name: string, labels: Record<string, string> = {}): number | undefined {
  const keys = [...all.keys()].filter(
    (k) => k.startsWith(`${name}{`) && Object.entries(labels).every(([l, v]) => k.includes(`${l}="${v}"`)),
  )
  expect(keys.length, `samples of ${name} ${JSON.stringify(labels)}`).toBeLessThanOrEqual(1)
  return keys.length === 0 ? undefined : all.get(keys[0]!)
}

/** Runs `ferrymq admin …` in this process, output captured. */
async function mqadmin(args: string[]): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const code = await runAdminCommand(['admin', ...args], {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
  })
  return { code, stdout, stderr }
}

describe('admin API over a master and its slave', () => {
  it('GET /api/replication: the caught-up slave at lag 0 on the master, the connected master on the slave; none once the slave stops', async () => {
    const p = await startPair()
    const master = await adminApp(p.master)
    const slave = await adminApp(p.slave)
    await sendAndCatchUp(p, 20)
    const max = p.master.store.getMaxPhyOffset()
    expect(max).toBeGreaterThan(0)

    const m = await get<ReplicationJson>(master, '/api/replication')
    expect(m).toMatchObject({
      brokerRole: 'ASYNC_MASTER',
      brokerId: 0,
      maxOffset: max,
      haPort: p.master.replicationStatus().haPort,
      slaveAckOffset: max,
      master: null,
    })
    expect(m.haPort).toBeGreaterThan(0)
    expect(m.slaves).toHaveLength(1)
    expect(m.slaves[0]).toMatchObject({ ackOffset: max, lagBytes: 0, lagMs: 0 })
    expect(m.slaves[0]!.lastReportTimestamp).toBeGreaterThan(0)

    const s = await get<ReplicationJson>(slave, '/api/replication')
    expect(s).toMatchObject({ brokerRole: 'SLAVE', brokerId: 1, maxOffset: max, haPort: null, slaves: [] })
    expect(s.master).toMatchObject({
      masterAddr: p.master.brokerAddr,
      masterHaAddr: `127.0.0.1:${m.haPort}`,
      connected: true,
      maxOffset: max,
    })
    expect(s.master!.receivedBytes).toBeGreaterThanOrEqual(max)
    expect(s.master!.lastFrameTimestamp).toBeGreaterThan(0)

    await p.stopSlave()
    const gone = await waitFor(
      async () => {
        const r = await get<ReplicationJson>(master, '/api/replication')
        return r.slaves.length === 0 && r
      },
      { what: 'the master to drop the stopped slave', intervalMs: 20 },
    )
    expect(gone.brokerRole).toBe('ASYNC_MASTER')
  })

  it('GET /api/store and /api/cluster show each broker role; the master row has its slave at lag 0', async () => {
    const p = await startPair()
    const master = await adminApp(p.master)
    const slave = await adminApp(p.slave)
    await sendAndCatchUp(p, 5)
    expect(await get(master, '/api/store')).toMatchObject({ brokerRole: 'ASYNC_MASTER', brokerId: 0 })
    expect(await get(slave, '/api/store')).toMatchObject({ brokerRole: 'SLAVE', brokerId: 1 })

    const cluster = await waitFor(
      async () => {
        const r = await get<ClusterJson>(master, '/api/cluster')
        const rows = r.clusters.flatMap((c) => c.brokers)
        return rows.length === 2 && rows.every((b) => b.brokerRole !== null) && rows
      },
      { what: 'both brokers in the cluster, each answering its runtime info', intervalMs: 50 },
    )
    expect(cluster).toEqual([
      expect.objectContaining({
        brokerId: 0,
        addr: p.master.brokerAddr,
        role: 'MASTER',
        brokerRole: 'ASYNC_MASTER',
        slaves: 1,
        slaveLagBytes: 0,
      }),
      expect.objectContaining({
        brokerId: 1,
        addr: p.slave.brokerAddr,
        role: 'SLAVE',
        brokerRole: 'SLAVE',
        slaves: null,
        slaveLagBytes: null,
      }),
    ])
    // The slave's own app sees the same cluster.
    const fromSlave = await get<ClusterJson>(slave, '/api/cluster')
    expect(fromSlave.clusters.flatMap((c) => c.brokers.map((b) => [b.brokerId, b.role]))).toEqual([
      [0, 'MASTER'],
      [1, 'SLAVE'],
    ])
  })

  it('/metrics: the master counts its slave and its lag by slave, the slave its master connection', async () => {
    const p = await startPair()
    const master = await adminApp(p.master)
    const slave = await adminApp(p.slave)
    await sendAndCatchUp(p, 10)
    const slaveAddr = p.master.replicationStatus().slaves[0]!.addr

    const m = samples((await master.call({ url: '/metrics' })).body)
    expect(sample(m, 'ferrymq_ha_connected_slaves')).toBe(1)
    expect(sample(m, 'ferrymq_ha_slave_lag_bytes', { slave: slaveAddr })).toBe(0)
    expect(sample(m, 'ferrymq_ha_slave_lag_seconds', { slave: slaveAddr })).toBe(0)
    expect(sample(m, 'ferrymq_ha_master_connected')).toBeUndefined()

    const s = samples((await slave.call({ url: '/metrics' })).body)
    expect(sample(s, 'ferrymq_ha_master_connected')).toBe(1)
    expect(sample(s, 'ferrymq_ha_connected_slaves')).toBeUndefined()
    expect(sample(s, 'ferrymq_ha_slave_lag_bytes')).toBeUndefined()

    // The slave stops: the master has no slave to show.
    await p.stopSlave()
    await waitFor(
      async () => {
        const after = samples((await master.call({ url: '/metrics' })).body)
        return sample(after, 'ferrymq_ha_connected_slaves') === 0
      },
      { what: 'the master to count no slave', intervalMs: 20 },
    )
    const after = samples((await master.call({ url: '/metrics' })).body)
    expect(sample(after, 'ferrymq_ha_slave_lag_bytes', { slave: slaveAddr })).toBeUndefined()
    expect(sample(after, 'ferrymq_ha_slave_lag_seconds', { slave: slaveAddr })).toBeUndefined()

    // The slave is back and connected; then the master stops: the slave reports its connection lost.
    const restarted = await adminApp(await p.restartSlave())
    const masterConnected = async (): Promise<number | undefined> =>
      sample(samples((await restarted.call({ url: '/metrics' })).body), 'ferrymq_ha_master_connected')
    await waitFor(async () => (await masterConnected()) === 1, {
      what: 'the restarted slave to connect to its master',
      timeoutMs: 20_000,
      intervalMs: 50,
    })
    await p.cluster.stopBroker()
    await waitFor(async () => (await masterConnected()) === 0, {
      what: 'the slave to report its master connection lost',
      intervalMs: 20,
    })
    expect((await get<ReplicationJson>(restarted, '/api/replication')).master).toMatchObject({
      masterAddr: p.master.brokerAddr,
      connected: false,
    })
  })
})

describe('runtime info and the CLI over a master and its slave', () => {
  it('GET_BROKER_RUNTIME_INFO carries the role, the slave with its lag, and the master connection', async () => {
    const p = await startPair()
    await sendAndCatchUp(p, 10)
    const max = p.master.store.getMaxPhyOffset()
    const slaveAddr = p.master.replicationStatus().slaves[0]!.addr
    const admin = await adminClient(p)

    const m = await admin.examineBrokerRuntimeInfo(p.master.brokerAddr)
    expect(m).toMatchObject({ brokerRole: 'ASYNC_MASTER', slaveFallBehindMuch: '0', inSyncSlaveNums: '1' })
    expect(JSON.parse(m[`haConnectionInfo_${slaveAddr}`]!)).toMatchObject({
      addr: slaveAddr,
      slaveAckOffset: max,
      diff: 0,
      diffMs: 0,
      inSync: true,
    })
    expect(m.masterAddr).toBeUndefined()

    const s = await admin.examineBrokerRuntimeInfo(p.slave.brokerAddr)
    expect(s).toMatchObject({
      brokerRole: 'SLAVE',
      masterAddr: p.master.brokerAddr,
      haMasterAddress: `127.0.0.1:${p.master.replicationStatus().haPort}`,
      haMasterConnected: 'true',
    })
    expect(Object.keys(s).filter((k) => k.startsWith('haConnectionInfo_') || k === 'slaveFallBehindMuch')).toEqual([])

    const status: BrokerHAStatus = await admin.getBrokerHAStatus(p.master.brokerAddr)
    expect(status).toMatchObject({ brokerRole: 'ASYNC_MASTER', commitLogMaxOffset: max, inSyncSlaveNums: 1 })
    expect(status.slaves).toEqual([expect.objectContaining({ addr: slaveAddr, ackOffset: max, lagBytes: 0 })])
  })

  it('haStatus shows the master with its slave and the slave with its master; clusterList shows roles and lag', async () => {
    const p = await startPair()
    await sendAndCatchUp(p, 10)
    const n = ['-n', p.cluster.namesrvAddr]
    const slaveAddr = p.master.replicationStatus().slaves[0]!.addr
    const max = p.master.store.getMaxPhyOffset()

    const ofMaster = await mqadmin(['haStatus', ...n, '-b', p.master.brokerAddr])
    expect(ofMaster.stderr).toBe('')
    expect(ofMaster.code).toBe(0)
    expect(ofMaster.stdout).toMatch(/^Role:\s+ASYNC_MASTER$/m)
    expect(ofMaster.stdout).toMatch(/^Slaves:\s+1 \(1 in sync\)$/m)
    expect(ofMaster.stdout).toMatch(
      /^SLAVE\s+ACK OFFSET\s+LAG BYTES\s+LAG MS\s+STATUS\s+CONNECTED SINCE\s+LAST REPORT$/m,
    )
    expect(ofMaster.stdout).toMatch(new RegExp(`^${slaveAddr}\\s+${max}\\s+0\\s+0\\s+OK\\s+\\d{4}-`, 'm'))

    const ofSlave = await mqadmin(['haStatus', ...n, '-b', p.slave.brokerAddr])
    expect(ofSlave.code).toBe(0)
    expect(ofSlave.stdout).toMatch(/^Role:\s+SLAVE$/m)
    expect(ofSlave.stdout).toMatch(new RegExp(`^Master:\\s+${p.master.brokerAddr}$`, 'm'))
    expect(ofSlave.stdout).toMatch(/^Master connection:\s+connected$/m)

    const byCluster = await mqadmin(['haStatus', ...n, '-c', 'DefaultCluster', '--json'])
    expect(byCluster.code).toBe(0)
    const statuses = JSON.parse(byCluster.stdout) as BrokerHAStatus[]
    expect(statuses).toHaveLength(1)
    expect(statuses[0]).toMatchObject({ brokerAddr: p.master.brokerAddr, brokerRole: 'ASYNC_MASTER' })
    expect(statuses[0]!.slaves).toEqual([expect.objectContaining({ addr: slaveAddr, lagBytes: 0, inSync: true })])

    const usage = await mqadmin(['haStatus', ...n])
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain('give either -b/--brokerAddr or -c/--clusterName')
    const noCluster = await mqadmin(['haStatus', ...n, '-c', 'NoSuchCluster'])
    expect(noCluster.code).toBe(1)
    expect(noCluster.stderr).toContain('no master of cluster NoSuchCluster')

    const rows = await waitFor(
      async () => {
        const r = await mqadmin(['clusterList', ...n, '--json'])
        const list = JSON.parse(r.stdout) as ClusterBrokerRuntime[]
        return list.length === 2 && list.every((b) => b.brokerRole !== null) && list
      },
      { what: 'both brokers listed with their runtime info', intervalMs: 50 },
    )
    expect(rows.map((r) => [r.brokerId, r.brokerRole, r.slaves?.length ?? null])).toEqual([
      [0, 'ASYNC_MASTER', 1],
      [1, 'SLAVE', null],
    ])
    const table = await mqadmin(['clusterList', ...n])
    expect(table.stdout.split('\n')[0]).toMatch(/\s+ROLE\s+SLAVES\s+SLAVE LAG \(MAX\)$/)
    expect(table.stdout).toMatch(
      new RegExp(
        `\\nDefaultCluster\\s+broker-a\\s+0\\s+${p.master.brokerAddr}\\s.*\\sASYNC_MASTER\\s+1\\s+0 B / 0 ms\\n`,
      ),
    )
    expect(table.stdout).toMatch(
      new RegExp(`\\nDefaultCluster\\s+broker-a\\s+1\\s+${p.slave.brokerAddr}\\s.*\\sSLAVE\\s+-\\s+-\\n`),
    )

    // The CLI as a shell runs it.
    const spawned = await runCli(['admin', 'haStatus', ...n, '-b', p.slave.brokerAddr])
    expect(spawned.stderr).toBe('')
    expect(spawned.code).toBe(0)
    expect(spawned.stdout).toMatch(/^Master connection:\s+connected$/m)
  })
})
