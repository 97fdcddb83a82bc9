/** What every request benchmark shares: driving a window of requests, and medians and percentiles of the runs. */
import { ResponseCode } from '../../ts/common/response-code.js'

/** Sends one request and resolves with its response code. */
export type Sender = () => Promise<number>

/** Keeps `inFlight` requests outstanding until `requests` have been answered; returns each latency in ms. */
export async function drive(send: Sender, requests: number, inFlight: number): Promise<Float64Array> {
  const latencies = new Float64Array(requests)
  let started = 0
  let done = 0
  const lane = async (): Promise<void> => {
    while (started < requests) {
      started++
      const t0 = performance.now()
      const code = await send()
      if (code !== ResponseCode.SUCCESS) throw new Error(`send failed with code ${code}`)
      latencies[done++] = performance.now() - t0
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  return latencies
}

export function percentile(sorted: Float64Array | number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
