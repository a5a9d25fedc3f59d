/** The soak of issue #10 (Load): controller, worker and agent under every hot route at high request
 *  rates for `minutes`, with a churn beside it of long-polls opened and abandoned, /hit callers that
 *  give up on a slow upstream, and slow bodies without keys. Then: no errors on valid traffic, RSS flat
 *  after warm-up, file descriptors back near where they started, held polls back to zero.
 *  `bun run soak -- --minutes M`; test/soak/soak.test.ts runs one minute in CI. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseWrk, type WrkSummary } from '../../bench/lib/wrk'
import { call, freePort, spawnService, waitFor, type Service } from '../harness'

export const SOAK_KEYS = { agent: 'soak-agent-key', admin: 'soak-admin-key', worker: 'soak-worker-key' }
/** RSS may grow by this much from the first to the last third after warm-up: a bound on memory. */
export const RSS_GROWTH_BOUND = 0.25
/** Open files a service may hold at the end beyond what it held idle before the load. */
export const FD_SLACK = 10

export type Series = { service: string; rssMb: number[]; fds: number[] }
export type SoakReport = {
  minutes: number
  seed: number
  seconds: number
  wrk: Record<'GET /config 304' | 'GET /hit', WrkSummary & { errors: number }>
  churn: { longPollsAbandoned: number; hitsAbandoned: number; slowBodies: number; slowBodiesRefused: number; slowBodiesOther: string[] }
  heldPeak: number
  heldEnd: number
  upstreamSlowOpenAtEnd: number
  /** Per service: idle before the load, the medians of the first and last third after warm-up, at the end. */
  memory: Record<string, { rssIdleMb: number; rssFirstMb: number; rssLastMb: number; rssEndMb: number; fdsIdle: number; fdsPeak: number; fdsEnd: number }>
  /** The last checks of valid traffic: a change reaching the worker, the agent's view of its peers. */
  convergedAfter: boolean
  agentErrors: { controller: number; worker: number }
}

const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.floor(s.length / 2)]! : NaN
}

