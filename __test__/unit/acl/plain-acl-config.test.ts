import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { afterEach, beforeEach, describe, expect, it } from 'vitest'

import { ACL_FILE_BYTES_MAX, loadPlainAclConfig, parsePlainAclConfig } from '../../../ts/broker/acl/plain-acl-config.js'
import { parseIpAddress } from '../../../ts/broker/acl/remote-address-strategy-factory.js'
import { Permission } from '../../../ts/common/acl/permission.js'
import { ConfigError } from '../../../ts/common/errors.js'
import type { Logger } from '../../../ts/common/logger.js'
import { tempDir, type TempDir } from '../../helpers/temp-dir.js'
import { ACL_YAML, writeAclFile } from './acl-fixtures.js'

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: Array<Record<string, unknown>> } {
  const warnings: Array<Record<string, unknown>> = []
  const logger = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (obj: object) => void warnings.push(obj as Record<string, unknown>),
    error: () => {},
    child: () => logger,
  }
  return logger
}

/** The ConfigError message for `yaml`, or a failure when it loads. */
function errorOf(yaml: string): string {
  try {
    parsePlainAclConfig(yaml, 'acl.yml')
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).code).toBe('RMQ_ERR_ACL_CONFIG')
    return (err as Error).message
  }
  throw new Error('expected a ConfigError')
}

const account = (lines: string): string => `accounts:\n  - accessKey: RocketMQ\n    secretKey: '12345678'\n${lines}`

