import type { LanguageCode } from '../remoting/language-code.js'
import type { RemotingChannel } from '../remoting/remoting-channel.js'

/** One client connection as a producer or consumer group sees it (`ClientChannelInfo`). */
export interface ClientChannelInfo {
  channel: RemotingChannel
  clientId: string
  language: LanguageCode
  version: number
  lastUpdateTimestamp: number
}
