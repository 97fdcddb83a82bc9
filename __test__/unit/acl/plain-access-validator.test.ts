import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { AclRPCHook } from '../../../ts/broker/acl/acl-rpc-hook.js'
import { PlainAccessValidator } from '../../../ts/broker/acl/plain-access-validator.js'
import { PlainPermissionManager } from '../../../ts/broker/acl/plain-permission-manager.js'
import { calSignature, combineRequestContent } from '../../../ts/common/acl/acl-utils.js'
import { ConfigError } from '../../../ts/common/errors.js'
import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'
import { heartbeatBody, signedRequest, writeAclFile } from './acl-fixtures.js'

const PEER = '127.0.0.1:50000'
const { SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE, PULL_MESSAGE, HEART_BEAT } = RequestCode

let dir: TempDir
let validator: PlainAccessValidator

beforeAll(() => {
  dir = tempDir('ferrymq-acl-')
  validator = new PlainAccessValidator(new PlainPermissionManager({ file: writeAclFile(dir.path) }))
})
afterAll(() => dir.remove())

/** The refusal reason, or `'allowed'`. */
function decide(request: RemotingCommand, peer = PEER): string {
  const decision = validator.validate(request, peer)
  return decision.allowed ? 'allowed' : decision.reason
}

/** Signed by the non-admin account `RocketMQ` (topics DENY by default, groups SUB by default). */
function asUser(code: number, ext: Record<string, string>, body: Buffer | null = null): string {
  return decide(signedRequest(code, ext, body))
}

