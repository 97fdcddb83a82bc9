#!/usr/bin/env -S node --initial-old-space-size=128
/**
 * The `ferrymq` command.
 *
 *   ferrymq start   [--data-dir D] [--namesrv-port P] [--broker-port P] [--admin-port P] [--bind-address A] [-c broker.conf]
 *                   [--cluster GxR [--sync-master]]   G broker groups of R brokers, each broker in a child process
 *   ferrymq namesrv [--data-dir D] [--namesrv-port P] [--bind-address A]
 *   ferrymq broker  [--data-dir D] [--broker-port P] [--admin-port P] [-n namesrv:9876] [-c broker.conf]
 *   ferrymq version
 *   ferrymq store inspect --data-dir <dir> [--json]   open (and recover) a store, print what is in it, close it
 *   ferrymq topic|consumer|message|cluster …          admin commands (admin-commands.ts)
 *   ferrymq admin <command> …                         the same with mqadmin's command names and flags
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { packageRoot } from '../native/binding.js'
import { NativeMessageStore } from '../store/native-message-store.js'
import { ADMIN_COMMAND_GROUPS, ADMIN_USAGE, runAdminCommand } from './admin-commands.js'
import { parseClusterOption } from './cluster-layout.js'
import { BROKER_READY_MESSAGE, runCluster, type BrokerReadyMessage } from './run-cluster.js'
import { createLogger, parseServerArgs, rethrowUnlessBrokenPipe, runServer, type ServerRole } from './run-server.js'

const USAGE = `usage:
  ferrymq start   [--data-dir D] [--namesrv-port P] [--broker-port P] [--admin-port P] [--bind-address A] [-c broker.conf]
                  [--cluster GxR [--sync-master]]
  ferrymq namesrv [--data-dir D] [--namesrv-port P] [--bind-address A]
  ferrymq broker  [--data-dir D] [--broker-port P] [--admin-port P] [-n host:port;host:port] [-c broker.conf]
  ferrymq version
  ferrymq store inspect --data-dir <dir> [--json]
${ADMIN_USAGE}`

/** Exit codes: 0 done, 1 the command failed, 2 bad usage. */
const EXIT_FAILED = 1
const EXIT_USAGE = 2

/** This file, as it runs (compiled JS, or TypeScript under tsx): `start --cluster` runs its brokers from it. */
const CLI_ENTRY = fileURLToPath(import.meta.url)

function version(): string {
  return (JSON.parse(readFileSync(resolve(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version
}

async function storeInspect(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'data-dir': { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  })
  const dir = values['data-dir']
  if (!dir) {
    process.stderr.write(`--data-dir is required\n${USAGE}`)
    return EXIT_USAGE
  }
  const store = await NativeMessageStore.open({ storePathRootDir: resolve(dir) })
  try {
    const report = { recovery: store.recovery, stats: store.stats(), queues: store.queues() }
    if (values.json) {
      process.stdout.write(`${JSON.stringify(report)}\n`)
    } else {
      const s = report.stats
      process.stdout.write(
        `store ${resolve(dir)}\n` +
          `  commit log   ${s.commitLogMinOffset} .. ${s.commitLogMaxOffset} in ${s.commitLogFileCount} file(s)\n` +
          `  recovery     ${report.recovery.lastExitOk ? 'clean' : 'after an unclean stop'}` +
          `${report.recovery.damage ? `, damage at ${report.recovery.damage.offset}: ${report.recovery.damage.reason}` : ''}\n` +
          `  queues       ${report.queues.length}\n`,
      )
      for (const q of report.queues) {
        process.stdout.write(`    ${q.topic}/${q.queueId}  ${q.minOffset} .. ${q.maxOffset}\n`)
      }
    }
    return 0
  } finally {
    await store.shutdown()
  }
}

/**
 * Runs until SIGINT or SIGTERM, then shuts down cleanly; a second signal exits at once. Run by a supervisor (an IPC
 * channel, as `start --cluster` runs its brokers), it also says when it serves, and stops when the channel closes.
 */
async function serve(role: ServerRole, argv: string[]): Promise<number> {
  const supervised = process.channel !== undefined
  if (supervised) {
    // stdout and stderr are pipes to the supervisor and break when it dies; the shutdown that follows must still run
    // to the end (offsets persisted, store closed), so lines nobody can read any more are dropped.
    process.stdout.on('error', rethrowUnlessBrokenPipe)
    process.stderr.on('error', rethrowUnlessBrokenPipe)
  }
  const log = createLogger({ ignoreBrokenPipe: supervised })
  const print = (line: string): boolean => process.stdout.write(`ferrymq: ${line}\n`)
  // Listened for before starting: a supervisor that dies while this process starts must not leave it running.
  const supervisorGone = new Promise<string>((resolvePromise) => {
    if (process.channel === undefined) return
    process.channel.unref()
    process.once('disconnect', () => resolvePromise('supervisor gone'))
  })
  const values = parseServerArgs(argv)
  if (role === 'start' && values.cluster !== undefined) {
    try {
      parseClusterOption(values.cluster, values['sync-master'] === true)
    } catch (err) {
      // A bad --cluster is bad usage: say so before anything starts.
      process.stderr.write(`ferrymq: ${(err as Error).message}\n`)
      return EXIT_USAGE
    }
  }
  const started =
    role === 'start' && values.cluster !== undefined
      ? await runCluster(values, log, print, { cliEntry: CLI_ENTRY })
      : await runServer(role, values, log, print)
  if (process.send !== undefined && process.connected && started.broker !== undefined) {
    const ready: BrokerReadyMessage = { type: BROKER_READY_MESSAGE, broker: started.broker }
    process.send(ready, (err: Error | null) => {
      // Not sent: the supervisor is gone, and the 'disconnect' listener above stops this process.
      if (err) log.warn({ err }, 'could not tell the supervisor that the broker serves')
    })
  }
  const reason = await Promise.race([
    supervisorGone,
    new Promise<NodeJS.Signals>((resolvePromise) => {
      process.once('SIGINT', resolvePromise)
      process.once('SIGTERM', resolvePromise)
    }),
  ])
  process.stdout.write(`ferrymq: ${reason}, shutting down\n`)
  const force = (): never => process.exit(EXIT_FAILED)
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  await started.stop()
  process.stdout.write('ferrymq: stopped\n')
  return 0
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv
  if (command === 'version' || command === '--version') {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  if (command === 'store' && sub === 'inspect') return storeInspect(rest)
  if (command !== undefined && ADMIN_COMMAND_GROUPS.has(command)) {
    return runAdminCommand(argv, {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      env: process.env,
    })
  }
  if (command === 'start' || command === 'namesrv' || command === 'broker') {
    return serve(command, argv.slice(1))
  }
  if (command === undefined || command === 'help' || command === '--help') {
    process.stdout.write(USAGE)
    return command === undefined ? EXIT_USAGE : 0
  }
  process.stderr.write(`unknown command: ${argv.join(' ')}\n${USAGE}`)
  return EXIT_USAGE
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`ferrymq: ${(err as Error)?.message ?? String(err)}\n`)
    process.exitCode = EXIT_FAILED
  },
)
