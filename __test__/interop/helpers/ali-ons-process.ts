/**
 * Runs ali-ons in a child process (`__test__/fixtures/ali-ons-child.ts`) and talks to it over stdin/stdout JSON
 * lines. Each child leads its own process group, so `stop()` can end it together with anything it started, and
 * `stopAllAliOnsChildren()` (called from `afterEach`) ends whatever a test left running and reports it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

import { waitFor } from '../../helpers/wait-for.js'
import type {
  AliOnsOptions,
  ChildError,
  ChildEvent,
  ChildLine,
  Command,
  ErrorEvent,
  MessageEvent,
  PulledEvent,
  RpcEvent,
  SendResult,
  SendSpec,
  SubscriptionSpec,
} from './ali-ons-protocol.js'

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CHILD_SCRIPT = fileURLToPath(new URL('../../fixtures/ali-ons-child.ts', import.meta.url))
const CALL_TIMEOUT_MS = 30_000
const EXIT_TIMEOUT_MS = 5_000
const GROUP_GONE_TIMEOUT_MS = 10_000
const STDERR_KEPT_CHARS = 8_000

/** A command as sent, without its id. */
type CommandBody = Command extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never

export class ChildCallError extends Error {
  constructor(
    readonly op: string,
    readonly childError: ChildError,
  ) {
    super(`${op} failed in the ali-ons child: ${childError.name}: ${childError.message}`)
  }
}

const live = new Set<AliOnsChild>()

export class AliOnsChild {
  /** Everything the child reported, in order. */
  readonly events: ChildEvent[] = []
  readonly pid: number
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { op: string; resolve(v: unknown): void; reject(e: Error): void }>()
  private nextId = 1
  private stderr = ''
  private readonly exit: Promise<void>
  private exited = false

