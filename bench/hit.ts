/** 4. Worker GET /hit through to a local upstream (nginx serving a small file), against a bare Bun
 *  fetch-and-return proxy to the same upstream (baselines/bare-proxy.ts): what the worker's own code
 *  costs on top of the runtime's HTTP client. nginx proxy_pass is measured in the same rounds and
 *  reported beside it, with no target: the gap between the bare proxy and nginx is the runtime's. The
 *  worker at LOG_LEVEL=info (the target), at warn, and at info with the upstream named (localhost)
 *  instead of an IP, which the worker resolves and checks before every call (#10). */
import { join } from 'node:path'
import { call, freePort } from '../test/kit'
import { KEYS, ready, run, startService } from './lib/dcm'
import type { Figure } from './lib/report'
import { percentile } from './lib/stats'
import { which } from './lib/tools'
import { versus, type Target } from './lib/wrk'
import { startNginx, UPSTREAM_BODY } from './nginx'

const GOAL = 0.95

async function startWorker(level: string, upstream: string) {
  const w = await startService('worker', { LOG_LEVEL: level, AGENT_API_KEY: KEYS.worker }, { label: `worker-${level}` })
  const doc = { version: 1, store_id: 'bench', url: upstream, updated_at: new Date().toISOString() }
  const r = await call(`${w.url}/config`, { method: 'POST', key: KEYS.worker, json: doc })
  if (r.status !== 200) throw new Error(`worker POST /config answered ${r.status}: ${JSON.stringify(r.body)}`)
  return w
}

/** One request per target must come back 200 with the upstream's body. */
async function check(t: Target) {
  const res = await fetch(t.url)
  const body = await res.text()
  if (res.status !== 200 || body !== UPSTREAM_BODY) throw new Error(`${t.label}: expected 200 and the upstream's body, got ${res.status} ${JSON.stringify(body.slice(0, 100))}`)
}

export default {
  id: 'hit',
  label: '4 worker /hit',
  title: 'worker GET /hit against a bare Bun fetch-and-return proxy, nginx proxy_pass beside it',
  tools: ['wrk', 'nginx'],
  async run({ quick }) {
    const upstream = await startNginx(which('nginx')!, 'upstream')
    const hello = `${upstream.url}/hello.txt`
    const proxy = await startNginx(which('nginx')!, 'proxy', upstream.port)
    const port = await freePort()
    const bare = run('bare-proxy', ['bun', join(import.meta.dir, 'baselines', 'bare-proxy.ts')], { env: { UPSTREAM: hello, PORT: String(port) } })
    const bareUrl = `http://127.0.0.1:${port}/hit`
    await ready(bare, 'bare-proxy', async () => (await fetch(bareUrl)).ok)
    const info = await startWorker('info', hello)
    const warn = await startWorker('warn', hello)
    const named = await startWorker('info', `http://localhost:${upstream.port}/hello.txt`)
    const targets: Target[] = [
      { label: 'bare Bun fetch proxy', url: bareUrl, pid: bare.proc.pid },
      { label: 'GET /hit, LOG_LEVEL=info', url: `${info.url}/hit`, pid: info.pid },
      { label: 'same, LOG_LEVEL=warn', url: `${warn.url}/hit`, pid: warn.pid },
      { label: 'same, LOG_LEVEL=info, upstream by name', url: `${named.url}/hit`, pid: named.pid },
      { label: 'nginx proxy_pass', url: `${proxy.url}/hit`, pid: proxy.workerPid },
    ]
    for (const t of targets) await check(t)
    const out = await versus(targets, GOAL, quick)
    // The nginx row has no target: it says how far the runtime's client is from nginx, and where the
    // worker stands against it (medians of per-round ratios, like the rest).
    const [bareRps, infoRps, , , nginxRps] = out.roundRps as [number[], number[], number[], number[], number[]]
    const ofNginx = (xs: number[]) => percentile(xs.map((x, r) => x / nginxRps[r]!), 50).toFixed(2)
    const n = bareRps.length
    const nginxRow = out.rows[3]!
    out.rows[0]!.measure += ' (the target)'
    out.rows[3] = {
      ...nginxRow,
      measure: 'nginx proxy_pass, reported beside it',
      ratio: `${nginxRow.ratio}; bare proxy ${ofNginx(bareRps)} of it, worker ${ofNginx(infoRps)} (median of ${n})`,
      target: 'none',
      met: null,
    }
    return out
  },
} satisfies Figure
