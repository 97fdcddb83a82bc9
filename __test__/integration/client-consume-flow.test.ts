/**
 * Push consumer behaviour that needs a real broker and time: the consume-timeout sweep sending a stuck message back
 * (and the broker redelivering it through the retry topic), and process-queue flow control by offset span and by
 * cached size (client.md §4.4, §4.6).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { ReadOffsetType } from '../../ts/client/offset-store.js'
import { Producer } from '../../ts/client/producer.js'
import type { ReceivedMessage } from '../../ts/client/pull-api-wrapper.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { RequestCode } from '../../ts/common/request-code.js'
import { ResponseCode } from '../../ts/common/response-code.js'
import type { RemotingCommand } from '../../ts/remoting/remoting-command.js'
import { recordingLogger } from '../helpers/open-store.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { waitFor } from '../helpers/wait-for.js'

/** Every delay level 1 s, so a sent-back message returns quickly (level 3 is 10 s by default). */
const FAST_DELAY_LEVELS = Array.from({ length: 18 }, () => '1s').join(' ')

describe('client: consume timeout and flow control against a real broker', () => {
  let c: TestCluster
  let producer: Producer
  const consumers: PushConsumer[] = []
  const releases: (() => void)[] = []

  beforeAll(async () => {
    c = await startCluster({
      broker: { defaultTopicQueueNums: 1 },
      store: { messageDelayLevel: FAST_DELAY_LEVELS },
    })
    // Large bodies stay uncompressed, so cached sizes are the sizes sent.
    producer = new Producer({
      producerGroup: 'PG_FLOW',
      namesrvAddr: c.namesrvAddr,
      compressMsgBodyOverHowmuch: 1 << 30,
    })
    await producer.start()
  })
  afterEach(async () => {
    for (const release of releases.splice(0)) release()
    for (const k of consumers.splice(0)) await k.shutdown()
  })
  afterAll(async () => {
    await producer?.shutdown()
    await c?.stop()
  })

  function consumer(group: string, topic: string, extra: Partial<ConstructorParameters<typeof PushConsumer>[0]>) {
    const k = new PushConsumer({
      consumerGroup: group,
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      awaitTerminationMillisWhenShutdown: 0,
      ...extra,
    })
    k.subscribe(topic)
    consumers.push(k)
    return k
  }

  /** A promise the test releases (and `afterEach` releases for sure). */
  function gate(): Promise<void> {
    return new Promise<void>((resolve) => releases.push(resolve))
  }

  /**
   * A started one-thread consumer whose listener holds every batch until the test releases it (`releases`), with a
   * recording logger and a pull watcher: the cache then only grows, until flow control stops the pulls.
   */
  async function heldConsumer(
    group: string,
    topic: string,
    flow: Partial<ConstructorParameters<typeof PushConsumer>[0]>,
  ): Promise<{
    logger: ReturnType<typeof recordingLogger>
    watch: ReturnType<typeof pullWatcher>
    consumed: () => number
  }> {
    const logger = recordingLogger()
    const watch = pullWatcher(topic)
    const hold = gate()
    let consumed = 0
    const k = consumer(group, topic, {
      ...flow,
      consumeThreadMin: 1,
      consumeThreadMax: 1,
      logger,
      rpcHooks: [watch.hook],
    })
    k.registerMessageListener(async (msgs) => {
      await hold
      consumed += msgs.length
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    return { logger, watch, consumed: () => consumed }
  }

  /** The highest `nextBeginOffset` of found pulls of `topic`, seen through an RPC hook. */
  function pullWatcher(topic: string): {
    hook: NonNullable<ConstructorParameters<typeof PushConsumer>[0]['rpcHooks']>[number]
    pulledTo: () => number
  } {
    let pulledTo = 0
    return {
      hook: {
        doBeforeRequest: () => {},
        doAfterResponse: (_a: string, req: RemotingCommand, res: RemotingCommand) => {
          if (
            req.code === RequestCode.PULL_MESSAGE &&
            req.ext('topic') === topic &&
            res.code === ResponseCode.SUCCESS
          ) {
            pulledTo = Math.max(pulledTo, Number(res.ext('nextBeginOffset')))
          }
        },
      },
      pulledTo: () => pulledTo,
    }
  }

  it('sends a message stuck in the listener longer than consumeTimeout back; the broker redelivers it', async () => {
    const topic = 'TimeoutT'
    const stuckId = (await producer.send(new Message({ topic, body: 'stuck' }))).msgId
    for (let i = 0; i < 3; i++) await producer.send(new Message({ topic, body: `free${i}` }))
    const stuck = gate()
    const deliveries: ReceivedMessage[] = []
    const k = consumer('CG_TIMEOUT', topic, { consumeTimeout: 0.02 }) // 1.2 s
    k.registerMessageListener(async (msgs) => {
      const m = msgs[0]!
      deliveries.push(m)
      if (m.body.toString() === 'stuck' && m.reconsumeTimes === 0) await stuck
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await k.start()
    const redelivered = await waitFor(() => deliveries.find((m) => m.msgId === stuckId && m.reconsumeTimes === 1), {
      timeoutMs: 30_000,
      what: 'the stuck message to come back through %RETRY%',
    })
    expect(redelivered.topic).toBe(topic)
    expect(redelivered.body.toString()).toBe('stuck')
    // The first call is still running, yet the committed offset moved past every message of the queue.
    const mq = { topic, brokerName: c.broker.brokerConfig.brokerName, queueId: 0 }
    expect(await k.offsetStore.readOffset(mq, ReadOffsetType.READ_FROM_MEMORY)).toBe(4)
    expect(deliveries.filter((m) => m.msgId === stuckId)).toHaveLength(2)
  })

  it('delays pulls while the offset span of the cache exceeds consumeConcurrentlyMaxSpan', async () => {
    const topic = 'SpanT'
    for (let i = 0; i < 30; i++) await producer.send(new Message({ topic, body: `s${i}` }))
    const { logger, watch, consumed } = await heldConsumer('CG_SPAN', topic, {
      consumeConcurrentlyMaxSpan: 5,
      pullBatchSize: 2,
    })
    const warned = await waitFor(() => logger.lines.find((l) => l.msg === 'flow control: offset span too large'), {
      what: 'span flow control to start',
    })
    // Offsets 0..7 cached (span 7 > 5): far below the count (1000) and size (100 MiB) thresholds.
    expect((warned.obj as { span: number }).span).toBe(7)
    expect(watch.pulledTo()).toBe(8)
    expect(logger.lines.some((l) => l.msg === 'flow control: too much cached')).toBe(false)
    releases.shift()!()
    await waitFor(() => consumed() === 30, { what: 'all thirty once the listener is free' })
    expect(watch.pulledTo()).toBe(30)
  })

  it('delays pulls while the cached bodies exceed pullThresholdSizeForQueue MiB', async () => {
    const topic = 'SizeT'
    const body = Buffer.alloc(300 * 1024, 7)
    for (let i = 0; i < 8; i++) await producer.send(new Message({ topic, body }))
    const { logger, watch, consumed } = await heldConsumer('CG_SIZE', topic, {
      pullThresholdSizeForQueue: 1,
      pullBatchSize: 1,
    })
    const warned = await waitFor(() => logger.lines.find((l) => l.msg === 'flow control: too much cached'), {
      what: 'size flow control to start',
    })
    // Three bodies are 0.88 MiB, four are 1.17 MiB > 1: the fourth stops the pulls, with 4 messages cached.
    const obj = warned.obj as { cached: number; cachedMiB: number }
    expect(obj.cached).toBe(4)
    expect(obj.cachedMiB).toBeCloseTo((4 * 300) / 1024, 5)
    expect(watch.pulledTo()).toBe(4)
    releases.shift()!()
    await waitFor(() => consumed() === 8, { what: 'all eight once the listener is free' })
    expect(watch.pulledTo()).toBe(8)
  })
})
