import type { RemotingCommand } from './remoting-command.js'

/**
 * Runs around every request (`RPCHook`). On a server, `doBeforeRequest` may answer the request itself by
 * returning a response (ACL refusing a signature, say): the request is then not processed. On a client it runs
 * just before the request is written (signing).
 */
export interface RPCHook {
  doBeforeRequest(remoteAddress: string, request: RemotingCommand): RemotingCommand | null | void
  doAfterResponse(remoteAddress: string, request: RemotingCommand, response: RemotingCommand | null): void
}
