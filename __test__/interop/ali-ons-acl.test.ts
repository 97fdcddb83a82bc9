/**
 * ali-ons 3.12 against a ferrymq broker with plain ACL on (protocol.md §6): with `accessKeyId`/`accessKeySecret`
 * ali-ons signs every request as the RocketMQ 4.x `AclClientRPCHook` does (real-clients.md §2.7), so the right
 * keys produce and consume end to end, and a wrong secret or an unknown key is refused by the broker.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { ACL_EXCEPTION_CLASS } from '../../ts/broker/acl/acl-rpc-hook.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'
import { testMessage, type TestMessage } from './helpers/ali-ons-cluster.js'
import { AliOnsChild, stopAllAliOnsChildren } from './helpers/ali-ons-process.js'
import type { ChildEvent, RpcEvent, SendResult } from './helpers/ali-ons-protocol.js'

const ACCESS_KEY = 'onsInterop'
const SECRET_KEY = 'onsInteropSecret'
const TOPIC = 'OnsAclTopic'
const GROUP = 'CG_acl'

/** One account: PUB|SUB on the topic, SUB on the group, nothing else; no white-listed address. */
const ACL_YAML = `accounts:
  - accessKey: ${ACCESS_KEY}
    secretKey: ${SECRET_KEY}
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: DENY
    topicPerms:
      - ${TOPIC}=PUB|SUB
    groupPerms:
      - ${GROUP}=SUB
`

describe('ali-ons interop', () => {
  let dir: TempDir
  let cluster: TestCluster

  beforeEach(async () => {
    dir = tempDir('ferrymq-ali-ons-acl-')
    const aclFile = join(dir.path, 'plain_acl.yml')
    writeFileSync(aclFile, ACL_YAML)
    cluster = await startCluster({ broker: { aclEnable: true, aclFile } })
  })
  afterEach(async () => {
    const leaked = await stopAllAliOnsChildren()
    await cluster.stop()
    dir.remove()
    expect(leaked, 'ali-ons children whose processes outlived the test').toEqual([])
  })

  const isAclRefusal = (r: RpcEvent): boolean => (r.remark ?? '').includes(ACL_EXCEPTION_CLASS)

  async function sendAll(p: AliOnsChild, messages: TestMessage[]): Promise<SendResult[]> {
    const results: SendResult[] = []
    for (const m of messages) results.push(await p.send(m.spec))
    return results
  }

  it('produces and consumes with ACL on and the right keys', async () => {
    const keys = { accessKeyId: ACCESS_KEY, accessKeySecret: SECRET_KEY }
    const p = AliOnsChild.start(cluster.namesrvAddr, 'producer PG_acl')
    await p.startProducer({ producerGroup: 'PG_acl', ...keys })
    const messages = Array.from({ length: 6 }, (_, i) =>
      testMessage(TOPIC, `acl-${i}`, { tags: 'TagK', keys: [`acl-${i}`] }),
    )
    const sent = await sendAll(p, messages)
    expect(sent.map((r) => r.sendStatus)).toEqual(messages.map(() => 'SEND_OK'))

    const c = AliOnsChild.start(cluster.namesrvAddr, `consumer ${GROUP}`)
    await c.startConsumer({ consumerGroup: GROUP, ...keys }, [{ topic: TOPIC, expression: 'TagK' }])
    const got = await c.waitForMessages(messages.length)
    await c.closeConsumer()

    expect(got.map((m) => m.msgId).sort()).toEqual(sent.map((r) => r.msgId).sort())
    expect(got.map((m) => m.bodySha256).sort()).toEqual(messages.map((m) => m.sha256).sort())
    // Every request to the broker passed the check: heartbeat, consumer list, offsets, pulls, unregister.
    const toBroker = [...p.rpcs(), ...c.rpcs()].filter((r) => r.addr === cluster.brokerAddr)
    expect(toBroker.filter(isAclRefusal)).toEqual([])
    const codes = new Set(toBroker.map((r) => r.code))
    for (const code of [
      RequestCode.SEND_MESSAGE_V2,
      RequestCode.HEART_BEAT,
      RequestCode.GET_CONSUMER_LIST_BY_GROUP,
      RequestCode.QUERY_CONSUMER_OFFSET,
      RequestCode.PULL_MESSAGE,
      RequestCode.UPDATE_CONSUMER_OFFSET,
      RequestCode.UNREGISTER_CLIENT,
    ]) {
      expect(codes.has(code), `request ${code} was sent`).toBe(true)
    }
    expect(c.rpcs(RequestCode.UNREGISTER_CLIENT).map((r) => r.responseCode)).toEqual([ResponseCode.SUCCESS])
    await Promise.all([p.stop(), c.stop()])
    expect([p.groupAlive(), c.groupAlive()]).toEqual([false, false])
  })

  it('refuses sends and consumers signed with a wrong secret or an unknown access key', async () => {
    const cases = [
      {
        name: 'wrong secret',
        keys: { accessKeyId: ACCESS_KEY, accessKeySecret: 'notTheSecret' },
        reason: `signature check failed for AccessKey ${ACCESS_KEY}`,
      },
      {
        name: 'unknown key',
        keys: { accessKeyId: 'nobodyKnowsMe', accessKeySecret: SECRET_KEY },
        reason: 'no ACL account for AccessKey nobodyKnowsMe',
      },
    ]
    for (const { name, keys, reason } of cases) {
      const p = AliOnsChild.start(cluster.namesrvAddr, `producer (${name})`)
      await p.startProducer({ producerGroup: 'PG_acl', ...keys })
      const error = await p.sendFailure(testMessage(TOPIC, `refused-${name}`, { tags: 'TagK' }).spec)
      // SYSTEM_ERROR is a code ali-ons retries on another broker; with one broker it gives up with this error.
      expect(error.name).toBe('Error')
      expect(error.message).toMatch(new RegExp(`^Send \\[\\d+\\] times, still failed, .*Topic: ${TOPIC}`))
      // Each attempt was answered with the broker's ACL refusal, which ali-ons raised as MQClientException.
      const sends = p.rpcs(RequestCode.SEND_MESSAGE_V2)
      expect(sends.length).toBeGreaterThan(0)
      for (const s of sends) {
        expect([s.addr, s.responseCode, s.remark]).toEqual([
          cluster.brokerAddr,
          ResponseCode.SYSTEM_ERROR,
          `${ACL_EXCEPTION_CLASS}: ${reason}`,
        ])
      }

      const c = AliOnsChild.start(cluster.namesrvAddr, `consumer (${name})`)
      await c.startConsumer({ consumerGroup: GROUP, ...keys }, [{ topic: TOPIC, expression: '*' }])
      // The consumer's heartbeat is refused too (ali-ons only logs that).
      const refusedHeartbeat = (e: ChildEvent): e is RpcEvent =>
        e.type === 'rpc' &&
        e.code === RequestCode.HEART_BEAT &&
        e.addr === cluster.brokerAddr &&
        e.responseCode !== null
      const heartbeat = await c.waitForEvent(refusedHeartbeat, { what: 'the consumer heartbeat answer' })
      expect([heartbeat.responseCode, heartbeat.remark]).toEqual([
        ResponseCode.SYSTEM_ERROR,
        `${ACL_EXCEPTION_CLASS}: ${reason}`,
      ])
      await Promise.all([p.stop(), c.stop()])
      expect([p.groupAlive(), c.groupAlive()]).toEqual([false, false])
    }
    // Nothing was stored.
    expect(cluster.broker.stats.putMessages).toBe(0)
    expect(cluster.broker.consumerManager.getConsumerGroupInfo(GROUP)).toBeUndefined()
  })
})
