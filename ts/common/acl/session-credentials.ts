/**
 * The ext field names of ACL 1.0 and the credentials a client signs with (`SessionCredentials`, protocol.md §6).
 */

/** The ext field carrying the access key. */
export const ACCESS_KEY = 'AccessKey'
/** The ext field carrying the Base64 HMAC-SHA1 signature; never part of the signed content. */
export const SIGNATURE = 'Signature'
/** The optional ext field carrying a security token; signed like any other ext field. */
export const SECURITY_TOKEN = 'SecurityToken'
/** The ext field `ali-ons` adds (always `ALIYUN`) and signs (real-clients.md §2.7). */
export const ONS_CHANNEL = 'OnsChannel'
/**
 * The ext field a query by unique key carries (`MixAll.UNIQUE_MSG_QUERY_FLAG`). Java clients sign it, but the
 * 4.9.8 broker leaves it out of the content it verifies (protocol.md §6.2).
 */
export const UNIQUE_MSG_QUERY_FLAG = '_UNIQUE_KEY_QUERY'

/** What a client signs with. */
export interface SessionCredentials {
  accessKey: string
  secretKey: string
  /** Sent and signed as `SecurityToken` when set. */
  securityToken?: string
}
