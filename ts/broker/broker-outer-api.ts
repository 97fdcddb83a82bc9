/**
 * The broker's calls to the name servers (`BrokerOuterAPI`): register with every name server at once, unregister,
 * and ask whether a registration is needed (QUERY_DATA_VERSION). Name servers share nothing, so each one is asked
 * on its own, and one that is down is logged and skipped: the others still learn about the broker
 * (`BrokerOuterAPI#registerBrokerAll`).
 */
import { RocketMQError, BrokerResponseError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { noopLogger } from '../common/logger.js'
import { RequestCode } from '../common/request-code.js'
import { ResponseCode, responseCodeInfo } from '../common/response-code.js'
import { sameDataVersion, type DataVersion } from '../common/topic-config.js'
import {
  bodyCrc32,
  brokerIdentityExt,
  decodeDataVersion,
  decodeKVTable,
  encodeDataVersion,
  encodeRegisterBrokerBody,
  registerBrokerRequestExt,
  type BrokerIdentity,
  type TopicConfigSerializeWrapper,
} from '../remoting/protocol/namesrv.js'
import { RemotingClient } from '../remoting/remoting-client.js'
import { RemotingCommand } from '../remoting/remoting-command.js'
import type { RPCHook } from '../remoting/rpc-hook.js'

/** What one name server answered to a registration (`RegisterBrokerResult`). */
export interface RegisterBrokerResult {
  /** For a slave: its master's broker address, when the name server knows a live master. */
  masterAddr: string | null
  /** For a slave: its master's HA address. */
  haServerAddr: string | null
  /** The name server's ORDER_TOPIC_CONFIG namespace, when it has one. */
  kvTable: Map<string, string> | null
}

/** The outcome of one call to one name server; `result` is null for a oneway registration. */
export type NamesrvOutcome<T> =
  { namesrvAddr: string; ok: true; result: T } | { namesrvAddr: string; ok: false; error: Error }

export interface RegisterBrokerAllRequest extends BrokerIdentity {
  haServerAddr: string
  topicConfigWrapper: TopicConfigSerializeWrapper
  /** Filter server addresses (legacy); empty by default. */
  filterServerList?: string[]
  /** Fire and forget: the broker does this right after auto-creating a topic. */
  oneway: boolean
  timeoutMs: number
  /** Send the zlib form of the body (`compressedRegister`). */
  compressed: boolean
}

export interface BrokerOuterAPIOptions {
  /** Use this client instead of creating one; `shutdown()` then leaves it open. */
  remotingClient?: RemotingClient
  rpcHook?: RPCHook
  logger?: Logger
}

/** `unregisterBroker` waits this long per name server (Java: 3 000 ms). */
export const UNREGISTER_TIMEOUT_MS = 3000
/** Name server addresses kept at most: a misconfigured list must not fan one registration out without bound. */
export const NAMESRV_ADDRESSES_MAX = 64

export class BrokerOuterAPI {
  private readonly client: RemotingClient
  private readonly ownsClient: boolean
  private readonly log: Logger
  private namesrvAddrs: string[] = []

  constructor(options: BrokerOuterAPIOptions = {}) {
    this.log = (options.logger ?? noopLogger).child({ component: 'broker-outer-api' })
    this.ownsClient = options.remotingClient === undefined
    this.client = options.remotingClient ?? new RemotingClient({ logger: this.log })
    if (options.rpcHook !== undefined) this.client.registerRPCHook(options.rpcHook)
  }

  /** Replaces the name server list: `"a:9876;b:9876"` as in `namesrvAddr`, or an array. */
  updateNameServerAddressList(addrs: string | readonly string[]): void {
    const list = (typeof addrs === 'string' ? addrs.split(';') : [...addrs])
      .map((a) => a.trim())
      .filter((a) => a !== '')
    const unique = [...new Set(list)]
    if (unique.length > NAMESRV_ADDRESSES_MAX) {
      throw new RocketMQError(
        'RMQ_ERR_CONFIG',
        `${unique.length} name server addresses, at most ${NAMESRV_ADDRESSES_MAX}`,
      )
    }
    if (unique.join(';') !== this.namesrvAddrs.join(';'))
      this.log.info({ from: this.namesrvAddrs, to: unique }, 'name server list changed')
    this.namesrvAddrs = unique
  }

  getNameServerAddressList(): readonly string[] {
    return this.namesrvAddrs
  }

  /**
   * Registers with every name server concurrently and resolves when all have answered or timed out. Never
   * rejects: a name server that fails shows up as an outcome with `ok: false` and is logged.
   */
  async registerBrokerAll(req: RegisterBrokerAllRequest): Promise<NamesrvOutcome<RegisterBrokerResult | null>[]> {
    const body = encodeRegisterBrokerBody(
      { topicConfigSerializeWrapper: req.topicConfigWrapper, filterServerList: req.filterServerList ?? [] },
      req.compressed,
    )
    const ext = registerBrokerRequestExt({
      brokerName: req.brokerName,
      brokerAddr: req.brokerAddr,
      clusterName: req.clusterName,
      haServerAddr: req.haServerAddr,
      brokerId: req.brokerId,
      compressed: req.compressed,
      bodyCrc32: bodyCrc32(body),
    })
    return this.forEachNamesrv('register broker', (addr) => this.registerBroker(addr, ext, body, req))
  }

  private async registerBroker(
    namesrvAddr: string,
    ext: Record<string, string>,
    body: Buffer,
    req: RegisterBrokerAllRequest,
  ): Promise<RegisterBrokerResult | null> {
    // Each name server gets its own command: opaque and flags are per request.
    const request = RemotingCommand.createRequest(RequestCode.REGISTER_BROKER, { ...ext }, body)
    if (req.oneway) {
      await this.client.invokeOneway(namesrvAddr, request, req.timeoutMs)
      return null
    }
    const response = await this.client.invoke(namesrvAddr, request, req.timeoutMs)
    checkSuccess(response, namesrvAddr)
    return {
      masterAddr: response.ext('masterAddr') ?? null,
      haServerAddr: response.ext('haServerAddr') ?? null,
      kvTable: response.body === null || response.body.length === 0 ? null : decodeKVTable(response.body),
    }
  }

  /** Unregisters from every name server concurrently; never rejects. */
  async unregisterBrokerAll(b: BrokerIdentity, timeoutMs = UNREGISTER_TIMEOUT_MS): Promise<NamesrvOutcome<null>[]> {
    return this.forEachNamesrv('unregister broker', async (addr) => {
      const request = RemotingCommand.createRequest(RequestCode.UNREGISTER_BROKER, brokerIdentityExt(b))
      checkSuccess(await this.client.invoke(addr, request, timeoutMs), addr)
      return null
    })
  }

  /**
   * QUERY_DATA_VERSION to every name server (`needRegister`, used when `forceRegister=false`): per name server,
   * true when it holds another DataVersion than `dataVersion`, or could not say.
   */
  async needRegister(b: BrokerIdentity, dataVersion: DataVersion, timeoutMs: number): Promise<boolean[]> {
    const outcomes = await this.forEachNamesrv('query data version', async (addr) => {
      const request = RemotingCommand.createRequest(RequestCode.QUERY_DATA_VERSION, brokerIdentityExt(b))
      request.body = encodeDataVersion(dataVersion)
      const response = await this.client.invoke(addr, request, timeoutMs)
      checkSuccess(response, addr)
      const stored = response.body === null || response.body.length === 0 ? null : decodeDataVersion(response.body)
      return response.ext('changed') !== 'false' || (stored !== null && !sameDataVersion(stored, dataVersion))
    })
    // A name server that failed to answer may have lost the broker: register to be safe, as Java does.
    return outcomes.map((o) => (o.ok ? o.result : true))
  }

  /**
   * DELETE_TOPIC_IN_NAMESRV for the brokers of `clusterName` on every name server (a broker of the cluster that
   * still has the topic adds its queues back at its next registration); never rejects.
   */
  async deleteTopicInNamesrv(topic: string, clusterName: string, timeoutMs: number): Promise<NamesrvOutcome<null>[]> {
    return this.forEachNamesrv('delete topic', async (addr) => {
      const request = RemotingCommand.createRequest(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic, clusterName })
      checkSuccess(await this.client.invoke(addr, request, timeoutMs), addr)
      return null
    })
  }

  /** A request to another broker over this API's client (a slave asking its master for its tables). */
  invokeBroker(addr: string, request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    return this.client.invoke(addr, request, timeoutMs)
  }

  /** Closes the connections, when the client is ours. */
  shutdown(): void {
    if (this.ownsClient) this.client.shutdown()
  }

  private async forEachNamesrv<T>(what: string, call: (addr: string) => Promise<T>): Promise<NamesrvOutcome<T>[]> {
    return Promise.all(
      this.namesrvAddrs.map(async (namesrvAddr): Promise<NamesrvOutcome<T>> => {
        try {
          const result = await call(namesrvAddr)
          this.log.debug({ namesrvAddr }, `${what}: ok`)
          return { namesrvAddr, ok: true, result }
        } catch (err) {
          // One name server down must not keep the others from hearing about the broker.
          this.log.warn({ namesrvAddr, err }, `${what} failed`)
          return { namesrvAddr, ok: false, error: err instanceof Error ? err : new Error(String(err)) }
        }
      }),
    )
  }
}

function checkSuccess(response: RemotingCommand, namesrvAddr: string): void {
  if (response.code === ResponseCode.SUCCESS) return
  const info = responseCodeInfo(response.code)
  throw new BrokerResponseError(response.code, `${namesrvAddr}: ${response.remark ?? info.name}`, info.retriable)
}
