import { describe, expect, it } from 'vitest'

import {
  calSignature,
  combineRequestContent,
  compareJavaStrings,
  signatureEquals,
} from '../../../ts/common/acl/acl-utils.js'
import { checkPermission, parsePerm, Permission, permName } from '../../../ts/common/acl/permission.js'

describe('AclUtils', () => {
  // protocol.md §6.1: GET_ROUTEINFO_BY_TOPIC signed by rocketmq2 with secret 12345678.
  it('signs the §6.1 vectors', () => {
    const a = combineRequestContent({ topic: 'TBW102', AccessKey: 'rocketmq2' }, null)
    expect(a.toString('utf8')).toBe('rocketmq2TBW102')
    expect(calSignature(a, '12345678')).toBe('/u5P/wZUbhjanu4LM/UzEdo2u2I=')
    const b = combineRequestContent({ topic: 'TopicTest', AccessKey: 'rocketmq2' }, null)
    expect(b.toString('utf8')).toBe('rocketmq2TopicTest')
    expect(calSignature(b, '12345678')).toBe('GeeGoP9mRvDhoVp4PD5omX0prgE=')
  })

  it('orders keys as Java String#compareTo: upper case < _ < lower case, by UTF-16 code unit', () => {
    const ext = { b: '3', _x: '2', Z: '1', a: '4' }
    expect(combineRequestContent(ext, null).toString()).toBe('1243')
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FF61 by code unit but after it by code point.
    expect(['\uff61', '\u{1f600}'].sort(compareJavaStrings)).toEqual(['\u{1f600}', '\uff61'])
    expect(combineRequestContent({ '\uff61': 'late', '\u{1f600}': 'early' }, null).toString()).toBe('earlylate')
  })

  it('skips Signature and the excluded keys, encodes values as UTF-8 and appends the body', () => {
    const ext = { AccessKey: 'ak', Signature: 'old', _UNIQUE_KEY_QUERY: 'true', topic: 'тема' }
    const content = combineRequestContent(ext, Buffer.from([0, 1, 2]), { exclude: new Set(['_UNIQUE_KEY_QUERY']) })
    expect(content).toEqual(Buffer.concat([Buffer.from('akтема', 'utf8'), Buffer.from([0, 1, 2])]))
    expect(combineRequestContent(ext, null).toString()).toBe('aktrueтема')
    expect(combineRequestContent(null, Buffer.from('body')).toString()).toBe('body')
    expect(combineRequestContent(null, null).length).toBe(0)
  })

  it('compares signatures exactly, null and length mismatches included', () => {
    expect(signatureEquals('GeeGoP9mRvDhoVp4PD5omX0prgE=', 'GeeGoP9mRvDhoVp4PD5omX0prgE=')).toBe(true)
    expect(signatureEquals('GeeGoP9mRvDhoVp4PD5omX0prgE=', 'GeeGoP9mRvDhoVp4PD5omX0prgF=')).toBe(false)
    expect(signatureEquals('GeeGoP9mRvDhoVp4PD5omX0prgE=', 'GeeGoP9mRvDhoVp4PD5omX0prgE')).toBe(false)
    expect(signatureEquals('GeeGoP9mRvDhoVp4PD5omX0prgE=', null)).toBe(false)
    expect(signatureEquals('GeeGoP9mRvDhoVp4PD5omX0prgE=', undefined)).toBe(false)
  })
})

describe('Permission', () => {
  it('checks as Permission.checkPermission: DENY wins, ANY needs PUB or SUB, else one shared bit', () => {
    const { DENY, ANY, PUB, SUB } = Permission
    expect(checkPermission(PUB, PUB)).toBe(true)
    expect(checkPermission(PUB, SUB)).toBe(false)
    expect(checkPermission(SUB, PUB | SUB)).toBe(true)
    expect(checkPermission(PUB, DENY)).toBe(false)
    expect(checkPermission(PUB, DENY | PUB)).toBe(false)
    expect(checkPermission(ANY, SUB)).toBe(true)
    expect(checkPermission(ANY, PUB)).toBe(true)
    expect(checkPermission(ANY, DENY)).toBe(false)
  })

  it('reads the five spellings of plain_acl.yml and nothing else', () => {
    expect(parsePerm('DENY')).toBe(Permission.DENY)
    expect(parsePerm(' PUB ')).toBe(Permission.PUB)
    expect(parsePerm('SUB')).toBe(Permission.SUB)
    expect(parsePerm('PUB|SUB')).toBe(Permission.PUB | Permission.SUB)
    expect(parsePerm('SUB|PUB')).toBe(Permission.PUB | Permission.SUB)
    for (const bad of ['ANY', 'pub', 'PUB | SUB', '', 'READ']) expect(parsePerm(bad)).toBeNull()
    expect(permName(Permission.PUB | Permission.SUB)).toBe('PUB|SUB')
    expect(permName(Permission.DENY)).toBe('DENY')
  })
})
