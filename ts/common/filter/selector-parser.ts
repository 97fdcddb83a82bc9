/**
 * The SQL92 selector parser (`SelectorParser.jj` of RocketMQ's filter module, client.md §6.2): the same tokens,
 * grammar, precedence and parse-time checks, written as a recursive-descent parser. It is pure and bounded: an
 * expression longer than `SQL_EXPRESSION_CHARS_MAX` or nested deeper than `SQL_NESTING_DEPTH_MAX` is refused with
 * the same error type as a syntax error, so no input can make it run long or overflow the stack.
 *
 * Precedence, loosest first: OR; AND; `=`, `<>`, `IS [NOT] NULL`; `>`, `>=`, `<`, `<=`, `[NOT] BETWEEN`, `[NOT] IN`,
 * `[NOT] CONTAINS|STARTSWITH|ENDSWITH`; unary `+`, `-`, `NOT`. As in RocketMQ, a prefix `NOT` binds tighter than a
 * comparison (`NOT a > 1` is `(NOT a) > 1`, which is refused); write `NOT (a > 1)`.
 */
import { RocketMQError } from '../errors.js'
import {
  AndExpression,
  BooleanCastExpression,
  BooleanConstantExpression,
  BooleanExpression,
  ConstantExpression,
  EqualExpression,
  InExpression,
  NegateExpression,
  NotExpression,
  OrExpression,
  PropertyExpression,
  RangeExpression,
  StringMatchExpression,
  compareValues,
  doubleValue,
  intValue,
  isConstant,
  longValue,
  type Expression,
  type RangeOperator,
  type StringOperator,
} from './sql-expression.js'

/** Longest expression accepted, in UTF-16 code units. RocketMQ has no limit; 4 KiB is far beyond real selectors. */
export const SQL_EXPRESSION_CHARS_MAX = 4096
/** Deepest nesting of parentheses and prefix operators accepted. */
export const SQL_NESTING_DEPTH_MAX = 64

/**
 * An expression that does not compile (`MQFilterException`). `message` is RocketMQ's: `Invalid MessageSelector. `
 * followed by the parser's reason; `reason` is that reason alone.
 */
export class MQFilterException extends RocketMQError {
  readonly reason: string

  constructor(reason: string) {
    super('RMQ_ERR_FILTER_EXPRESSION', `Invalid MessageSelector. ${reason}`)
    this.reason = reason
  }
}

// ----- tokens -----------------------------------------------------------------------------------------------------

type TokenKind =
  | 'EOF'
  | 'NOT'
  | 'AND'
  | 'OR'
  | 'BETWEEN'
  | 'IN'
  | 'TRUE'
  | 'FALSE'
  | 'NULL'
  | 'IS'
  | 'CONTAINS'
  | 'STARTSWITH'
  | 'ENDSWITH'
  | 'DECIMAL_LITERAL'
  | 'FLOATING_POINT_LITERAL'
  | 'STRING_LITERAL'
  | 'ID'
  | '='
  | '<>'
  | '>'
  | '>='
  | '<'
  | '<='
  | '('
  | ')'
  | ','
  | '+'
  | '-'

interface Token {
  kind: TokenKind
  image: string
  /** 1-based, as JavaCC reports positions. */
  line: number
  column: number
}

const KEYWORDS: ReadonlySet<string> = new Set([
  'NOT',
  'AND',
  'OR',
  'BETWEEN',
  'IN',
  'TRUE',
  'FALSE',
  'NULL',
  'IS',
  'CONTAINS',
  'STARTSWITH',
  'ENDSWITH',
])

