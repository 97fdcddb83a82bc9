/**
 * The command model of the remoting protocol (`RemotingCommand`, protocol.md §1.3–§1.5): one type for requests
 * and responses, told apart by flag bit 0. The custom header travels as `extFields`, a flat map of strings.
 */
import { CURRENT_VERSION } from '../common/mq-version.js'
import type { LanguageCode } from './language-code.js'

export const SerializeType = { JSON: 0, ROCKETMQ: 1 } as const
export type SerializeType = (typeof SerializeType)[keyof typeof SerializeType]

/** Flag bits (`RemotingCommand#RPC_TYPE`, `RPC_ONEWAY`). */
export const RemotingCommandFlag = { RESPONSE: 1, ONEWAY: 2 } as const

export type ExtFields = Record<string, string>

const OPAQUE_MAX = 0x7fffffff
let lastOpaque = 0

/** Request ids for commands this process originates: one counter per process, as the Java client keeps. */
export function nextOpaque(): number {
  lastOpaque = lastOpaque === OPAQUE_MAX ? 1 : lastOpaque + 1
  return lastOpaque
}

export class RemotingCommand {
  code: number
  language: LanguageCode = 'JAVA'
  version: number = CURRENT_VERSION
  opaque = 0
  flag = 0
  remark: string | null = null
  extFields: ExtFields | null = null
  body: Buffer | null = null
  /** How the header was (or will be) serialized; a response takes its request's. */
  serializeType: SerializeType = SerializeType.JSON

  constructor(code: number) {
    this.code = code
  }

  /** A request with a fresh opaque. */
  static createRequest(code: number, extFields?: ExtFields | null, body?: Buffer | null): RemotingCommand {
    const cmd = new RemotingCommand(code)
    cmd.opaque = nextOpaque()
    cmd.extFields = extFields ?? null
    cmd.body = body ?? null
    return cmd
  }

  /** A response; its opaque and serialize type are set from the request when it is written. */
  static createResponse(code: number, remark?: string | null, extFields?: ExtFields | null): RemotingCommand {
    const cmd = new RemotingCommand(code)
    cmd.flag = RemotingCommandFlag.RESPONSE
    cmd.remark = remark ?? null
    cmd.extFields = extFields ?? null
    return cmd
  }

  isResponse(): boolean {
    return (this.flag & RemotingCommandFlag.RESPONSE) !== 0
  }

  isOneway(): boolean {
    return (this.flag & RemotingCommandFlag.ONEWAY) !== 0
  }

  markOneway(): this {
    this.flag |= RemotingCommandFlag.ONEWAY
    return this
  }

  markResponse(): this {
    this.flag |= RemotingCommandFlag.RESPONSE
    return this
  }

  /** One ext field, or `undefined`. */
  ext(name: string): string | undefined {
    return this.extFields?.[name]
  }

  /** Sets one ext field, creating the map when needed. */
  putExt(name: string, value: string | number | boolean): this {
    // Without a prototype, as the decoders make it: on `{}` a `__proto__` key would hit the setter and vanish.
    if (this.extFields === null) this.extFields = Object.create(null) as ExtFields
    this.extFields[name] = String(value)
    return this
  }
}
