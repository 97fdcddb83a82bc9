/**
 * Malformed `broker.conf` and `plain_acl.yml` files, part 4 of the hostile-input scenario: `ferrymq broker -c <file>`
 * for each, checked to exit non-zero with a message naming the key or the file, and to leave nothing half-started:
 * no port still listening (broker, HA, admin), no store directory or abort file, no registration at the name server.
 *
 * Each case gets its own broker name, ports and data directory, so what one leaves behind is found as its own.
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'

import type { NamesrvController } from '../../ts/namesrv/namesrv-controller.js'
import { cliCommand, freePortPairs } from './broker-process.js'

/** A refused start takes a second or two; a broker that starts anyway is killed once it says it listens. */
const EXIT_DEADLINE_MS = 60_000

export interface BadConfigCase {
  name: string
  /** `broker.conf` lines after the case's own base lines (cluster, name, ports, store, name server). */
  conf?: string
  /** The whole file instead, bytes and all: nothing of the base. */
  raw?: Buffer
  /** `-c` names no readable file: a missing path, a directory, or a file without read permission. */
  path?: 'missing' | 'directory' | 'unreadable'
  /** With `aclEnable=true`: the ACL file's text (or bytes); `null` for a path that does not exist. */
  acl?: string | Buffer | null
  /** What the error message must contain: the key or the file, and the problem. */
  expect: RegExp
  /** The broker may create its store before it fails (a store path that cannot be a directory). */
  storeMayExist?: boolean
}

const VALID_ACL = `accounts:
  - accessKey: tortureUser
    secretKey: tortureSecret
    admin: false
`

/** Every bad file the scenario tries; `size` test runs the first `BAD_CONFIGS_TEST` of them. */
export const BAD_CONFIGS: readonly BadConfigCase[] = [
  { name: 'unknown brokerRole', conf: 'brokerRole=MASTER', expect: /brokerRole="MASTER": must be one of/ },
  { name: 'listenPort out of range', conf: 'listenPort=70000', expect: /listenPort="70000": must be at most 65535/ },
  { name: 'namesrvAddr port out of range', conf: 'namesrvAddr=127.0.0.1:99999', expect: /namesrvAddr.*99999/ },
  { name: 'binary garbage', raw: garbage(4096), expect: /is not a text file/ },
  { name: 'ACL: YAML syntax error', acl: 'accounts:\n  - accessKey: [unclosed\n', expect: /plain_acl\.yml/ },
  {
    name: 'ACL: unknown permission',
    acl: `${VALID_ACL}    defaultTopicPerm: ALL\n`,
    expect: /"ALL" is not a permission/,
  },
  { name: 'unreadable file: a directory', path: 'directory', expect: /broker\.conf/ },
  { name: 'missing file', path: 'missing', expect: /broker\.conf does not exist/ },
  { name: 'unreadable file: no read permission', path: 'unreadable', expect: /broker\.conf/ },
  { name: 'unknown flushDiskType', conf: 'flushDiskType=FAST_FLUSH', expect: /flushDiskType="FAST_FLUSH"/ },
  { name: 'unknown tlsMode', conf: 'tlsMode=on', expect: /tlsMode="on": must be one of/ },
  { name: 'brokerId negative', conf: 'brokerId=-1', expect: /brokerId="-1": must be at least 0/ },
  { name: 'listenPort not a number', conf: 'listenPort=ten', expect: /listenPort="ten": is not a number/ },
  { name: 'listenPort not an integer', conf: 'listenPort=1.5', expect: /listenPort="1.5": is not an integer/ },
  { name: 'listenPort empty', conf: 'listenPort=', expect: /listenPort="": is empty/ },
  { name: 'int overflow', conf: 'sendMessageConcurrency=2147483648', expect: /sendMessageConcurrency.*does not fit/ },
  { name: 'defaultTopicQueueNums 0', conf: 'defaultTopicQueueNums=0', expect: /defaultTopicQueueNums="0"/ },
  { name: 'diskMaxUsedSpaceRatio 99', conf: 'diskMaxUsedSpaceRatio=99', expect: /diskMaxUsedSpaceRatio="99"/ },
  { name: 'mappedFileSizeCommitLog tiny', conf: 'mappedFileSizeCommitLog=100', expect: /mappedFileSizeCommitLog/ },
  { name: 'bool not a bool', conf: 'autoCreateTopicEnable=maybe', expect: /autoCreateTopicEnable="maybe"/ },
  { name: 'bad \\u escape', conf: 'brokerName=\\uZZZZ', expect: /broker\.conf:\d+: bad \\u escape/ },
  { name: 'SLAVE with brokerId 0', conf: 'brokerRole=SLAVE\nbrokerId=0', expect: /brokerRole=SLAVE needs brokerId/ },
  { name: 'master with brokerId 1', conf: 'brokerId=1', expect: /brokerRole=ASYNC_MASTER needs brokerId 0/ },
  { name: 'namesrvAddr not host:port', conf: 'namesrvAddr=localhost', expect: /namesrvAddr: "localhost"/ },
  {
    name: 'haMasterAddress port out of range',
    conf: 'haMasterAddress=127.0.0.1:65536',
    expect: /haMasterAddress.*65536/,
  },
  { name: 'brokerName with a slash', conf: 'brokerName=../evil', expect: /brokerName "\.\.\/evil"/ },
  { name: 'brokerIP1 wildcard', conf: 'brokerIP1=0.0.0.0', expect: /brokerIP1 must be an address/ },
  { name: 'TLS without a certificate', conf: 'tlsMode=enforcing', expect: /tlsMode=enforcing needs/ },
  { name: 'admin API open without a token', conf: 'adminHost=0.0.0.0', expect: /adminToken/ },
  { name: 'store path is a file', conf: 'storePathRootDir=@FILE@', expect: /store/, storeMayExist: true },
  { name: 'ACL: file missing', acl: null, expect: /plain_acl\.yml/ },
  { name: 'ACL: accounts not a list', acl: 'accounts: everyone\n', expect: /accounts: expected a list/ },
  { name: 'ACL: admin not a bool', acl: `${VALID_ACL.replace('false', 'sometimes')}`, expect: /admin/ },
  { name: 'ACL: accessKey too short', acl: VALID_ACL.replace('tortureUser', 'abc'), expect: /accessKey/ },
  {
    name: 'ACL: duplicate accessKey',
    acl: `${VALID_ACL}  - accessKey: tortureUser\n    secretKey: otherSecret\n`,
    expect: /tortureUser/,
  },
  { name: 'ACL: binary garbage', acl: garbage(2048), expect: /plain_acl\.yml/ },
  {
    name: 'ACL: bad white address',
    acl: VALID_ACL.replace('admin:', 'whiteRemoteAddress: 300.1.1.*\n    admin:'),
    expect: /300/,
  },
]
export const BAD_CONFIGS_TEST = 6