const ID = /[a-zA-Z_$][a-zA-Z0-9_$]*/y
const DECIMAL = /(?:0|[1-9][0-9]*[lL]?)/y
const FLOAT = /(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)/y
const STRING = /'(?:''|[^'])*'/y
const LINE_COMMENT = /--[^\n\r]*(?:\r\n|\n|\r)/y
const BLOCK_COMMENT = /\/\*[^*]*\*+(?:[^/*][^*]*\*+)*\//y
const OPERATORS: readonly TokenKind[] = ['<>', '>=', '<=', '=', '>', '<', '(', ')', ',', '+', '-']

function matchAt(re: RegExp, s: string, at: number): string | null {
  re.lastIndex = at
  const m = re.exec(s)
  return m === null ? null : m[0]
}

/** Splits the expression into tokens with JavaCC's rule: the longest match wins, keywords before identifiers. */
function tokenize(s: string): Token[] {
  const out: Token[] = []
  let at = 0
  let line = 1
  let lineStart = 0
  const advance = (text: string): void => {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      // \r\n counts once; a lone \r or \n ends a line too.
      if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
        line++
        lineStart = at + i + 1
      }
    }
    at += text.length
  }
  while (at < s.length) {
    const c = s[at]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      advance(c)
      continue
    }
    const comment = matchAt(LINE_COMMENT, s, at) ?? matchAt(BLOCK_COMMENT, s, at)
    if (comment !== null) {
      advance(comment)
      continue
    }
    const column = at - lineStart + 1
    let kind: TokenKind | null = null
    let image = ''
    const candidates: [TokenKind, string | null][] = [
      ['DECIMAL_LITERAL', matchAt(DECIMAL, s, at)],
      ['FLOATING_POINT_LITERAL', matchAt(FLOAT, s, at)],
      ['STRING_LITERAL', matchAt(STRING, s, at)],
      ['ID', matchAt(ID, s, at)],
    ]
    for (const [k, m] of candidates) {
      if (m !== null && m.length > image.length) {
        kind = k
        image = m
      }
    }
    if (kind === 'ID' && KEYWORDS.has(image.toUpperCase())) kind = image.toUpperCase() as TokenKind
    if (kind === null) {
      const op = OPERATORS.find((o) => s.startsWith(o, at))
      if (op === undefined) {
        const bad = c === "'" ? '<EOF>' : JSON.stringify(c)
        const after = c === "'" ? JSON.stringify(s.slice(at)) : '""'
        throw new MQFilterException(
          `Lexical error at line ${line}, column ${column}.  Encountered: ${bad} after : ${after}`,
        )
      }
      kind = op
      image = op
    }
    out.push({ kind, image, line, column })
    advance(image)
  }
  out.push({ kind: 'EOF', image: '', line, column: at - lineStart + 1 })
  return out
}

// ----- literals ---------------------------------------------------------------------------------------------------

const INT_MIN = -2147483648
const INT_MAX = 2147483647
const LONG_MAX = (1n << 63n) - 1n
const DOUBLE_MIN_VALUE = 5e-324

/** `ConstantExpression.createFromDecimal`: Integer when it fits 32 bits, else Long; an `L` suffix is dropped. */
function decimalConstant(image: string): ConstantExpression {
  const text = /[lL]$/.test(image) ? image.slice(0, -1) : image
  const v = BigInt(text)
  if (v > LONG_MAX) throw new MQFilterException(`java.lang.NumberFormatException: For input string: "${text}"`)
  if (v >= BigInt(INT_MIN) && v <= BigInt(INT_MAX)) return new ConstantExpression(intValue(Number(v)))
  return new ConstantExpression(longValue(v))
}

/**
 * `ConstantExpression.createFloat`: a Double; RocketMQ refuses values above `Double.MAX_VALUE` and, because it
 * compares with `Double.MIN_VALUE` (the smallest positive double), also `0.0` and anything that underflows to 0.
 */
function floatConstant(image: string): ConstantExpression {
  const v = Number(image)
  if (v > Number.MAX_VALUE) throw new MQFilterException(`${image} is greater than 1.7976931348623157E308`)
  if (v < DOUBLE_MIN_VALUE) throw new MQFilterException(`${image} is less than 4.9E-324`)
  return new ConstantExpression(doubleValue(v))
}

/** A string literal's value: the quotes removed and each `''` read as one quote. */
function stringValue(image: string): string {
  return image.slice(1, -1).replace(/''/g, "'")
}

// ----- parse-time checks (`ComparisonExpression.create*`) ----------------------------------------------------------

function constantValue(e: Expression): unknown {
  return (e as ConstantExpression | BooleanConstantExpression).value
}

function isNumberConstant(e: Expression): boolean {
  const v = constantValue(e)
  return typeof v === 'object' && v !== null
}

/** Ranged operators take numbers: a non-numeric literal or a boolean expression cannot be an operand. */
function checkRangeOperand(e: Expression): void {
  if (isConstant(e) ? !isNumberConstant(e) : e instanceof BooleanExpression) {
    throw new MQFilterException(`Value '${e.toString()}' cannot be compared.`)
  }
}

function checkEqualOperand(e: Expression): void {
  if (isConstant(e) && constantValue(e) === null) throw new MQFilterException(`'${e.toString()}' cannot be compared.`)
}

