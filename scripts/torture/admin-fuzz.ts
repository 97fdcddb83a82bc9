/**
 * Admin API fuzz from its own schemas, part 3 of the hostile-input scenario: the OpenAPI document a running broker
 * serves at `/docs/json` says what each route takes and answers. Requests are drawn from it, seeded: valid ones,
 * and ones with one thing wrong (a wrong type, a huge or unicode string, a number out of range, a missing or extra
 * field, a bad path parameter, a body that is not JSON or not an object, a wrong content type).
 *
 * Checked for every answer: no 5xx but the 503s a route declares, every JSON answer valid against the response
 * schema the route declares for its status (4xx answers a route does not declare against its 400 error schema), and
 * after every batch the API still answers `/healthz`.
 */
import http from 'node:http'

import { Ajv, type ValidateFunction } from 'ajv'
import { seededRandom } from './report.js'

/** Problems kept: the first ones say what broke. */
const PROBLEMS_MAX = 50
const REQUEST_DEADLINE_MS = 30_000

export interface HttpAnswer {
  status: number
  contentType: string
  text: string
}

/** One request on a keep-alive agent; the path goes out exactly as given (no dot-segment removal). */
export function httpCall(
  agent: http.Agent,
  base: URL,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        // Node's server answers a request line over 16 KiB with 431 and drops the connection: not one to keep.
        agent: path.length > 8192 ? false : agent,
        host: base.hostname,
        port: base.port,
        method,
        path,
        headers:
          body === undefined
            ? headers
            : { 'content-type': 'application/json', ...headers, 'content-length': String(Buffer.byteLength(body)) },
        timeout: REQUEST_DEADLINE_MS,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () =>
      req.destroy(new Error(`${method} ${path.slice(0, 100)}: no answer in ${REQUEST_DEADLINE_MS} ms`)),
    )
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Every byte of the UTF-8 text but letters, digits, `_` and `-` percent-encoded (dots included, lone surrogates as
 * U+FFFD), so that a path parameter or query value arrives as it is.
 */
