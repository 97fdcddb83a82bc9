/**
 * Frame and header fuzz against a running broker, part 1 of the hostile-input scenario: seeded sessions from
 * `frame-arbitraries.ts` (well-formed requests with hostile headers and bodies, pipelined, in one write or in
 * pieces, then a clean close, a malformed, debatable or truncated frame, or garbage), each on its own connection,
 * several connections at once, until enough cases went out.
 *
 * Checked for every session: each well-formed request gets exactly one answer in its own serialization (oneway
 * requests and frames flagged as responses none), a malformed frame closes the connection without answering the
 * request behind it, a debatable one is either answered past or closes, a truncated frame or garbage closes. After
 * every batch of sessions a well-behaved request on another connection must be served (the sentinel).
 *
 * Session `i` of a run is `drawSession(sessionArbitraries(…), sessionSeed(seed, i))`: a failure names its seed and
 * session, which is enough to draw it again.
 */
import net from 'node:net'

import { RequestCode } from '../../ts/common/request-code.js'
import {
  drawSession,
  encodeCommand,
  expectsResponse,
  plainRequest,
  ReferenceFrameReader,
  SERIALIZE_JSON,
  SERIALIZE_ROCKETMQ,
  sessionArbitraries,
  sessionSeed,
  TOTAL_LENGTH_MAX,
  type ArbitraryOptions,
  type DecodedFrame,
  type FuzzCommand,
  type Session,
} from './frame-arbitraries.js'

/** Longest wait for the answers to one session's requests, or for the broker to close a connection. */
const ANSWER_DEADLINE_MS = 30_000
const CLOSE_DEADLINE_MS = 15_000
/** Problems kept per run: the first ones say what broke, the rest would only repeat it. */
const PROBLEMS_MAX = 50
/** Requests a broker may send its clients (protocol.md §1.5). */
const BROKER_TO_CLIENT_CODES: ReadonlySet<number> = new Set([
  RequestCode.CHECK_TRANSACTION_STATE,
  RequestCode.NOTIFY_CONSUMER_IDS_CHANGED,
  RequestCode.RESET_CONSUMER_CLIENT_OFFSET,
  RequestCode.GET_CONSUMER_STATUS_FROM_CLIENT,
  RequestCode.GET_CONSUMER_RUNNING_INFO,
  RequestCode.CONSUME_MESSAGE_DIRECTLY,
  RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT,
])

export interface FrameFuzzOptions {
  host: string
  port: number
  /** Sessions are drawn until at least this many cases went out. */
  casesMin: number
  /** Connections fuzzing at once. */
  connections: number
  seed: number
  names: ArbitraryOptions
  /** A well-behaved request on a connection of its own; throws when the broker does not serve it. */
  sentinel: () => Promise<void>
  /** Sessions between two sentinel rounds. */
  sessionsPerBatch: number
  log: (line: string) => void
}

export interface FrameFuzzResult {
  cases: number
  sessions: number
  /** How sessions ended: clean, malformed, debatable, truncated, garbage. */
  endings: Record<string, number>
  debatableAnswered: number
  debatableClosed: number
  /** Answers by response code. */
  responseCodes: Record<number, number>
  sentinelRounds: number
  problems: string[]
}

/** What the sessions of a run add up to; `runSession` adds to it. */
export interface FuzzStats {
  cases: number
  sessions: number
  endings: Map<string, number>
  debatableAnswered: number
  debatableClosed: number
  responseCodes: Map<number, number>
  /** Requests the broker sent (flag bit 0 clear). */
  brokerRequests: number
  /** Answers after a debatable frame or garbage to an opaque no pending request carries. */
  unexpectedOpaques: number
}

export function newFuzzStats(): FuzzStats {
  return {
    cases: 0,
    sessions: 0,
    endings: new Map(),
    debatableAnswered: 0,
    debatableClosed: 0,
    responseCodes: new Map(),
    brokerRequests: 0,
    unexpectedOpaques: 0,
  }
}

/** Where a session connects to, and how strictly its answers are read. */
export interface SessionTarget {
  host: string
  /** A session connects to `ports[session.port]`, or to `ports[0]` when there is no such port. */
  ports: readonly number[]
  /** Also report an answer whose ext fields are not all strings. */
  extFieldsMustBeStrings?: boolean
}