function checkEqualCompatibility(left: Expression, right: Expression): void {
  if (
    isConstant(left) &&
    isConstant(right) &&
    left instanceof BooleanConstantExpression &&
    !(right instanceof BooleanConstantExpression)
  ) {
    throw new MQFilterException(`'${left.toString()}' cannot be compared with '${right.toString()}'`)
  }
}

function range(operator: RangeOperator, left: Expression, right: Expression): RangeExpression {
  checkRangeOperand(left)
  checkRangeOperand(right)
  return new RangeExpression(operator, left, right)
}

function equal(left: Expression, right: Expression): EqualExpression {
  checkEqualOperand(left)
  checkEqualOperand(right)
  checkEqualCompatibility(left, right)
  return new EqualExpression(left, right)
}

function between(value: Expression, low: Expression, high: Expression): BooleanExpression {
  if (isConstant(low) && isConstant(high)) {
    const lv = constantValue(low) as Parameters<typeof compareValues>[0] | null
    const hv = constantValue(high) as Parameters<typeof compareValues>[0] | null
    if (lv === null || hv === null) throw new MQFilterException('Illegal values of between, values can not be null!')
    let c: number
    try {
      c = compareValues(hv, lv)
    } catch (err) {
      throw new MQFilterException((err as Error).message)
    }
    if (c < 0) {
      throw new MQFilterException(
        `Illegal values of between, left value(${low.toString()}) must less than or equal to right value(${high.toString()})`,
      )
    }
  }
  return new AndExpression(range('>=', value, low), range('<=', value, high))
}

function notBetween(value: Expression, low: Expression, high: Expression): BooleanExpression {
  return new OrExpression(range('<', value, low), range('>', value, high))
}

function asBoolean(e: Expression): BooleanExpression {
  if (e instanceof BooleanExpression) return e
  if (e instanceof PropertyExpression) return new BooleanCastExpression(e)
  throw new MQFilterException(`Expression will not result in a boolean value: ${e.toString()}`)
}

// ----- grammar ----------------------------------------------------------------------------------------------------

const STRING_OPERATORS: ReadonlySet<TokenKind> = new Set(['CONTAINS', 'STARTSWITH', 'ENDSWITH'])

class Parser {
  private pos = 0
  private depth = 0

  constructor(private readonly tokens: readonly Token[]) {}

