/** Typed reads of a request's custom header (protocol.md §1.9). */
import { describe, expect, it } from 'vitest'

import { ProtocolError } from '../../../../ts/common/errors.js'
import { HeaderReader } from '../../../../ts/remoting/protocol/header-reader.js'
import { RemotingCommand } from '../../../../ts/remoting/remoting-command.js'

function reader(ext: Record<string, string> | null): HeaderReader {
  const cmd = new RemotingCommand(1)
  cmd.extFields = ext
  return new HeaderReader(cmd)
}

function fieldError(fn: () => unknown): ProtocolError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError)
    expect((err as ProtocolError).code).toBe('RMQ_ERR_HEADER_FIELD')
    return err as ProtocolError
  }
  throw new Error('expected a ProtocolError')
}

describe('HeaderReader', () => {
  it('reads strings and reports missing required ones as Java words it', () => {
    const h = reader({ topic: 'T', empty: '' })
    expect(h.has('topic')).toBe(true)
    expect(h.has('nope')).toBe(false)
    expect(h.string('topic')).toBe('T')
    expect(h.string('empty')).toBe('')
    expect(h.optString('nope')).toBeUndefined()
    expect(fieldError(() => h.string('nope')).message).toBe('the custom field <nope> is null')
  })

  it('reads a command without ext fields as having none', () => {
    const h = reader(null)
    expect(h.has('a')).toBe(false)
    expect(h.optInt('a')).toBeUndefined()
    expect(fieldError(() => h.int('a')).message).toBe('the custom field <a> is null')
  })

  it('parses ints in the Java int range, with an optional sign', () => {
    const h = reader({ a: '42', b: '-7', c: '+5', max: '2147483647', min: '-2147483648', over: '2147483648' })
    expect(h.int('a')).toBe(42)
    expect(h.int('b')).toBe(-7)
    expect(h.int('c')).toBe(5)
    expect(h.int('max')).toBe(2147483647)
    expect(h.int('min')).toBe(-2147483648)
    expect(fieldError(() => h.int('over')).message).toMatch(/<over> is not a valid int/)
  })

  it('refuses ints that Integer.parseInt refuses', () => {
    for (const bad of ['', 'x', '1.5', '1e3', '0x10', '--1', '+']) {
      expect(fieldError(() => reader({ v: bad }).int('v')).message).toMatch(/not a valid int/)
    }
  })

  it('parses longs exactly within the safe range', () => {
    const h = reader({ offset: '9007199254740991', neg: '-1', ts: '1700000000000' })
    expect(h.long('offset')).toBe(Number.MAX_SAFE_INTEGER)
    expect(h.long('neg')).toBe(-1)
    expect(h.long('ts')).toBe(1700000000000)
  })

  it('accepts Long.MAX_VALUE and Long.MIN_VALUE, which Java clients send as sentinels (regression: refused)', () => {
    const h = reader({ end: '9223372036854775807', start: '-9223372036854775808', plus: '+9223372036854775807' })
    expect(h.long('end')).toBe(9223372036854775807)
    expect(h.long('start')).toBe(-9223372036854775808)
    expect(h.long('plus')).toBe(9223372036854775807)
  })

  it('refuses longs outside the Java long range or not decimal', () => {
    for (const bad of ['9223372036854775808', '-9223372036854775809', '1e20', 'abc', '']) {
      expect(fieldError(() => reader({ v: bad }).long('v')).message).toMatch(/not a valid long/)
    }
  })

  it('parses booleans as Boolean.parseBoolean does', () => {
    const h = reader({ t: 'true', T: 'TRUE', f: 'false', other: 'yes' })
    expect(h.bool('t')).toBe(true)
    expect(h.bool('T')).toBe(true)
    expect(h.bool('f')).toBe(false)
    expect(h.bool('other')).toBe(false)
    expect(h.optBool('nope')).toBeUndefined()
    expect(fieldError(() => h.bool('nope')).message).toBe('the custom field <nope> is null')
  })

  it('shortens a long invalid value in the message', () => {
    const message = fieldError(() => reader({ v: 'x'.repeat(100) }).int('v')).message
    expect(message).toContain(`"${'x'.repeat(40)}…"`)
  })
})
