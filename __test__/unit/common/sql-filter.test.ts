import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import {
  MQFilterException,
  SQL_EXPRESSION_CHARS_MAX,
  SQL_NESTING_DEPTH_MAX,
  parseSelector,
} from '../../../ts/common/filter/selector-parser.js'
import { compileSql92, sqlMatches } from '../../../ts/common/filter/sql-filter.js'
import { EvaluationError, type Value } from '../../../ts/common/filter/sql-expression.js'

/** The value of `sql` for a message with these properties; `'error'` when evaluation throws. */
function evaluate(sql: string, props: Record<string, string> = {}): Value | 'error' {
  const e = parseSelector(sql)
  try {
    return e.evaluate((name) => props[name])
  } catch (err) {
    expect(err).toBeInstanceOf(EvaluationError)
    return 'error'
  }
}

function matches(sql: string, props: Record<string, string> = {}): boolean {
  return sqlMatches(parseSelector(sql), new Map(Object.entries(props)))
}

function parseError(sql: string): string {
  try {
    parseSelector(sql)
  } catch (err) {
    expect(err).toBeInstanceOf(MQFilterException)
    const e = err as MQFilterException
    expect(e.message).toBe(`Invalid MessageSelector. ${e.reason}`)
    return e.reason
  }
  throw new Error(`${sql} compiled`)
}