/** Runs the fuzz; resolves once enough cases went out, or at the first problems (the broker stops serving, say). */
export async function runFrameFuzz(o: FrameFuzzOptions): Promise<FrameFuzzResult> {
  const stats = newFuzzStats()
  const target: SessionTarget = { host: o.host, ports: [o.port] }
  const problems: string[] = []
  const sockets = new Set<net.Socket>()
  const addProblems = (found: string[]): void => {
    for (const p of found) if (problems.length < PROBLEMS_MAX) problems.push(p)
  }
  let sentinelRounds = 0
  try {
    // The largest legal frame is read and answered; one byte more closes the connection unread.
    for (const extra of [0, 1]) {
      addProblems(await runSession(target, maxFrameSession(extra), `largest frame + ${extra}`, stats, sockets))
    }
    const arbs = sessionArbitraries(o.names)
    let nextSession = 0
    let done = 0
    let lastReport = Date.now()
    const worker = async (): Promise<void> => {
      while (stats.cases < o.casesMin && problems.length === 0) {
        const index = nextSession++
        const session = drawSession(arbs, sessionSeed(o.seed, index))
        stats.sessions++
        addProblems(await runSession(target, session, `seed ${o.seed} session ${index}`, stats, sockets))
        if (++done % o.sessionsPerBatch !== 0 || problems.length > 0) continue
        // The batch is out: the broker must still serve a well-behaved client.
        try {
          await o.sentinel()
          sentinelRounds++
        } catch (err) {
          addProblems([
            `after ${done} sessions (seed ${o.seed}): the sentinel was not served: ${(err as Error).message}`,
          ])
        }
        if (Date.now() - lastReport > 10_000) {
          lastReport = Date.now()
          o.log(`frame fuzz: ${stats.cases} cases in ${stats.sessions} sessions`)
        }
      }
    }
    await Promise.all(Array.from({ length: o.connections }, worker))
    if (problems.length === 0) {
      try {
        await o.sentinel()
        sentinelRounds++
      } catch (err) {
        addProblems([`after the fuzz (seed ${o.seed}): the sentinel was not served: ${(err as Error).message}`])
      }
    }
  } finally {
    for (const s of sockets) s.destroy()
  }
  return {
    cases: stats.cases,
    sessions: stats.sessions,
    endings: Object.fromEntries(stats.endings),
    debatableAnswered: stats.debatableAnswered,
    debatableClosed: stats.debatableClosed,
    responseCodes: Object.fromEntries(stats.responseCodes),
    sentinelRounds,
    problems,
  }
}

/** A send whose frame is exactly the largest legal one (`extra` 0), or one byte over it (a malformed ending). */
export function maxFrameSession(extra: number): Session {
  const command: FuzzCommand = {
    ...plainRequest(1),
    code: RequestCode.SEND_MESSAGE_V2,
    extFields: [
      ['a', 'FzPG'],
      ['b', 'FzT0'],
      ['c', 'TBW102'],
      ['d', '4'],
      ['e', '0'],
      ['f', '0'],
      ['g', String(Date.now())],
      ['h', '0'],
    ],
  }
  const headerOnly = encodeCommand({ ...command, body: null })
  const body = Buffer.alloc(TOTAL_LENGTH_MAX + 4 - headerOnly.length + extra, 0x61)
  if (extra === 0) return { port: 0, commands: [{ ...command, body }], pieces: 0, ending: { kind: 'clean' } }
  const bytes = encodeCommand({ ...command, body })
  return {
    port: 0,
    commands: [],
    pieces: 0,
    ending: { kind: 'malformed', frame: { kind: `length ${bytes.length - 4}`, bytes }, trailingBinary: false },
  }
}

interface Expected {
  command: FuzzCommand
  answered: boolean
  /** Must be answered before the session ends; held pulls (long polling) may be answered late or never. */
  required: boolean
  /** Must never be answered: oneway or flagged as a response (§1.4), or behind a frame that closes the stream. */
  forbidden: boolean
}

/**
 * One connection doing one session: the well-formed requests (pipelined, in one write or in pieces), their
 * answers, then the ending. Returns what went wrong.
 */