  parse(): BooleanExpression {
    const e = asBoolean(this.orExpression())
    if (this.peek().kind !== 'EOF') throw this.unexpected(['OR', 'AND', '=', '<>', 'IS'])
    return e
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.pos + ahead, this.tokens.length - 1)]!
  }

  private next(): Token {
    const t = this.peek()
    if (t.kind !== 'EOF') this.pos++
    return t
  }

  private expect(kind: TokenKind): Token {
    if (this.peek().kind !== kind) throw this.unexpected([kind])
    return this.next()
  }

  private unexpected(expected: readonly string[]): MQFilterException {
    const t = this.peek()
    const seen = t.kind === 'EOF' ? '<EOF>' : t.image
    const want = expected.map((k) => (/^[A-Z_]+$/.test(k) && !KEYWORDS.has(k) ? `<${k}>` : `"${k}"`)).join(' ')
    return new MQFilterException(
      `Encountered "${seen}" at line ${t.line}, column ${t.column}. Was expecting ${expected.length === 1 ? '' : 'one of: '}${want}`,
    )
  }

  private nest<T>(f: () => T): T {
    if (++this.depth > SQL_NESTING_DEPTH_MAX) {
      const t = this.peek()
      throw new MQFilterException(
        `Expression nested deeper than ${SQL_NESTING_DEPTH_MAX} levels at line ${t.line}, column ${t.column}`,
      )
    }
    try {
      return f()
    } finally {
      this.depth--
    }
  }

  private orExpression(): Expression {
    let left = this.andExpression()
    while (this.peek().kind === 'OR') {
      this.next()
      const right = this.andExpression()
      left = new OrExpression(asBoolean(left), asBoolean(right))
    }
    return left
  }

  private andExpression(): Expression {
    let left = this.equalityExpression()
    while (this.peek().kind === 'AND') {
      this.next()
      const right = this.equalityExpression()
      left = new AndExpression(asBoolean(left), asBoolean(right))
    }
    return left
  }

  private equalityExpression(): Expression {
    let left = this.comparisonExpression()
    for (;;) {
      const k = this.peek().kind
      if (k === '=') {
        this.next()
        left = equal(left, this.comparisonExpression())
      } else if (k === '<>') {
        this.next()
        left = new NotExpression(equal(left, this.comparisonExpression()))
      } else if (k === 'IS' && this.peek(1).kind === 'NULL') {
        this.pos += 2
        left = new EqualExpression(left, new BooleanConstantExpression(null))
      } else if (k === 'IS') {
        this.next()
        this.expect('NOT')
        this.expect('NULL')
        left = new NotExpression(new EqualExpression(left, new BooleanConstantExpression(null)))
      } else {
        return left
      }
    }
  }

  private comparisonExpression(): Expression {
    let left = this.unaryExpr()
    for (;;) {
      const k = this.peek().kind
      if (k === '>' || k === '>=' || k === '<' || k === '<=') {
        this.next()
        left = range(k, left, this.unaryExpr())
        continue
      }
      let not = false
      let op: TokenKind = k
      if (k === 'NOT') {
        // A NOT here must start `NOT BETWEEN`, `NOT IN`, `NOT CONTAINS` …; otherwise the comparison ends.
        op = this.peek(1).kind
        if (op !== 'BETWEEN' && op !== 'IN' && !STRING_OPERATORS.has(op)) return left
        not = true
        this.next()
      }
      if (STRING_OPERATORS.has(op)) {
        this.next()
        left = new StringMatchExpression(op as StringOperator, left, this.stringLiteral(), not)
      } else if (op === 'BETWEEN') {
        this.next()
        const low = this.unaryExpr()
        this.expect('AND')
        const high = this.unaryExpr()
        left = not ? notBetween(left, low, high) : between(left, low, high)
      } else if (op === 'IN') {
        this.next()
        this.expect('(')
        const list = [this.stringLiteral()]
        while (this.peek().kind === ',') {
          this.next()
          list.push(this.stringLiteral())
        }
        this.expect(')')
        if (!(left instanceof PropertyExpression)) {
          throw new MQFilterException(`Expected a property for In expression, got: ${left.toString()}`)
        }
        left = new InExpression(left, list, not)
      } else {
        return left
      }
    }
  }

  private unaryExpr(): Expression {
    const k = this.peek().kind
    if (k === '+') {
      this.next()
      return this.nest(() => this.unaryExpr())
    }
    if (k === '-') {
      this.next()
      return new NegateExpression(this.nest(() => this.unaryExpr()))
    }
    if (k === 'NOT') {
      this.next()
      return new NotExpression(asBoolean(this.nest(() => this.unaryExpr())))
    }
    return this.primaryExpr()
  }

  private primaryExpr(): Expression {
    const t = this.peek()
    switch (t.kind) {
      case 'STRING_LITERAL':
        this.next()
        return new ConstantExpression(stringValue(t.image))
      case 'DECIMAL_LITERAL':
        this.next()
        return decimalConstant(t.image)
      case 'FLOATING_POINT_LITERAL':
        this.next()
        return floatConstant(t.image)
      case 'TRUE':
        this.next()
        return new BooleanConstantExpression(true)
      case 'FALSE':
        this.next()
        return new BooleanConstantExpression(false)
      case 'NULL':
        this.next()
        return new BooleanConstantExpression(null)
      case 'ID':
        this.next()
        return new PropertyExpression(t.image)
      case '(': {
        this.next()
        const e = this.nest(() => this.orExpression())
        this.expect(')')
        return e
      }
      default:
        throw this.unexpected([
          'STRING_LITERAL',
          'DECIMAL_LITERAL',
          'FLOATING_POINT_LITERAL',
          'TRUE',
          'FALSE',
          'NULL',
          'ID',
          '(',
          '+',
          '-',
          'NOT',
        ])
    }
  }

  private stringLiteral(): string {
    return stringValue(this.expect('STRING_LITERAL').image)
  }
}

/** Compiles an SQL92 selector (`SelectorParser.parse`); throws `MQFilterException` when it does not compile. */
export function parseSelector(sql: string): BooleanExpression {
  if (typeof sql !== 'string') throw new MQFilterException('the expression is not a string')
  if (sql.length > SQL_EXPRESSION_CHARS_MAX) {
    throw new MQFilterException(`expression of ${sql.length} characters is longer than ${SQL_EXPRESSION_CHARS_MAX}`)
  }
  return new Parser(tokenize(sql)).parse()
}
