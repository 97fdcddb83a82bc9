/**
 * Typed access to a request's custom header (`RemotingCommand#decodeCommandCustomHeader`, protocol.md §1.9).
 * A missing required field, or one that does not parse, throws a `ProtocolError` naming it; the dispatcher turns
 * that into `SYSTEM_ERROR` with the message as remark, as the Java broker does for `@CFNotNull` fields.
 */
import { ProtocolError } from '../../common/errors.js'
import type { RemotingCommand } from '../remoting-command.js'

/** What `Integer.parseInt` and `Long.parseLong` accept in decimal: an optional sign, then digits. */
const INTEGER = /^[+-]?\d+$/
const JAVA_LONG_MIN = -(2n ** 63n)
const JAVA_LONG_MAX = 2n ** 63n - 1n

function missing(name: string): ProtocolError {
  return new ProtocolError('RMQ_ERR_HEADER_FIELD', `the custom field <${name}> is null`)
}

function invalid(name: string, kind: string, value: string): ProtocolError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value
  return new ProtocolError(
    'RMQ_ERR_HEADER_FIELD',
    `the custom field <${name}> is not a valid ${kind}: ${JSON.stringify(shown)}`,
  )
}

/**
 * Decimal digits with an optional sign, as a number, when the text is nothing else and short enough to be exact;
 * NaN otherwise (the caller then takes the careful path). Every send and pull parses several of these.
 */
function quickInteger(t: string): number {
  const len = t.length
  if (len === 0 || len > 15) return NaN
  let i = 0
  let negative = false
  const first = t.charCodeAt(0)
  if (first === 45 || first === 43) {
    negative = first === 45
    i = 1
    if (len === 1) return NaN
  }
  let n = 0
  for (; i < len; i++) {
    const d = t.charCodeAt(i) - 48
    if (d < 0 || d > 9) return NaN
    n = n * 10 + d
  }
  return negative ? -n : n
}

export class HeaderReader {
  constructor(private readonly cmd: RemotingCommand) {}

  has(name: string): boolean {
    const v = this.cmd.extFields?.[name]
    return v !== undefined && v !== null
  }

  optString(name: string): string | undefined {
    const v = this.cmd.extFields?.[name]
    return v === undefined || v === null ? undefined : v
  }

  string(name: string): string {
    const v = this.optString(name)
    if (v === undefined) throw missing(name)
    return v
  }

  optInt(name: string): number | undefined {
    const v = this.optString(name)
    if (v === undefined) return undefined
    const quick = quickInteger(v)
    if (quick >= -0x80000000 && quick <= 0x7fffffff) return quick
    const t = v.trim()
    const n = Number(t)
    if (!INTEGER.test(t) || n < -0x80000000 || n > 0x7fffffff) throw invalid(name, 'int', v)
    return n
  }

  int(name: string): number {
    const n = this.optInt(name)
    if (n === undefined) throw missing(name)
    return n
  }

  /**
   * A Java long. Offsets and timestamps fit a double exactly; a larger value is a sentinel such as `Long.MAX_VALUE`
   * (the Java client's QUERY_MESSAGE `endTimestamp`, `MQAdminImpl#queryMessageByUniqKey`) and reads as the nearest
   * double. Outside the Java long range it is invalid, as `Long.parseLong` finds it.
   */
  optLong(name: string): number | undefined {
    const v = this.optString(name)
    if (v === undefined) return undefined
    const quick = quickInteger(v)
    if (!Number.isNaN(quick)) return quick
    const t = v.trim()
    if (!INTEGER.test(t)) throw invalid(name, 'long', v)
    const n = Number(t)
    if (Number.isSafeInteger(n)) return n
    const big = BigInt(t)
    if (big < JAVA_LONG_MIN || big > JAVA_LONG_MAX) throw invalid(name, 'long', v)
    return n
  }

  long(name: string): number {
    const n = this.optLong(name)
    if (n === undefined) throw missing(name)
    return n
  }

  /** `Boolean.parseBoolean`: "true" in any case is true, anything else false. */
  optBool(name: string): boolean | undefined {
    const v = this.optString(name)
    return v === undefined ? undefined : v.toLowerCase() === 'true'
  }

  bool(name: string): boolean {
    const b = this.optBool(name)
    if (b === undefined) throw missing(name)
    return b
  }
}