export async function runSession(
  target: SessionTarget,
  session: Session,
  label: string,
  stats: FuzzStats,
  sockets: Set<net.Socket>,
): Promise<string[]> {
  const problems: string[] = []
  const port = target.ports[session.port] ?? target.ports[0]!
  const socket = net.connect({ host: target.host, port, noDelay: true })
  sockets.add(socket)
  socket.on('error', () => {
    // ECONNRESET/EPIPE when the broker closes first: the close is what the session checks.
  })
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const expected = new Map<number, Expected>()
  let lenient = false
  let requiredLeft = 0
  let onProgress: (() => void) | null = null
  const reader = new ReferenceFrameReader()

  const onFrame = (f: DecodedFrame): void => {
    if ((f.flag & 1) === 0) {
      stats.brokerRequests++
      if (!BROKER_TO_CLIENT_CODES.has(f.code)) problems.push(`${label}: broker sent a request with code ${f.code}`)
      return
    }
    stats.responseCodes.set(f.code, (stats.responseCodes.get(f.code) ?? 0) + 1)
    const e = expected.get(f.opaque)
    // After a debatable frame or garbage the broker may answer an opaque found in those bytes, any one at all.
    if (lenient && (e === undefined || e.answered || e.forbidden)) {
      stats.unexpectedOpaques++
      return
    }
    if (e === undefined) {
      problems.push(`${label}: answer to opaque ${f.opaque}, which no request carried: ${describeFrame(f)}`)
      return
    }
    if (e.forbidden) {
      problems.push(`${label}: answered what must get no answer: ${describeCommand(e.command)} → ${f.code} ${f.remark}`)
    } else if (e.answered) {
      problems.push(`${label}: second answer to ${describeCommand(e.command)}: ${describeFrame(f)}`)
    }
    if (f.serializeType !== e.command.serializeType) {
      problems.push(`${label}: ${describeCommand(e.command)} answered with serialize type ${f.serializeType}`)
    }
    if (target.extFieldsMustBeStrings === true && f.extFields !== null) {
      for (const [k, v] of Object.entries(f.extFields)) {
        if (typeof v !== 'string')
          problems.push(`${label}: answer ext field ${k} is ${JSON.stringify(v)}, not a string`)
      }
    }
    e.answered = true
    if (e.required) requiredLeft--
    onProgress?.()
  }
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const f of reader.push(chunk)) onFrame(f)
    } catch (err) {
      problems.push(`${label}: undecodable bytes from the broker: ${(err as Error).message}`)
      socket.destroy()
    }
  })
  const expect = (command: FuzzCommand, forbidden: boolean): void => {
    const required = !forbidden && expectsResponse(command) && !mayBeHeld(command)
    expected.set(command.opaque, {
      command,
      answered: false,
      required,
      forbidden: forbidden || !expectsResponse(command),
    })
    if (required) requiredLeft++
  }
  let nextFree = 0x5eed_0000
  const freeOpaque = (): number => {
    while (expected.has(nextFree)) nextFree++
    return nextFree++
  }

  try {
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve)
        socket.once('error', reject)
      }),
      CLOSE_DEADLINE_MS,
      'connect',
    )
    // Opaques made unique, so that every answer maps to one request.
    const frames: Buffer[] = []
    for (const c of session.commands) {
      let opaque = c.opaque | 0
      while (expected.has(opaque)) opaque = (opaque + 1) | 0
      const command = { ...c, opaque }
      expect(command, false)
      frames.push(encodeCommand(command))
    }
    stats.cases += session.commands.length
    if (frames.length > 0) await writePieces(socket, Buffer.concat(frames), session.pieces)
    const allAnswered = new Promise<void>((resolve) => {
      onProgress = () => {
        if (requiredLeft === 0) resolve()
      }
      onProgress()
    })
    const earlyClose = closed.then(() => {
      throw new Error('the broker closed the connection')
    })
    earlyClose.catch(() => {})
    try {
      await within(Promise.race([allAnswered, earlyClose]), ANSWER_DEADLINE_MS, 'answers')
    } catch (err) {
      const missing = [...expected.values()].filter((e) => e.required && !e.answered)
      const examples = missing.slice(0, 3).map((e) => describeCommand(e.command))
      problems.push(
        `${label}: ${(err as Error).message} with ${missing.length} unanswered, e.g. ${examples.join('; ')}`,
      )
      return problems
    }
    onProgress = null

    const ending = session.ending
    stats.endings.set(ending.kind, (stats.endings.get(ending.kind) ?? 0) + 1)
    // Every ending but a clean close is a case of its own.
    if (ending.kind !== 'clean') stats.cases++
    switch (ending.kind) {
      case 'clean':
        socket.end()
        break
      case 'malformed': {
        // The frame closes the stream: the request right behind it in the same write must not be answered.
        const trailing = plainRequest(freeOpaque(), ending.trailingBinary ? SERIALIZE_ROCKETMQ : SERIALIZE_JSON)
        expect(trailing, true)
        socket.write(Buffer.concat([ending.frame.bytes, encodeCommand(trailing)]))
        break
      }
      case 'debatable': {
        const trailing = plainRequest(freeOpaque(), ending.trailingBinary ? SERIALIZE_ROCKETMQ : SERIALIZE_JSON)
        expect(trailing, false)
        lenient = true
        const trailingAnswered = new Promise<'answered'>((resolve) => {
          onProgress = () => {
            if (expected.get(trailing.opaque)!.answered) resolve('answered')
          }
        })
        socket.write(Buffer.concat([ending.frame.bytes, encodeCommand(trailing)]))
        try {
          const outcome = await within(
            Promise.race([trailingAnswered, closed.then(() => 'closed' as const)]),
            CLOSE_DEADLINE_MS,
            'outcome',
          )
          if (outcome === 'answered') {
            stats.debatableAnswered++
            socket.end()
          } else {
            stats.debatableClosed++
          }
        } catch {
          problems.push(`${label}: after a debatable frame (${ending.frame.kind}) neither a close nor an answer`)
        }
        break
      }
      case 'truncated': {
        const command = { ...ending.command, opaque: freeOpaque() }
        expect(command, true)
        const bytes = encodeCommand(command)
        socket.end(bytes.subarray(0, Math.max(1, Math.floor(bytes.length * ending.keepFraction))))
        break
      }
      case 'garbage':
        lenient = true
        socket.end(ending.bytes)
        break
    }
    try {
      await within(closed, CLOSE_DEADLINE_MS, 'close')
    } catch {
      const what = ending.kind === 'malformed' || ending.kind === 'debatable' ? ` (${ending.frame.kind})` : ''
      problems.push(`${label}: connection not closed after the ${ending.kind} ending${what}`)
    }
    return problems
  } catch (err) {
    problems.push(`${label}: ${(err as Error).message}`)
    return problems
  } finally {
    socket.destroy()
    sockets.delete(socket)
  }
}