describe('PlainAccessValidator: resources by request code', () => {
  it('SEND_MESSAGE needs PUB on topic, and reads a retry topic send group from `group` as 4.9.8 does', () => {
    expect(asUser(SEND_MESSAGE, { producerGroup: 'pg', topic: 'topicB' })).toBe('allowed')
    expect(asUser(SEND_MESSAGE, { producerGroup: 'pg', topic: 'topicC' })).toBe(
      'AccessKey RocketMQ has no PUB permission on topic topicC (its permission is SUB)',
    )
    expect(asUser(SEND_MESSAGE, { producerGroup: 'pg', topic: 'elsewhere' })).toBe(
      'AccessKey RocketMQ has no PUB permission on topic elsewhere (its default topic permission is DENY)',
    )
    expect(asUser(SEND_MESSAGE, { topic: '%RETRY%groupA', group: 'groupA' })).toMatch(
      /no SUB permission on group groupA/,
    )
    // The V1 header has no `group`, so 4.9.8 checks nothing for a retry topic send with it.
    expect(asUser(SEND_MESSAGE, { topic: '%RETRY%groupA', producerGroup: 'groupA' })).toBe('allowed')
  })

  it('SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE need PUB on b, or SUB on the retry topic of a', () => {
    for (const code of [SEND_MESSAGE_V2, SEND_BATCH_MESSAGE]) {
      expect(asUser(code, { a: 'pg', b: 'topicD' })).toBe('allowed')
      expect(asUser(code, { a: 'pg', b: 'topicA' })).toMatch(
        /no PUB permission on topic topicA \(its permission is DENY\)/,
      )
      expect(asUser(code, { a: 'groupC', b: '%RETRY%groupC' })).toBe('allowed')
      expect(asUser(code, { a: 'groupA', b: '%RETRY%groupA' })).toMatch(/no SUB permission on group groupA/)
    }
  })

  it('CONSUMER_SEND_MSG_BACK needs SUB on the group', () => {
    expect(asUser(RequestCode.CONSUMER_SEND_MSG_BACK, { group: 'groupC', offset: '1' })).toBe('allowed')
    expect(asUser(RequestCode.CONSUMER_SEND_MSG_BACK, { group: 'unlisted' })).toBe('allowed')
    expect(asUser(RequestCode.CONSUMER_SEND_MSG_BACK, { group: 'groupA' })).toBe(
      'AccessKey RocketMQ has no SUB permission on group groupA (its permission is DENY)',
    )
  })

  it('PULL_MESSAGE needs SUB on the topic and on the consumer group', () => {
    expect(asUser(PULL_MESSAGE, { topic: 'topicC', consumerGroup: 'groupB' })).toBe('allowed')
    expect(asUser(PULL_MESSAGE, { topic: 'topicD', consumerGroup: 'groupB' })).toMatch(
      /no SUB permission on topic topicD/,
    )
    expect(asUser(PULL_MESSAGE, { topic: 'topicC', consumerGroup: 'groupA' })).toMatch(
      /no SUB permission on group groupA/,
    )
  })

  it('QUERY_MESSAGE needs SUB on the topic', () => {
    expect(asUser(RequestCode.QUERY_MESSAGE, { topic: 'topicB', key: 'k' })).toBe('allowed')
    expect(asUser(RequestCode.QUERY_MESSAGE, { topic: 'topicA', key: 'k' })).toMatch(
      /no SUB permission on topic topicA/,
    )
  })

  it('HEART_BEAT needs SUB on every consumer group and every subscribed topic', () => {
    expect(asUser(HEART_BEAT, {}, heartbeatBody({ groupC: ['topicC', 'topicB'] }, ['pg']))).toBe('allowed')
    expect(asUser(HEART_BEAT, {}, heartbeatBody({}, ['pg']))).toBe('allowed')
    expect(asUser(HEART_BEAT, {}, heartbeatBody({ groupC: ['topicC'], groupB: ['topicA'] }))).toMatch(
      /no SUB permission on topic topicA/,
    )
    expect(asUser(HEART_BEAT, {}, heartbeatBody({ groupA: [] }))).toMatch(/no SUB permission on group groupA/)
  })

  it('refuses a HEART_BEAT whose body cannot be read, even from a white-listed address', () => {
    expect(asUser(HEART_BEAT, {}, Buffer.from('{not json'))).toMatch(/^HEART_BEAT: the body is not JSON/)
    expect(asUser(HEART_BEAT, {}, null)).toBe('HEART_BEAT: the request has no body')
    expect(asUser(HEART_BEAT, {}, Buffer.from('{"consumerDataSet":{}}'))).toBe(
      'HEART_BEAT: consumerDataSet is not a list',
    )
    expect(decide(signedRequest(HEART_BEAT, {}, Buffer.from('[]')), '10.10.103.5:1')).toMatch(/not a JSON object/)
  })

  it('UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP and UPDATE_CONSUMER_OFFSET need SUB on the consumer group', () => {
    expect(asUser(RequestCode.UNREGISTER_CLIENT, { clientID: 'c', producerGroup: 'pg' })).toBe('allowed')
    expect(asUser(RequestCode.UNREGISTER_CLIENT, { clientID: 'c', consumerGroup: 'groupA' })).toMatch(/group groupA/)
    expect(asUser(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'groupC' })).toBe('allowed')
    expect(asUser(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: 'groupA' })).toMatch(/group groupA/)
    const offset = { consumerGroup: 'groupC', topic: 'topicC', queueId: '0', commitOffset: '5' }
    expect(asUser(RequestCode.UPDATE_CONSUMER_OFFSET, offset)).toBe('allowed')
    expect(asUser(RequestCode.UPDATE_CONSUMER_OFFSET, { ...offset, topic: 'topicA' })).toMatch(/topic topicA/)
    expect(asUser(RequestCode.UPDATE_CONSUMER_OFFSET, { ...offset, consumerGroup: 'groupA' })).toMatch(/group groupA/)
  })

  it('checks only the signature for codes 4.9.8 names no resource for (QUERY_CONSUMER_OFFSET included)', () => {
    const ext = { consumerGroup: 'groupA', topic: 'topicA', queueId: '0' }
    expect(asUser(RequestCode.QUERY_CONSUMER_OFFSET, ext)).toBe('allowed')
    expect(asUser(RequestCode.GET_MAX_OFFSET, { topic: 'topicA', queueId: '0' })).toBe('allowed')
  })

  it('lets only admin accounts use the admin codes', () => {
    const adminCodes = [17, 25, 215, 200, 207]
    for (const code of adminCodes) {
      expect(asUser(code, { topic: 'topicB' })).toMatch(
        new RegExp(`^request code ${code} \\([A-Z_]+\\) needs an admin account; AccessKey RocketMQ is not admin$`),
      )
      expect(decide(signedRequest(code, { topic: 'x' }, null, 'rocketmq2'))).toBe('allowed')
    }
    expect(asUser(RequestCode.GET_ALL_TOPIC_CONFIG, {})).toBe('allowed')
  })

  it('lets an admin without explicit permissions use everything, and holds one with them to its defaults', () => {
    expect(decide(signedRequest(SEND_MESSAGE_V2, { a: 'pg', b: 'anyTopic' }, null, 'rocketmq2'))).toBe('allowed')
    const admin = (ext: Record<string, string>): string =>
      decide(signedRequest(PULL_MESSAGE, ext, null, 'adminWithPerms', 'adminsecret'))
    expect(admin({ topic: 'topicY', consumerGroup: 'g' })).toMatch(
      /no SUB permission on group g \(its default group permission is DENY\)/,
    )
    expect(
      decide(signedRequest(SEND_MESSAGE_V2, { a: 'p', b: 'topicY' }, null, 'adminWithPerms', 'adminsecret')),
    ).toMatch(/no PUB permission on topic topicY \(its default topic permission is SUB\)/)
  })

  it('always lets a signed send to RMQ_SYS_TRACE_TOPIC through', () => {
    expect(asUser(SEND_MESSAGE_V2, { a: 'pg', b: 'RMQ_SYS_TRACE_TOPIC' })).toBe('allowed')
    expect(asUser(SEND_MESSAGE, { producerGroup: 'pg', topic: 'RMQ_SYS_TRACE_TOPIC' })).toBe('allowed')
  })
})