describe('plain ACL config', () => {
  let dir: TempDir
  beforeEach(() => {
    dir = tempDir('ferrymq-acl-')
  })
  afterEach(() => dir.remove())

  it('loads the sample file as RocketMQ reads it', () => {
    const config = loadPlainAclConfig(writeAclFile(dir.path))
    expect(config.globalWhiteRemoteAddresses.map((s) => s.pattern)).toEqual(['10.10.103.*', '192.168.0.*'])
    expect([...config.accounts.keys()]).toEqual(['RocketMQ', 'rocketmq2', 'adminWithPerms'])
    const plain = config.accounts.get('RocketMQ')!
    expect(plain.secretKey).toBe('12345678')
    expect(plain.admin).toBe(false)
    expect(plain.whiteRemoteAddress).toBeNull()
    expect(plain.remoteAddressStrategy.match(parseIpAddress('127.0.0.1'))).toBe(false)
    expect(plain.defaultTopicPerm).toBe(Permission.DENY)
    expect(plain.defaultGroupPerm).toBe(Permission.SUB)
    expect([...plain.resourcePerms]).toEqual([
      ['%RETRY%groupA', Permission.DENY],
      ['%RETRY%groupB', Permission.PUB | Permission.SUB],
      ['%RETRY%groupC', Permission.SUB],
      ['topicA', Permission.DENY],
      ['topicB', Permission.PUB | Permission.SUB],
      ['topicC', Permission.SUB],
      ['topicD', Permission.PUB],
    ])
    const admin = config.accounts.get('rocketmq2')!
    expect(admin.admin).toBe(true)
    expect(admin.defaultTopicPerm).toBe(Permission.DENY)
    expect(admin.resourcePerms.size).toBe(0)
    expect(admin.remoteAddressStrategy.match(parseIpAddress('192.168.1.77'))).toBe(true)
  })

  it('reads empty files, YAML 1.1 booleans and nulls, aliases and unknown keys as RocketMQ does', () => {
    expect(parsePlainAclConfig('# nothing yet\n', 'acl.yml').accounts.size).toBe(0)
    const logger = recordingLogger()
    const yaml = [
      'dataVersion: [{counter: 1, timestamp: 1}]',
      'perms: &perms [topicA=SUB]',
      'accounts:',
      '  - {accessKey: RocketMQ, secretKey: "0123456", admin: Yes, whiteRemoteAddress: ~, topicPerms: *perms}',
      '  - {accessKey: rocketmq2, secretKey: "12345678", admin: "off", defaultTopicPerm: " PUB ", colour: blue}',
    ].join('\n')
    const config = parsePlainAclConfig(yaml, 'acl.yml', logger)
    expect(config.accounts.get('RocketMQ')!.admin).toBe(true)
    expect(config.accounts.get('RocketMQ')!.secretKey).toBe('0123456')
    expect(config.accounts.get('RocketMQ')!.resourcePerms.get('topicA')).toBe(Permission.SUB)
    expect(config.accounts.get('rocketmq2')!.admin).toBe(false)
    expect(config.accounts.get('rocketmq2')!.defaultTopicPerm).toBe(Permission.PUB)
    expect(logger.warnings.map((w) => w.key)).toEqual(['perms', 'accounts[1].colour'])
  })

  it('names the file, line, column and field of a YAML syntax error', () => {
    expect(errorOf('accounts:\n  - accessKey: [a,\n')).toMatch(/^acl\.yml:\d+:\d+: \(file\): not valid YAML/)
    expect(errorOf('accounts: []\naccounts: []\n')).toMatch(/^acl\.yml:2:1: \(file\): not valid YAML: .*unique/)
  })

  it.each([
    ['a top level that is a list', '- a\n- b\n', /acl\.yml:1:1: \(top level\): expected a mapping/],
    ['accounts that is not a list', 'accounts: RocketMQ\n', /acl\.yml:1:11: accounts: expected a list/],
    [
      'an account that is not a mapping',
      'accounts:\n  - RocketMQ\n',
      /acl\.yml:2:5: accounts\[0\]: expected a mapping/,
    ],
    ['an empty account', 'accounts:\n  -\n  - ~\n', /accounts\[0\]: expected a mapping/],
    [
      'a missing accessKey',
      'accounts:\n  - secretKey: "12345678"\n',
      /acl\.yml:2:5: accounts\[0\]\.accessKey: is missing/,
    ],
    ['a missing secretKey', 'accounts:\n  - accessKey: RocketMQ\n', /accounts\[0\]\.secretKey: is missing/],
    [
      'a short accessKey',
      'accounts:\n  - accessKey: short6\n    secretKey: "12345678"\n',
      /acl\.yml:2:16: accounts\[0\]\.accessKey: must be longer than 6 characters \(it has 6\)/,
    ],
    [
      'a short secretKey',
      'accounts:\n  - accessKey: RocketMQ\n    secretKey: "abc123"\n',
      /acl\.yml:3:16: accounts\[0\]\.secretKey: must be longer than 6 characters \(it has 6\)$/,
    ],
    [
      'a secretKey YAML 1.1 reads as octal',
      'accounts:\n  - accessKey: RocketMQ\n    secretKey: 01234567\n',
      /acl\.yml:3:16: accounts\[0\]\.secretKey: write it in quotes/,
    ],
    [
      'a secretKey that is a list',
      'accounts:\n  - accessKey: RocketMQ\n    secretKey: [a]\n',
      /accounts\[0\]\.secretKey: expected a single value/,
    ],
    [
      'a duplicate accessKey',
      `${account('')}  - accessKey: RocketMQ\n    secretKey: '87654321'\n`,
      /acl\.yml:4:16: accounts\[1\]\.accessKey: RocketMQ is already defined at line 2/,
    ],
    [
      'an unknown default permission',
      account('    defaultTopicPerm: ANY\n'),
      /acl\.yml:4:23: accounts\[0\]\.defaultTopicPerm: "ANY" is not a permission: expected DENY, PUB, SUB, PUB\|SUB or/,
    ],
    ['a lower-case permission', account('    defaultGroupPerm: sub\n'), /defaultGroupPerm: "sub" is not a permission/],
    [
      'a topic permission without =',
      account('    topicPerms:\n      - topicA\n'),
      /acl\.yml:5:9: accounts\[0\]\.topicPerms\[0\]: "topicA" is not topic=PERM/,
    ],
    [
      'a group permission with two =',
      account('    groupPerms:\n      - g=SUB=PUB\n'),
      /accounts\[0\]\.groupPerms\[0\]: "g=SUB=PUB" is not group=PERM/,
    ],
    [
      'an unknown resource permission',
      account('    topicPerms: [topicA=READ]\n'),
      /accounts\[0\]\.topicPerms\[0\]: "READ" is not a permission/,
    ],
    [
      'a resource listed twice',
      account('    topicPerms: [topicA=PUB, topicA=SUB]\n'),
      /accounts\[0\]\.topicPerms\[1\]: topicA is listed twice/,
    ],
    [
      'topicPerms that is not a list',
      account('    topicPerms: topicA=PUB\n'),
      /accounts\[0\]\.topicPerms: expected a list/,
    ],
    [
      'an admin flag that is not a boolean',
      account('    admin: maybe\n'),
      /acl\.yml:4:12: accounts\[0\]\.admin: expected true or false, not "maybe"/,
    ],
    [
      'a bad account address',
      account('    whiteRemoteAddress: 192.168.1.300\n'),
      /acl\.yml:4:25: accounts\[0\]\.whiteRemoteAddress: "192\.168\.1\.300" is not an IPv4 or IPv6 address/,
    ],
    [
      'a bad global address',
      'globalWhiteRemoteAddresses:\n  - 10.10.*.1-5\n',
      /acl\.yml:2:5: globalWhiteRemoteAddresses\[0\]: "10\.10\.\*\.1-5": only \* may follow/,
    ],
    [
      'an empty global address',
      'globalWhiteRemoteAddresses:\n  - 10.10.103.*\n  -\n',
      /globalWhiteRemoteAddresses\[1\]: is empty/,
    ],
  ])('refuses %s', (_what, yaml, message) => {
    expect(errorOf(yaml)).toMatch(message)
  })

  it('refuses a missing, oversized or directory path, naming it', () => {
    const missing = join(dir.path, 'absent.yml')
    expect(() => loadPlainAclConfig(missing)).toThrow(ConfigError)
    expect(() => loadPlainAclConfig(missing)).toThrow(`${missing}: cannot read the ACL file`)
    const sub = join(dir.path, 'sub')
    mkdirSync(sub)
    expect(() => loadPlainAclConfig(sub)).toThrow(`${sub}: the ACL file is not a regular file`)
    const big = join(dir.path, 'big.yml')
    writeFileSync(big, Buffer.alloc(ACL_FILE_BYTES_MAX + 1, 0x20))
    expect(() => loadPlainAclConfig(big)).toThrow(/more than 16777216/)
  })

  it('keeps ACL_YAML valid for the other suites', () => {
    expect(() => parsePlainAclConfig(ACL_YAML, 'acl.yml')).not.toThrow()
  })
})
