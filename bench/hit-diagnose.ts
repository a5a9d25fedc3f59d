/** Why /hit through the worker is slower than nginx: the same load against Bun's bare proxy and the
 *  worker's app built up layer by layer (bench/baselines/hit-variants.ts), and a CPU profile of the real
 *  worker under that load. */
import { join } from 'node:path'
import { assertClean, compare, type Target } from './lib/compare'
import { KEYS } from './lib/dcm'
import { call, freePort, start, startService, waitFor } from './lib/procs'
import { profileUnderLoad } from './lib/profile'
import { fmtRps } from './lib/stats'

const VARIANTS: { variant: string; level: 'info' | 'warn'; what: string }[] = [
  { variant: 'bare', level: 'warn', what: 'Bun.serve returning fetch(upstream) as it is (Bun alone)' },
  { variant: 'bare-forward', level: 'warn', what: "Bun.serve calling the worker's forward() (no framework)" },
  { variant: 'elysia', level: 'warn', what: "plain Elysia, one route calling the worker's forward()" },
  { variant: 'app', level: 'warn', what: "the worker's createApp, without the front door" },
  { variant: 'full', level: 'warn', what: "the worker's createApp through serve() (front door), as the service runs" },
  { variant: 'full', level: 'info', what: 'the same at info (as measured above)' },
]

async function startVariant(variant: string, level: string, upstream: string) {
  const port = await freePort()
  const p = start(`hit-variant-${variant}-${level}`, ['bun', join(import.meta.dir, 'baselines', 'hit-variants.ts')], {
    env: { VARIANT: variant, LOG_LEVEL: level, UPSTREAM: upstream, PORT: String(port) },
  })
  const url = `http://127.0.0.1:${port}/hit`
  await waitFor(`hit variant ${variant}`, async () => (await fetch(url)).ok, { proc: p })
  return Object.assign(p, { url })
}

export async function diagnoseHit(o: { connections: number; nginx: Target; upstream: string }): Promise<string[]> {
  const procs = []
  const targets: (Target & { what: string })[] = [{ ...o.nginx, what: 'nginx proxy_pass (the baseline)' }]
  for (const v of VARIANTS) {
    const p = await startVariant(v.variant, v.level, o.upstream)
    procs.push(p)
    targets.push({ name: `${v.variant}@${v.level}`, url: p.url, pid: p.pid, what: v.what })
  }
  const r = await compare(targets, { rounds: 4, seconds: 4, warmupSeconds: 1, connections: o.connections })
  assertClean(r)
  for (const p of procs) await p.stop()
  const base = r[o.nginx.name]!
  const out = [
    '### Why: the worker layer by layer',
    '',
    `Same wrk parameters and upstream, 4 rounds of 1 s per layer taking turns, one process per layer (\`bench/baselines/hit-variants.ts\`, built from the worker's own modules).`,
    '',
    '| Layer | LOG_LEVEL | req/s | of nginx | CPU µs / request | other load |',
    '|---|---|---|---|---|---|',
    ...targets.map((t) => {
      const x = r[t.name]!
      const level = t.name.includes('@') ? t.name.split('@')[1] : ''
      return `| ${t.what} | ${level} | ${fmtRps(x.rps)} | ${(x.rps / base.rps).toFixed(2)} | ${x.cpuUsPerRequest.toFixed(1)} | ${Math.round(x.otherCpu * 100)}% |`
    }),
    '',
    '### Why: CPU profile of the worker (LOG_LEVEL=info, 5 s of the same load, `bun --cpu-prof-md`)',
    '',
  ]
  out.push(
    ...(await profileUnderLoad(
      'worker',
      (bunArgs) => startService('worker', { LOG_LEVEL: 'info', AGENT_API_KEY: KEYS.worker }, { label: 'worker-profiled', bunArgs }),
      async (w) => {
        const doc = { version: 1, store_id: 'bench', url: o.upstream, updated_at: new Date().toISOString() }
        const res = await call(`${w.url}/config`, { method: 'POST', key: KEYS.worker, json: doc })
        if (res.status !== 200) throw new Error(`worker POST /config answered ${res.status}`)
        return { url: `${w.url}/hit` }
      },
      { seconds: 5, connections: o.connections },
    )),
  )
  return out
}
