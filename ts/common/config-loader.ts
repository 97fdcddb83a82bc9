/**
 * Configuration sources read at start, and validated once against a schema (STYLE.md §9): RocketMQ-style
 * properties files (`broker.conf`), `FERRYMQ_*` environment variables and command-line values. Keys keep their
 * Java spelling so operators' files load unchanged.
 */
import { ConfigError } from './errors.js'

export type ConfigKind = 'int' | 'long' | 'float' | 'bool' | 'string' | readonly string[]

export interface ConfigKeySpec {
  kind: ConfigKind
  min?: number
  max?: number
}

export type ConfigSchema = Record<string, ConfigKeySpec>

export type ConfigValue = number | boolean | string

/**
 * Parses Java properties text (`java.util.Properties#load`): `key=value`, `key: value` or `key value`; `#` and `!`
 * comment lines; a trailing backslash continues the line; `\t \n \r \f \\ \uXXXX` escapes.
 */
export function parseProperties(text: string, source = 'properties'): Map<string, string> {
  const out = new Map<string, string>()
  const lines = text.split(/\r\n|\r|\n/)
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/^[ \t\f]+/, '')
    if (line.length === 0 || line[0] === '#' || line[0] === '!') continue
    while (endsWithOddBackslashes(line) && i + 1 < lines.length) {
      line = line.slice(0, -1) + lines[++i]!.replace(/^[ \t\f]+/, '')
    }
    let k = 0
    let key = ''
    while (k < line.length) {
      const c = line[k]!
      if (c === '\\' && k + 1 < line.length) {
        key += c + line[k + 1]
        k += 2
        continue
      }
      if (c === '=' || c === ':' || c === ' ' || c === '\t' || c === '\f') break
      key += c
      k++
    }
    let rest = line.slice(k).replace(/^[ \t\f]*/, '')
    if (rest[0] === '=' || rest[0] === ':') rest = rest.slice(1).replace(/^[ \t\f]*/, '')
    const name = unescape(key, source, i + 1)
    if (name.length === 0) continue
    out.set(name, unescape(rest, source, i + 1))
  }
  return out
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++
  return n % 2 === 1
}

function unescape(s: string, source: string, line: number): string {
  if (!s.includes('\\')) return s
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c !== '\\' || i + 1 >= s.length) {
      out += c
      continue
    }
    const n = s[++i]!
    if (n === 't') out += '\t'
    else if (n === 'n') out += '\n'
    else if (n === 'r') out += '\r'
    else if (n === 'f') out += '\f'
    else if (n === 'u') {
      const hex = s.slice(i + 1, i + 5)
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ConfigError('RMQ_ERR_CONFIG', `${source}:${line}: bad \\u escape`)
      out += String.fromCharCode(parseInt(hex, 16))
      i += 4
    } else out += n
  }
  return out
}

/** `FERRYMQ_LISTEN_PORT` for `listenPort`, `FERRYMQ_BROKER_IP1` for `brokerIP1`. */
export function envNameOf(key: string): string {
  return `FERRYMQ_${key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toUpperCase()}`
}

/** Converts one textual value to the key's type; a `ConfigError` naming the key and source when it does not fit. */
export function coerceValue(key: string, spec: ConfigKeySpec, raw: string | ConfigValue, source: string): ConfigValue {
  const fail = (why: string): never => {
    throw new ConfigError('RMQ_ERR_CONFIG', `${source}: ${key}=${JSON.stringify(String(raw))}: ${why}`)
  }
  const text = typeof raw === 'string' ? raw.trim() : raw
  const kind = spec.kind
  if (Array.isArray(kind)) {
    if (typeof text !== 'string' || !kind.includes(text)) fail(`must be one of ${kind.join(', ')}`)
    return text as string
  }
  switch (kind) {
    case 'bool': {
      if (typeof text === 'boolean') return text
      const t = String(text).toLowerCase()
      if (t !== 'true' && t !== 'false') fail('must be true or false')
      return t === 'true'
    }
    case 'int':
    case 'long':
    case 'float': {
      const n = typeof text === 'number' ? text : Number(text)
      if (typeof text === 'string' && text.length === 0) fail('is empty')
      if (!Number.isFinite(n)) fail('is not a number')
      if (kind !== 'float' && !Number.isSafeInteger(n)) fail('is not an integer')
      if (kind === 'int' && (n < -0x80000000 || n > 0x7fffffff)) fail('does not fit an int')
      if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}`)
      if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}`)
      return n
    }
    default:
      return String(text)
  }
}

export interface ConfigLayer {
  /** Where the values come from, for error messages: a file path, "environment", "command line". */
  source: string
  values: Map<string, string | ConfigValue>
}

export interface ResolvedConfig {
  values: Map<string, ConfigValue>
  /** Keys present in a layer but not in the schema: `source: key`. */
  unknown: string[]
}

/** Applies layers in order (later wins) over the schema; unknown keys are collected, not fatal (as in Java). */
export function resolveConfig(schema: ConfigSchema, layers: readonly ConfigLayer[]): ResolvedConfig {
  const values = new Map<string, ConfigValue>()
  const unknown: string[] = []
  for (const layer of layers) {
    for (const [key, raw] of layer.values) {
      const spec = schema[key]
      if (spec === undefined) {
        unknown.push(`${layer.source}: ${key}`)
        continue
      }
      values.set(key, coerceValue(key, spec, raw, layer.source))
    }
  }
  return { values, unknown }
}

/** The `FERRYMQ_*` variables that name a schema key. */
export function envLayer(schema: ConfigSchema, env: NodeJS.ProcessEnv): ConfigLayer {
  const values = new Map<string, string>()
  for (const key of Object.keys(schema)) {
    const v = env[envNameOf(key)]
    if (v !== undefined) values.set(key, v)
  }
  return { source: 'environment', values }
}
