/**
 * Broker-side helpers for the ali-ons interop suite: message bodies, and the committed against the max offset of
 * every queue of a topic, read through the broker's own requests (`QUERY_CONSUMER_OFFSET`, `GET_MAX_OFFSET`).
 */
import { createHash, randomBytes } from 'node:crypto'

import { RequestCode } from '../../../ts/common/request-code.js'
import { ResponseCode } from '../../../ts/common/response-code.js'
import { request } from '../../helpers/broker-requests.js'
import type { TestCluster } from '../../helpers/start-broker.js'
import { waitFor } from '../../helpers/wait-for.js'
import type { SendSpec } from './ali-ons-protocol.js'

/** 18 delay levels of one second: a send-back (level 3 + reconsumeTimes) comes back after 1 s instead of 10 s. */
export const FAST_DELAY_LEVELS = Array.from({ length: 18 }, () => '1s').join(' ')

export function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex')
}

export interface TestMessage {
  spec: SendSpec
  body: Buffer
  sha256: string
}

/** A message with a text body (plus `padBytes` random bytes after it, to reach a size). */
export function testMessage(
  topic: string,
  text: string,
  opts: { tags?: string; keys?: string[]; padBytes?: number } = {},
): TestMessage {
  const body = Buffer.concat([Buffer.from(text, 'latin1'), randomBytes(opts.padBytes ?? 0)])
  const spec: SendSpec = { topic, bodyBase64: body.toString('base64') }
  if (opts.tags !== undefined) spec.tags = opts.tags
  if (opts.keys !== undefined) spec.keys = opts.keys
  return { spec, body, sha256: sha256(body) }
}

export interface QueueOffsets {
  queueId: number
  /** `QUERY_CONSUMER_OFFSET`, or the response code when it was not SUCCESS (as a negative number). */
  consumerOffset: number
  maxOffset: number
}

/** The group's committed offset and the max offset of each queue of `topic`, as a client would ask for them. */
export async function queueOffsets(cluster: TestCluster, group: string, topic: string): Promise<QueueOffsets[]> {
  const tc = cluster.broker.topicConfigManager.selectTopicConfig(topic)
  if (tc === undefined) throw new Error(`the broker has no topic ${topic}`)
  const out: QueueOffsets[] = []
  for (let queueId = 0; queueId < tc.readQueueNums; queueId++) {
    const q = await request(cluster.client, cluster.brokerAddr, RequestCode.QUERY_CONSUMER_OFFSET, {
      topic,
      consumerGroup: group,
      queueId,
    })
    const m = await request(cluster.client, cluster.brokerAddr, RequestCode.GET_MAX_OFFSET, { topic, queueId })
    if (m.code !== ResponseCode.SUCCESS)
      throw new Error(`GET_MAX_OFFSET ${topic}:${queueId} answered ${m.code} ${m.remark}`)
    out.push({
      queueId,
      consumerOffset: q.code === ResponseCode.SUCCESS ? Number(q.ext('offset')) : -q.code,
      maxOffset: Number(m.ext('offset')),
    })
  }
  return out
}

/** Waits until the group's committed offset equals the max offset on every queue of `topic`; returns them. */
export async function waitForOffsetsCommitted(
  cluster: TestCluster,
  group: string,
  topic: string,
  timeoutMs = 60_000,
): Promise<QueueOffsets[]> {
  let last: QueueOffsets[] = []
  try {
    await waitFor(
      async () => {
        last = await queueOffsets(cluster, group, topic)
        return last.every((q) => q.consumerOffset === q.maxOffset)
      },
      { timeoutMs, intervalMs: 200, what: `${group} to commit every queue of ${topic}` },
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`)
  }
  return last
}