export interface BadConfigOutcome {
  name: string
  /** Not tried: a file without read permission is readable to root. */
  skipped: boolean
  /** The broker's last stderr line: what the operator reads. */
  message: string
  problems: string[]
}

export interface BadConfigRunOptions {
  dir: string
  namesrv: NamesrvController
  cases: readonly BadConfigCase[]
  /** Cases run at once. */
  parallel: number
  log: (line: string) => void
}

export async function runBadConfigs(o: BadConfigRunOptions): Promise<BadConfigOutcome[]> {
  const outcomes: BadConfigOutcome[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < o.cases.length) {
      const index = next++
      const outcome = await runBadConfig(o, o.cases[index]!, index)
      outcomes[index] = outcome
      if (outcome.problems.length > 0) o.log(`bad config "${outcome.name}": ${outcome.problems.join('; ')}`)
    }
  }
  await Promise.all(Array.from({ length: o.parallel }, worker))
  return outcomes
}

async function runBadConfig(o: BadConfigRunOptions, c: BadConfigCase, index: number): Promise<BadConfigOutcome> {
  const problems: string[] = []
  if (c.path === 'unreadable' && process.getuid?.() === 0) {
    return { name: c.name, skipped: true, message: '(root reads a file without read permission)', problems }
  }
  const dir = join(o.dir, `case-${index}`)
  mkdirSync(dir, { recursive: true })
  const [port, adminPort] = await freePortPairs(2)
  const brokerName = `torture-bad-${index}`
  const storeDir = join(dir, 'store')
  const aclFile = join(dir, 'plain_acl.yml')
  const confFile = join(dir, 'broker.conf')
  const base = [
    'brokerClusterName=TortureBadConf',
    `brokerName=${brokerName}`,
    'brokerIP1=127.0.0.1',
    `listenPort=${port}`,
    'fastListenPortEnable=false',
    `adminPort=${adminPort}`,
    `namesrvAddr=127.0.0.1:${o.namesrv.port()}`,
    `storePathRootDir=${storeDir}`,
    'mappedFileSizeCommitLog=1048576',
    ...(c.acl !== undefined ? ['aclEnable=true', `aclFile=${aclFile}`] : []),
  ]
  const extra = (c.conf ?? '').replace('@FILE@', join(dir, 'not-a-directory'))
  if (extra.includes(join(dir, 'not-a-directory'))) writeFileSync(join(dir, 'not-a-directory'), 'x')
  if (c.raw !== undefined) writeFileSync(confFile, c.raw)
  else if (c.path !== 'missing' && c.path !== 'directory') writeFileSync(confFile, `${base.join('\n')}\n${extra}\n`)
  if (c.path === 'directory') mkdirSync(confFile)
  if (c.path === 'unreadable') chmodSync(confFile, 0)
  if (c.acl !== undefined && c.acl !== null) writeFileSync(aclFile, c.acl)

  const run = await runBroker(confFile, dir)
  // The CLI's own error line; log lines (JSON) may come before or after it.
  const message =
    run.stderr
      .split('\n')
      .filter((l) => l.startsWith('ferrymq: '))
      .at(-1) ?? ''
  if (run.started) problems.push('the broker started')
  if (run.code === 0) problems.push('exit code 0')
  if (run.code === null && !run.started) problems.push(`no exit within ${EXIT_DEADLINE_MS} ms`)
  if (!c.expect.test(message)) {
    const said = message || run.stderr.slice(-300)
    problems.push(`the error line does not say ${c.expect}: ${JSON.stringify(said.slice(0, 300))}`)
  }
  const errorLogs = run.stderr.split('\n').filter((l) => /^\{.*"level":(50|60)/.test(l))
  if (errorLogs.length > 0) problems.push(`errors logged on the way out: ${errorLogs[0]!.slice(0, 300)}`)
  for (const p of [port!, port! + 1, adminPort!]) if (!(await portFree(p))) problems.push(`port ${p} still listening`)
  if (existsSync(join(storeDir, 'abort'))) problems.push('an abort file was left in the store')
  if (!c.storeMayExist && existsSync(storeDir)) problems.push('the store directory was created')
  if (o.namesrv.routeInfoManager.getAllClusterInfo().brokerAddrTable.has(brokerName)) {
    problems.push('the broker registered at the name server')
  }
  return { name: c.name, skipped: false, message, problems }
}

interface BrokerRun {
  code: number | null
  started: boolean
  /** The line that says where it listens, when it started. */
  listening: string
  stderr: string
}

/** `ferrymq broker -c file`; killed as soon as it says it listens, or at the deadline. */
function runBroker(confFile: string, dataDir: string): Promise<BrokerRun> {
  const env: NodeJS.ProcessEnv = {}
  // Only the file decides: no FERRYMQ_* setting of the caller's environment, and no NAMESRV_ADDR.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('FERRYMQ_') && k !== 'NAMESRV_ADDR') env[k] = v
  env.FERRYMQ_LOG_LEVEL = 'warn'
  // --data-dir keeps anything a wrongly accepted file would store inside the case's directory.
  const child = spawn(process.execPath, [...cliCommand(), 'broker', '--data-dir', dataDir, '-c', confFile], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let started = false
  let listening = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-20_000)
  })
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const line = /^.*listening at.*$/m.exec(d)
    if (line !== null && !started) {
      started = true
      listening = line[0]
      child.kill('SIGKILL')
    }
  })
  const deadline = setTimeout(() => child.kill('SIGKILL'), EXIT_DEADLINE_MS)
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(deadline)
      resolve({ code, started, listening, stderr })
    })
  })
}