export function encodePathParam(value: string): string {
  let out = ''
  for (const b of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(b)
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

type Schema = {
  type?: string | string[]
  enum?: unknown[]
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  properties?: Record<string, Schema>
  required?: string[]
  additionalProperties?: boolean
  oneOf?: Schema[]
  items?: Schema
  minProperties?: number
  default?: unknown
}

interface Parameter {
  name: string
  in: 'path' | 'query' | 'header'
  required?: boolean
  schema: Schema
}

interface Operation {
  method: string
  /** OpenAPI path: `/api/topics/{topic}`. */
  path: string
  params: Parameter[]
  body: Schema | null
  /** Response schema per status, as declared. */
  responses: Map<number, ValidateFunction | null>
}

export interface AdminFuzzOptions {
  baseUrl: string
  cases: number
  seed: number
  /** Names worth hitting: topics and groups that exist, and hostile ones. */
  names: readonly string[]
  /** Requests between two `/healthz` rounds. */
  casesPerBatch: number
  log: (line: string) => void
}

export interface AdminFuzzResult {
  cases: number
  routes: number
  /** Answers by status. */
  statuses: Record<number, number>
  /** `METHOD path → status` answered but not declared by the route (4xx only; checked against its 400 schema). */
  undeclared: string[]
  problems: string[]
}

type Random = () => number

export async function runAdminFuzz(o: AdminFuzzOptions): Promise<AdminFuzzResult> {
  const base = new URL(o.baseUrl)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  const problems: string[] = []
  const statuses = new Map<number, number>()
  const undeclared = new Set<string>()
  const add = (p: string): void => {
    if (problems.length < PROBLEMS_MAX) problems.push(p)
  }
  try {
    const doc = await httpCall(agent, base, 'GET', '/docs/json')
    if (doc.status !== 200) throw new Error(`GET /docs/json answered ${doc.status}`)
    const ajv = new Ajv({ strict: false, allErrors: true })
    const ops = operations(JSON.parse(doc.text) as OpenApi, ajv)
    const random = seededRandom(o.seed)
    let cases = 0
    let lastReport = Date.now()
    for (let i = 0; i < o.cases && problems.length === 0; i++) {
      const op = ops[Math.floor(random() * ops.length)]!
      const req = drawRequest(op, o.names, random)
      const label = `seed ${o.seed} case ${i}: ${req.method} ${req.path.slice(0, 200)}${req.what ? ` (${req.what})` : ''}`
      let answer: HttpAnswer
      try {
        answer = await httpCall(agent, base, req.method, req.path, req.body, req.headers)
      } catch (err) {
        add(`${label}: ${(err as Error).message}`)
        break
      }
      cases++
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
      for (const p of checkAnswer(op, answer, label, undeclared)) add(p)
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now()
        o.log(`admin fuzz: ${cases} requests`)
      }
      if ((i + 1) % o.casesPerBatch === 0) {
        const health = await httpCall(agent, base, 'GET', '/healthz').catch((err: Error) => err)
        if (health instanceof Error || health.status !== 200) {
          add(`after ${label}: /healthz answered ${health instanceof Error ? health.message : health.status}`)
        }
      }
    }
    return {
      cases,
      routes: ops.length,
      statuses: Object.fromEntries(statuses),
      undeclared: [...undeclared].sort(),
      problems,
    }
  } finally {
    agent.destroy()
  }
}

function checkAnswer(op: Operation, answer: HttpAnswer, label: string, undeclared: Set<string>): string[] {
  const problems: string[] = []
  // Node's HTTP parser refuses a request line or headers over 16 KiB before Fastify sees the request: no route's.
  if (answer.status === 431) return problems
  const declared = op.responses.has(answer.status)
  if (answer.status >= 500 && !(answer.status === 503 && declared)) {
    problems.push(`${label}: answered ${answer.status} ${answer.text.slice(0, 300)}`)
  }
  if (!answer.contentType.includes('json')) return problems
  let body: unknown
  try {
    body = JSON.parse(answer.text)
  } catch {
    return [...problems, `${label}: ${answer.status} says JSON but is not: ${answer.text.slice(0, 200)}`]
  }
  let validate = op.responses.get(answer.status) ?? null
  if (!declared) {
    if (answer.status < 400 || answer.status >= 500) {
      return [...problems, `${label}: answered ${answer.status}, which the route does not declare`]
    }
    undeclared.add(`${op.method} ${op.path} → ${answer.status}`)
    validate = op.responses.get(400) ?? null
  }
  if (validate !== null && !validate(body)) {
    const errors = validate.errors?.map((e) => `${e.instancePath} ${e.message}`).join(', ')
    problems.push(
      `${label}: ${answer.status} answer does not match its schema (${errors}): ${answer.text.slice(0, 300)}`,
    )
  }
  return problems
}

// ---------------------------------------------------------------------------------------------------------------
// The OpenAPI document

interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Parameter[]
        requestBody?: { content?: Record<string, { schema?: Schema }> }
        responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>
      }
    >
  >
}

function operations(doc: OpenApi, ajv: Ajv): Operation[] {
  const out: Operation[] = []
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const responses = new Map<number, ValidateFunction | null>()
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        const schema = r.content?.['application/json']?.schema
        responses.set(Number(status), schema === undefined ? null : ajv.compile(schema))
      }
      out.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
        responses,
      })
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// Requests drawn from the schemas

interface DrawnRequest {
  method: string
  path: string
  body?: string | Buffer
  headers: Record<string, string>
  /** What was made wrong, if anything. */
  what: string
}

const TEXTS = [
  '',
  ' ',
  '\u0000',
  '\r\n',
  '../x',
  '%',
  '%00',
  '%zz',
  '\ud800',
  '\uffff',
  '\u202e',
  'é',
  '😀',
  '<script>',
  '${x}',
  'null',
  'true',
  '-1',
  '1e309',
  '__proto__',
]

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!
}

