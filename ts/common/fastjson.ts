/**
 * JSON bodies as the Java side writes and reads them (protocol.md §2.7).
 *
 * fastjson writes bean members in alphabetical order and omits nulls; it writes a map key that is not a string
 * without quoting it: `{0:"addr"}` for a `Long` key, `{{"brokerName":…}:…}` for an object key. Neither is valid
 * JSON, yet Java tools and some clients depend on it, so `stringifyJson` reproduces it (with `strict` quoting
 * numeric keys for readers that need valid JSON), and `parseJson` reads both forms back.
 */
import { ProtocolError } from './errors.js'

export interface StringifyOptions {
  /** Quote numeric map keys (`{"0":…}`), as the name server does for clients at version ≥ 401. */
  strict?: boolean
}

/** Nesting deeper than this in a body we parse is refused (a body is data, not a stack-overflow probe). */
const PARSE_DEPTH_MAX = 64

export function stringifyJson(value: unknown, options: StringifyOptions = {}): string {
  return write(value, options.strict === true)
}

function write(v: unknown, strict: boolean): string {
  if (v === null || v === undefined) return 'null'
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v)
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null'
    case 'bigint':
      return v.toString()
    case 'boolean':
      return v ? 'true' : 'false'
    case 'object':
      break
    default:
      return 'null'
  }
  if (Array.isArray(v) || v instanceof Set) {
    let s = '['
    let first = true
    for (const item of v as Iterable<unknown>) {
      s += (first ? '' : ',') + write(item, strict)
      first = false
    }
    return `${s}]`
  }
  if (v instanceof Map) {
    let s = '{'
    let first = true
    for (const [key, item] of v as Map<unknown, unknown>) {
      if (item === null || item === undefined) continue
      s += `${first ? '' : ','}${writeKey(key, strict)}:${write(item, strict)}`
      first = false
    }
    return `${s}}`
  }
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64'))
  const obj = v as Record<string, unknown>
  const keys = Object.keys(obj).sort()
  let s = '{'
  let first = true
  for (const key of keys) {
    const item = obj[key]
    if (item === null || item === undefined || typeof item === 'function') continue
    s += `${first ? '' : ','}${JSON.stringify(key)}:${write(item, strict)}`
    first = false
  }
  return `${s}}`
}

function writeKey(key: unknown, strict: boolean): string {
  if (typeof key === 'string') return JSON.stringify(key)
  if (typeof key === 'number' || typeof key === 'bigint') return strict ? `"${key}"` : String(key)
  // An object key (a MessageQueue): fastjson writes the object itself.
  return write(key, strict)
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Parses JSON, also accepting fastjson's unquoted numeric keys and object keys. An object key is returned as the
 * canonical JSON text of the key object (members sorted), so `JSON.parse(key)` recovers it.
 */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    // Not standard JSON: try the fastjson forms.
  }
  const p = new Parser(text)
  p.ws()
  const value = p.value(0)
  p.ws()
  if (p.i !== text.length) p.fail('trailing characters')
  return value
}

/** Parses a request body as a JSON object; a `ProtocolError` (→ SYSTEM_ERROR) when it is not one. */
export function parseJsonObject(body: Buffer | null, what: string): Record<string, unknown> {
  if (body === null || body.length === 0) throw new ProtocolError('RMQ_ERR_BODY', `${what}: the request has no body`)
  let v: unknown
  try {
    v = parseJson(body.toString('utf8'))
  } catch (err) {
    throw new ProtocolError('RMQ_ERR_BODY', `${what}: the body is not JSON (${(err as Error).message})`, { cause: err })
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ProtocolError('RMQ_ERR_BODY', `${what}: the body is not a JSON object`)
  }
  return v as Record<string, unknown>
}

class Parser {
  i = 0
  constructor(private readonly s: string) {}

  fail(why: string): never {
    throw new SyntaxError(`${why} at position ${this.i}`)
  }

  ws(): void {
    const s = this.s
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i)
      if (c === 32 || c === 9 || c === 10 || c === 13) this.i++
      else break
    }
  }

  value(depth: number): unknown {
    if (depth > PARSE_DEPTH_MAX) this.fail('nesting too deep')
    const c = this.s[this.i]
    if (c === '{') return this.object(depth)
    if (c === '[') return this.array(depth)
    if (c === '"') return this.string()
    return this.literal()
  }

  object(depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
    this.i++
    this.ws()
    if (this.s[this.i] === '}') {
      this.i++
      return out
    }
    for (;;) {
      this.ws()
      let key: string
      const c = this.s[this.i]
      if (c === '"') key = this.string()
      else if (c === '{' || c === '[') key = canonical(this.value(depth + 1))
      else key = String(this.literal())
      this.ws()
      if (this.s[this.i] !== ':') this.fail('expected :')
      this.i++
      this.ws()
      out[key] = this.value(depth + 1)
      this.ws()
      const d = this.s[this.i++]
      if (d === '}') return out
      if (d !== ',') this.fail('expected , or }')
    }
  }

  array(depth: number): unknown[] {
    const out: unknown[] = []
    this.i++
    this.ws()
    if (this.s[this.i] === ']') {
      this.i++
      return out
    }
    for (;;) {
      this.ws()
      out.push(this.value(depth + 1))
      this.ws()
      const d = this.s[this.i++]
      if (d === ']') return out
      if (d !== ',') this.fail('expected , or ]')
    }
  }

  string(): string {
    const start = this.i
    this.i++
    const s = this.s
    while (this.i < s.length) {
      const c = s[this.i]
      if (c === '\\') this.i += 2
      else if (c === '"') {
        this.i++
        return JSON.parse(s.slice(start, this.i)) as string
      } else this.i++
    }
    return this.fail('unterminated string')
  }

  literal(): unknown {
    const m = /^(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(this.s.slice(this.i, this.i + 64))
    if (!m) this.fail('unexpected character')
    this.i += m[0].length
    return JSON.parse(m[0])
  }
}

function canonical(v: unknown): string {
  return stringifyJson(v, { strict: true })
}