/**
 * A key given twice is no error: the last one wins, as `java.util.Properties` reads it, and operators append
 * overrides to a file. Checked by starting a broker with `listenPort` twice: it must listen on the second.
 */
export async function duplicateKeyLastWins(dir: string, namesrvAddr: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true })
  const [first, second] = await freePortPairs(2)
  const conf = [
    'brokerClusterName=TortureBadConf',
    'brokerName=torture-duplicate-key',
    'brokerIP1=127.0.0.1',
    `listenPort=${first}`,
    'fastListenPortEnable=false',
    'adminPort=-1',
    `namesrvAddr=${namesrvAddr}`,
    `storePathRootDir=${join(dir, 'store')}`,
    'mappedFileSizeCommitLog=1048576',
    `listenPort=${second}`,
  ]
  writeFileSync(join(dir, 'broker.conf'), `${conf.join('\n')}\n`)
  const run = await runBroker(join(dir, 'broker.conf'), dir)
  if (!run.started) return [`the broker did not start: ${run.stderr.slice(-500)}`]
  return run.listening.includes(`:${second}`) ? [] : [`it listens elsewhere than the last listenPort: ${run.listening}`]
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** Bytes no text file has: every value, NUL and invalid UTF-8 included, from a fixed seed. */
function garbage(bytes: number): Buffer {
  const out = Buffer.alloc(bytes)
  let x = 0x2545f491
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