function randomText(random: Random, maxLength: number): string {
  const n = Math.floor(random() * Math.min(maxLength, 40))
  let s = ''
  for (let i = 0; i < n; i++) {
    const r = random()
    s +=
      r < 0.7
        ? String.fromCharCode(0x61 + Math.floor(random() * 26))
        : String.fromCharCode(Math.floor(random() * 0x10000))
  }
  return s
}

/** A value the schema accepts (or, for names, one worth sending). */
function validValue(schema: Schema, names: readonly string[], random: Random, name = ''): unknown {
  if (schema.enum !== undefined) return pick(random, schema.enum)
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case 'string': {
      if (/topic|group/.test(name) && random() < 0.8) return pick(random, names)
      const min = schema.minLength ?? 0
      const max = schema.maxLength ?? 64
      const s = random() < 0.1 ? 'k'.repeat(max) : randomText(random, max)
      return s.length < min ? s.padEnd(min, 'k') : s
    }
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? -1000
      const max = schema.maximum ?? Math.max(min, 0) + 1000
      const r = random()
      // Bounds sometimes, small values mostly: each valid topic of 65,536 queues makes every later listing slower.
      if (r < 0.02) return max
      if (r < 0.12) return min
      return min + Math.floor(random() * Math.min(max - min + 1, 16))
    }
    case 'boolean':
      return random() < 0.5
    case 'array':
      return schema.items === undefined ? [] : [validValue(schema.items, names, random)]
    case 'object': {
      const out: Record<string, unknown> = {}
      const props = schema.properties ?? {}
      const required = new Set(schema.required ?? [])
      // One branch of a oneOf names the fields it requires.
      if (schema.oneOf !== undefined) for (const k of pick(random, schema.oneOf).required ?? []) required.add(k)
      for (const [k, s] of Object.entries(props)) {
        if (required.has(k) || (random() < 0.4 && !schema.oneOf?.some((b) => b.required?.includes(k)))) {
          out[k] = validValue(s, names, random, k)
        }
      }
      if ((schema.minProperties ?? 0) > Object.keys(out).length) {
        const [k, s] = pick(random, Object.entries(props))
        out[k] = validValue(s, names, random, k)
      }
      return out
    }
    default:
      return null
  }
}

/** A value the schema refuses, and what is wrong with it. */
function invalidValue(schema: Schema, random: Random): [unknown, string] {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  const choices: [unknown, string][] = [
    [null, 'null'],
    [[1, 'a'], 'an array'],
    [{ a: 1 }, 'an object'],
  ]
  if (type === 'string') {
    choices.push([12345, 'a number'], [true, 'a boolean'])
    if (schema.maxLength !== undefined) choices.push(['x'.repeat(schema.maxLength + 1), 'one character too long'])
    choices.push(['y'.repeat(100_000), 'a 100,000-character string'])
    if ((schema.minLength ?? 0) > 0) choices.push(['', 'empty'])
    if (schema.enum !== undefined) choices.push([`${String(schema.enum[0])}X`, 'not in the enum'])
  } else if (type === 'integer' || type === 'number') {
    choices.push(['12', 'a numeric string'], ['abc', 'text'], [1e308, '1e308'], [-1e308, '-1e308'])
    if (type === 'integer') choices.push([1.5, 'a fraction'], [2 ** 53 + 2, '2^53 + 2'])
    if (schema.minimum !== undefined) choices.push([schema.minimum - 1, 'below the minimum'])
    if (schema.maximum !== undefined) choices.push([schema.maximum + 1, 'above the maximum'])
  } else if (type === 'boolean') {
    choices.push(['yes', '"yes"'], [1, '1'], ['true', '"true"'])
  } else if (type === 'object') {
    choices.push(['text', 'a string'], [[], 'an empty array'], [7, 'a number'])
  }
  return pick(random, choices)
}