/** A small seeded PRNG (mulberry32): the churn's timings repeat with the seed. */
function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** wrk on PATH, installed with apt-get when we are root; null (with the reason) when neither. */
export function ensureWrk(): string | null {
  if (Bun.which('wrk')) return null
  if (process.getuid?.() !== 0) return 'wrk is not installed and installing it needs root (apt-get install wrk)'
  const r = Bun.spawnSync(['sh', '-c', 'apt-get install -y wrk || (apt-get update && apt-get install -y wrk)'], { stdout: 'ignore', stderr: 'pipe', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  return Bun.which('wrk') ? null : `wrk could not be installed: ${r.stderr.toString().slice(-300)}`
}

function wrk(url: string, seconds: number, headers: Record<string, string>) {
  const args = ['wrk', '-t1', '-c16', `-d${seconds}s`, '--timeout', '10s', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url]
  const p = Bun.spawn(args, { stdout: 'pipe', stderr: 'pipe' })
  return {
    proc: p,
    result: (async () => {
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
      if (code !== 0) throw new Error(`wrk ${url} exited ${code}: ${err}${out}`)
      const s = parseWrk(out)
      return { ...s, errors: s.bad }
    })(),
  }
}

/** Run the soak; `log` gets progress lines. Every process it starts is stopped before it returns. */
export async function soak(o: { minutes: number; seed?: number; log?: (line: string) => void }): Promise<SoakReport> {
  const seed = o.seed ?? 1
  const log = o.log ?? (() => {})
  const random = prng(seed)
  const seconds = Math.max(20, Math.round(o.minutes * 60))
  const t0 = performance.now()

  // An upstream: quick, except for calls whose request id says "slow", held until the worker cancels them.
  let slowOpen = 0
  const upstream = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      if (!req.headers.get('x-request-id')?.startsWith('slow-')) return new Response('soak upstream', { headers: { 'content-type': 'text/plain' } })
      slowOpen++
      await new Promise((r) => req.signal.addEventListener('abort', r, { once: true }))
      slowOpen--
      return new Response('too late')
    },
  })
  const processes: Service[] = []
  const loads: Bun.Subprocess[] = []
  try {
    const cport = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'dcm-soak-'))
    const controller = await spawnService('controller', {
      port: cport,
      env: { LOG_LEVEL: 'info', AGENT_API_KEY: SOAK_KEYS.agent, ADMIN_API_KEY: SOAK_KEYS.admin, POLL_INTERVAL_SECONDS: '1', PUBLIC_URL: `http://127.0.0.1:${cport}`, SQLITE_PATH: join(dir, 'controller.sqlite') },
    })
    processes.push(controller)
    const worker = await spawnService('worker', { env: { LOG_LEVEL: 'info', AGENT_API_KEY: SOAK_KEYS.worker } })
    processes.push(worker)
    const agent = await spawnService('agent', {
      env: { LOG_LEVEL: 'info', CONTROLLER_URL: controller.url, CONTROLLER_API_KEY: SOAK_KEYS.agent, WORKER_URL: worker.url, WORKER_API_KEY: SOAK_KEYS.worker, STATE_FILE: join(dir, 'agent-state.json') },
    })
    processes.push(agent)
    const services = { controller, worker, agent }
    const held = async () => (await call(`${controller.url}/readyz`)).body.held_polls as number

    const set = await call(`${controller.url}/config`, { method: 'POST', key: SOAK_KEYS.admin, json: { url: `http://127.0.0.1:${upstream.port}/soak`, timeout_ms: 10_000 } })
    if (set.status !== 201) throw new Error(`POST /config answered ${set.status}`)
    const etag = set.headers.get('etag')!
    await waitFor('the worker at version 1', async () => (await call(`${worker.url}/state`)).body.version === 1)
    const idle = Object.fromEntries(Object.entries(services).map(([n, s]) => [n, { rss: rss(s.proc.pid), fds: fds(s.proc.pid) }]))
    log(`soak: ${seconds} s of load, seed ${seed}; idle RSS ${Object.entries(idle).map(([n, v]) => `${n} ${v.rss.toFixed(0)} MB`).join(', ')}`)

    // The load: wrk on both hot routes for the whole time.
    const wrkConfig = wrk(`${controller.url}/config`, seconds, { Authorization: `Bearer ${SOAK_KEYS.agent}`, 'If-None-Match': etag })
    const wrkHit = wrk(`${worker.url}/hit`, seconds, {})
    loads.push(wrkConfig.proc, wrkHit.proc)

    // The churn, until `stop`.
    let stopping = false
    const until = performance.now() + seconds * 1000
    const running = () => !stopping && performance.now() < until
    const churn = { longPollsAbandoned: 0, hitsAbandoned: 0, slowBodies: 0, slowBodiesRefused: 0, slowBodiesOther: [] as string[] }
    const pause = (ms: number) => Bun.sleep(ms)
    const longPolls = async () => {
      while (running()) {
        const ac = new AbortController()
        const p = fetch(`${controller.url}/config?wait=30`, { headers: { authorization: `Bearer ${SOAK_KEYS.agent}`, 'if-none-match': etag }, signal: ac.signal }).catch(() => null)
        await pause(50 + random() * 450)
        ac.abort()
        await p
        churn.longPollsAbandoned++
      }
    }
    let slowId = 0
    const hitsGivenUp = async () => {
      while (running()) {
        const ac = new AbortController()
        const p = fetch(`${worker.url}/hit`, { headers: { 'x-request-id': `slow-${++slowId}` }, signal: ac.signal }).catch(() => null)
        await pause(50 + random() * 250)
        ac.abort()
        await p
        churn.hitsAbandoned++
      }
    }
    const slowBodies = async (target: Service, path: string) => {
      while (running()) {
        churn.slowBodies++
        const got = await slowBody(target.port, path, random)
        // 401, or 429 once this address is over the failed-authentication limit: refused at once either way.
        if (got.startsWith('HTTP/1.1 401') || got.startsWith('HTTP/1.1 429')) churn.slowBodiesRefused++
        else if (churn.slowBodiesOther.length < 5) churn.slowBodiesOther.push(got.slice(0, 80) || '(closed without an answer)')
        await pause(100 + random() * 200)
      }
    }
    const loops = [
      ...Array.from({ length: 40 }, longPolls),
      ...Array.from({ length: 10 }, hitsGivenUp),
      ...Array.from({ length: 5 }, () => slowBodies(controller, '/register')),
      ...Array.from({ length: 5 }, () => slowBodies(worker, '/config')),
    ]

    // Samples every second while the load runs.
    const series: Record<string, Series> = Object.fromEntries(Object.keys(services).map((n) => [n, { service: n, rssMb: [], fds: [] }]))
    let heldPeak = 0
    let last = 0
    while (performance.now() < until) {
      await pause(1000)
      for (const [n, s] of Object.entries(services)) {
        series[n]!.rssMb.push(rss(s.proc.pid))
        series[n]!.fds.push(fds(s.proc.pid))
      }
      heldPeak = Math.max(heldPeak, await held().catch(() => 0))
      const elapsed = Math.round((performance.now() - t0) / 1000)
      if (elapsed - last >= 15) {
        last = elapsed
        log(`soak: ${elapsed} s; RSS ${Object.values(series).map((x) => `${x.service} ${x.rssMb.at(-1)!.toFixed(0)} MB`).join(', ')}; fds ${Object.values(series).map((x) => x.fds.at(-1)).join('/')}; held ${heldPeak} at most; churn ${JSON.stringify({ ...churn, slowBodiesOther: churn.slowBodiesOther.length })}`)
      }
    }
    stopping = true
    await Promise.all(loops)
    const [config304, hit] = await Promise.all([wrkConfig.result, wrkHit.result])

    // Settled: the abandoned upstream calls cancelled, long-polls and files back to idle.
    const settled = async (what: string, fn: () => Promise<boolean> | boolean) => waitFor(what, fn, 15_000).then(() => true, () => false)
    await settled('every abandoned slow upstream call cancelled', () => slowOpen === 0)
    await settled('held polls back to the agent’s own', async () => (await held()) <= 1)
    for (const [n, s] of Object.entries(services)) await settled(`${n} file descriptors back near idle`, () => fds(s.proc.pid) <= idle[n]!.fds + FD_SLACK)
    const memory: SoakReport['memory'] = {}
    const warm = Math.max(10, Math.round(seconds * 0.2))
    for (const [n, s] of Object.entries(services)) {
      const after = series[n]!.rssMb.slice(warm)
      const third = Math.max(1, Math.floor(after.length / 3))
      memory[n] = { rssIdleMb: idle[n]!.rss, rssFirstMb: median(after.slice(0, third)), rssLastMb: median(after.slice(-third)), rssEndMb: rss(s.proc.pid), fdsIdle: idle[n]!.fds, fdsPeak: Math.max(...series[n]!.fds), fdsEnd: fds(s.proc.pid) }
    }

    // Valid traffic still flows: a change reaches the worker; the agent saw no failure of its peers.
    await call(`${controller.url}/config`, { method: 'POST', key: SOAK_KEYS.admin, json: { url: `http://127.0.0.1:${upstream.port}/soak?after=1`, timeout_ms: 10_000 } })
    const convergedAfter = await settled('the change after the soak to reach the worker', async () => (await call(`${worker.url}/state`)).body.version === 2)
    const view = (await call(`${agent.url}/state`)).body
    const agentErrors = { controller: view.controller.consecutive_failures as number, worker: view.worker.consecutive_failures as number }
    // Held polls back to zero: the agent, the last one holding a poll, stops.
    await agent.stop('SIGTERM')
    await settled('held polls back to zero', async () => (await held()) === 0)
    const heldEnd = await held()

    return {
      minutes: o.minutes,
      seed,
      seconds: (performance.now() - t0) / 1000,
      wrk: { 'GET /config 304': config304, 'GET /hit': hit },
      churn,
      heldPeak,
      heldEnd,
      upstreamSlowOpenAtEnd: slowOpen,
      memory,
      convergedAfter,
      agentErrors,
    }
  } finally {
    for (const p of loads) if (p.exitCode === null) p.kill('SIGKILL')
    for (const p of processes) if (p.proc.exitCode === null) await p.stop('SIGKILL')
    upstream.stop(true)
  }
}