  private constructor(
    namesrvAddr: string,
    readonly name: string,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT, namesrvAddr], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    })
    if (this.child.pid === undefined) throw new Error(`could not start the ali-ons child ${name}`)
    this.pid = this.child.pid
    this.exit = new Promise((resolve) => {
      this.child.once('exit', () => {
        this.exited = true
        for (const p of this.pending.values()) p.reject(new Error(`the ali-ons child ${name} exited during ${p.op}`))
        this.pending.clear()
        resolve()
      })
    })
    this.child.stdin!.on('error', () => {})
    this.child.stderr!.setEncoding('utf8')
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_KEPT_CHARS)
    })
    createInterface({ input: this.child.stdout! }).on('line', (text) => this.onLine(text))
  }

  static start(namesrvAddr: string, name: string): AliOnsChild {
    const c = new AliOnsChild(namesrvAddr, name)
    live.add(c)
    return c
  }

  private onLine(text: string): void {
    let line: ChildLine
    try {
      line = JSON.parse(text) as ChildLine
    } catch {
      // ali-ons or a dependency printed to stdout: keep it with stderr for diagnostics.
      this.stderr = (this.stderr + text + '\n').slice(-STDERR_KEPT_CHARS)
      return
    }
    if (line.type !== 'reply') {
      this.events.push(line)
      return
    }
    const p = this.pending.get(line.id)
    if (p === undefined) return
    this.pending.delete(line.id)
    if (line.ok) p.resolve(line.value)
    else p.reject(new ChildCallError(p.op, line.error ?? { name: 'Error', message: 'unknown' }))
  }

  call<T>(body: CommandBody, timeoutMs = CALL_TIMEOUT_MS): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`the ali-ons child ${this.name} has exited`))
    const id = this.nextId++
    const command = { ...body, id } as Command
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(
          new Error(
            `${body.op} timed out after ${timeoutMs} ms in the ali-ons child ${this.name}\n${this.diagnostics()}`,
          ),
        )
      }, timeoutMs)
      this.pending.set(id, {
        op: body.op,
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.child.stdin!.write(`${JSON.stringify(command)}\n`)
    })
  }

  startProducer(options: AliOnsOptions): Promise<void> {
    return this.call({ op: 'startProducer', options })
  }

  send(message: SendSpec): Promise<SendResult> {
    return this.call({ op: 'send', message })
  }

  /** A send that must fail: the error ali-ons raised. */
  async sendFailure(message: SendSpec): Promise<ChildError> {
    try {
      const r = await this.send(message)
      throw new Error(`the send was expected to fail but returned ${JSON.stringify(r)}`)
    } catch (err) {
      if (err instanceof ChildCallError) return err.childError
      throw err
    }
  }

  closeProducer(): Promise<void> {
    return this.call({ op: 'closeProducer' })
  }

  startConsumer(options: AliOnsOptions, subscriptions: SubscriptionSpec[]): Promise<void> {
    return this.call({ op: 'startConsumer', options, subscriptions })
  }

  closeConsumer(): Promise<void> {
    return this.call({ op: 'closeConsumer' })
  }

  messages(): MessageEvent[] {
    return this.events.filter((e): e is MessageEvent => e.type === 'message')
  }

  /** Requests with `code` and their answers. */
  rpcs(code?: number): RpcEvent[] {
    return this.events.filter((e): e is RpcEvent => e.type === 'rpc' && (code === undefined || e.code === code))
  }

  /** Pulls of `topic`, or of every topic. */
  pulls(topic?: string): PulledEvent[] {
    return this.events.filter(
      (e): e is PulledEvent => e.type === 'pulled' && (topic === undefined || e.topic === topic),
    )
  }

  errors(): ErrorEvent[] {
    return this.events.filter((e): e is ErrorEvent => e.type === 'error')
  }

  /** Waits until the handler has been called `count` times (at least), or fails with what the child reported. */
  async waitForMessages(
    count: number,
    { timeoutMs = 60_000, what = `${count} messages` } = {},
  ): Promise<MessageEvent[]> {
    try {
      await waitFor(() => this.messages().length >= count, { timeoutMs, intervalMs: 20, what })
    } catch (err) {
      throw new Error(`${(err as Error).message} (got ${this.messages().length})\n${this.diagnostics()}`)
    }
    return this.messages()
  }

  /** Waits for an event matching `check`, or fails with what the child reported. */
  async waitForEvent<E extends ChildEvent>(
    check: (e: ChildEvent) => e is E,
    { timeoutMs = 60_000, what = 'an event' } = {},
  ): Promise<E> {
    try {
      return await waitFor(() => this.events.find(check), { timeoutMs, intervalMs: 20, what })
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.diagnostics()}`)
    }
  }

  /** The child's errors, warnings and stderr, for failure messages. */
  diagnostics(): string {
    const reported = this.events
      .filter((e) => e.type === 'error' || e.type === 'log')
      .slice(-30)
      .map((e) => JSON.stringify(e))
    return [`ali-ons child ${this.name} (pid ${this.pid}) reported:`, ...reported, 'stderr:', this.stderr].join('\n')
  }

  get hasExited(): boolean {
    return this.exited
  }

  /** Asks the child to exit; kills its process group if it does not within a few seconds. */
  async stop(): Promise<void> {
    live.delete(this)
    if (!this.exited) {
      this.call({ op: 'exit' }, EXIT_TIMEOUT_MS).catch(() => {})
      const timer = setTimeout(() => this.killGroup(), EXIT_TIMEOUT_MS)
      await this.exit
      clearTimeout(timer)
    }
    // Anything the child started goes with it: tsx's esbuild service shares its process group. A killed process
    // stays in the group until init reaps it, so wait for the group to empty.
    this.killGroup()
    await waitFor(() => !this.groupAlive(), {
      timeoutMs: GROUP_GONE_TIMEOUT_MS,
      intervalMs: 20,
      what: 'the group to empty',
    }).catch(() => {})
  }

  /** Whether any process of the child's group is still there (a zombie counts). */
  groupAlive(): boolean {
    try {
      process.kill(-this.pid, 0)
      return true
    } catch {
      return false
    }
  }

  private killGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL')
    } catch {
      // The group is already empty.
    }
  }
}

/**
 * Stops every child a test left running (after a failure, say); returns the names of those whose processes are
 * still there afterwards, which must be none.
 */
export async function stopAllAliOnsChildren(): Promise<string[]> {
  const left = [...live]
  await Promise.all(left.map((c) => c.stop()))
  return left.filter((c) => c.groupAlive()).map((c) => c.name)
}
