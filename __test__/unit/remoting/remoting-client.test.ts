/** Address handling of the remoting client; no sockets are opened here. */
import { describe, expect, it } from 'vitest'

import { RemotingError } from '../../../ts/common/errors.js'
import { parseAddress, RemotingClient } from '../../../ts/remoting/remoting-client.js'

describe('RemotingClient', () => {
  it('parses host:port and bracketed IPv6 addresses', () => {
    expect(parseAddress('127.0.0.1:10911')).toEqual(['127.0.0.1', 10911])
    expect(parseAddress('broker-a.local:9876')).toEqual(['broker-a.local', 9876])
    expect(parseAddress('[::1]:10911')).toEqual(['::1', 10911])
  })

  it('refuses addresses without a valid port', () => {
    for (const bad of ['127.0.0.1', '127.0.0.1:', ':10911', '127.0.0.1:0', '127.0.0.1:65536', '::1:10911', 'a:b']) {
      expect(() => parseAddress(bad), bad).toThrow(RemotingError)
    }
  })

  it('rejects, rather than throws, when asked for a channel to a bad address (regression: threw synchronously)', async () => {
    const client = new RemotingClient()
    let promise: Promise<unknown> | undefined
    expect(() => {
      promise = client.channel('no-port-here')
    }).not.toThrow()
    await expect(promise).rejects.toMatchObject({ code: 'RMQ_ERR_BAD_ADDRESS' })
    client.shutdown()
  })

  it('refuses new channels after shutdown', async () => {
    const client = new RemotingClient()
    client.shutdown()
    await expect(client.channel('127.0.0.1:1')).rejects.toMatchObject({ code: 'RMQ_ERR_CLIENT_CLOSED' })
  })
})
