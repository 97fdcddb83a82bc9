/** Peer addresses as RocketMQ prints them (`RemotingHelper.parseChannelRemoteAddr`). */
import { describe, expect, it } from 'vitest'

import { formatAddress } from '../../../ts/remoting/remoting-channel.js'

describe('RemotingChannel', () => {
  it('formats IPv4 peers as ip:port, IPv4-mapped IPv6 ones too', () => {
    expect(formatAddress('10.0.0.5', 53211)).toBe('10.0.0.5:53211')
    expect(formatAddress('::ffff:10.0.0.5', 53211)).toBe('10.0.0.5:53211')
  })

  it('brackets IPv6 peers and copes with unknown ones', () => {
    expect(formatAddress('::1', 8080)).toBe('[::1]:8080')
    expect(formatAddress('fe80::1', 1)).toBe('[fe80::1]:1')
    expect(formatAddress(undefined, undefined)).toBe('unknown:0')
  })
})