describe('SQL92 parser', () => {
  it('parses every comparison, logic and membership construct', () => {
    const cases: [string, string][] = [
      ['a = 1', '(a = 1)'],
      ['a <> 1', '(NOT (a = 1))'],
      ['a > 1', '(a > 1)'],
      ['a >= 1', '(a >= 1)'],
      ['a < 1', '(a < 1)'],
      ['a <= 1', '(a <= 1)'],
      ['a BETWEEN 1 AND 2', '((a >= 1) AND (a <= 2))'],
      ['a NOT BETWEEN 1 AND 2', '((a < 1) OR (a > 2))'],
      ["a IN ('x', 'y')", 'a IN ( x, y )'],
      ["a NOT IN ('x')", 'a NOT IN ( x )'],
      ['a IS NULL', '(a = NULL)'],
      ['a IS NOT NULL', '(NOT (a = NULL))'],
      ["a CONTAINS 'x'", '(CONTAINS a)'],
      ["a NOT CONTAINS 'x'", '(NOT CONTAINS a)'],
      ["a STARTSWITH 'x'", '(STARTSWITH a)'],
      ["a NOT STARTSWITH 'x'", '(NOT STARTSWITH a)'],
      ["a ENDSWITH 'x'", '(ENDSWITH a)'],
      ["a NOT ENDSWITH 'x'", '(NOT ENDSWITH a)'],
      ['TRUE', 'TRUE'],
      ['FALSE', 'FALSE'],
      ['NULL', 'NULL'],
      ['flag', 'flag'],
      ['NOT (a > 1)', '(NOT (a > 1))'],
      ['a > -1', '(a > (- 1))'],
      ['a > +1', '(a > 1)'],
      ['a > 1 AND b < 2 OR c = 3', '(((a > 1) AND (b < 2)) OR (c = 3))'],
      ['a > 1 OR b < 2 AND c = 3', '((a > 1) OR ((b < 2) AND (c = 3)))'],
      ['(a > 1 OR b < 2) AND c = 3', '(((a > 1) OR (b < 2)) AND (c = 3))'],
      ['a > 1 = TRUE', '((a > 1) = TRUE)'],
      ['$x_1 = 1', '($x_1 = 1)'],
    ]
    for (const [sql, shape] of cases) expect(parseSelector(sql).toString(), sql).toBe(shape)
  })

  it('reads keywords in any case, skips comments and whitespace', () => {
    expect(parseSelector("a between 1 and 2 or b in ('x') And c is not null").toString()).toBe(
      '(((a >= 1) AND (a <= 2)) OR (b IN ( x ) AND (NOT (c = NULL))))',
    )
    expect(parseSelector('a /* c1 */ >\t1 -- c2\n AND\r\nb < 2').toString()).toBe('((a > 1) AND (b < 2))')
    // Identifiers that merely start with a keyword stay identifiers.
    expect(parseSelector('notice = 1 AND order = 2 AND isx = 3').toString()).toBe(
      '(((notice = 1) AND (order = 2)) AND (isx = 3))',
    )
  })

  it("decodes '' as one quote in string literals", () => {
    expect(evaluate("s = 'it''s'", { s: "it's" })).toBe(true)
    expect(evaluate("s = ''''", { s: "'" })).toBe(true)
    expect(evaluate("s = ''", { s: '' })).toBe(true)
    expect(evaluate("s IN ('a''b')", { s: "a'b" })).toBe(true)
  })

  it('types integer literals as Integer or Long, with or without L', () => {
    expect(evaluate('5 = 5L')).toBe(true)
    expect(evaluate('a = 2147483647', { a: '2147483647' })).toBe(true)
    // Past 32 bits the literal is a Long, so the property is read as a long.
    expect(evaluate('a = 2147483648', { a: '2147483648' })).toBe(true)
    expect(evaluate('a = 9223372036854775807', { a: '9223372036854775807' })).toBe(true)
    expect(evaluate('a > 9223372036854775806', { a: '9223372036854775807' })).toBe(true)
    // An Integer literal cannot read a property that needs a long.
    expect(evaluate('a > 5', { a: '2147483648' })).toBe('error')
    // The L only allows the suffix: a literal that fits 32 bits is an Integer all the same (`createFromDecimal`).
    expect(evaluate('a > 5L', { a: '2147483648' })).toBe('error')
    expect(evaluate('a > 2147483648L', { a: '2147483649' })).toBe(true)
    expect(parseError('a > 9223372036854775808')).toContain('NumberFormatException')
  })

  it('reads decimals and exponents as doubles', () => {
    expect(evaluate('a = 1.5', { a: '1.5' })).toBe(true)
    expect(evaluate('a = 5.', { a: '5' })).toBe(true)
    expect(evaluate('a = .5', { a: '0.5' })).toBe(true)
    expect(evaluate('a = 1e3', { a: '1000' })).toBe(true)
    expect(evaluate('a = 1.5E+2', { a: '150' })).toBe(true)
    expect(evaluate('a = 25e-1', { a: '2.5' })).toBe(true)
    expect(evaluate('a > 2.5', { a: '2.5001' })).toBe(true)
    // RocketMQ refuses doubles above Double.MAX_VALUE and, comparing with Double.MIN_VALUE, 0.0 too.
    expect(parseError('a > 1e400')).toBe('1e400 is greater than 1.7976931348623157E308')
    expect(parseError('a > 0.0')).toBe('0.0 is less than 4.9E-324')
  })

  it('refuses what RocketMQ refuses, with its messages', () => {
    expect(parseError("a > 'x'")).toBe("Value ''x'' cannot be compared.")
    expect(parseError('a >= TRUE')).toBe("Value 'TRUE' cannot be compared.")
    expect(parseError("a BETWEEN 'x' AND 'y'")).toBe("Value ''x'' cannot be compared.")
    expect(parseError('a BETWEEN 7 AND 3')).toBe(
      'Illegal values of between, left value(7) must less than or equal to right value(3)',
    )
    expect(parseError('a BETWEEN NULL AND 3')).toBe('Illegal values of between, values can not be null!')
    expect(parseError('(a > 1) > 2')).toBe("Value '(a > 1)' cannot be compared.")
    expect(parseError('a = NULL')).toBe("'NULL' cannot be compared.")
    expect(parseError('TRUE = 1')).toBe("'TRUE' cannot be compared with '1'")
    expect(parseError("1 IN ('a')")).toBe('Expected a property for In expression, got: 1')
    expect(parseError('5')).toBe('Expression will not result in a boolean value: 5')
    expect(parseError("'x'")).toBe("Expression will not result in a boolean value: 'x'")
    expect(parseError('a = 1 AND 2')).toBe('Expression will not result in a boolean value: 2')
    expect(parseError('-a')).toBe('Expression will not result in a boolean value: (- a)')
    // A prefix NOT binds tighter than a comparison, as in RocketMQ.
    expect(parseError('NOT a > 1')).toBe("Value '(NOT a)' cannot be compared.")
  })

  it('reports syntax and lexical errors with their position', () => {
    expect(parseError('a >')).toMatch(/^Encountered "<EOF>" at line 1, column 4\. Was expecting one of: /)
    expect(parseError('a > 1 b')).toMatch(/^Encountered "b" at line 1, column 7\./)
    expect(parseError('a IN (1)')).toBe('Encountered "1" at line 1, column 7. Was expecting <STRING_LITERAL>')
    expect(parseError('a IS 1')).toMatch(/^Encountered "1" at line 1, column 6\./)
    expect(parseError('a > 1\nAND (b')).toMatch(/at line 2, column 7\./)
    expect(parseError('a != 1')).toBe('Lexical error at line 1, column 3.  Encountered: "!" after : ""')
    expect(parseError("a = 'open")).toBe('Lexical error at line 1, column 5.  Encountered: <EOF> after : "\'open"')
    expect(parseError('')).toMatch(/^Encountered "<EOF>" at line 1, column 1\./)
    // A line comment needs its line end; otherwise the dashes are minus signs.
    expect(parseError('a > 1 -- c')).toMatch(/^Encountered "-" at line 1, column 7\./)
  })

  it('bounds length and nesting', () => {
    const long = `a = '${'x'.repeat(SQL_EXPRESSION_CHARS_MAX)}'`
    expect(parseError(long)).toContain(`longer than ${SQL_EXPRESSION_CHARS_MAX}`)
    const deep = (n: number): string => `${'('.repeat(n)}a > 1${')'.repeat(n)}`
    expect(parseSelector(deep(SQL_NESTING_DEPTH_MAX - 1)).toString()).toBe('(a > 1)')
    expect(parseError(deep(SQL_NESTING_DEPTH_MAX + 1))).toContain(`deeper than ${SQL_NESTING_DEPTH_MAX}`)
    expect(parseError(`${'NOT '.repeat(SQL_NESTING_DEPTH_MAX + 1)}TRUE`)).toContain('deeper than')
    expect(parseError(`a > ${'-'.repeat(SQL_NESTING_DEPTH_MAX + 1)}1`)).toContain('deeper than')
  })
})

