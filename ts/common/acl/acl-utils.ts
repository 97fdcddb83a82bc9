/**
 * The content a request's signature covers and the signature itself (`AclUtils.combineRequestContent`,
 * `combineBytes`, `calSignature` and `AclSigner` in RocketMQ 4.9.8; protocol.md §6.1 has the rules and vectors).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

import { SIGNATURE } from './session-credentials.js'

export interface CombineRequestContentOptions {
  /** Ext fields to leave out besides `Signature`, which is always left out. */
  exclude?: ReadonlySet<string>
}

/**
 * Java `String#compareTo`: UTF-16 code unit order, which is also what `<` does on JS strings. Spelled out rather
 * than left to `Array#sort`'s default so the ordering the signature depends on is visible here.
 */
export function compareJavaStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The signed content: the ext field values (not the keys) in key order, skipping `Signature` and `exclude`,
 * concatenated without separators and encoded as UTF-8, followed by the body bytes.
 */
export function combineRequestContent(
  extFields: Readonly<Record<string, string>> | null,
  body: Buffer | null,
  options: CombineRequestContentOptions = {},
): Buffer {
  let text = ''
  if (extFields !== null) {
    const keys = Object.keys(extFields)
      .filter((key) => key !== SIGNATURE && options.exclude?.has(key) !== true)
      .sort(compareJavaStrings)
    for (const key of keys) {
      const value = extFields[key]
      if (value !== undefined && value !== null) text += value
    }
  }
  const head = Buffer.from(text, 'utf8')
  return body !== null && body.length > 0 ? Buffer.concat([head, body]) : head
}

/** Base64 (standard alphabet, padded) of HMAC-SHA1 over `content`, keyed with the UTF-8 bytes of `secretKey`. */
export function calSignature(content: Buffer, secretKey: string): string {
  return createHmac('sha1', Buffer.from(secretKey, 'utf8')).update(content).digest('base64')
}

/**
 * Compares a computed signature with the one a request carries in time independent of where they differ, so a
 * peer cannot learn a valid signature byte by byte. Lengths are not secret: every signature has 28 characters.
 */
export function signatureEquals(expected: string, actual: string | null | undefined): boolean {
  if (typeof actual !== 'string') return false
  const a = Buffer.from(expected, 'utf8')
  const b = Buffer.from(actual, 'utf8')
  if (a.length !== b.length) return false
  return timingSafeEqual(a, b)
}
