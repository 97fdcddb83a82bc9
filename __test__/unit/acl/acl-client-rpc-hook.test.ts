import { describe, expect, it } from 'vitest'

import { calSignature, combineRequestContent } from '../../../ts/common/acl/acl-utils.js'
import { ConfigError } from '../../../ts/common/errors.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { AclClientRPCHook } from '../../../ts/remoting/acl-client-rpc-hook.js'
import { decodeFrame, encodeFrameToBuffer } from '../../../ts/remoting/frame-codec.js'
import { RemotingCommand, SerializeType } from '../../../ts/remoting/remoting-command.js'

/** Recomputes the signature over a request's ext fields and body as a verifier would. */
function verify(request: RemotingCommand, secretKey: string): boolean {
  return calSignature(combineRequestContent(request.extFields, request.body), secretKey) === request.ext('Signature')
}

describe('AclClientRPCHook', () => {
  it('adds AccessKey and signs the §6.1 vector', () => {
    const request = RemotingCommand.createRequest(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: 'TBW102' })
    new AclClientRPCHook({ accessKey: 'rocketmq2', secretKey: '12345678' }).doBeforeRequest('127.0.0.1:9876', request)
    expect(request.extFields).toEqual({
      topic: 'TBW102',
      AccessKey: 'rocketmq2',
      Signature: '/u5P/wZUbhjanu4LM/UzEdo2u2I=',
    })
  })

  it('adds and signs SecurityToken when configured, and the body', () => {
    const request = RemotingCommand.createRequest(RequestCode.SEND_MESSAGE_V2, { a: 'g', b: 'T' }, Buffer.from('hello'))
    new AclClientRPCHook({ accessKey: 'ak123456', secretKey: 'sk123456', securityToken: 'tok' }).doBeforeRequest(
      'x:1',
      request,
    )
    expect(request.ext('SecurityToken')).toBe('tok')
    expect(verify(request, 'sk123456')).toBe(true)
    const unsigned = calSignature(
      combineRequestContent({ AccessKey: 'ak123456', a: 'g', b: 'T' }, request.body),
      'sk123456',
    )
    expect(request.ext('Signature')).not.toBe(unsigned)
  })

  it('signs again over a retried request without counting the old signature', () => {
    const hook = new AclClientRPCHook({ accessKey: 'ak123456', secretKey: 'sk123456' })
    const request = RemotingCommand.createRequest(RequestCode.PULL_MESSAGE, { topic: 'T', consumerGroup: 'G' })
    hook.doBeforeRequest('x:1', request)
    const first = request.ext('Signature')
    hook.doBeforeRequest('x:1', request)
    expect(request.ext('Signature')).toBe(first)
  })

  it.each([
    ['JSON', SerializeType.JSON],
    ['ROCKETMQ', SerializeType.ROCKETMQ],
  ])('produces a signature that still verifies after a %s header round trip', (_name, type) => {
    const request = RemotingCommand.createRequest(
      RequestCode.SEND_MESSAGE_V2,
      { a: 'PG', b: 'TopicTest', d: '4', e: '0', i: 'KEYS\u0001k\u0002', empty: '', ключ: 'значение' },
      Buffer.from([1, 2, 3]),
    )
    request.serializeType = type
    new AclClientRPCHook({ accessKey: 'RocketMQ', secretKey: '12345678' }).doBeforeRequest('x:1', request)
    const received = decodeFrame(encodeFrameToBuffer(request).subarray(4))
    expect(received.serializeType).toBe(type)
    expect(verify(received, '12345678')).toBe(true)
    expect(verify(received, '87654321')).toBe(false)
  })

  it('refuses empty keys with a ConfigError that does not show the secret', () => {
    expect(() => new AclClientRPCHook({ accessKey: '', secretKey: 'sk123456' })).toThrow(ConfigError)
    expect(() => new AclClientRPCHook({ accessKey: 'ak123456', secretKey: '' })).toThrow(
      /secretKey of ak123456 is empty/,
    )
  })
})