describe('SQL92 evaluation', () => {
  it('AND, OR and NOT follow three-valued logic', () => {
    // x is TRUE, y FALSE, missing properties give unknown (null).
    const p = { t: '1', f: '0' }
    const T = 't = 1'
    const F = 'f = 1'
    const U = 'u = 1'
    const and: [string, string, Value][] = [
      [T, T, true],
      [T, F, false],
      [T, U, null],
      [F, T, false],
      [F, F, false],
      [F, U, false],
      [U, T, null],
      [U, F, false],
      [U, U, null],
    ]
    for (const [l, r, want] of and) expect(evaluate(`${l} AND ${r}`, p), `${l} AND ${r}`).toBe(want)
    const or: [string, string, Value][] = [
      [T, T, true],
      [T, F, true],
      [T, U, true],
      [F, T, true],
      [F, F, false],
      [F, U, null],
      [U, T, true],
      [U, F, null],
      [U, U, null],
    ]
    for (const [l, r, want] of or) expect(evaluate(`${l} OR ${r}`, p), `${l} OR ${r}`).toBe(want)
    expect(evaluate(`NOT (${T})`, p)).toBe(false)
    expect(evaluate(`NOT (${F})`, p)).toBe(true)
    expect(evaluate(`NOT (${U})`, p)).toBe(null)
    expect(evaluate('NOT NULL')).toBe(null)
    // Only TRUE matches.
    expect(matches(`${U} OR ${F}`, p)).toBe(false)
    expect(matches(`NOT (${U})`, p)).toBe(false)
    expect(matches(`${T} OR ${U}`, p)).toBe(true)
  })

  it('short-circuits: an error on the right is not reached', () => {
    expect(evaluate('t = 1 OR s > 1', { t: '1', s: 'x' })).toBe(true)
    expect(evaluate('t = 2 AND s > 1', { t: '1', s: 'x' })).toBe(false)
    // …but reached, it fails the whole expression, even where the other side would decide it.
    expect(evaluate('s > 1 OR t = 1', { t: '1', s: 'x' })).toBe('error')
    expect(matches('s > 1 OR t = 1', { t: '1', s: 'x' })).toBe(false)
  })

  it('a missing property makes comparisons unknown', () => {
    for (const op of ['=', '<>', '>', '>=', '<', '<=']) expect(evaluate(`a ${op} 1`), op).toBe(null)
    expect(evaluate('a BETWEEN 1 AND 2')).toBe(null)
    expect(evaluate('a NOT BETWEEN 1 AND 2')).toBe(null)
    expect(evaluate("a IN ('x')")).toBe(null)
    expect(evaluate("a NOT IN ('x')")).toBe(null)
    expect(evaluate("a = 'x'")).toBe(null)
    expect(evaluate('flag')).toBe(null)
    // Equality with the property on the right is FALSE, not unknown; two missing properties are equal.
    expect(evaluate("'x' = a")).toBe(false)
    expect(evaluate('a = b')).toBe(true)
    for (const op of ['>', '<']) expect(matches(`a ${op} 1`)).toBe(false)
  })

  it('IS NULL and IS NOT NULL', () => {
    expect(evaluate('a IS NULL')).toBe(true)
    expect(evaluate('a IS NULL', { a: 'v' })).toBe(false)
    expect(evaluate('a IS NOT NULL')).toBe(false)
    expect(evaluate('a IS NOT NULL', { a: '' })).toBe(true)
  })

  it('compares a property with a number as that number type', () => {
    expect(evaluate('a = 5', { a: '5' })).toBe(true)
    expect(evaluate('a = 5', { a: '+5' })).toBe(true)
    expect(evaluate('a = 5', { a: '005' })).toBe(true)
    expect(evaluate('a > 4', { a: '5' })).toBe(true)
    expect(evaluate('a < 4', { a: '-5' })).toBe(true)
    // Integer.valueOf: no decimals, no spaces.
    expect(evaluate('a = 5', { a: '5.0' })).toBe('error')
    expect(evaluate('a = 5', { a: ' 5' })).toBe('error')
    expect(evaluate('a = 5', { a: 'five' })).toBe('error')
    // Double.valueOf: decimals, exponents, surrounding spaces, a type letter.
    expect(evaluate('a = 5.0', { a: '5' })).toBe(true)
    expect(evaluate('a = 5.0', { a: ' 5.00 ' })).toBe(true)
    expect(evaluate('a = 500.0', { a: '5e2' })).toBe(true)
    expect(evaluate('a = 5.0', { a: '5d' })).toBe(true)
    expect(evaluate('a > 5.0', { a: 'Infinity' })).toBe(true)
    expect(evaluate('a > 5.0', { a: 'x' })).toBe('error')
    // Numbers of different types are widened.
    expect(evaluate('5 = 5.0')).toBe(true)
    expect(evaluate('5 < 5.5')).toBe(true)
    expect(evaluate('5L < 6')).toBe(true)
    expect(evaluate('-2147483648 < 0')).toBe(true)
  })

  it('compares two strings as strings for = and as doubles for ranges', () => {
    expect(evaluate("a = 'x'", { a: 'x' })).toBe(true)
    expect(evaluate("a = 'x'", { a: 'y' })).toBe(false)
    expect(evaluate("a <> 'x'", { a: 'y' })).toBe(true)
    expect(evaluate("a = '5'", { a: '5.0' })).toBe(false)
    expect(evaluate('a > b', { a: '10', b: '9' })).toBe(true)
    expect(evaluate('a < b', { a: '1e1', b: '9.5' })).toBe(false)
    expect(evaluate('a > b', { a: 'x', b: '9' })).toBe('error')
  })

  it('compares booleans with strings and never with numbers', () => {
    expect(evaluate('a = TRUE', { a: 'true' })).toBe(true)
    expect(evaluate('a = TRUE', { a: 'TRUE' })).toBe(true)
    expect(evaluate('a = FALSE', { a: 'yes' })).toBe(true)
    expect(evaluate('(a = 1) = TRUE', { a: '1' })).toBe(true)
    // A property used as a condition is never a Boolean, whatever its text.
    expect(evaluate('flag', { flag: 'true' })).toBe(false)
    expect(evaluate('NOT flag', { flag: 'true' })).toBe(true)
  })

  it('BETWEEN is inclusive and NOT BETWEEN its complement', () => {
    const inside = (v: string): Value | 'error' => evaluate('a BETWEEN 3 AND 7', { a: v })
    expect(['2', '3', '5', '7', '8'].map(inside)).toEqual([false, true, true, true, false])
    const outside = (v: string): Value | 'error' => evaluate('a NOT BETWEEN 3 AND 7', { a: v })
    expect(['2', '3', '5', '7', '8'].map(outside)).toEqual([true, false, false, false, true])
    expect(evaluate('a BETWEEN 1.5 AND 2.5', { a: '2' })).toBe(true)
    expect(evaluate('a BETWEEN -1 AND 1', { a: '0' })).toBe(true)
  })

  it('IN and NOT IN', () => {
    expect(evaluate("a IN ('x', 'y')", { a: 'y' })).toBe(true)
    expect(evaluate("a IN ('x', 'y')", { a: 'z' })).toBe(false)
    expect(evaluate("a NOT IN ('x', 'y')", { a: 'z' })).toBe(true)
    expect(evaluate("a NOT IN ('x', 'y')", { a: 'x' })).toBe(false)
    expect(evaluate("a IN ('1')", { a: '01' })).toBe(false)
    const many = Array.from({ length: 20 }, (_, i) => `'v${i}'`).join(', ')
    expect(evaluate(`a IN (${many})`, { a: 'v19' })).toBe(true)
  })

  it('CONTAINS, STARTSWITH, ENDSWITH are FALSE, not unknown, without a value', () => {
    const p = { s: 'hello world' }
    expect(evaluate("s CONTAINS 'o w'", p)).toBe(true)
    expect(evaluate("s CONTAINS 'x'", p)).toBe(false)
    expect(evaluate("s NOT CONTAINS 'x'", p)).toBe(true)
    expect(evaluate("s STARTSWITH 'hell'", p)).toBe(true)
    expect(evaluate("s STARTSWITH 'world'", p)).toBe(false)
    expect(evaluate("s NOT STARTSWITH 'world'", p)).toBe(true)
    expect(evaluate("s ENDSWITH 'world'", p)).toBe(true)
    expect(evaluate("s NOT ENDSWITH 'world'", p)).toBe(false)
    expect(evaluate("s CONTAINS 'HELLO'", p)).toBe(false)
    // Missing property or empty search string: FALSE for the positive and the negated form alike.
    for (const op of ['CONTAINS', 'NOT CONTAINS', 'STARTSWITH', 'NOT STARTSWITH', 'ENDSWITH', 'NOT ENDSWITH']) {
      expect(evaluate(`m ${op} 'x'`, p), op).toBe(false)
      expect(evaluate(`s ${op} ''`, p), op).toBe(false)
    }
    expect(evaluate("NOT (m CONTAINS 'x')", p)).toBe(true)
  })

  it('negation: numbers negate, strings give unknown', () => {
    expect(evaluate('-a = -5', { a: '5' })).toBe(null)
    expect(evaluate('a = -(-5)', { a: '5' })).toBe(true)
    expect(evaluate('a = - 5.5', { a: '-5.5' })).toBe(true)
  })

  it('the compile cache gives the same result for the same text, errors included', () => {
    const a = compileSql92('c1 > 1')
    expect(compileSql92('c1 > 1')).toBe(a)
    expect(() => compileSql92('c1 >')).toThrow(MQFilterException)
    expect(() => compileSql92('c1 >')).toThrow(MQFilterException)
  })
})