/** A POST without a key whose body comes a byte at a time: the service must answer 401 at once and
 *  close. Resolves with what it answered (empty when it closed without an answer). */
function slowBody(port: number, path: string, random: () => number): Promise<string> {
  return new Promise((resolve) => {
    let got = ''
    let done = false
    const finish = (s?: Bun.Socket<undefined>) => {
      if (done) return
      done = true
      s?.terminate()
      resolve(got)
    }
    void Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        data(_s, d) {
          got += new TextDecoder().decode(d)
        },
        close: () => finish(),
        error: () => finish(),
        async open(s) {
          s.write(`POST ${path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`)
          // A byte now and then, until the service closes the connection (it must, at once) or 5 s pass.
          for (let i = 0; i < 50 && !done; i++) {
            await Bun.sleep(50 + random() * 100)
            if (!done) s.write('"')
          }
          finish(s)
        },
      },
    }).catch(() => finish())
  })
}

/** What a user would notice in `r`: each a sentence; empty when the soak passed. */
export function soakProblems(r: SoakReport): string[] {
  const bad: string[] = []
  for (const [route, w] of Object.entries(r.wrk)) if (w.errors) bad.push(`${route}: ${w.errors} of ${w.requests} valid requests failed (non-2xx/3xx or socket errors)`)
  for (const [n, m] of Object.entries(r.memory)) {
    if (m.rssLastMb > m.rssFirstMb * (1 + RSS_GROWTH_BOUND)) bad.push(`${n}: RSS grew from ${m.rssFirstMb.toFixed(0)} MB to ${m.rssLastMb.toFixed(0)} MB after warm-up (more than ${RSS_GROWTH_BOUND * 100} %)`)
    if (m.fdsEnd > m.fdsIdle + FD_SLACK) bad.push(`${n}: ${m.fdsEnd} open files at the end, ${m.fdsIdle} before the load`)
  }
  if (r.heldEnd !== 0) bad.push(`${r.heldEnd} long-polls still held at the end`)
  if (r.upstreamSlowOpenAtEnd !== 0) bad.push(`${r.upstreamSlowOpenAtEnd} upstream calls of abandoned /hit callers were never cancelled`)
  if (r.churn.slowBodiesRefused !== r.churn.slowBodies) bad.push(`${r.churn.slowBodies - r.churn.slowBodiesRefused} of ${r.churn.slowBodies} slow bodies without a key were not refused with 401 at once: ${r.churn.slowBodiesOther.join(' | ')}`)
  if (!r.convergedAfter) bad.push('a change after the soak did not reach the worker')
  if (r.agentErrors.controller || r.agentErrors.worker) bad.push(`the agent counts failures of its peers at the end: ${JSON.stringify(r.agentErrors)}`)
  return bad
}

