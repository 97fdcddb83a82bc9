/**
 * The command model. The create-request/create-response cases are ports of Apache RocketMQ 4.9.8
 * `RemotingCommandTest` (`testCreateRequestCommand_RegisterBroker`, `testCreateResponseCommand_*`).
 */
import { describe, expect, it } from 'vitest'

import { CURRENT_VERSION } from '../../../ts/common/mq-version.js'
import {
  nextOpaque,
  RemotingCommand,
  RemotingCommandFlag,
  SerializeType,
} from '../../../ts/remoting/remoting-command.js'

describe('RemotingCommand', () => {
  it('creates a request with a fresh opaque, our version and language, flag 0', () => {
    const a = RemotingCommand.createRequest(103)
    const b = RemotingCommand.createRequest(103, { k: 'v' }, Buffer.from('x'))
    expect(a.code).toBe(103)
    expect(a.version).toBe(CURRENT_VERSION)
    expect(a.language).toBe('JAVA')
    expect(a.flag & RemotingCommandFlag.RESPONSE).toBe(0)
    expect(a.isResponse()).toBe(false)
    expect(a.isOneway()).toBe(false)
    expect(a.extFields).toBeNull()
    expect(a.body).toBeNull()
    expect(a.serializeType).toBe(SerializeType.JSON)
    expect(b.opaque).toBeGreaterThan(a.opaque)
    expect(b.ext('k')).toBe('v')
    expect(b.body?.toString()).toBe('x')
  })

  it('creates a response with flag bit 0 and its remark', () => {
    const cmd = RemotingCommand.createResponse(0, 'Sample remark')
    expect(cmd.code).toBe(0)
    expect(cmd.version).toBe(CURRENT_VERSION)
    expect(cmd.remark).toBe('Sample remark')
    expect(cmd.flag & RemotingCommandFlag.RESPONSE).toBe(1)
    expect(cmd.isResponse()).toBe(true)
    const bare = RemotingCommand.createResponse(1)
    expect(bare.remark).toBeNull()
    expect(bare.extFields).toBeNull()
  })

  it('marks oneway and response bits independently', () => {
    const cmd = new RemotingCommand(1)
    cmd.markOneway()
    expect(cmd.flag).toBe(2)
    expect(cmd.isOneway()).toBe(true)
    expect(cmd.isResponse()).toBe(false)
    cmd.markResponse()
    expect(cmd.flag).toBe(3)
    expect(cmd.isResponse()).toBe(true)
  })

  it('hands out increasing opaques', () => {
    const first = nextOpaque()
    const second = nextOpaque()
    expect(second).toBe(first + 1)
    expect(first).toBeGreaterThan(0)
  })

  it('stores ext values as strings and reads absent ones as undefined', () => {
    const cmd = new RemotingCommand(1)
    expect(cmd.ext('a')).toBeUndefined()
    cmd.putExt('n', 5).putExt('b', true).putExt('s', 's')
    expect({ ...cmd.extFields }).toEqual({ n: '5', b: 'true', s: 's' })
    expect(cmd.ext('constructor')).toBeUndefined()
  })

  it('keeps a __proto__ key set with putExt (regression: swallowed by the setter)', () => {
    const cmd = new RemotingCommand(1)
    cmd.putExt('__proto__', 'x')
    expect(cmd.ext('__proto__')).toBe('x')
    expect(Object.keys(cmd.extFields!)).toEqual(['__proto__'])
  })
})
