/**
 * Cases ported from RocketMQ 4.9.8 `RemoteAddressStrategyTest` (same patterns, same expectations), plus the forms
 * we refuse where 4.9.8 would misread them.
 */
import { describe, expect, it } from 'vitest'

import {
  AddressPatternError,
  createRemoteAddressStrategy,
  parseIpAddress,
  parsePeerAddress,
  type RemoteAddressStrategy,
} from '../../../ts/broker/acl/remote-address-strategy-factory.js'

function matches(strategy: RemoteAddressStrategy, host: string): boolean {
  return strategy.match(parseIpAddress(host))
}

/** Host `head + i`, i in -10..299, matches when start <= i <= end (Java `rangeNetaddressStrategyTest`). */
function expectIPv4Range(strategy: RemoteAddressStrategy, head: string, start: number, end: number): void {
  for (let i = -10; i < 300; i++) expect(matches(strategy, head + i), `${head}${i}`).toBe(i >= start && i <= end)
}

function expectIPv6Range(strategy: RemoteAddressStrategy, head: string, start: number, end: number): void {
  for (let i = 0; i < 0x10000 + 100; i += i < 0x300 ? 1 : 97) {
    expect(matches(strategy, head + i.toString(16)), `${head}${i.toString(16)}`).toBe(i >= start && i <= end)
  }
}

