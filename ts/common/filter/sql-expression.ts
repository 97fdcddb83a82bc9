/**
 * The compiled form of an SQL92 selector (`filter/expression/*` in RocketMQ) and its evaluation against a message's
 * properties (client.md §6.2). Values follow the Java types the RocketMQ evaluator works with: properties are
 * strings, integer literals are `Integer` (or `Long` when they need 64 bits or carry an `L`), decimal literals are
 * `Double`, `TRUE`/`FALSE` are `Boolean` and a missing property or the `NULL` literal is null. Logic is three-valued;
 * only an exact TRUE matches.
 *
 * Evaluation errors (a property that is not a number where one is compared with a number, `'x' > 'y'` on strings
 * that are not numbers) are thrown as `EvaluationError`: the whole expression then fails and the message does not
 * match, as in RocketMQ where the exception leaves `ExpressionMessageFilter` without a result.
 */

/** Java `Integer`, `Long` and `Double` values. Longs are bigint so that 64-bit values compare exactly. */
export type JavaNumber =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'long'; readonly value: bigint }
  | { readonly kind: 'double'; readonly value: number }

export type Value = null | boolean | string | JavaNumber

/** How an expression reads a property: its value, or undefined when the message does not have it. */
export type PropertyLookup = (name: string) => string | undefined

/** A property value or a literal could not be compared the way the expression asks (Java's runtime exceptions). */
export class EvaluationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EvaluationError'
  }
}

export function intValue(value: number): JavaNumber {
  return { kind: 'int', value }
}

export function longValue(value: bigint): JavaNumber {
  return { kind: 'long', value }
}

export function doubleValue(value: number): JavaNumber {
  return { kind: 'double', value }
}

function isNumber(v: Value): v is JavaNumber {
  return typeof v === 'object' && v !== null
}

const INT_MIN = -2147483648
const INT_MAX = 2147483647
const LONG_MIN = -(1n << 63n)
const LONG_MAX = (1n << 63n) - 1n

/** `Integer.valueOf(String)`: optional sign, ASCII digits, 32-bit range. */
function parseJavaInt(s: string): number {
  if (!/^[+-]?\d{1,10}$/.test(s)) throw numberFormat(s)
  const v = Number(s)
  if (v < INT_MIN || v > INT_MAX) throw numberFormat(s)
  return v
}

/** `Long.valueOf(String)`: optional sign, ASCII digits, 64-bit range. */
function parseJavaLong(s: string): bigint {
  if (!/^[+-]?\d{1,19}$/.test(s)) throw numberFormat(s)
  const v = BigInt(s)
  if (v < LONG_MIN || v > LONG_MAX) throw numberFormat(s)
  return v
}

const JAVA_DOUBLE = /^[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?)$/

/**
 * `Double.valueOf(String)`: Java trims characters up to U+0020 first and accepts a trailing type letter,
 * `NaN` and `Infinity`. Hexadecimal floating-point strings are not accepted here.
 */
export function parseJavaDouble(raw: string): number {
  const s = raw.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '')
  if (!JAVA_DOUBLE.test(s)) throw numberFormat(raw)
  const sign = s.startsWith('-') ? -1 : 1
  const unsigned = s.replace(/^[+-]/, '')
  if (unsigned === 'NaN') return NaN
  if (unsigned === 'Infinity') return sign * Infinity
  return Number(s.replace(/[fFdD]$/, ''))
}

function numberFormat(s: string): EvaluationError {
  return new EvaluationError(`java.lang.NumberFormatException: For input string: "${s}"`)
}

/** `Double.compare`: NaN above everything and equal to itself, -0.0 below 0.0. */
function compareDoubles(a: number, b: number): number {
  if (a < b) return -1
  if (a > b) return 1
  if (a === b) {
    if (a !== 0) return 0
    const an = Object.is(a, -0)
    const bn = Object.is(b, -0)
    return an === bn ? 0 : an ? -1 : 1
  }
  const aNaN = Number.isNaN(a)
  const bNaN = Number.isNaN(b)
  return aNaN === bNaN ? 0 : aNaN ? 1 : -1
}

function sign(n: number | bigint): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0
}

function compareNumbers(l: JavaNumber, r: JavaNumber): number {
  if (l.kind === 'double' || r.kind === 'double') return compareDoubles(Number(l.value), Number(r.value))
  if (l.kind === 'int' && r.kind === 'int') return sign(l.value - r.value)
  return sign(BigInt(l.value) - BigInt(r.value))
}

/** A string converted to the type of the number it is compared with (`convertStringExpressions`). */
function stringAs(s: string, like: JavaNumber): JavaNumber {
  switch (like.kind) {
    case 'int':
      return intValue(parseJavaInt(s))
    case 'long':
      return longValue(parseJavaLong(s))
    default:
      return doubleValue(parseJavaDouble(s))
  }
}