/** The report as a few lines for a person. */
export function describeSoak(r: SoakReport): string {
  const w = Object.entries(r.wrk).map(([route, s]) => `  ${route}: ${s.requests} requests (${Math.round(s.rps)}/s), ${s.errors} errors`)
  const m = Object.entries(r.memory).map(
    ([n, v]) => `  ${n}: RSS idle ${v.rssIdleMb.toFixed(0)} MB, after warm-up ${v.rssFirstMb.toFixed(0)} → ${v.rssLastMb.toFixed(0)} MB (median of first → last third), end ${v.rssEndMb.toFixed(0)} MB; fds idle ${v.fdsIdle}, peak ${v.fdsPeak}, end ${v.fdsEnd}`,
  )
  const c = r.churn
  return [
    `soak: ${r.minutes} min (seed ${r.seed}) in ${r.seconds.toFixed(0)} s`,
    ...w,
    `  churn: ${c.longPollsAbandoned} long-polls abandoned, ${c.hitsAbandoned} /hit callers gave up, ${c.slowBodiesRefused}/${c.slowBodies} slow bodies without a key refused (401)`,
    `  held polls: peak ${r.heldPeak}, end ${r.heldEnd}; abandoned upstream calls still open: ${r.upstreamSlowOpenAtEnd}`,
    ...m,
    `  after: change reached the worker ${r.convergedAfter}; agent peer failures ${JSON.stringify(r.agentErrors)}`,
  ].join('\n')
}
