/**
 * `ferrymq start --cluster GxR`: the name server in the CLI process, every broker in a child process of its own,
 * registered as G broker groups of a master and R − 1 slaves; SIGTERM stops them all. Ports are ephemeral here
 * (`--broker-port 0` and friends), so the test learns them from the lines the CLI prints.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { AdminClient } from '../../ts/client/admin-client.js'
import type { ClusterBroker } from '../../ts/client/admin-model.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { SendStatus } from '../../ts/client/send-result.js'
import { CLUSTER_PORT_STRIDE, clusterLayout, parseClusterOption } from '../../ts/cli/cluster-layout.js'
import { killCliProcesses, runCli, startCli, type CliServer } from '../helpers/cli-process.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

/** What `ferrymq start --cluster` prints for each broker once it serves. */
interface BrokerLine {
  brokerName: string
  brokerId: number
  role: string
  addr: string
  /** A master's HA port; '-' on a slave. */
  ha: string
  pid: number
  admin: string
}

const BROKER_LINE = /^ferrymq: broker (\S+) id=(\d+) role=(\S+) addr=(\S+) .*ha=(\S+) admin=(\S+) pid=(\d+) /

function brokerLines(stdout: readonly string[]): BrokerLine[] {
  return stdout.flatMap((line) => {
    const m = BROKER_LINE.exec(line)
    if (m === null) return []
    const [, brokerName, brokerId, role, addr, ha, admin, pid] = m as unknown as string[]
    return [
      {
        brokerName: brokerName!,
        brokerId: Number(brokerId),
        role: role!,
        addr: addr!,
        ha: ha!,
        admin: admin!,
        pid: Number(pid),
      },
    ]
  })
}

