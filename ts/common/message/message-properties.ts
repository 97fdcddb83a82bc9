import { NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR } from './message-const.js'

/**
 * Encodes properties as RocketMQ stores them: `name \u0001 value \u0002` for each entry with a value, the
 * separator after every entry (`MessageDecoder#messageProperties2String`).
 */
export function messageProperties2String(properties: ReadonlyMap<string, string> | Record<string, string>): string {
  let out = ''
  const entries = properties instanceof Map ? properties.entries() : Object.entries(properties)
  for (const [name, value] of entries) {
    if (value === undefined || value === null) continue
    out += name + NAME_VALUE_SEPARATOR + value + PROPERTY_SEPARATOR
  }
  return out
}

/**
 * Decodes a properties string: split on `\u0002` (a last piece without a separator is accepted), each piece on
 * its first `\u0001`; entries with an empty name or value are dropped; later duplicates win
 * (`MessageDecoder#string2messageProperties`).
 */
export function string2messageProperties(s: string): Map<string, string> {
  const map = new Map<string, string>()
  if (s.length === 0) return map
  let start = 0
  while (start < s.length) {
    let end = s.indexOf(PROPERTY_SEPARATOR, start)
    if (end < 0) end = s.length
    const sep = s.indexOf(NAME_VALUE_SEPARATOR, start)
    if (sep > start && sep < end - 1) {
      map.set(s.slice(start, sep), s.slice(sep + 1, end))
    }
    start = end + 1
  }
  return map
}

/** The value of one property, without building the whole map (`null` when absent or empty). */
export function findProperty(s: string, name: string): string | null {
  let start = 0
  let found: string | null = null
  while (start < s.length) {
    let end = s.indexOf(PROPERTY_SEPARATOR, start)
    if (end < 0) end = s.length
    if (s.startsWith(name, start) && s.charCodeAt(start + name.length) === 1 && start + name.length + 1 < end) {
      found = s.slice(start + name.length + 1, end)
    }
    start = end + 1
  }
  return found
}

/** The properties string without any entry named `name` (each kept entry followed by its separator). */
export function withoutProperty(s: string, name: string): string {
  let out = ''
  let start = 0
  while (start < s.length) {
    let end = s.indexOf(PROPERTY_SEPARATOR, start)
    if (end < 0) end = s.length
    const isName = s.startsWith(name, start) && s.charCodeAt(start + name.length) === 1
    if (!isName && end > start) out += s.slice(start, end) + PROPERTY_SEPARATOR
    start = end + 1
  }
  return out
}

/**
 * Removes every `name` entry from a properties string in one pass; returns the last value it had (`null` when
 * absent or empty) and the string without it. Cheaper than `findProperty` and `withoutProperty` together, and
 * cheapest when the entry is absent or appears once (the send path strips `WAIT` from nearly every message).
 */
export function takeProperty(s: string, name: string): { value: string | null; rest: string } {
  const needle = name + NAME_VALUE_SEPARATOR
  let at = s.indexOf(needle)
  if (at < 0) return { value: null, rest: s }
  let value: string | null = null
  let rest = ''
  let copied = 0
  while (at >= 0) {
    let end = s.indexOf(PROPERTY_SEPARATOR, at)
    if (end < 0) end = s.length
    if (at === 0 || s.charCodeAt(at - 1) === 2) {
      const start = at + needle.length
      value = end > start ? s.slice(start, end) : null
      rest += s.slice(copied, at)
      copied = Math.min(end + 1, s.length)
    }
    at = s.indexOf(needle, end)
  }
  return { value, rest: rest + s.slice(copied) }
}
