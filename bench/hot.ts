/** 1. Controller hot path: GET /config answered 304 to an authenticated agent, against a bare Bun.serve
 *  doing the same header check. The controller runs with LOG_LEVEL=info (an access-log line per
 *  request) and, side by side, with LOG_LEVEL=warn. */
import { diagnoseHot } from './hot-diagnose'
import { assertClean, compare, CPU_NOTE, pairedRatio, totalsTable, type Target } from './lib/compare'
import { setConfig, startController } from './lib/dcm'
import { agentHeaders, checkHotPath, startBare304 } from './lib/hot-path'
import { LABELS, skipped, type BenchResult } from './lib/report'
import { fmtRps } from './lib/stats'
import { ensureTools } from './lib/tools'

export const HOT_TARGET = 0.85

export type HotOptions = { rounds: number; seconds: number; warmupSeconds: number; connections: number; diagnose: 'auto' | 'always' | 'never' }
export const HOT_DEFAULTS: HotOptions = { rounds: 10, seconds: 10, warmupSeconds: 2, connections: 50, diagnose: 'auto' }

export async function hot(o: HotOptions = HOT_DEFAULTS): Promise<BenchResult> {
  const title = '1. Controller hot path: GET /config → 304'
  const { wrk } = await ensureTools(['wrk'])
  if (!wrk) return skipped('hot', title, 'wrk is not installed and could not be installed')

  const info = await startController({ logLevel: 'info', label: 'controller-info' })
  const warn = await startController({ logLevel: 'warn', label: 'controller-warn' })
  const etagInfo = (await setConfig(info, 'http://127.0.0.1:1/hot')).etag
  const etagWarn = (await setConfig(warn, 'http://127.0.0.1:1/hot')).etag
  const bare = await startBare304(etagInfo)
  const targets: (Target & { etag: string })[] = [
    { name: 'bare', url: bare.url, pid: bare.pid, etag: etagInfo },
    { name: 'info', url: `${info.url}/config`, pid: info.pid, etag: etagInfo },
    { name: 'warn', url: `${warn.url}/config`, pid: warn.pid, etag: etagWarn },
  ]
  for (const t of targets) await checkHotPath(t.url, t.etag)

  const r = await compare(targets, { ...o, headers: (t) => agentHeaders((t as Target & { etag: string }).etag) })
  assertClean(r)
  for (const p of [bare, info, warn]) await p.stop()
  const bareR = r.bare!
  const infoR = r.info!
  const warnR = r.warn!
  const ratioInfo = infoR.rps / bareR.rps
  const ratioWarn = warnR.rps / bareR.rps
  const met = ratioInfo >= HOT_TARGET

  const details = [
    `wrk -t1 -c${o.connections}, ${o.rounds} rounds of ${Math.round(o.seconds / o.rounds)} s per target, the targets taking turns in a rotating order (${o.seconds} s each in all), after ${o.warmupSeconds} s of warm-up each; headers \`Authorization: Bearer <agent key>\`, \`If-None-Match: <current ETag>\`, \`X-Agent-Id\`. Every answer was a 304: wrk counted no error answer and no socket error, and each target was checked to answer 304 with the key and 401 without.`,
    `Controller: \`bun src/index.ts\` on SQLite, stdout to a file (at info, plain 304 polls are counted into one summary line every 10 s; each is logged at debug). Baseline: \`bench/baselines/bare-304.ts\`, a bare \`Bun.serve\` comparing the bearer key and If-None-Match and answering 304 with the same ETag, Cache-Control and X-Poll-Interval headers.`,
    '',
    ...totalsTable([
      ['bare Bun.serve', bareR],
      ['controller, LOG_LEVEL=info', infoR],
      ['controller, LOG_LEVEL=warn', warnR],
    ]),
    '',
    CPU_NOTE,
    '',
    `Ratio of req/s (the figure in the table): ${ratioInfo.toFixed(2)} at info, ${ratioWarn.toFixed(2)} at warn. Median of the per-round ratios: ${pairedRatio(infoR, bareR).toFixed(2)} at info, ${pairedRatio(warnR, bareR).toFixed(2)} at warn. Ratio of CPU per request (bare ÷ controller): ${(bareR.cpuUsPerRequest / infoR.cpuUsPerRequest).toFixed(2)} at info, ${(bareR.cpuUsPerRequest / warnR.cpuUsPerRequest).toFixed(2)} at warn. The access log costs the controller ${(infoR.cpuUsPerRequest - warnR.cpuUsPerRequest).toFixed(1)} µs of CPU per request.`,
  ]
  if (o.diagnose === 'always' || (o.diagnose === 'auto' && !met)) details.push('', ...(await diagnoseHot({ connections: o.connections })))

  return {
    id: 'hot',
    title,
    rows: [
      { bench: LABELS.hot, what: 'GET /config 304, LOG_LEVEL=info', result: fmtRps(infoR.rps), baseline: `${fmtRps(bareR.rps)} (bare Bun.serve)`, ratio: ratioInfo.toFixed(2), target: `≥ ${HOT_TARGET}`, met },
      { bench: '', what: 'same, LOG_LEVEL=warn', result: fmtRps(warnR.rps), baseline: 'same run', ratio: ratioWarn.toFixed(2), target: `(≥ ${HOT_TARGET})`, met: null },
    ],
    details,
  }
}