describe('RemoteAddressStrategyFactory', () => {
  it('matches nothing for a blank pattern and everything for the three wildcards', () => {
    for (const blank of [null, '', '   ']) expect(matches(createRemoteAddressStrategy(blank), '127.0.0.1')).toBe(false)
    for (const all of ['*', '*.*.*.*', '*:*:*:*:*:*:*:*']) {
      const s = createRemoteAddressStrategy(all)
      expect(matches(s, '127.0.0.1')).toBe(true)
      expect(matches(s, '::1')).toBe(true)
      expect(s.match(null)).toBe(true)
    }
  })

  it('matches one IPv4 or IPv6 address in any spelling', () => {
    const v4 = createRemoteAddressStrategy('127.0.0.1')
    expect(matches(v4, '127.0.0.1')).toBe(true)
    expect(matches(v4, '127.0.0.2')).toBe(false)
    expect(v4.match(null)).toBe(false)
    const v6 = createRemoteAddressStrategy('::1')
    expect(matches(v6, '::1')).toBe(true)
    expect(matches(v6, '0000:0000:0000:0000:0000:0000:0000:0001')).toBe(true)
    expect(matches(v6, '::2')).toBe(false)
    const long = createRemoteAddressStrategy('1050:0000:0000:0000:0005:0600:300c:326b')
    expect(matches(long, '1050::5:600:300C:326B')).toBe(true)
  })

  it('matches a comma list and the braces form', () => {
    for (const pattern of ['127.0.0.1,127.0.0.2,127.0.0.3', '127.0.0.{1,2,3}']) {
      const s = createRemoteAddressStrategy(pattern)
      for (const host of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) expect(matches(s, host), host).toBe(true)
      for (const host of ['127.0.0.4', '127.0.0.0']) expect(matches(s, host), host).toBe(false)
    }
    const v6List = '1050::0005:0600:300c:1,1050::0005:0600:300c:2,1050::0005:0600:300c:3'
    for (const pattern of [v6List, '1050::0005:0600:300c:{1,2,3}']) {
      const s = createRemoteAddressStrategy(pattern)
      for (const last of ['1', '2', '3']) expect(matches(s, `1050:0000:0000:0000:0005:0600:300c:${last}`)).toBe(true)
      for (const last of ['4', '0']) expect(matches(s, `1050:0000:0000:0000:0005:0600:300c:${last}`)).toBe(false)
    }
  })

  it('matches IPv4 wildcards and ranges in any group after the first', () => {
    expectIPv4Range(createRemoteAddressStrategy('127.0.0.1-200'), '127.0.0.', 1, 200)
    expectIPv4Range(createRemoteAddressStrategy('127.0.0.*'), '127.0.0.', 0, 255)
    expectIPv4Range(createRemoteAddressStrategy('127.*.*.*'), '127.0.0.', 0, 255)
    const third = createRemoteAddressStrategy('127.0.1-200.*')
    expectIPv4Range(third, '127.0.7.', 0, 255)
    expectIPv4Range(third, '127.0.201.', 1, 0)
    expectIPv4Range(third, '127.0.0.', 1, 0)
    const second = createRemoteAddressStrategy('192.100-150.*.*')
    expect(matches(second, '192.130.0.2')).toBe(true)
    expect(matches(second, '192.151.0.2')).toBe(false)
    expect(matches(second, '193.130.0.2')).toBe(false)
  })

  it('matches IPv6 wildcards and ranges in the last group or before a final :*', () => {
    expectIPv6Range(createRemoteAddressStrategy('1050::0005:0600:300c:1-200'), '1050::0005:0600:300c:', 1, 0x200)
    expectIPv6Range(createRemoteAddressStrategy('1050::0005:0600:300c:*'), '1050::0005:0600:300c:', 0, 0xffff)
    expectIPv6Range(createRemoteAddressStrategy('1050::0005:0600:3001:*'), '1050::0005:0600:300c:', 1, 0)
    const seventh = createRemoteAddressStrategy('1050::0005:0600:300c:1-200:*')
    expectIPv6Range(seventh, '1050::0005:0600:300c:1:', 0, 0xffff)
    expectIPv6Range(seventh, '1050::0005:0600:300c:201:', 1, 0)
    // Without `::` a short prefix fixes only its own groups, as 4.9.8 reads it.
    const prefix = createRemoteAddressStrategy('1050:0005:0600:300c:3261:*')
    expect(matches(prefix, '1050:5:600:300c:3261:0:0:1')).toBe(true)
    expect(matches(prefix, '1050:5:600:300c:3262:0:0:1')).toBe(false)
    expect(matches(createRemoteAddressStrategy('fe80::*'), 'fe80::1')).toBe(true)
  })

  it('keeps IPv4 and IPv6 apart, reading IPv4-mapped IPv6 peers as IPv4', () => {
    expect(matches(createRemoteAddressStrategy('127.0.0.*'), '::1')).toBe(false)
    expect(matches(createRemoteAddressStrategy('::*'), '127.0.0.1')).toBe(false)
    expect(matches(createRemoteAddressStrategy('127.0.0.*'), '::ffff:127.0.0.9')).toBe(true)
    expect(parseIpAddress('::ffff:7f00:1')).toEqual(parseIpAddress('127.0.0.1'))
  })

  it.each([
    ['256.0.0.1', /not an IPv4 or IPv6 address/],
    ['::1ggg', /not an IPv4 or IPv6 address/],
    ['127.0.0.01', /not an IPv4 or IPv6 address/],
    ['127.0.0.1,2,3', /"2" in "127.0.0.1,2,3"/],
    ['127.0.0.1,2,3}', /braces must hold the last group/],
    ['{192.168.1.1}', /braces must hold the last group/],
    ['192.168.{1}', /192\.168\.1" \(from/],
    ['127.0.0.2-1', /starts after it ends/],
    ['127.0.0.-1-200', /not a range/],
    ['127.0.0.0-256', /"256" is not an IPv4 group/],
    ['192.168.*', /four IPv4 groups/],
    ['1-5.1.1.*', /first IPv4 group/],
    ['192.168.*.1-100', /only \* may follow/],
    ['192.168.1.1*', /must be a whole group/],
    ['1:2:3:4:5:6:*:*', /must be in the last group/],
    ['1:2:*:4', /must be in the last group/],
    ['1:2:3:4:5:6:7:8:*', /not a valid IPv6 prefix/],
    ['1:2:3:4:5:6:7:20000-20001', /must be in the last group/],
  ])('refuses %s', (pattern, message) => {
    expect(() => createRemoteAddressStrategy(pattern)).toThrow(AddressPatternError)
    expect(() => createRemoteAddressStrategy(pattern)).toThrow(message)
  })

  it('takes the peer host from the address a channel prints', () => {
    expect(parsePeerAddress('10.1.2.3:45678')).toEqual(parseIpAddress('10.1.2.3'))
    expect(parsePeerAddress('[::1]:45678')).toEqual(parseIpAddress('::1'))
    expect(parsePeerAddress('[fe80::1%eth0]:1')).toEqual(parseIpAddress('fe80::1'))
    expect(parsePeerAddress('unknown:0')).toBeNull()
  })
})