describe('PlainAccessValidator: signatures', () => {
  it('refuses a wrong secret, a missing signature and a tampered request', () => {
    const ext = { a: 'pg', b: 'topicB' }
    expect(decide(signedRequest(SEND_MESSAGE_V2, ext, null, 'RocketMQ', 'wrong-secret'))).toBe(
      'signature check failed for AccessKey RocketMQ',
    )
    expect(decide(RemotingCommand.createRequest(SEND_MESSAGE_V2, { ...ext, AccessKey: 'RocketMQ' }))).toBe(
      'signature check failed for AccessKey RocketMQ',
    )
    const tamperedBody = signedRequest(SEND_MESSAGE_V2, ext, Buffer.from('body'))
    tamperedBody.body = Buffer.from('Body')
    expect(decide(tamperedBody)).toMatch(/signature check failed/)
    const tamperedExt = signedRequest(SEND_MESSAGE_V2, ext)
    tamperedExt.extFields!.b = 'topicC'
    expect(decide(tamperedExt)).toMatch(/signature check failed/)
  })

  it('accepts a query signed with or without _UNIQUE_KEY_QUERY, but not with a changed value', () => {
    const ext = {
      topic: 'topicB',
      key: 'k',
      maxNum: '32',
      beginTimestamp: '0',
      endTimestamp: '1',
      _UNIQUE_KEY_QUERY: 'true',
    }
    // The Java client signs every ext field, `_UNIQUE_KEY_QUERY` included.
    expect(asUser(RequestCode.QUERY_MESSAGE, ext)).toBe('allowed')
    // The 4.9.8 broker leaves it out; a client that matched that broker signs without it.
    const request = RemotingCommand.createRequest(RequestCode.QUERY_MESSAGE, { ...ext, AccessKey: 'RocketMQ' })
    const content = combineRequestContent(request.extFields, null, { exclude: new Set(['_UNIQUE_KEY_QUERY']) })
    request.putExt('Signature', calSignature(content, '12345678'))
    expect(decide(request)).toBe('allowed')
    request.putExt('_UNIQUE_KEY_QUERY', 'false')
    expect(decide(request)).toBe('allowed')
    const signedWith = signedRequest(RequestCode.QUERY_MESSAGE, ext)
    signedWith.putExt('_UNIQUE_KEY_QUERY', 'false')
    expect(decide(signedWith)).toMatch(/signature check failed/)
  })

  it('covers SecurityToken and OnsChannel like any other ext field', () => {
    const request = signedRequest(PULL_MESSAGE, { topic: 'topicC', consumerGroup: 'groupC', OnsChannel: 'ALIYUN' })
    expect(decide(request)).toBe('allowed')
    request.putExt('SecurityToken', 'added-later')
    expect(decide(request)).toMatch(/signature check failed/)
  })
})