function javaBoolean(s: string): boolean {
  return s.toLowerCase() === 'true'
}

/**
 * `ComparisonExpression.__compare` with string conversion on (as RocketMQ's parser always sets it): numbers are
 * widened to the wider type, a string compared with a number is parsed as that number's type, a string compared
 * with a boolean is read as one, and any other mix compares as "less" (-1), as Java does.
 */
export function compareValues(lv: Exclude<Value, null>, rv: Exclude<Value, null>): number {
  if (typeof lv === 'string') {
    if (typeof rv === 'string') return lv < rv ? -1 : lv > rv ? 1 : 0
    if (typeof rv === 'boolean') return compareBooleans(javaBoolean(lv), rv)
    return compareNumbers(stringAs(lv, rv), rv)
  }
  if (typeof lv === 'boolean') {
    if (typeof rv === 'boolean') return compareBooleans(lv, rv)
    if (typeof rv === 'string') return compareBooleans(lv, javaBoolean(rv))
    return -1
  }
  if (typeof rv === 'string') return compareNumbers(lv, stringAs(rv, lv))
  if (typeof rv === 'boolean') return -1
  return compareNumbers(lv, rv)
}

function compareBooleans(a: boolean, b: boolean): number {
  return a === b ? 0 : a ? 1 : -1
}

/** Java's `Double.toString` closely enough for messages: `5.0`, `0.5`, `1.0E10`. */
function javaDoubleString(d: number): string {
  if (Number.isNaN(d)) return 'NaN'
  if (!Number.isFinite(d)) return d > 0 ? 'Infinity' : '-Infinity'
  const a = Math.abs(d)
  if (a === 0 || (a >= 1e-3 && a < 1e7)) {
    const s = String(d)
    return s.includes('.') ? s : `${Object.is(d, -0) ? '-0' : s}.0`
  }
  const [mantissa, exponent] = d.toExponential().split('e') as [string, string]
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${exponent.replace('+', '')}`
}

export function valueToString(v: Value): string {
  if (v === null) return 'NULL'
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  if (typeof v === 'string') return `'${v.replace(/'/g, "''")}'`
  return v.kind === 'double' ? javaDoubleString(v.value) : String(v.value)
}

// ----- nodes ------------------------------------------------------------------------------------------------------

export abstract class Expression {
  abstract evaluate(lookup: PropertyLookup): Value
  abstract toString(): string
}

/** An expression whose value is a boolean or null (`BooleanExpression`): what AND, OR and NOT take. */
export abstract class BooleanExpression extends Expression {
  abstract override evaluate(lookup: PropertyLookup): boolean | null

  /** Only an exact TRUE matches; null (unknown) and FALSE do not. */
  matches(lookup: PropertyLookup): boolean {
    return this.evaluate(lookup) === true
  }
}

export class ConstantExpression extends Expression {
  constructor(readonly value: Value) {
    super()
  }

  evaluate(): Value {
    return this.value
  }

  toString(): string {
    return valueToString(this.value)
  }
}

/** `TRUE`, `FALSE` and `NULL`: constants that are also boolean expressions (`BooleanConstantExpression`). */
export class BooleanConstantExpression extends BooleanExpression {
  constructor(readonly value: boolean | null) {
    super()
  }

  evaluate(): boolean | null {
    return this.value
  }

  toString(): string {
    return valueToString(this.value)
  }
}

export class PropertyExpression extends Expression {
  constructor(readonly name: string) {
    super()
  }

  evaluate(lookup: PropertyLookup): Value {
    return lookup(this.name) ?? null
  }

  toString(): string {
    return this.name
  }
}

export function isConstant(e: Expression): e is ConstantExpression | BooleanConstantExpression {
  return e instanceof ConstantExpression || e instanceof BooleanConstantExpression
}

export class NegateExpression extends Expression {
  constructor(readonly right: Expression) {
    super()
  }

  evaluate(lookup: PropertyLookup): Value {
    const v = this.right.evaluate(lookup)
    if (!isNumber(v)) return null
    switch (v.kind) {
      case 'int':
        return intValue(-v.value | 0)
      case 'long':
        return longValue(BigInt.asIntN(64, -v.value))
      default:
        return doubleValue(-v.value)
    }
  }

  toString(): string {
    return `(- ${this.right.toString()})`
  }
}

export class NotExpression extends BooleanExpression {
  constructor(readonly right: BooleanExpression) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const v = this.right.evaluate(lookup)
    return v === null ? null : !v
  }

  toString(): string {
    return `(NOT ${this.right.toString()})`
  }
}

/** A bare property used as a condition: TRUE only for a Boolean value, which a string property never is. */
export class BooleanCastExpression extends BooleanExpression {
  constructor(readonly right: Expression) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const v = this.right.evaluate(lookup)
    if (v === null) return null
    return v === true
  }

  toString(): string {
    return this.right.toString()
  }
}

