/**
 * What the scenarios read off the machine (Linux `/proc`: a process's memory, the TCP sockets of this network
 * namespace) and how they wait for state: poll with a deadline.
 */
import { readFileSync } from 'node:fs'

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `check` every `intervalMs` until it holds; throws after `timeoutMs`. Resolves with the ms it took. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<number> {
  const started = performance.now()
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(intervalMs)
  }
  return performance.now() - started
}

/**
 * VmRSS, RssAnon and RssFile of a process in KiB; null once it is gone. VmRSS counts the resident pages of mapped
 * files (the store's), which are page cache: the broker's own memory is RssAnon.
 */
export interface ProcessMemory {
  rssKiB: number
  anonKiB: number
  fileKiB: number
}

export function readMemory(pid: number | undefined): ProcessMemory | null {
  if (pid === undefined) return null
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return null
  }
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0)
  return { rssKiB: kib('VmRSS'), anonKiB: kib('RssAnon'), fileKiB: kib('RssFile') }
}

export interface TcpRow {
  localPort: number
  remotePort: number
  state: number
  txQueue: number
  rxQueue: number
}

export const TCP_ESTABLISHED = 1

/** TCP sockets of this network namespace (`/proc/net/tcp` and `tcp6`). */
export function tcpSockets(): TcpRow[] {
  const rows: TcpRow[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 5) continue
      const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16))
      rows.push({
        localPort: parseInt(f[1]!.split(':').at(-1)!, 16),
        remotePort: parseInt(f[2]!.split(':').at(-1)!, 16),
        state: parseInt(f[3]!, 16),
        txQueue: tx!,
        rxQueue: rx!,
      })
    }
  }
  return rows
}

/** Established connections whose local port is `port`: the server side of every connection to it. */
export function establishedTo(port: number): number {
  return tcpSockets().filter((s) => s.localPort === port && s.state === TCP_ESTABLISHED).length
}

/** Bytes in the kernel between a server port and a client port: the server's send queue and the client's receive queue. */
export function kernelQueuedBytes(serverPort: number, clientPort: number): number {
  let n = 0
  for (const s of tcpSockets()) {
    if (s.localPort === serverPort && s.remotePort === clientPort) n += s.txQueue
    if (s.localPort === clientPort && s.remotePort === serverPort) n += s.rxQueue
  }
  return n
}