function drawRequest(op: Operation, names: readonly string[], random: Random): DrawnRequest {
  const pathValues = new Map<string, string>()
  const query = new Map<string, string>()
  let body: unknown = op.body === null ? undefined : validValue(op.body, names, random)
  let rawBody: string | Buffer | undefined
  const headers: Record<string, string> = {}
  let what = ''
  for (const p of op.params) {
    if (p.in === 'path') pathValues.set(p.name, String(validValue(p.schema, names, random, p.name)))
    else if (p.in === 'query' && (p.required || random() < 0.5)) {
      query.set(p.name, String(validValue(p.schema, names, random, p.name)))
    }
  }
  // Valid requests two times in five; otherwise one thing wrong.
  const r = random()
  if (r >= 0.4) {
    const pathParams = op.params.filter((p) => p.in === 'path')
    const queryParams = op.params.filter((p) => p.in === 'query')
    const target = Math.floor(random() * 8)
    if (target <= 1 && pathParams.length > 0) {
      const p = pick(random, pathParams)
      const bad = pick(random, [...TEXTS, ...names, 'z'.repeat(Math.floor(random() * 2000)), randomText(random, 200)])
      pathValues.set(p.name, bad)
      what = `path ${p.name} ${JSON.stringify(bad.slice(0, 40))}${bad.length > 40 ? `… (${bad.length})` : ''}`
    } else if (target <= 3 && queryParams.length > 0) {
      const p = pick(random, queryParams)
      if (random() < 0.3) {
        query.delete(p.name)
        what = `query ${p.name} missing`
      } else {
        const [v, why] = random() < 0.5 ? invalidValue(p.schema, random) : [pick(random, TEXTS), 'odd text']
        query.set(p.name, typeof v === 'string' ? v : JSON.stringify(v))
        what = `query ${p.name} ${why}`
      }
    } else if (target <= 6 && op.body !== null && typeof body === 'object' && body !== null) {
      const b = body as Record<string, unknown>
      const props = Object.entries(op.body.properties ?? {})
      const how = Math.floor(random() * 4)
      if (how === 0 && props.length > 0) {
        const [k, s] = pick(random, props)
        const [v, why] = invalidValue(s, random)
        b[k] = v
        what = `body ${k} ${why}`
      } else if (how === 1 && (op.body.required ?? []).length > 0) {
        const k = pick(random, op.body.required!)
        delete b[k]
        what = `body ${k} missing`
      } else if (how === 2) {
        b[pick(random, ['extra', '__proto__', 'constructor', ''])] = 1
        what = 'body with an extra field'
      } else {
        const [v, why] = invalidValue(op.body, random)
        body = v
        what = `body ${why}`
      }
    } else if (op.body !== null) {
      const how = Math.floor(random() * 5)
      rawBody = pick(random, ['{', '{"a":', '[', 'not json', '{"topic":"x"}}', `${'['.repeat(10_000)}`, '\u0000'])
      if (how === 0) rawBody = Buffer.from([0xff, 0xfe, 0x00, 0x7b])
      if (how === 1) {
        headers['content-type'] = pick(random, ['text/plain', 'application/xml', 'multipart/form-data', ''])
        rawBody = JSON.stringify(body)
      }
      what = `raw body ${JSON.stringify(String(rawBody).slice(0, 20))}${how === 1 ? ` as ${headers['content-type']}` : ''}`
    } else {
      // A body or a query string the route does not take.
      query.set(pick(random, ['x', '__proto__', 'topic', '']), pick(random, TEXTS))
      if (random() < 0.5) rawBody = '{"unexpected":true}'
      what = 'unexpected query or body'
    }
  }
  let path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodePathParam(pathValues.get(name) ?? ''))
  if (query.size > 0) {
    path += `?${[...query].map(([k, v]) => `${encodePathParam(k)}=${encodePathParam(v)}`).join('&')}`
  }
  const sent = rawBody ?? (body === undefined ? undefined : JSON.stringify(body))
  return { method: op.method, path, body: sent, headers, what }
}
