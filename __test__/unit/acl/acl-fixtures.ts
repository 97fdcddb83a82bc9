/**
 * Shared by the ACL suites: a plain ACL file in the shape of RocketMQ's `distribution/conf/plain_acl.yml`, and a
 * way to build requests signed as a Java client signs them.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { RemotingCommand } from '../../../ts/remoting/remoting-command.js'
import { AclClientRPCHook } from '../../../ts/remoting/acl-client-rpc-hook.js'

export const SECRET = '12345678'

/**
 * `RocketMQ`: not admin, topics DENY by default, groups SUB by default, explicit permissions on topics A–D and
 * groups A–C. `rocketmq2`: admin without explicit permissions, white-listed on 192.168.1.*. `adminWithPerms`:
 * admin with one explicit permission, so its defaults apply. Anything from 10.10.103.* is globally white-listed.
 */
export const ACL_YAML = `globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
      - topicD=PUB
    groupPerms:
      # the group becomes its retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # an admin may use every resource
    admin: true

  - accessKey: adminWithPerms
    secretKey: "adminsecret"
    admin: true
    defaultTopicPerm: SUB
    topicPerms:
      - topicX=DENY
`

/** Writes `text` as `plain_acl.yml` in `dir` and returns its path. */
export function writeAclFile(dir: string, text = ACL_YAML, name = 'plain_acl.yml'): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

/** A request with `ext` (and `body`), signed by `accessKey`/`secretKey` like `AclClientRPCHook`. */
export function signedRequest(
  code: number,
  ext: Record<string, string>,
  body: Buffer | null = null,
  accessKey = 'RocketMQ',
  secretKey = SECRET,
): RemotingCommand {
  const request = RemotingCommand.createRequest(code, { ...ext }, body)
  new AclClientRPCHook({ accessKey, secretKey }).doBeforeRequest('127.0.0.1:10911', request)
  return request
}

/** A HEART_BEAT body (`HeartbeatData`): consumer groups with the topics they subscribe to. */
export function heartbeatBody(consumers: Record<string, string[]>, producerGroups: string[] = []): Buffer {
  return Buffer.from(
    JSON.stringify({
      clientID: '127.0.0.1@1',
      consumerDataSet: Object.entries(consumers).map(([groupName, topics]) => ({
        groupName,
        consumeType: 'CONSUME_PASSIVELY',
        messageModel: 'CLUSTERING',
        consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
        subscriptionDataSet: topics.map((topic) => ({ topic, subString: '*', tagsSet: [], codeSet: [] })),
        unitMode: false,
      })),
      producerDataSet: producerGroups.map((groupName) => ({ groupName })),
    }),
  )
}