/** Whether `pid` still runs; a zombie (exited, not yet reaped by whoever adopted it) counts as gone. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  if (!existsSync('/proc/self/stat')) return true // no /proc here: kill(pid, 0) is all there is
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; comm may hold spaces, the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false // gone between the two looks
  }
}

describe('ferrymq start --cluster', () => {
  let dir: TempDir | undefined
  /** Broker processes a test saw; killed in afterEach if the CLI left any (it must not). */
  let brokerPids: number[] = []
  const clients: { shutdown(): Promise<void> }[] = []

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown()
    killCliProcesses()
    for (const pid of brokerPids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL')
    dir?.remove()
    dir = undefined
  })

  it('runs 2x2: the name server lists broker-a and broker-b with a master and a slave each, a producer sends, SIGTERM stops every broker', async () => {
    dir = tempDir()
    const cli: CliServer = startCli(
      [
        'start',
        '--cluster',
        '2x2',
        '--data-dir',
        dir.path,
        '--namesrv-port',
        '0',
        '--broker-port',
        '0',
        '--admin-port',
        '0',
        '--bind-address',
        '127.0.0.1',
      ],
      { FERRYMQ_BROKER_IP1: '127.0.0.1' },
    )
    await waitFor(() => cli.stdout.some((l) => l.startsWith('ferrymq: cluster DefaultCluster running')), {
      what: 'the cluster to run',
      timeoutMs: 60_000,
      intervalMs: 50,
    })
    const lines = brokerLines(cli.stdout)
    brokerPids = lines.map((b) => b.pid)
    expect(lines.map((b) => [b.brokerName, b.brokerId, b.role, /^\d+$/.test(b.ha) ? 'port' : b.ha])).toEqual([
      ['broker-a', 0, 'ASYNC_MASTER', 'port'],
      ['broker-a', 1, 'SLAVE', '-'],
      ['broker-b', 0, 'ASYNC_MASTER', 'port'],
      ['broker-b', 1, 'SLAVE', '-'],
    ])
    expect(new Set(lines.map((b) => b.pid)).size).toBe(4)
    expect(lines.every((b) => b.pid !== cli.child.pid && alive(b.pid))).toBe(true)
    // Each broker has its own admin API and data directory, and its log lines come prefixed with its label.
    expect(new Set(lines.map((b) => b.admin)).size).toBe(4)
    expect((await fetch(`${lines[3]!.admin}/healthz`)).status).toBe(200)
    for (const label of ['broker-a-0', 'broker-a-1', 'broker-b-0', 'broker-b-1']) {
      expect(
        cli.stdout.some((l) => l.startsWith(`[${label}] ferrymq: broker `) && l.includes(join(dir!.path, label))),
      ).toBe(true)
    }

    const nsPort = /name server listening on port (\d+)/.exec(cli.stdout.join('\n'))![1]
    const namesrvAddr = `127.0.0.1:${nsPort}`
    const admin = new AdminClient({ namesrvAddr })
    clients.push(admin)
    await admin.start()
    const expected: ClusterBroker[] = lines.map((b) => ({
      clusterName: 'DefaultCluster',
      brokerName: b.brokerName,
      brokerId: b.brokerId,
      addr: b.addr,
    }))
    await waitFor(async () => JSON.stringify(await admin.clusterList()) === JSON.stringify(expected), {
      what: 'the name server to list all four brokers',
      timeoutMs: 30_000,
      intervalMs: 100,
    })

    const producer = new Producer({ producerGroup: 'ClusterCliPG', namesrvAddr })
    clients.push(producer)
    await producer.start()
    const sent = await producer.send(new Message({ topic: 'ClusterCliTopic', body: 'over two groups' }))
    expect(sent.sendStatus).toBe(SendStatus.SEND_OK)
    expect(['broker-a', 'broker-b']).toContain(sent.messageQueue.brokerName)
    // The group's slave found its master's HA port through the name server and copied the message.
    const [master, slave] = lines.filter((b) => b.brokerName === sent.messageQueue.brokerName)
    const maxOffset = async (b: BrokerLine): Promise<number> =>
      ((await (await fetch(`${b.admin}/api/store`)).json()) as { commitLogMaxOffset: number }).commitLogMaxOffset
    const stored = await maxOffset(master!)
    expect(stored).toBeGreaterThan(0)
    await waitFor(async () => (await maxOffset(slave!)) === stored, {
      what: `${slave!.brokerName} slave to replicate the message`,
      timeoutMs: 30_000,
      intervalMs: 100,
    })

    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    expect(cli.stdout).toContain('ferrymq: stopped')
    await waitFor(() => brokerPids.every((pid) => !alive(pid)), { what: 'every broker process to be gone' })
    for (const label of ['broker-a-0', 'broker-b-1']) expect(cli.stdout).toContain(`[${label}] ferrymq: stopped`)
  })

  it('restarts a broker that dies, and leaves no broker behind when the CLI itself is killed', async () => {
    dir = tempDir()
    const args = ['start', '--cluster', '1x2', '--data-dir', dir.path, '--namesrv-port', '0', '--broker-port', '0']
    const cli = startCli([...args, '--admin-port', '0', '--bind-address', '127.0.0.1'], {
      FERRYMQ_BROKER_IP1: '127.0.0.1',
    })
    await waitFor(() => cli.stdout.some((l) => l.startsWith('ferrymq: cluster DefaultCluster running')), {
      what: 'the cluster to run',
      timeoutMs: 60_000,
      intervalMs: 50,
    })
    const [master, slave] = brokerLines(cli.stdout)
    brokerPids = [master!.pid, slave!.pid]

    process.kill(slave!.pid, 'SIGKILL')
    const restartedPid = await waitFor(
      () => {
        const m = cli.stdout.map((l) => /^ferrymq: restarted broker broker-a id=1 .* pid=(\d+) /.exec(l)).find((r) => r)
        return m ? Number(m[1]) : undefined
      },
      { what: 'the slave to be restarted', timeoutMs: 30_000, intervalMs: 50 },
    )
    expect(cli.stdout.some((l) => l.includes('!!! broker-a-1 died unexpectedly (signal SIGKILL)'))).toBe(true)
    brokerPids.push(restartedPid)
    expect(alive(restartedPid)).toBe(true)

    // No signal handler runs on SIGKILL: the brokers see their IPC channel close and shut down by themselves.
    cli.child.kill('SIGKILL')
    await cli.exited
    await waitFor(() => [master!.pid, restartedPid].every((pid) => !alive(pid)), {
      what: 'the brokers to stop after the CLI died',
      timeoutMs: 30_000,
      intervalMs: 50,
    })
    // A clean shutdown, not a crash: neither store is left with an abort file.
    for (const label of ['broker-a-0', 'broker-a-1']) {
      expect(existsSync(join(dir.path, label, 'store', 'abort'))).toBe(false)
    }
  })

  it('refuses a bad --cluster value with a message and exit code 2, before starting anything', async () => {
    dir = tempDir()
    const cases: [string[], RegExp][] = [
      [['--cluster', 'two'], /--cluster "two": expected GxR, e\.g\. 2x2/],
      [['--cluster', '9x2'], /--cluster 9x2: G \(broker groups\) must be 1 to 8, got 9/],
      [['--cluster', '2x0'], /--cluster 2x0: R \(brokers per group: a master and R-1 slaves\) must be 1 to 4, got 0/],
      [['--cluster', '2x1', '--sync-master'], /--sync-master needs a slave in every group/],
    ]
    const runs = await Promise.all(
      cases.map(([flags]) => runCli(['start', ...flags, '--data-dir', dir!.path, '--namesrv-port', '0'])),
    )
    runs.forEach((run, i) => {
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(cases[i]![1])
      expect(run.stdout).not.toContain('name server listening')
    })
  })
})

