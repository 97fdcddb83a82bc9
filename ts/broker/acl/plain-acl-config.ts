/**
 * Loads and checks a plain ACL file (`plain_acl.yml`, read by `PlainPermissionManager#load` in RocketMQ 4.9.8):
 *
 * ```yaml
 * globalWhiteRemoteAddresses: [10.10.103.*]
 * accounts:
 *   - accessKey: RocketMQ
 *     secretKey: 12345678
 *     whiteRemoteAddress: 192.168.0.*
 *     admin: false
 *     defaultTopicPerm: DENY
 *     defaultGroupPerm: SUB
 *     topicPerms: [topicA=DENY, topicB=PUB|SUB]
 *     groupPerms: [groupA=SUB]
 * ```
 *
 * Files operators wrote for RocketMQ load unchanged. What 4.9.8 would quietly misread is refused with a
 * `ConfigError` naming the file, line, field and problem: an unknown permission (4.9.8 reads it as DENY), a
 * duplicate access key or resource, a malformed address pattern, a key YAML 1.1 would read as a number.
 */
import { readFileSync, statSync } from 'node:fs'

import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type YAMLMap,
} from 'yaml'

import { parsePerm, Permission, PERM_SPELLINGS_TEXT } from '../../common/acl/permission.js'
import { ConfigError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import { noopLogger } from '../../common/logger.js'
import { getRetryTopic } from '../../common/mix-all.js'
import {
  AddressPatternError,
  createRemoteAddressStrategy,
  type RemoteAddressStrategy,
} from './remote-address-strategy-factory.js'

/** Largest ACL file we read. Real files hold a few accounts; this only stops a wrong path from eating memory. */
export const ACL_FILE_BYTES_MAX = 16 * 1024 * 1024
/** List items (accounts, addresses, permissions) per file, counted through YAML aliases. */
export const ACL_LIST_ITEMS_MAX = 1_000_000
/** Access and secret keys must be longer than this (`AclConstants.ACCESS_KEY_MIN_LENGTH`, `SECRET_KEY_MIN_LENGTH`). */
export const ACL_KEY_LENGTH_MIN_EXCLUSIVE = 6

export interface PlainAccessAccount {
  accessKey: string
  secretKey: string
  whiteRemoteAddress: string | null
  remoteAddressStrategy: RemoteAddressStrategy
  admin: boolean
  /** Used for a topic without an entry in `resourcePerms`; DENY when the file has none. */
  defaultTopicPerm: number
  /** Used for a group without an entry in `resourcePerms`; DENY when the file has none. */
  defaultGroupPerm: number
  /** Topics by name and groups by their retry topic (`%RETRY%group`), as `PlainAccessResource` keys them. */
  resourcePerms: ReadonlyMap<string, number>
}

export interface PlainAclConfig {
  file: string
  globalWhiteRemoteAddresses: readonly RemoteAddressStrategy[]
  accounts: ReadonlyMap<string, PlainAccessAccount>
}

const TOP_LEVEL_KEYS = new Set(['globalWhiteRemoteAddresses', 'accounts', 'dataVersion'])
const ACCOUNT_KEYS = new Set([
  'accessKey',
  'secretKey',
  'whiteRemoteAddress',
  'admin',
  'defaultTopicPerm',
  'defaultGroupPerm',
  'topicPerms',
  'groupPerms',
])
/** Booleans as SnakeYAML (YAML 1.1) reads them, quoted or not, since fastjson then converts strings too. */
const YAML11_BOOLEANS = new Map<string, boolean>(
  ['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']
    .map((w) => [w, true] as [string, boolean])
    .concat(
      ['false', 'False', 'FALSE', 'no', 'No', 'NO', 'off', 'Off', 'OFF'].map((w) => [w, false] as [string, boolean]),
    ),
)
/** Plain scalars YAML 1.1 reads as null. */
const YAML11_NULLS = new Set(['', '~', 'null', 'Null', 'NULL'])
/**
 * Plain scalars YAML 1.1 reads as a number whose text differs from what is written (octal, hex, binary,
 * sexagesimal, underscores, a leading `+`, floats): RocketMQ would use the converted text as the key.
 */
const YAML11_ALTERED_NUMBER = new RegExp(
  [
    '^[-+]?0[0-7_]+$', // octal
    '^[-+]?0x[0-9a-fA-F_]+$', // hex
    '^[-+]?0b[01_]+$', // binary
    '^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+(?:\\.[0-9_]*)?$', // sexagesimal
    '^[-+]?[0-9]*_[0-9_]*$', // underscores
    '^\\+[0-9]+$', // a leading plus
    '^[-+]?(?:[0-9][0-9_]*)?\\.[0-9.]*(?:[eE][-+][0-9]+)?$', // floats
    '^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$', // exponents (SnakeYAML reads these as floats too)
    '^[-+]?\\.(?:inf|Inf|INF)$|^\\.(?:nan|NaN|NAN)$',
  ].join('|'),
)

/** Reads and checks `file`; a missing, unreadable, oversized or invalid file is a `ConfigError`. */
export function loadPlainAclConfig(file: string, logger: Logger = noopLogger): PlainAclConfig {
  return parsePlainAclConfig(readAclFile(file), file, logger)
}

/** Checks the text of an ACL file; `file` names it in errors. */
export function parsePlainAclConfig(text: string, file: string, logger: Logger = noopLogger): PlainAclConfig {
  return new PlainAclConfigParser(text, file, logger).parse()
}

function readAclFile(file: string): string {
  let text: string
  try {
    const stat = statSync(file)
    if (!stat.isFile()) throw new ConfigError('RMQ_ERR_ACL_CONFIG', `${file}: the ACL file is not a regular file`)
    if (stat.size > ACL_FILE_BYTES_MAX) throw tooLarge(file, stat.size)
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError('RMQ_ERR_ACL_CONFIG', `${file}: cannot read the ACL file: ${(err as Error).message}`, {
      cause: err,
    })
  }
  // The file may have grown between the stat and the read.
  if (Buffer.byteLength(text) > ACL_FILE_BYTES_MAX) throw tooLarge(file, Buffer.byteLength(text))
  return text
}

function tooLarge(file: string, sizeBytes: number): ConfigError {
  return new ConfigError(
    'RMQ_ERR_ACL_CONFIG',
    `${file}: the ACL file has ${sizeBytes} bytes, more than ${ACL_FILE_BYTES_MAX}`,
  )
}

class PlainAclConfigParser {
  private readonly lines = new LineCounter()
  private readonly doc: Document.Parsed
  private listItems = 0

  constructor(
    text: string,
    private readonly file: string,
    private readonly log: Logger,
  ) {
    this.doc = parseDocument(text, {
      lineCounter: this.lines,
      schema: 'failsafe',
      uniqueKeys: true,
      prettyErrors: false,
    })
  }

  parse(): PlainAclConfig {
    const yamlError = this.doc.errors[0]
    if (yamlError !== undefined) throw this.errorAt(yamlError.pos[0], '(file)', `not valid YAML: ${yamlError.message}`)
    for (const w of this.doc.warnings) this.log.warn({ file: this.file, warning: w.message }, 'ACL file: YAML warning')
    const root = this.resolve(this.doc.contents)
    if (root === null) {
      // 4.9.8 skips an empty file with a warning: no accounts, so every signed request is refused.
      this.log.warn({ file: this.file }, 'ACL file is empty: no accounts and no global white list')
      return { file: this.file, globalWhiteRemoteAddresses: [], accounts: new Map() }
    }
    if (!isMap(root)) {
      throw this.fail(root, '(top level)', 'expected a mapping with globalWhiteRemoteAddresses and accounts')
    }
    this.warnUnknownKeys(root, TOP_LEVEL_KEYS, '')
    const globalWhiteRemoteAddresses = this.addressList(
      root.get('globalWhiteRemoteAddresses', true),
      'globalWhiteRemoteAddresses',
    )
    const accounts = this.accounts(root.get('accounts', true))
    return { file: this.file, globalWhiteRemoteAddresses, accounts }
  }

  private addressList(node: unknown, path: string): RemoteAddressStrategy[] {
    return this.list(node, path).map(({ item, itemPath, at }) => this.addressStrategy(item ?? at, itemPath, false))
  }

  private accounts(node: unknown): Map<string, PlainAccessAccount> {
    const accounts = new Map<string, PlainAccessAccount>()
    const lineOf = new Map<string, number>()
    for (const { item, itemPath, at } of this.list(node, 'accounts')) {
      if (item === null || !isMap(item)) {
        throw this.fail(item ?? at, itemPath, 'expected a mapping with accessKey and secretKey')
      }
      const account = this.account(item, itemPath)
      const first = lineOf.get(account.accessKey)
      if (first !== undefined) {
        throw this.fail(
          item.get('accessKey', true),
          `${itemPath}.accessKey`,
          `${account.accessKey} is already defined at line ${first}`,
        )
      }
      lineOf.set(account.accessKey, this.line(item))
      accounts.set(account.accessKey, account)
    }
    return accounts
  }

  private account(map: YAMLMap, path: string): PlainAccessAccount {
    this.warnUnknownKeys(map, ACCOUNT_KEYS, `${path}.`)
    const accessKey = this.key(map, 'accessKey', path)
    const secretKey = this.key(map, 'secretKey', path)
    const whiteNode = map.get('whiteRemoteAddress', true)
    const whiteRemoteAddress = this.optionalString(whiteNode, `${path}.whiteRemoteAddress`)
    const resourcePerms = new Map<string, number>()
    // Groups first, then topics, so a topic entry wins a clash as in 4.9.8 (`buildPlainAccessResource`).
    this.resourcePerms(map.get('groupPerms', true), `${path}.groupPerms`, false, resourcePerms)
    this.resourcePerms(map.get('topicPerms', true), `${path}.topicPerms`, true, resourcePerms)
    return {
      accessKey,
      secretKey,
      whiteRemoteAddress,
      remoteAddressStrategy: this.addressStrategy(whiteNode ?? null, `${path}.whiteRemoteAddress`, true),
      admin: this.boolean(map.get('admin', true), `${path}.admin`),
      defaultTopicPerm: this.perm(map.get('defaultTopicPerm', true), `${path}.defaultTopicPerm`),
      defaultGroupPerm: this.perm(map.get('defaultGroupPerm', true), `${path}.defaultGroupPerm`),
      resourcePerms,
    }
  }

  /** An access or secret key: required, longer than 6 characters (`checkPlainAccessConfig`), never echoed. */
  private key(map: YAMLMap, name: 'accessKey' | 'secretKey', path: string): string {
    const node = map.get(name, true)
    const value = this.optionalString(node, `${path}.${name}`)
    if (value === null) throw this.fail(node ?? map, `${path}.${name}`, 'is missing')
    if (value.length <= ACL_KEY_LENGTH_MIN_EXCLUSIVE) {
      throw this.fail(
        node,
        `${path}.${name}`,
        `must be longer than ${ACL_KEY_LENGTH_MIN_EXCLUSIVE} characters (it has ${value.length})`,
      )
    }
    if (isScalar(node) && node.type === 'PLAIN' && YAML11_ALTERED_NUMBER.test(value)) {
      throw this.fail(
        node,
        `${path}.${name}`,
        'write it in quotes: YAML 1.1, which RocketMQ uses, reads it as a number',
      )
    }
    return value
  }

  private addressStrategy(node: unknown, path: string, blankAllowed: boolean): RemoteAddressStrategy {
    const text = this.optionalString(node, path)
    if (text === null && !blankAllowed) throw this.fail(node, path, 'is empty')
    try {
      return createRemoteAddressStrategy(text)
    } catch (err) {
      if (!(err instanceof AddressPatternError)) throw err
      throw this.fail(node, path, err.message)
    }
  }

  private boolean(node: unknown, path: string): boolean {
    const text = this.optionalString(node, path)
    if (text === null) return false
    const value = YAML11_BOOLEANS.get(text.trim())
    if (value === undefined) throw this.fail(node, path, `expected true or false, not "${text}"`)
    return value
  }

  /** A default permission; absent means DENY (`Permission.parsePermFromString(null)`). */
  private perm(node: unknown, path: string): number {
    const text = this.optionalString(node, path)
    if (text === null || text.trim().length === 0) return Permission.DENY
    const perm = parsePerm(text)
    if (perm === null) throw this.fail(node, path, `"${text}" is not a permission: expected ${PERM_SPELLINGS_TEXT}`)
    return perm
  }

  /** `name=PERM` items (`Permission.parseResourcePerms`); groups are keyed by their retry topic. */
  private resourcePerms(node: unknown, path: string, isTopic: boolean, into: Map<string, number>): void {
    const seen = new Set<string>()
    for (const { item: itemNode, itemPath, at } of this.list(node, path)) {
      const item = itemNode ?? at
      const text = this.optionalString(item, itemPath) ?? ''
      // Like commons-lang `StringUtils.split`: runs of `=` separate, empty pieces vanish.
      const pieces = text.split('=').filter((s) => s.length > 0)
      const name = pieces[0]?.trim() ?? ''
      if (pieces.length !== 2 || name.length === 0) {
        throw this.fail(
          item,
          itemPath,
          `"${text}" is not ${isTopic ? 'topic' : 'group'}=PERM (for example ${isTopic ? 'topicA' : 'groupA'}=SUB)`,
        )
      }
      const perm = parsePerm(pieces[1]!)
      if (perm === null) {
        throw this.fail(item, itemPath, `"${pieces[1]!.trim()}" is not a permission: expected ${PERM_SPELLINGS_TEXT}`)
      }
      if (seen.has(name)) throw this.fail(item, itemPath, `${name} is listed twice`)
      seen.add(name)
      into.set(isTopic ? name : getRetryTopic(name), perm)
    }
  }

  /** The items of a sequence; absent or null is empty. `at` is where the item is written, for errors. */
  private list(node: unknown, path: string): Array<{ item: Node | null; itemPath: string; at: unknown }> {
    const seq = this.resolve(node)
    if (seq === null) return []
    if (!isSeq(seq)) throw this.fail(seq, path, 'expected a list')
    this.listItems += seq.items.length
    if (this.listItems > ACL_LIST_ITEMS_MAX) {
      throw this.fail(seq, path, `the file has more than ${ACL_LIST_ITEMS_MAX} list items`)
    }
    return seq.items.map((raw, i) => ({ item: this.resolve(raw), itemPath: `${path}[${i}]`, at: raw ?? seq }))
  }

  /** A scalar's text; `null` for an absent or null value. Mappings and lists are refused. */
  private optionalString(node: unknown, path: string): string | null {
    const value = this.resolve(node)
    if (value === null) return null
    if (!isScalar(value)) throw this.fail(value, path, 'expected a single value, not a list or mapping')
    return String(value.value)
  }

  /** The node an alias points at; `null` for absent nodes and YAML 1.1 null scalars. */
  private resolve(node: unknown): Node | null {
    const target = isAlias(node) ? (node.resolve(this.doc) ?? null) : ((node as Node | null | undefined) ?? null)
    if (target === null) return null
    if (
      isScalar(target) &&
      (target.value === null || (target.type === 'PLAIN' && YAML11_NULLS.has(String(target.value))))
    ) {
      return null
    }
    return target
  }

  private warnUnknownKeys(map: YAMLMap, known: ReadonlySet<string>, prefix: string): void {
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      if (known.has(key)) continue
      // 4.9.8 ignores unknown keys too; every key it knows fails closed when misspelt, so a warning is enough.
      this.log.warn(
        { file: this.file, line: this.line(pair.key), key: `${prefix}${key}` },
        'ACL file: unknown key ignored',
      )
    }
  }

  private fail(node: unknown, path: string, problem: string): ConfigError {
    const range = (node as Node | null | undefined)?.range
    return this.errorAt(range?.[0] ?? 0, path, problem)
  }

  private errorAt(offset: number, path: string, problem: string): ConfigError {
    const { line, col } = this.lines.linePos(offset)
    return new ConfigError('RMQ_ERR_ACL_CONFIG', `${this.file}:${line}:${col}: ${path}: ${problem}`)
  }

  private line(node: unknown): number {
    const range = (node as Node | null | undefined)?.range
    return this.lines.linePos(range?.[0] ?? 0).line
  }
}