describe('SQL92 parser on arbitrary input', () => {
  const tokens = [
    'a',
    'b',
    'x_1',
    '$p',
    '1',
    '0',
    '5L',
    '2.5',
    '.5',
    '1e3',
    "'s'",
    "'it''s'",
    "'",
    '=',
    '<>',
    '>',
    '>=',
    '<',
    '<=',
    '(',
    ')',
    ',',
    '+',
    '-',
    'AND',
    'OR',
    'NOT',
    'BETWEEN',
    'IN',
    'IS',
    'NULL',
    'TRUE',
    'FALSE',
    'CONTAINS',
    'STARTSWITH',
    'ENDSWITH',
    '--',
    '/*',
    '*/',
    '\n',
    '!',
    '#',
    '"',
  ]

  it('throws nothing but MQFilterException, and evaluates without hanging', () => {
    const props = new Map([
      ['a', '5'],
      ['b', 'x'],
      ['x_1', '2.5'],
    ])
    const check = (sql: string): void => {
      const started = performance.now()
      let compiled
      try {
        compiled = parseSelector(sql)
      } catch (err) {
        if (!(err instanceof MQFilterException)) throw err
      }
      if (compiled !== undefined) sqlMatches(compiled, props)
      expect(performance.now() - started).toBeLessThan(1000)
    }
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 40 }), (parts) => check(parts.join(' '))),
      { numRuns: 3000, seed: 42 },
    )
    fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 3000, seed: 7 })
    // Pathological sizes stay bounded too.
    check('('.repeat(100_000))
    check('NOT '.repeat(2000) + 'TRUE')
    check(Array.from({ length: 400 }, (_, i) => `a = ${i}`).join(' OR '))
  })
})
