import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, describe, expect, it } from 'vitest'

import { decodeMessages } from '../../ts/common/message/message-record.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { RemotingClient } from '../../ts/remoting/remoting-client.js'
import { pull, request, send } from '../helpers/broker-requests.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait-for.js'

interface Started {
  child: ChildProcess
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

function startFerrymq(args: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'ts/cli/ferrymq.ts', ...args], {
    env: { ...process.env, FERRYMQ_BROKER_IP1: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stdout: string[] = []
  const stderr: string[] = []
  child.stdout!.setEncoding('utf8').on('data', (d: string) => stdout.push(...d.split('\n').filter((l) => l.length > 0)))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(...d.split('\n').filter((l) => l.length > 0)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, stdout, stderr, exited }
}

/** The local addresses TCP sockets listen on at `port` (IPv4 only, from /proc/net/tcp). */
function listenAddresses(port: number): string[] {
  const out: string[] = []
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [local, , state] = line.trim().split(/\s+/).slice(1, 4)
    if (local === undefined || state !== '0A') continue // 0A: LISTEN
    const [hexIp, hexPort] = local.split(':') as [string, string]
    if (Number.parseInt(hexPort, 16) !== port) continue
    const b = Buffer.from(hexIp, 'hex').reverse()
    out.push(`${b[0]}.${b[1]}.${b[2]}.${b[3]}`)
  }
  return out
}

describe('ferrymq start', () => {
  let dir: TempDir
  const children: ChildProcess[] = []
  const client = new RemotingClient()
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
    client.shutdown()
    dir?.remove()
  })

  it('runs name server, broker and admin API in one process, prints where, and stops cleanly on SIGTERM', async () => {
    dir = tempDir()
    const conf = join(dir.path, 'broker.conf')
    writeFileSync(conf, 'brokerName=broker-cli\nflushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=1048576\n')
    const args = [
      'start',
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
      '-c',
      conf,
    ]
    const first = startFerrymq(args)
    children.push(first.child)
    // The admin API listens first (its /readyz says 503 while the store recovers); the broker line comes last.
    const lines = await waitFor(() => first.stdout.some((l) => l.includes('ferrymq: broker ')) && first.stdout, {
      what: 'ferrymq to print where it listens',
      timeoutMs: 30_000,
    })
    const nsPort = Number(/name server listening on port (\d+)/.exec(lines.join('\n'))![1])
    const brokerAddr = /listening at (\S+),/.exec(lines.join('\n'))![1]!
    const adminUrl = /admin API at (\S+)/.exec(lines.join('\n'))![1]!
    expect(lines.join('\n')).toContain('broker broker-cli (cluster DefaultCluster)')
    // --bind-address: both ports listen on loopback only, and the broker tells clients that address.
    expect(brokerAddr.startsWith('127.0.0.1:')).toBe(true)
    const brokerPort = Number(brokerAddr.split(':')[1])
    expect(listenAddresses(nsPort)).toEqual(['127.0.0.1'])
    expect(listenAddresses(brokerPort)).toEqual(['127.0.0.1'])

    await waitFor(
      async () =>
        (await request(client, `127.0.0.1:${nsPort}`, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'TBW102' })).code ===
        0,
      { what: 'the broker registered with the name server' },
    )
    const sent = await send(client, brokerAddr, { topic: 'CliTopic', body: Buffer.from('kept') })
    expect(sent.code).toBe(ResponseCode.SUCCESS)
    const health = await fetch(`${adminUrl}/readyz`)
    expect(health.status).toBe(200)

    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(first.stdout.join('\n')).toContain('ferrymq: stopped')

    // The next start is a clean one and finds the message.
    const second = startFerrymq(args)
    children.push(second.child)
    const again = await waitFor(() => second.stdout.some((l) => l.includes('ferrymq: broker ')) && second.stdout, {
      what: 'second start',
      timeoutMs: 30_000,
    })
    const addr2 = /listening at (\S+),/.exec(again.join('\n'))![1]!
    const opened = second.stderr
      .map((l) => JSON.parse(l) as { msg?: string; lastExitOk?: boolean })
      .find((l) => l.msg === 'store opened')
    expect(opened?.lastExitOk).toBe(true)
    const got = await pull(client, addr2, { group: 'G', topic: 'CliTopic', offset: 0 })
    expect(decodeMessages(got.body!)[0]!.body.toString()).toBe('kept')
    second.child.kill('SIGINT')
    expect(await second.exited).toBe(0)
  })

  it('refuses a bad broker.conf before starting anything', async () => {
    dir = tempDir()
    const conf = join(dir.path, 'broker.conf')
    writeFileSync(conf, 'listenPort=not-a-port\n')
    const run = startFerrymq(['broker', '--data-dir', dir.path, '-c', conf])
    children.push(run.child)
    expect(await run.exited).toBe(1)
    expect(run.stderr.join('\n')).toContain('listenPort="not-a-port": is not a number')
  })

  it('refuses an admin API off the loopback without a token, and needs the token once it has one', async () => {
    dir = tempDir()
    const conf = join(dir.path, 'broker.conf')
    writeFileSync(conf, 'adminHost=0.0.0.0\nmappedFileSizeCommitLog=1048576\n')
    const args = ['start', '--data-dir', dir.path, '--namesrv-port', '0', '--broker-port', '0', '--admin-port', '0', '-c', conf]
    const refused = startFerrymq(args)
    children.push(refused.child)
    expect(await refused.exited).toBe(1)
    expect(refused.stderr.join('\n')).toMatch(/off the loopback: set adminToken/)

    writeFileSync(conf, 'adminHost=0.0.0.0\nadminToken=t0ken\nmappedFileSizeCommitLog=1048576\n')
    const run = startFerrymq(args)
    children.push(run.child)
    const lines = await waitFor(() => run.stdout.some((l) => l.includes('ferrymq: broker ')) && run.stdout, {
      what: 'ferrymq with an admin token',
      timeoutMs: 30_000,
    })
    const port = new URL(/admin API at (\S+)/.exec(lines.join('\n'))![1]!).port
    const url = `http://127.0.0.1:${port}`
    expect((await fetch(`${url}/api/store`)).status).toBe(401)
    expect((await fetch(`${url}/api/store`, { headers: { authorization: 'Bearer t0ken' } })).status).toBe(200)
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    run.child.kill('SIGTERM')
    expect(await run.exited).toBe(0)
  })
})
