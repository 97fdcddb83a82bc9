/**
 * `GET /`: the dashboard, one self-contained page (no front-end framework, no build step). It polls the JSON API
 * every 2 s, draws put/get throughput (from the counters' change between polls) as an SVG line chart, and shows the
 * broker's replication: a master's slaves with their lag, or a slave's master connection. Everything the API returns
 * is inserted as text, never as HTML, so a hostile topic name or message body cannot script the page. With an admin
 * token, the page asks for it once and keeps it in sessionStorage (or takes it from `#token=` in the address).
 */
import type { FastifyInstance } from 'fastify'

export const DASHBOARD_REFRESH_MS = 2000

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ferrymq</title>
<style>
  :root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec; --put:#2f6fde; --get:#1f9d6b; --bad:#c23b3b; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.45 system-ui, sans-serif; color:var(--fg); background:#f6f7f9; }
  header { display:flex; gap:1.5rem; align-items:baseline; padding:.8rem 1.2rem; background:#fff; border-bottom:1px solid var(--line); flex-wrap:wrap; }
  header h1 { font-size:1.15rem; margin:0; }
  header span { color:var(--muted); }
  main { padding:1rem 1.2rem; display:grid; gap:1rem; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); }
  section { background:#fff; border:1px solid var(--line); border-radius:6px; padding:.8rem 1rem; min-width:0; overflow-x:auto; }
  section h2 { font-size:.95rem; margin:0 0 .6rem; }
  .cards { display:grid; grid-template-columns: repeat(3, 1fr); gap:.6rem; }
  .card b { display:block; font-size:1.2rem; font-variant-numeric: tabular-nums; }
  .card small { color:var(--muted); }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align:left; padding:.25rem .4rem; border-bottom:1px solid var(--line); white-space:nowrap; }
  td.n, th.n { text-align:right; }
  tr.sub td { color:var(--muted); font-size:.85em; }
  button.link { border:0; background:none; color:var(--put); cursor:pointer; padding:0; font:inherit; }
  .lag { color:var(--bad); font-weight:600; }
  svg { width:100%; height:180px; display:block; }
  .legend span { margin-right:1rem; }
  .legend i { display:inline-block; width:.8rem; height:.2rem; vertical-align:middle; margin-right:.3rem; }
  form { display:flex; gap:.4rem; flex-wrap:wrap; margin-bottom:.6rem; }
  input { padding:.3rem .4rem; border:1px solid var(--line); border-radius:4px; font:inherit; }
  pre { background:#f6f7f9; padding:.6rem; overflow:auto; max-height:320px; margin:0; }
  #status { color:var(--muted); }
  #status.error { color:var(--bad); }
  #auth { display:none; }
  .wide { grid-column: 1 / -1; }
</style>
</head>
<body>
<header>
  <h1>ferrymq</h1>
  <span id="broker">…</span>
  <span id="status">loading…</span>
</header>
<form id="auth"><input id="token" type="password" placeholder="admin token" autocomplete="off"><button>Use token</button></form>
<main>
  <section>
    <h2>Store</h2>
    <div class="cards">
      <div class="card"><b id="put-tps">–</b><small>put msg/s</small></div>
      <div class="card"><b id="get-tps">–</b><small>get msg/s</small></div>
      <div class="card"><b id="put-total">–</b><small>messages put</small></div>
      <div class="card"><b id="put-p99">–</b><small>put p99</small></div>
      <div class="card"><b id="disk">–</b><small>disk used / free</small></div>
      <div class="card"><b id="busy">–</b><small>busy refusals · slow puts</small></div>
    </div>
  </section>
  <section>
    <h2>Throughput</h2>
    <svg id="chart" viewBox="0 0 600 180" preserveAspectRatio="none" role="img" aria-label="put and get messages per second"></svg>
    <div class="legend"><span><i style="background:var(--put)"></i>put</span><span><i style="background:var(--get)"></i>get</span><span id="chart-max"></span></div>
  </section>
  <section>
    <h2>Cluster</h2>
    <table id="cluster"><thead><tr><th>cluster</th><th>broker</th><th>id</th><th>role</th><th>address</th><th>version</th><th class="n">put/s</th><th class="n">get/s</th><th class="n">slave lag</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Replication</h2>
    <p id="ha-role">–</p>
    <table id="ha-slaves" hidden><thead><tr><th>slave</th><th class="n">acked offset</th><th class="n">lag</th><th class="n">lag time</th><th>connected since</th><th>last report</th></tr></thead><tbody></tbody></table>
    <table id="ha-master" hidden><tbody></tbody></table>
  </section>
  <section>
    <h2>Consumer groups</h2>
    <table id="groups"><thead><tr><th>group</th><th class="n">consumers</th><th>topics</th><th class="n">lag</th><th class="n">msg/s</th></tr></thead><tbody></tbody></table>
  </section>
  <section class="wide">
    <h2>Topics</h2>
    <table id="topics"><thead><tr><th>topic</th><th class="n">queues (r/w)</th><th class="n">perm</th><th class="n">messages</th><th class="n">put since start</th><th class="n">put/s</th></tr></thead><tbody></tbody></table>
  </section>
  <section class="wide">
    <h2>Message lookup</h2>
    <form id="lookup">
      <input id="q-id" placeholder="message id or unique key" size="36">
      <input id="q-topic" placeholder="topic (for a key)">
      <input id="q-key" placeholder="key">
      <button>Look up</button>
    </form>
    <pre id="message">Enter an id, or a topic and a key.</pre>
  </section>
</main>
<script>
'use strict'
const REFRESH_MS = ${DASHBOARD_REFRESH_MS}
const POINTS = 90
const samples = []
let last = null
const open = new Set()
let token = sessionStorage.getItem('ferrymq-token') || ''
const fromHash = /(?:^|[#&])token=([^&]+)/.exec(location.hash)
if (fromHash) { token = decodeURIComponent(fromHash[1]); sessionStorage.setItem('ferrymq-token', token); history.replaceState(null, '', location.pathname) }

const $ = (id) => document.getElementById(id)
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e }
function row(cells) { const tr = el('tr'); for (const c of cells) tr.append(c instanceof Node ? wrapCell(c) : el('td', c[0], c[1])); return tr }
function wrapCell(node) { const td = el('td'); td.append(node); return td }
const fmt = new Intl.NumberFormat('en', { maximumFractionDigits: 1 })
const num = (v) => fmt.format(v)
function bytes(v) { const u = ['B','KiB','MiB','GiB','TiB']; let i = 0; while (v >= 1024 && i < u.length - 1) { v /= 1024; i++ } return fmt.format(v) + ' ' + u[i] }
function us(v) { return v >= 1000 ? fmt.format(v / 1000) + ' ms' : fmt.format(v) + ' µs' }

class HttpError extends Error { constructor(status, body) { super(body && body.message ? body.message : 'HTTP ' + status); this.status = status } }
async function api(path) {
  const headers = token ? { authorization: 'Bearer ' + token } : {}
  const r = await fetch(path, { headers })
  const body = await r.json().catch(() => null)
  if (!r.ok) throw new HttpError(r.status, body)
  return body
}

function setStatus(text, error) { const s = $('status'); s.textContent = text; s.className = error ? 'error' : '' }

function drawChart() {
  const svg = $('chart'); svg.replaceChildren()
  const max = Math.max(1, ...samples.map((h) => Math.max(h.put, h.get)))
  $('chart-max').textContent = 'max ' + num(max) + ' msg/s'
  // Newest at the right edge, one point per poll.
  for (const [key, color] of [['put', 'var(--put)'], ['get', 'var(--get)']]) {
    const pts = samples.map((h, i) => (600 - ((samples.length - 1 - i) / (POINTS - 1)) * 600).toFixed(1) + ',' + (175 - (h[key] / max) * 165).toFixed(1)).join(' ')
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
    line.setAttribute('points', pts); line.setAttribute('fill', 'none'); line.setAttribute('stroke', color); line.setAttribute('stroke-width', '2')
    line.setAttribute('data-series', key)
    svg.append(line)
  }
}

function renderStore(s) {
  $('broker').textContent = s.brokerName + ' · ' + s.clusterName + ' · ' + s.brokerAddr + ' · ' + s.brokerRole + ' · ' + s.flushDiskType
  // Rates between two polls, from the counters: a burst between polls still shows (a 1 s rate could miss it).
  const now = performance.now()
  const put = last ? ((s.putMessages - last.put) * 1000) / (now - last.at) : s.putTps.last1s
  const get = last ? ((s.getMessages - last.get) * 1000) / (now - last.at) : s.getTps.last1s
  last = { at: now, put: s.putMessages, get: s.getMessages }
  $('put-tps').textContent = num(put)
  $('get-tps').textContent = num(get)
  $('put-total').textContent = num(s.putMessages)
  $('put-p99').textContent = us(s.putLatency.p99Us)
  $('disk').textContent = bytes(s.diskUsedBytes) + ' / ' + bytes(s.diskFreeBytes)
  $('busy').textContent = num(s.busyRefusals) + ' · ' + num(s.slowPuts)
  samples.push({ put, get })
  while (samples.length > POINTS) samples.shift()
  drawChart()
}

function ms(v) { return v >= 1000 ? fmt.format(v / 1000) + ' s' : fmt.format(v) + ' ms' }
const time = (t) => t > 0 ? new Date(t).toLocaleTimeString() : '–'

function renderCluster(c) {
  const body = $('cluster').tBodies[0]; body.replaceChildren()
  for (const cl of c.clusters) for (const b of cl.brokers) {
    const lag = b.slaveLagBytes === null ? '–' : bytes(b.slaveLagBytes) + ' · ' + ms(b.slaveLagMs)
    body.append(row([[cl.cluster], [b.brokerName], [b.brokerId], [b.brokerRole ?? b.role], [b.addr], [b.version ?? '–'], [b.putTps === null ? '–' : num(b.putTps), 'n'], [b.getTps === null ? '–' : num(b.getTps), 'n'], [lag, b.slaveLagBytes > 0 ? 'n lag' : 'n']]))
  }
}

// A master lists its slaves with their lag; a slave shows its master connection.
function renderReplication(r) {
  const slaves = $('ha-slaves'), master = $('ha-master')
  const role = r.brokerRole + ' · id ' + r.brokerId + ' · max offset ' + num(r.maxOffset)
  if (r.master === null) {
    $('ha-role').textContent = role + ' · HA port ' + (r.haPort ?? '–') + ' · ' + r.slaves.length + ' slave(s)'
    slaves.tBodies[0].replaceChildren(...r.slaves.map((x) => {
      const tr = row([[x.addr], [x.ackOffset < 0 ? '–' : num(x.ackOffset), 'n'], [bytes(x.lagBytes), x.lagBytes > 0 ? 'n lag' : 'n'], [ms(x.lagMs), 'n'], [time(x.connectedTimestamp)], [time(x.lastReportTimestamp)]])
      tr.dataset.slave = x.addr
      return tr
    }))
    slaves.hidden = false; master.hidden = true
    return
  }
  const m = r.master
  $('ha-role').textContent = role
  master.tBodies[0].replaceChildren(
    row([['master'], [m.masterAddr ?? '–']]), row([['master HA address'], [m.masterHaAddr ?? '–']]),
    row([['connection'], [m.connected ? 'connected' : 'not connected', m.connected ? '' : 'lag']]),
    row([['received'], [bytes(m.receivedBytes)]]), row([['last transfer'], [time(m.lastFrameTimestamp)]]))
  master.hidden = false; slaves.hidden = true
}

function renderGroups(g) {
  const body = $('groups').tBodies[0]; body.replaceChildren()
  for (const x of g.groups.filter((x) => !x.system)) {
    const tr = row([[x.group], [x.consumers, 'n'], [x.topics.join(', ')], [num(x.lag), x.lag > 0 ? 'n lag' : 'n'], [num(x.consumeTps), 'n']])
    tr.dataset.group = x.group
    body.append(tr)
  }
}

async function renderTopics(t) {
  const body = $('topics').tBodies[0]
  const rows = []
  for (const x of t.topics.filter((x) => !x.system)) {
    const name = el('button', x.topic, 'link'); name.type = 'button'
    name.onclick = () => { open.has(x.topic) ? open.delete(x.topic) : open.add(x.topic); refresh() }
    const tr = row([name, [x.readQueueNums + '/' + x.writeQueueNums, 'n'], [x.perm, 'n'], [num(x.messages), 'n'], [num(x.putMessages), 'n'], [num(x.putTps), 'n']])
    tr.dataset.topic = x.topic
    rows.push(tr)
    if (open.has(x.topic)) {
      const d = await api('/api/topics/' + encodeURIComponent(x.topic))
      for (const q of d.queues) {
        const last = q.lastStoreTimestamp ? new Date(q.lastStoreTimestamp).toLocaleTimeString() : '–'
        const sub = row([['queue ' + q.queueId], ['min ' + q.minOffset + ' · max ' + q.maxOffset, 'n'], [''], [num(q.messages), 'n'], ['last ' + last, 'n'], ['']])
        sub.className = 'sub'; rows.push(sub)
      }
    }
  }
  body.replaceChildren(...rows)
}

async function refresh() {
  try {
    const [store, topics, groups] = await Promise.all([api('/api/store'), api('/api/topics'), api('/api/groups')])
    renderStore(store); await renderTopics(topics); renderGroups(groups)
    api('/api/cluster').then(renderCluster, (e) => setStatus('cluster: ' + e.message, true))
    api('/api/replication').then(renderReplication, (e) => setStatus('replication: ' + e.message, true))
    $('auth').style.display = 'none'
    setStatus('updated ' + new Date().toLocaleTimeString(), false)
  } catch (e) {
    if (e.status === 401) { $('auth').style.display = 'flex'; setStatus('this broker needs its admin token', true) }
    else setStatus(e.message, true)
  }
}

$('auth').onsubmit = (ev) => { ev.preventDefault(); token = $('token').value.trim(); sessionStorage.setItem('ferrymq-token', token); refresh() }
$('lookup').onsubmit = async (ev) => {
  ev.preventDefault()
  const id = $('q-id').value.trim(), topic = $('q-topic').value.trim(), key = $('q-key').value.trim()
  const out = $('message')
  try {
    let r
    if (id) r = await api('/api/messages/' + encodeURIComponent(id) + (topic ? '?topic=' + encodeURIComponent(topic) : ''))
    else if (topic && key) r = await api('/api/messages?topic=' + encodeURIComponent(topic) + '&key=' + encodeURIComponent(key))
    else { out.textContent = 'Enter an id, or a topic and a key.'; return }
    out.textContent = JSON.stringify(r, null, 2)
  } catch (e) { out.textContent = e.message }
}

refresh()
setInterval(refresh, REFRESH_MS)
</script>
</body>
</html>
`

export function dashboardRoutes(app: FastifyInstance): void {
  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE),
  )
}