describe('clusterLayout', () => {
  const layout = (listenPortBase: number, adminPortBase: number, namesrvPort = 9876) =>
    clusterLayout({
      ...parseClusterOption('2x2', false),
      dataDir: '/data',
      listenPortBase,
      adminPortBase,
      vipChannel: true,
      namesrvPort,
    })

  it('gives each broker its own listen port, clear of every VIP (listenPort - 2) and HA (listenPort + 1) port', () => {
    const plans = layout(10911, 8080)
    expect(plans.map((p) => [p.label, p.brokerRole, p.listenPort, p.adminPort, p.dataDir])).toEqual([
      ['broker-a-0', 'ASYNC_MASTER', 10911, 8080, join('/data', 'broker-a-0')],
      ['broker-a-1', 'SLAVE', 10921, 8081, join('/data', 'broker-a-1')],
      ['broker-b-0', 'ASYNC_MASTER', 10931, 8082, join('/data', 'broker-b-0')],
      ['broker-b-1', 'SLAVE', 10941, 8083, join('/data', 'broker-b-1')],
    ])
    const used = plans.flatMap((p) => [p.listenPort - 2, p.listenPort, p.listenPort + 1])
    expect(new Set(used).size).toBe(used.length)
    expect(CLUSTER_PORT_STRIDE).toBeGreaterThanOrEqual(4)
  })

  it('keeps port 0 (ephemeral) and -1 (no admin API) for every broker', () => {
    expect(layout(0, 0).map((p) => [p.listenPort, p.adminPort])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ])
    expect(layout(0, -1).every((p) => p.adminPort === -1)).toBe(true)
  })

  it('refuses ports that collide or run past 65535', () => {
    expect(() => layout(10911, 10921)).toThrow(
      /port 10921 would be both the admin port of broker-a-0 and the listen port of broker-a-1/,
    )
    expect(() => layout(10911, 8080, 10932)).toThrow(
      /port 10932 would be both the name server port and the HA port of broker-b-0/,
    )
    expect(() => layout(65505, 8080)).toThrow(/the HA port of broker-b-1 would be port 65536, outside 1-65535/)
  })
})