describe('PlainAccessValidator: order of checks', () => {
  const unsigned = (ext: Record<string, string> | null): RemotingCommand =>
    RemotingCommand.createRequest(SEND_MESSAGE_V2, ext)

  it('lets the global white list through first, signed or not', () => {
    expect(decide(unsigned(null), '10.10.103.9:1')).toBe('allowed')
    expect(decide(unsigned({ a: 'pg', b: 'topicA' }), '192.168.0.3:1')).toBe('allowed')
    expect(decide(unsigned({ AccessKey: 'nobody', b: 'topicA' }), '10.10.103.9:1')).toBe('allowed')
    expect(decide(unsigned(null), '10.10.104.9:1')).toBe('the request has no AccessKey')
  })

  it('then needs a known AccessKey, even from an account white-listed address', () => {
    expect(decide(unsigned({ a: 'pg', b: 'topicB' }))).toBe('the request has no AccessKey')
    expect(decide(signedRequest(SEND_MESSAGE_V2, { b: 'topicB' }, null, 'nobody12'), '192.168.1.5:1')).toBe(
      'no ACL account for AccessKey nobody12',
    )
  })

  it('then lets the account white list through without signature or permission checks', () => {
    const request = signedRequest(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: 'x' }, null, 'rocketmq2', 'bad-secret')
    expect(decide(request, '192.168.1.5:1')).toBe('allowed')
    expect(decide(request, '192.168.2.5:1')).toMatch(/signature check failed/)
  })

  it('checks the signature before the admin code, the trace topic and the resources', () => {
    expect(decide(signedRequest(17, { topic: 'x' }, null, 'RocketMQ', 'bad-secret'))).toMatch(/signature check failed/)
    const trace = signedRequest(SEND_MESSAGE_V2, { b: 'RMQ_SYS_TRACE_TOPIC' }, null, 'RocketMQ', 'bad-secret')
    expect(decide(trace)).toMatch(/signature check failed/)
  })

  it('puts the admin check before the resources', () => {
    expect(asUser(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: 'topicB' })).toMatch(/needs an admin account/)
  })

  it('accepts bracketed IPv6 peers', () => {
    expect(decide(unsigned(null), '[::1]:1')).toBe('the request has no AccessKey')
  })
})

describe('AclRPCHook', () => {
  it('answers nothing for an allowed request', () => {
    const hook = new AclRPCHook({ validator })
    expect(hook.doBeforeRequest(PEER, signedRequest(SEND_MESSAGE_V2, { a: 'pg', b: 'topicB' }))).toBeNull()
    expect(hook.refusedCount).toBe(0)
  })

  it('refuses with SYSTEM_ERROR and the AclException class by default, as 4.x does', () => {
    const hook = new AclRPCHook({ validator })
    const response = hook.doBeforeRequest(
      PEER,
      signedRequest(SEND_MESSAGE_V2, { b: 'topicB' }, null, 'RocketMQ', 'sekret99'),
    )
    expect(response?.code).toBe(ResponseCode.SYSTEM_ERROR)
    expect(response?.remark).toBe(
      'org.apache.rocketmq.acl.common.AclException: signature check failed for AccessKey RocketMQ',
    )
    expect(response?.remark).not.toContain('sekret99')
    expect(response?.remark).not.toContain('12345678')
    expect(hook.refusedCount).toBe(1)
  })

  it('refuses with NO_PERMISSION and the bare reason when configured, as 5.x does', () => {
    const hook = new AclRPCHook({ validator, failureResponseCode: ResponseCode.NO_PERMISSION })
    const response = hook.doBeforeRequest(PEER, signedRequest(SEND_MESSAGE_V2, { b: 'topicA' }))
    expect(response?.code).toBe(ResponseCode.NO_PERMISSION)
    expect(response?.remark).toBe('AccessKey RocketMQ has no PUB permission on topic topicA (its permission is DENY)')
  })

  it('refuses any other failure response code', () => {
    expect(() => new AclRPCHook({ validator, failureResponseCode: 2 as 1 })).toThrow(ConfigError)
  })
})
