/**
 * Runs the `ferrymq` CLI from source through tsx as a child process (no build step, always the current code), with
 * a deadline; tests kill what is still running with `killCliProcesses()` in their after-hooks.
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

export function killCliProcesses(): void {
  for (const child of running) child.kill('SIGKILL')
}
