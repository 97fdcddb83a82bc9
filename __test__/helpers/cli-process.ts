/**
 * Runs the `ferrymq` CLI from source through tsx as a child process (no build step, always the current code): to
 * completion with a deadline (`runCli`), or left running (`startCli`); tests kill what is still running with
 * `killCliProcesses()` in their after-hooks.
 */
import { spawn, type ChildProcess } from 'node:child_process'

const CLI = ['--import', 'tsx', 'ts/cli/ferrymq.ts']
/** A CLI run that takes longer than this is killed and fails the test. */
const RUN_DEADLINE_MS = 30_000

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

const running = new Set<ChildProcess>()

/** Runs `ferrymq …args` to completion; NAMESRV_ADDR is unset unless `env` sets it. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  const base = { ...process.env }
  delete base.NAMESRV_ADDR
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const deadline = setTimeout(() => child.kill('SIGKILL'), RUN_DEADLINE_MS)
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(deadline)
      running.delete(child)
      resolve({ code, stdout, stderr })
    })
  })
}

/** A `ferrymq` that keeps running (`start`, `broker`): its output so far, as lines, and its exit. */
export interface CliServer {
  child: ChildProcess
  stdout: string[]
  stderr: string[]
  exited: Promise<number | null>
}

/** Starts `ferrymq …args` and returns at once; the test stops it (or `killCliProcesses()` does). */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliServer {
  const base = { ...process.env }
  delete base.NAMESRV_ADDR
  const child = spawn(process.execPath, [...CLI, ...args], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  const stdout: string[] = []
  const stderr: string[] = []
  collectLines(child.stdout!, stdout)
  collectLines(child.stderr!, stderr)
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  return { child, stdout, stderr, exited }
}

/** Whole lines only: a chunk may end inside a line. */
function collectLines(stream: NodeJS.ReadableStream, into: string[]): void {
  let partial = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop()!
    into.push(...parts.filter((l) => l.length > 0))
  })
}

export function killCliProcesses(): void {
  for (const child of running) child.kill('SIGKILL')
}