/** Writes `all` at once, or in `pieces` writes at seeded points, each in its own turn (frames split across reads). */
async function writePieces(socket: net.Socket, all: Buffer, pieces: number): Promise<void> {
  if (pieces === 0) {
    socket.write(all)
    return
  }
  let at = 0
  for (const cut of [...splitPoints(all.length ^ pieces, all.length, pieces), all.length]) {
    socket.write(all.subarray(at, cut))
    at = cut
    await new Promise((r) => setImmediate(r))
  }
}

/** A small deterministic generator (xorshift) for the split points of a session's writes. */
function splitPoints(seed: number, length: number, pieces: number): number[] {
  let x = seed >>> 0 || 1
  const points = new Set<number>()
  for (let i = 0; i < pieces - 1; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    points.add(1 + (x % Math.max(1, length - 1)))
  }
  return [...points].sort((a, b) => a - b)
}

/** A pull that asks to be held (SUSPEND, sysFlag bit 1) may be answered only when a message arrives or it expires. */
function mayBeHeld(c: FuzzCommand): boolean {
  if (c.code !== RequestCode.PULL_MESSAGE) return false
  // The last of repeated keys wins, in both serializations.
  const sysFlag = c.extFields?.findLast(([k, v]) => k === 'sysFlag' && v !== null)?.[1]
  const n = Number(String(sysFlag).trim())
  return Number.isInteger(n) && (n & 2) !== 0
}

/** `p`, or a rejection once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([p, deadline])
  } finally {
    clearTimeout(timer)
  }
}

function describeFrame(f: DecodedFrame): string {
  const type = f.serializeType === SERIALIZE_JSON ? 'json' : 'binary'
  return `${type} code ${f.code} opaque ${f.opaque} flag ${f.flag} remark ${JSON.stringify(f.remark)} body ${f.bodyBytes}`
}

function describeCommand(c: FuzzCommand): string {
  const ext = c.extFields === null ? 'null' : JSON.stringify(Object.fromEntries(c.extFields)).slice(0, 300)
  const type = c.serializeType === SERIALIZE_JSON ? 'json' : 'binary'
  return `${type} code ${c.code} opaque ${c.opaque} flag ${c.flag} ext ${ext} body ${c.body?.length ?? 'null'}`
}
