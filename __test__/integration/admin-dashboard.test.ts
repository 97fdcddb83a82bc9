/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, or `$CHROMIUM_PATH`) driven by
 * playwright-core, against a running broker; messages produced and consumed while the page watches.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { buildAdminApp } from '../../ts/admin/build-admin-app.js'
import { ConsumeConcurrentlyStatus } from '../../ts/client/consume-service.js'
import { ConsumeFromWhere } from '../../ts/client/consumer-config.js'
import { Message } from '../../ts/client/message.js'
import { Producer } from '../../ts/client/producer.js'
import { PushConsumer } from '../../ts/client/push-consumer.js'
import { startCluster, type TestCluster } from '../helpers/start-broker.js'
import { tempDir, type TempDir } from '../helpers/temp-dir.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Page updates come every 2 s; a few rounds of them. */
const PAGE_WAIT_MS = 20_000

describe('dashboard in headless Chromium', () => {
  let c: TestCluster
  let app: ReturnType<typeof buildAdminApp>
  let url: string
  let browser: Browser
  let page: Page
  let producer: Producer
  let consumer: PushConsumer | undefined
  let shots: TempDir

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`).toBe(true)
    shots = tempDir('ferrymq-dashboard-')
    c = await startCluster({ broker: { defaultTopicQueueNums: 2 } })
    app = buildAdminApp({ broker: c.broker })
    url = await app.listen({ port: 0, host: '127.0.0.1' })
    producer = new Producer({ producerGroup: 'PG_DASH', namesrvAddr: c.namesrvAddr })
    await producer.start()
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await consumer?.shutdown()
    await producer?.shutdown()
    await app?.close()
    await c?.stop()
    shots?.remove()
  })

  it('shows the broker, and its counters, topics, lag and charts move as messages are produced and consumed', async () => {
    const pageErrors: string[] = []
    page.on('pageerror', (e) => pageErrors.push(e.message))
    await page.goto(url)
    await expect
      .poll(() => page.textContent('#broker'), { timeout: PAGE_WAIT_MS })
      .toContain(c.broker.brokerConfig.brokerName)
    await expect.poll(() => page.textContent('#cluster tbody'), { timeout: PAGE_WAIT_MS }).toContain(c.brokerAddr)

    for (let i = 0; i < 25; i++) await producer.send(new Message({ topic: 'DashTopic', body: `d${i}`, keys: `k${i}` }))
    const topicRow = page.locator('#topics tbody tr[data-topic="DashTopic"]')
    await expect.poll(() => topicRow.textContent(), { timeout: PAGE_WAIT_MS }).toContain('25')
    await expect
      .poll(async () => Number((await page.textContent('#put-total'))!.replace(/,/g, '')), { timeout: PAGE_WAIT_MS })
      .toBeGreaterThanOrEqual(25)
    // The chart has drawn a put line that rose above the floor.
    await expect
      .poll(async () => (await page.getAttribute('#chart polyline[data-series="put"]', 'points')) ?? '', {
        timeout: PAGE_WAIT_MS,
      })
      .toMatch(/,(?!175\.0)\d+\.\d/)

    // A group with committed offsets behind the queue shows its lag; once it consumes, the lag goes to 0.
    for (const q of [0, 1]) c.broker.consumerOffsetManager.commitOffset('test', 'DashGroup', 'DashTopic', q, 0)
    const groupRow = page.locator('#groups tbody tr[data-group="DashGroup"]')
    await expect.poll(() => groupRow.locator('td.lag').textContent(), { timeout: PAGE_WAIT_MS }).toBe('25')
    let got = 0
    consumer = new PushConsumer({
      consumerGroup: 'DashGroup',
      namesrvAddr: c.namesrvAddr,
      consumeFromWhere: ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET,
      persistConsumerOffsetInterval: 200,
    })
    consumer.subscribe('DashTopic', '*')
    consumer.registerMessageListener((msgs) => {
      got += msgs.length
      return ConsumeConcurrentlyStatus.CONSUME_SUCCESS
    })
    await consumer.start()
    await expect.poll(() => got, { timeout: PAGE_WAIT_MS }).toBe(25)
    await expect
      .poll(async () => (await groupRow.locator('td').nth(3).textContent())?.trim(), { timeout: PAGE_WAIT_MS })
      .toBe('0')
    await expect
      .poll(async () => (await groupRow.locator('td').nth(1).textContent())?.trim(), { timeout: PAGE_WAIT_MS })
      .toBe('1')

    // Expanding a topic lists its queues.
    await topicRow.locator('button').click()
    await expect.poll(() => page.locator('#topics tbody tr.sub').count(), { timeout: PAGE_WAIT_MS }).toBe(2)

    // Message lookup by topic and key.
    await page.fill('#q-topic', 'DashTopic')
    await page.fill('#q-key', 'k7')
    await page.click('#lookup button')
    await expect.poll(() => page.textContent('#message'), { timeout: PAGE_WAIT_MS }).toContain('"data": "d7"')
    await expect.poll(() => page.textContent('#message'), { timeout: PAGE_WAIT_MS }).toContain('"DashGroup"')

    const shot = join(shots.path, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    expect(existsSync(shot)).toBe(true)
    expect(pageErrors).toEqual([])
  }, 90_000)

  it('inserts names as text: a hostile topic name does not run in the page', async () => {
    const hostile = 'x<img src=q onerror=window.__pwned=1>'
    // The broker refuses such a name, so plant it in the topic table the way a hand-edited topics.json could.
    const tc = { ...c.broker.topicConfigManager.selectTopicConfig('DashTopic')!, topicName: hostile }
    c.broker.topicConfigManager.updateTopicConfig(tc)
    await page.goto(url)
    await expect.poll(() => page.locator('#topics tbody').textContent(), { timeout: PAGE_WAIT_MS }).toContain(hostile)
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined()
    expect(await page.locator('#topics img').count()).toBe(0)
  }, 60_000)

  it('asks for the token when the API needs one, and then shows the data', async () => {
    const guarded = buildAdminApp({ broker: c.broker, authToken: 'dash-token' })
    try {
      const guardedUrl = await guarded.listen({ port: 0, host: '127.0.0.1' })
      const p = await browser.newPage()
      await p.goto(guardedUrl)
      await expect.poll(() => p.isVisible('#auth'), { timeout: PAGE_WAIT_MS }).toBe(true)
      expect(await p.textContent('#status')).toMatch(/token/)
      await p.fill('#token', 'dash-token')
      await p.click('#auth button')
      await expect
        .poll(() => p.textContent('#broker'), { timeout: PAGE_WAIT_MS })
        .toContain(c.broker.brokerConfig.brokerName)
      expect(await p.isVisible('#auth')).toBe(false)
      await p.close()
    } finally {
      await guarded.close()
    }
  }, 60_000)
})
