/** 4. Worker GET /hit: requests/second through the worker to a local upstream (nginx serving a small
 *  static file), against nginx proxy_pass to the same upstream, with identical wrk parameters. */
import { assertClean, compare, CPU_NOTE, pairedRatio, totalsTable } from './lib/compare'
import { KEYS } from './lib/dcm'
import { call, startService } from './lib/procs'
import { LABELS, skipped, type BenchResult } from './lib/report'
import { fmtRps } from './lib/stats'
import { ensureTools } from './lib/tools'
import { diagnoseHit } from './hit-diagnose'
import { startProxy, startUpstream, UPSTREAM_BODY } from './nginx'

export const HIT_TARGET = 0.8
export type HitOptions = { rounds: number; seconds: number; warmupSeconds: number; connections: number; diagnose: 'auto' | 'always' | 'never' }
export const HIT_DEFAULTS: HitOptions = { rounds: 10, seconds: 10, warmupSeconds: 2, connections: 50, diagnose: 'auto' }

async function startWorker(level: 'info' | 'warn', upstreamUrl: string) {
  const w = await startService('worker', { LOG_LEVEL: level, AGENT_API_KEY: KEYS.worker }, { label: `worker-${level}` })
  const doc = { version: 1, store_id: 'bench', url: upstreamUrl, updated_at: new Date().toISOString() }
  const r = await call(`${w.url}/config`, { method: 'POST', key: KEYS.worker, json: doc })
  if (r.status !== 200) throw new Error(`worker POST /config answered ${r.status}: ${JSON.stringify(r.body)}`)
  return w
}

async function checkHit(url: string) {
  const res = await fetch(url)
  const body = await res.text()
  if (res.status !== 200 || body !== UPSTREAM_BODY) throw new Error(`${url}: expected 200 "${UPSTREAM_BODY.trim()}", got ${res.status} "${body.slice(0, 100)}"`)
}

export async function hit(o: HitOptions = HIT_DEFAULTS): Promise<BenchResult> {
  const title = '4. Worker GET /hit through to a local upstream'
  const { wrk, nginx } = await ensureTools(['wrk', 'nginx'])
  if (!wrk) return skipped('hit', title, 'wrk is not installed and could not be installed')
  if (!nginx) return skipped('hit', title, 'nginx is not installed and could not be installed: no upstream and no baseline')

  const upstream = await startUpstream(nginx)
  const proxy = await startProxy(nginx, upstream.port)
  const upstreamUrl = `${upstream.url}/hello.txt`
  const info = await startWorker('info', upstreamUrl)
  const warn = await startWorker('warn', upstreamUrl)
  const targets = [
    { name: 'nginx', url: `${proxy.url}/hit`, pid: proxy.workerPid },
    { name: 'info', url: `${info.url}/hit`, pid: info.pid },
    { name: 'warn', url: `${warn.url}/hit`, pid: warn.pid },
  ]
  for (const t of targets) await checkHit(t.url)
  const r = await compare(targets, o)
  assertClean(r)
  for (const p of [info, warn]) await p.stop()

  const ng = r.nginx!
  const wi = r.info!
  const ww = r.warn!
  const ratioInfo = wi.rps / ng.rps
  const ratioWarn = ww.rps / ng.rps
  const met = ratioInfo >= HIT_TARGET
  const why = o.diagnose === 'always' || (o.diagnose === 'auto' && !met) ? await diagnoseHit({ connections: o.connections, nginx: targets[0]!, upstream: upstreamUrl }) : []
  for (const p of [proxy, upstream]) await p.stop()
  return {
    id: 'hit',
    title,
    rows: [
      { bench: LABELS.hit, what: 'GET /hit, LOG_LEVEL=info', result: fmtRps(wi.rps), baseline: `${fmtRps(ng.rps)} (nginx proxy_pass)`, ratio: ratioInfo.toFixed(2), target: `≥ ${HIT_TARGET}`, met },
      { bench: '', what: 'same, LOG_LEVEL=warn', result: fmtRps(ww.rps), baseline: 'same run', ratio: ratioWarn.toFixed(2), target: `(≥ ${HIT_TARGET})`, met: null },
    ],
    details: [
      `wrk -t1 -c${o.connections}, ${o.rounds} rounds of ${Math.round(o.seconds / o.rounds)} s per target, the targets taking turns in a rotating order (${o.seconds} s each in all), after ${o.warmupSeconds} s of warm-up each; plain \`GET /hit\`. Upstream for both: nginx (one worker process, no access log) serving a ${UPSTREAM_BODY.length}-byte static file on loopback. Baseline: nginx \`proxy_pass\` with one worker process, \`keepalive 64\` to the upstream, HTTP/1.1, and its default access log to a file. Worker: \`bun src/index.ts\` with the upstream's URL applied through its POST /config; stdout to a file. Every answer was checked: wrk counted no error answer and no socket error, and one request per target was checked for 200 and the upstream's body.`,
      '',
      ...totalsTable([
        ['nginx proxy_pass', ng],
        ['worker, LOG_LEVEL=info', wi],
        ['worker, LOG_LEVEL=warn', ww],
      ]),
      '',
      `${CPU_NOTE} For nginx the target is its one worker process. "Other load" includes the upstream nginx, which serves both.`,
      '',
      `Ratio of req/s (the figure in the table): ${ratioInfo.toFixed(2)} at info, ${ratioWarn.toFixed(2)} at warn. Median of the per-round ratios: ${pairedRatio(wi, ng).toFixed(2)} at info, ${pairedRatio(ww, ng).toFixed(2)} at warn. Ratio of CPU per request (nginx ÷ worker): ${(ng.cpuUsPerRequest / wi.cpuUsPerRequest).toFixed(2)} at info, ${(ng.cpuUsPerRequest / ww.cpuUsPerRequest).toFixed(2)} at warn.`,
      ...(why.length ? ['', ...why] : []),
    ],
  }
}
