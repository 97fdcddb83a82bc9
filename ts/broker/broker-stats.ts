/**
 * Broker counters for runtime info and the admin API (`BrokerStatsManager`, `StoreStatsService`): messages put
 * and got since start, per topic and per group, today's and yesterday's totals at midnight, and rates over the
 * last 10 s, 60 s and 600 s sampled once a second.
 */
const SAMPLE_INTERVAL_MS = 1000
const SAMPLES_MAX = 601
/** Per-topic and per-group rates are measured over the last one to two minutes. */
const KEYED_RATE_WINDOW_MS = 60_000

interface Sample {
  atMs: number
  put: number
  get: number
}

export interface TopicCounters {
  putMessages: number
  putBytes: number
  lastPutTimestamp: number
}

export class BrokerStats {
  readonly bootTimestamp = Date.now()
  putMessages = 0
  putBytes = 0
  getMessages = 0
  getBytes = 0
  sendBackMessages = 0
  readonly topics = new Map<string, TopicCounters>()
  /** `group@topic` → messages delivered. */
  readonly groupGets = new Map<string, number>()
  private readonly groupGetRates = new KeyedRates(
    (key) => this.groupGets.get(key) ?? 0,
    () => this.groupGets.entries(),
  )
  private readonly topicPutRates = new KeyedRates(
    (topic) => this.topics.get(topic)?.putMessages ?? 0,
    () => Array.from(this.topics, ([topic, t]): [string, number] => [topic, t.putMessages]),
  )
  private samples: Sample[] = []
  private timer: NodeJS.Timeout | null = null
  private day = dayOf(Date.now())
  private putTodayMorning = 0
  private putYesterdayMorning = 0
  private getTodayMorning = 0
  private getYesterdayMorning = 0

  start(): void {
    this.sample()
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS)
    this.timer.unref()
  }

  shutdown(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  incPut(topic: string, messages: number, bytes: number, now = Date.now()): void {
    this.putMessages += messages
    this.putBytes += bytes
    let t = this.topics.get(topic)
    if (t === undefined) {
      t = { putMessages: 0, putBytes: 0, lastPutTimestamp: 0 }
      this.topics.set(topic, t)
    }
    t.putMessages += messages
    t.putBytes += bytes
    t.lastPutTimestamp = now
  }

  incGet(group: string, topic: string, messages: number, bytes: number): void {
    this.getMessages += messages
    this.getBytes += bytes
    const key = `${group}@${topic}`
    this.groupGets.set(key, (this.groupGets.get(key) ?? 0) + messages)
  }

  private sample(now = Date.now()): void {
    const today = dayOf(now)
    if (today !== this.day) {
      this.day = today
      this.putYesterdayMorning = this.putTodayMorning
      this.getYesterdayMorning = this.getTodayMorning
      this.putTodayMorning = this.putMessages
      this.getTodayMorning = this.getMessages
    }
    this.samples.push({ atMs: now, put: this.putMessages, get: this.getMessages })
    this.groupGetRates.roll(now)
    this.topicPutRates.roll(now)
    if (this.samples.length > SAMPLES_MAX) this.samples.shift()
  }

  /** Messages per second over the last `windowMs`, from the samples. */
  rate(kind: 'put' | 'get', windowMs: number, now = Date.now()): number {
    if (this.samples.length === 0) return 0
    const current = kind === 'put' ? this.putMessages : this.getMessages
    let base = this.samples[0]!
    for (let i = this.samples.length - 1; i >= 0; i--) {
      base = this.samples[i]!
      if (now - base.atMs >= windowMs) break
    }
    const elapsedMs = now - base.atMs
    if (elapsedMs <= 0) return 0
    return ((current - (kind === 'put' ? base.put : base.get)) * 1000) / elapsedMs
  }

  /** Messages per second a group consumed from a topic over the last one to two minutes. */
  groupGetRate(group: string, topic: string, now = Date.now()): number {
    return this.groupGetRates.rate(`${group}@${topic}`, now)
  }

  /** Messages per second put to a topic over the last one to two minutes. */
  topicPutRate(topic: string, now = Date.now()): number {
    return this.topicPutRates.rate(topic, now)
  }

  /** `"r10 r60 r600"` as `StoreStatsService#getPutTps` prints it. */
  tpsText(kind: 'put' | 'get'): string {
    return [10_000, 60_000, 600_000].map((w) => this.rate(kind, w).toFixed(2)).join(' ')
  }

  dayTotals(): {
    putYesterdayMorning: number
    putTodayMorning: number
    getYesterdayMorning: number
    getTodayMorning: number
  } {
    return {
      putYesterdayMorning: this.putYesterdayMorning,
      putTodayMorning: this.putTodayMorning,
      getYesterdayMorning: this.getYesterdayMorning,
      getTodayMorning: this.getTodayMorning,
    }
  }
}

/**
 * Per-second rates of counters kept elsewhere, per key, over the last one to two minutes: the counters as they were
 * at the start of the window are re-taken every two windows, so counting costs nothing extra.
 */
class KeyedRates {
  private base = new Map<string, number>()
  private baseAtMs = Date.now()

  constructor(
    private readonly current: (key: string) => number,
    private readonly all: () => Iterable<[string, number]>,
  ) {}

  roll(now: number): void {
    if (now - this.baseAtMs < KEYED_RATE_WINDOW_MS * 2) return
    this.base = new Map(this.all())
    this.baseAtMs = now
  }

  rate(key: string, now: number): number {
    const elapsedMs = now - this.baseAtMs
    if (elapsedMs <= 0) return 0
    return ((this.current(key) - (this.base.get(key) ?? 0)) * 1000) / elapsedMs
  }
}

function dayOf(ms: number): string {
  const d = new Date(ms)
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`
}
