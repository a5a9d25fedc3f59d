/** Why the hot path is slower than the bare server: the same request against the controller's app built
 *  up layer by layer (bench/baselines/hot-variants.ts), and a CPU profile of the real controller under
 *  the same load. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { agentHeaders, checkHotPath, startBare304 } from './lib/hot-path'
import { assertClean, compare, type Target } from './lib/compare'
import { KEYS, setConfig, startController } from './lib/dcm'
import { freePort, start, waitFor } from './lib/procs'
import { profileUnderLoad } from './lib/profile'
import { fmtRps } from './lib/stats'

const VARIANTS: { variant: string; level: 'info' | 'warn'; what: string }[] = [
  { variant: 'elysia', level: 'warn', what: 'plain Elysia, one route with the bare check (the framework alone)' },
  { variant: 'app', level: 'warn', what: "the controller's createApp, without the front door" },
  { variant: 'full', level: 'warn', what: "the controller's createApp through serve() (front door), as the service runs" },
  { variant: 'full', level: 'info', what: 'the same at info (as measured above)' },
]

async function startVariant(variant: string, level: string) {
  const port = await freePort()
  const p = start(`variant-${variant}-${level}`, ['bun', join(import.meta.dir, 'baselines', 'hot-variants.ts')], {
    env: { VARIANT: variant, LOG_LEVEL: level, KEY: KEYS.agent, PORT: String(port) },
  })
  const etag = await waitFor(`variant ${variant}`, () => readEtag(p.log), { proc: p })
  return Object.assign(p, { url: `http://127.0.0.1:${port}/config`, etag })
}

const readEtag = (log: string): string | null => {
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (!line.startsWith('{"variant"')) continue
    return (JSON.parse(line) as { etag: string }).etag
  }
  return null
}

export async function diagnoseHot(o: { connections: number }): Promise<string[]> {
  const out: string[] = ['### Why: the app layer by layer', '']
  // Layers, side by side with the bare server, LOG_LEVEL as stated.
  const procs = []
  const targets: (Target & { etag: string; what: string })[] = []
  for (const v of VARIANTS) {
    const p = await startVariant(v.variant, v.level)
    procs.push(p)
    targets.push({ name: `${v.variant}@${v.level}`, url: p.url, pid: p.pid, etag: p.etag, what: v.what })
  }
  const bare = await startBare304(targets[0]!.etag)
  procs.push(bare)
  targets.unshift({ name: 'bare', url: bare.url, pid: bare.pid, etag: targets[0]!.etag, what: 'bare Bun.serve (the baseline)' })
  for (const t of targets) await checkHotPath(t.url, t.etag)
  const r = await compare(targets, { rounds: 4, seconds: 4, warmupSeconds: 1, connections: o.connections, headers: (t) => agentHeaders((t as (typeof targets)[number]).etag) })
  assertClean(r)
  for (const p of procs) await p.stop()
  const bareRps = r.bare!.rps
  out.push(
    `Same wrk parameters, 4 rounds of 1 s per layer taking turns, one process per layer (\`bench/baselines/hot-variants.ts\`, which builds the app from the controller's own modules). "CPU µs / request" is the robust column: what each layer adds to the cost of one answer.`,
    '',
    '| Layer | LOG_LEVEL | req/s | of bare | CPU µs / request | of bare (CPU) | other load |',
    '|---|---|---|---|---|---|---|',
    ...targets.map((t) => {
      const x = r[t.name]!
      const level = t.name.includes('@') ? t.name.split('@')[1] : ''
      return `| ${t.what} | ${level} | ${fmtRps(x.rps)} | ${(x.rps / bareRps).toFixed(2)} | ${x.cpuUsPerRequest.toFixed(1)} | ${(r.bare!.cpuUsPerRequest / x.cpuUsPerRequest).toFixed(2)} | ${Math.round(x.otherCpu * 100)}% |`
    }),
    '',
  )

  // CPU profile of the real process at LOG_LEVEL=info under the same load.
  out.push('### Why: CPU profile of the controller (LOG_LEVEL=info, 5 s of the same load, `bun --cpu-prof-md`)', '')
  out.push(
    ...(await profileUnderLoad(
      'controller',
      (bunArgs) => startController({ logLevel: 'info', label: 'controller-profiled', bunArgs }),
      async (c) => {
        const etag = (await setConfig(c, 'http://127.0.0.1:1/hot')).etag
        await checkHotPath(`${c.url}/config`, etag)
        return { url: `${c.url}/config`, headers: agentHeaders(etag) }
      },
      { seconds: 5, connections: o.connections },
    )),
  )
  return out
}
