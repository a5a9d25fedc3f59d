/** 4. Worker GET /hit through to a local upstream (nginx serving a small file), against nginx proxy_pass
 *  to the same upstream; the worker at LOG_LEVEL=info and at warn, and at info with the upstream named
 *  (localhost) instead of an IP, which the worker resolves and checks before every call (#10). */
import { call } from '../test/kit'
import { KEYS, startService } from './lib/dcm'
import type { Figure } from './lib/report'
import { which } from './lib/tools'
import { versus, type Target } from './lib/wrk'
import { startNginx, UPSTREAM_BODY } from './nginx'

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
  title: 'worker GET /hit against nginx proxy_pass to the same upstream',
  tools: ['wrk', 'nginx'],
  async run({ quick }) {
    const upstream = await startNginx(which('nginx')!, 'upstream')
    const proxy = await startNginx(which('nginx')!, 'proxy', upstream.port)
    const info = await startWorker('info', `${upstream.url}/hello.txt`)
    const warn = await startWorker('warn', `${upstream.url}/hello.txt`)
    const named = await startWorker('info', `http://localhost:${upstream.port}/hello.txt`)
    const targets: Target[] = [
      { label: 'nginx proxy_pass', url: `${proxy.url}/hit`, pid: proxy.workerPid },
      { label: 'GET /hit, LOG_LEVEL=info', url: `${info.url}/hit`, pid: info.pid },
      { label: 'same, LOG_LEVEL=warn', url: `${warn.url}/hit`, pid: warn.pid },
      { label: 'same, LOG_LEVEL=info, upstream by name', url: `${named.url}/hit`, pid: named.pid },
    ]
    for (const t of targets) await check(t)
    return versus(targets, 0.8, quick)
  },
} satisfies Figure