export class AndExpression extends BooleanExpression {
  constructor(
    readonly left: BooleanExpression,
    readonly right: BooleanExpression,
  ) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const lv = this.left.evaluate(lookup)
    if (lv === false) return false
    const rv = this.right.evaluate(lookup)
    if (rv === false) return false
    return lv === null || rv === null ? null : true
  }

  toString(): string {
    return `(${this.left.toString()} AND ${this.right.toString()})`
  }
}

export class OrExpression extends BooleanExpression {
  constructor(
    readonly left: BooleanExpression,
    readonly right: BooleanExpression,
  ) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const lv = this.left.evaluate(lookup)
    if (lv === true) return true
    const rv = this.right.evaluate(lookup)
    if (rv === true) return true
    return lv === null || rv === null ? null : false
  }

  toString(): string {
    return `(${this.left.toString()} OR ${this.right.toString()})`
  }
}

/**
 * `=` (and `IS NULL`, which is `= NULL` without the parse-time check): null on one side only gives null when the
 * left is null and FALSE when the right is; both null is TRUE; otherwise equal values or values comparing as 0.
 */
export class EqualExpression extends BooleanExpression {
  constructor(
    readonly left: Expression,
    readonly right: Expression,
  ) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const lv = this.left.evaluate(lookup)
    const rv = this.right.evaluate(lookup)
    if (lv === null || rv === null) {
      if (lv === rv) return true
      return lv === null ? null : false
    }
    if (typeof lv === typeof rv && typeof lv !== 'object' && lv === rv) return true
    return compareValues(lv, rv) === 0
  }

  toString(): string {
    return `(${this.left.toString()} = ${this.right.toString()})`
  }
}

export type RangeOperator = '>' | '>=' | '<' | '<='

/**
 * `>`, `>=`, `<`, `<=`: null if either side is null; two strings are both read as doubles (an error if either is
 * not a number); anything else goes through `compareValues`.
 */
export class RangeExpression extends BooleanExpression {
  constructor(
    readonly operator: RangeOperator,
    readonly left: Expression,
    readonly right: Expression,
  ) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const lv = this.left.evaluate(lookup)
    if (lv === null) return null
    const rv = this.right.evaluate(lookup)
    if (rv === null) return null
    let c: number
    if (typeof lv === 'string' && typeof rv === 'string') {
      let l: number
      let r: number
      try {
        l = parseJavaDouble(lv)
        r = parseJavaDouble(rv)
      } catch {
        throw new EvaluationError(`It's illegal to compare string by '>=', '>', '<', '<='. lv=${lv}, rv=${rv}`)
      }
      c = compareDoubles(l, r)
    } else {
      c = compareValues(lv, rv)
    }
    switch (this.operator) {
      case '>':
        return c > 0
      case '>=':
        return c >= 0
      case '<':
        return c < 0
      default:
        return c <= 0
    }
  }

  toString(): string {
    return `(${this.left.toString()} ${this.operator} ${this.right.toString()})`
  }
}

/** `IN` / `NOT IN` over string literals; only a string value can be in the list. */
export class InExpression extends BooleanExpression {
  private readonly set: ReadonlySet<string>

  constructor(
    readonly right: PropertyExpression,
    readonly elements: readonly string[],
    readonly not: boolean,
  ) {
    super()
    this.set = new Set(elements)
  }

  evaluate(lookup: PropertyLookup): boolean | null {
    const v = this.right.evaluate(lookup)
    if (typeof v !== 'string') return null
    return this.set.has(v) !== this.not
  }

  toString(): string {
    return `${this.right.toString()} ${this.not ? 'NOT IN' : 'IN'} ( ${this.elements.join(', ')} )`
  }
}

export type StringOperator = 'CONTAINS' | 'STARTSWITH' | 'ENDSWITH'

/**
 * `CONTAINS`, `STARTSWITH`, `ENDSWITH` and their `NOT` forms: FALSE (never null) for an empty search string, a
 * missing property or a value that is not a string; otherwise the test, negated for `NOT`.
 */
export class StringMatchExpression extends BooleanExpression {
  constructor(
    readonly operator: StringOperator,
    readonly right: Expression,
    readonly search: string,
    readonly not: boolean,
  ) {
    super()
  }

  evaluate(lookup: PropertyLookup): boolean {
    if (this.search.length === 0) return false
    const v = this.right.evaluate(lookup)
    if (typeof v !== 'string') return false
    let hit: boolean
    switch (this.operator) {
      case 'CONTAINS':
        hit = v.includes(this.search)
        break
      case 'STARTSWITH':
        hit = v.startsWith(this.search)
        break
      default:
        hit = v.endsWith(this.search)
    }
    return hit !== this.not
  }

  toString(): string {
    return `(${this.not ? 'NOT ' : ''}${this.operator} ${this.right.toString()})`
  }
}
