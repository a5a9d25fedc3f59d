/** The network fault suite (issue #10, "Network"), as functions a test or a long-run driver calls.
 *
 *  `networkSuite(seed, minutes)`: a controller (SQLite), a worker and an agent, with a fault proxy on
 *  each of the agent's two links (agent → controller, agent → worker). Config changes stream into the
 *  controller while a seeded schedule puts latency, stalls, resets, cuts after N bytes, blackholes
 *  (half-open connections) and partitions (both links) on the links. After each fault heals the
 *  changes pause and the worker must hold the controller's current version within the bound below.
 *  Over the whole history: the worker (and the agent) never went to an older version (promise 3).
 *
 *  `deadControllerRate()`: the agent's attempts against a killed and against a blackholed controller,
 *  counted at the proxy, stay far below what its poll interval gives against a healthy one.
 *
 *  Long runs: `DCM_FAULTS_MINUTES=5 DCM_FAULTS_SEED=7 bun test test/faults/network.test.ts` (partitions
 *  up to a minute once a run is longer than two minutes); a run with violations prints its seed.
 *  Called from outside `bun test` (a long-run driver), the suite stops the services it started itself;
 *  call `runCleanups()` from test/harness.ts afterwards for its proxies, stubs and cluster. */
import { freePort, spawnService, upstreamStub, waitFor, type Service } from '../harness'
import { agentEnv, controllerEnv, KEYS } from '../stack'
import { faultProxy, type FaultProxy, type ProxyMode } from './fault-proxy'
import { every, exchange, iso, printReport, regressions, repeat, tally, type Sample, type SuiteReport } from './record'
import { rng, type Rng } from './rng'

export const NET_FAULTS = ['latency', 'stall', 'reset', 'drop-after', 'blackhole', 'partition'] as const
export type NetFaultKind = (typeof NET_FAULTS)[number]
export type NetFault = { kind: NetFaultKind; link: 'controller' | 'worker' | 'both'; mode: ProxyMode; ms: number; gapMs: number }

/** The agent's settings in the suite: small, so that the bound on convergence is small too. */
export const NET_AGENT = { BACKOFF_BASE_MS: 50, BACKOFF_MAX_MS: 1000, REQUEST_TIMEOUT_MS: 1000, LONG_POLL_WAIT_SECONDS: 2 }
/** Promise 4's "a few seconds" on top of what the settings allow. */
const SLACK_MS = 3000
/** After a fault heals: a call stuck on a half-open connection ends at its timeout (long-poll hold
 *  included), the backoff waits at most its cap, then one poll and one push. */
export const CONVERGENCE_BOUND_MS = NET_AGENT.REQUEST_TIMEOUT_MS + NET_AGENT.LONG_POLL_WAIT_SECONDS * 1000 + NET_AGENT.BACKOFF_MAX_MS + SLACK_MS

/** Every kind once (seeded order), then seeded picks until the budget is spent. */
export function networkSchedule(r: Rng, budgetMs: number): NetFault[] {
  const long = budgetMs > 2 * 60_000
  const first = [...NET_FAULTS].sort(() => r.next() - 0.5)
  const out: NetFault[] = []
  let total = 0
  while (first.length || total < budgetMs) {
    const kind = first.shift() ?? r.pick(NET_FAULTS)
    const link = kind === 'partition' ? 'both' : r.pick(['controller', 'worker'] as const)
    const mode: ProxyMode =
      kind === 'latency'
        ? { kind: 'latency', ms: r.int(20, 800) }
        : kind === 'drop-after'
          ? { kind: 'drop-after', bytes: r.int(0, 1500) }
          : kind === 'partition'
            ? { kind: r.pick(['blackhole', 'reset'] as const) }
            : { kind }
    const ms = kind === 'partition' ? r.int(2000, long ? 60_000 : 5000) : r.int(1000, long ? 15_000 : 3000)
    const gapMs = r.int(200, 1000)
    out.push({ kind, link, mode, ms, gapMs })
    total += ms + gapMs + 1000
  }
  return out
}

const describe = (f: NetFault) => `${f.kind}${f.kind === 'partition' ? ` (${f.mode.kind})` : ''} on the ${f.link} link${'ms' in f.mode ? ` ${f.mode.ms} ms/chunk` : ''}${'bytes' in f.mode ? ` after ${f.mode.bytes} B` : ''} for ${f.ms} ms`

const write = (c: Service, url: string) =>
  exchange(`${c.url}/config`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ url }) })

export async function networkSuite({ seed, minutes }: { seed: number; minutes: number }): Promise<SuiteReport> {
  const t0 = Date.now()
  const schedule = networkSchedule(rng(seed), minutes * 60_000)
  const pace = rng(seed ^ 0x5eed)
  const notes: string[] = []
  const violations: string[] = []
  const known: string[] = []
  const services: Service[] = []
  try {
    const upstream = upstreamStub('network-suite')
    const cport = await freePort()
    const controller = await spawnService('controller', { port: cport, env: controllerEnv(cport, { LOG_LEVEL: 'info' }) })
    services.push(controller)
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker, LOG_LEVEL: 'info' } })
    services.push(worker)
    const links: Record<'controller' | 'worker', FaultProxy> = {
      controller: await faultProxy({ host: '127.0.0.1', port: controller.port }, 'agent→controller'),
      worker: await faultProxy({ host: '127.0.0.1', port: worker.port }, 'agent→worker'),
    }
    const settings = Object.fromEntries(Object.entries(NET_AGENT).map(([k, v]) => [k, String(v)]))
    const agent = await spawnService('agent', { env: agentEnv(links.controller.url, links.worker.url, { ...settings, LOG_LEVEL: 'info' }) })
    services.push(agent)

    let seq = 0
    let acked = 0
    let writesPaused = false
    let stop = false
    const answers: string[] = []
    const workerSamples: Sample[] = []
    const agentSamples: Sample[] = []
    const convergence: number[] = []
    const faults: string[] = []
    const next = async () => {
      const e = await write(controller, `${upstream.url}/v/${++seq}`)
      answers.push(e.status === null ? 'no answer' : String(e.status))
      if (e.status === 201) acked++
      return e
    }
    if ((await next()).status !== 201) throw new Error('the first write failed')
    const sample = (svc: Service, into: Sample[]) => async () => {
      const e = await exchange(`${svc.url}/state`, { timeoutMs: 5000 })
      if (e.status === 200) into.push({ at: e.answered, store_id: e.body.store_id, version: e.body.version })
    }
    const current = async () => (await exchange(`${controller.url}/config`, { headers: { authorization: `Bearer ${KEYS.agent}` } })).body as { version: number; store_id: string }
    /** Promise 4: with no new change, the worker holds the controller's current version within the bound. */
    const converged = async (after: string, since: number) => {
      const target = await current()
      const t = Date.now()
      try {
        await waitFor(`the worker to hold version ${target.version}`, async () => {
          const st = (await exchange(`${worker.url}/state`, { timeoutMs: 2000 })).body
          return st?.version === target.version && st?.store_id === target.store_id
        }, CONVERGENCE_BOUND_MS, 20)
        convergence.push(Date.now() - t)
      } catch {
        const held = (await exchange(`${worker.url}/state`)).body?.version
        const st = (await exchange(`${agent.url}/state`)).body
        const what = `after ${after}: the worker holds version ${held}, not the controller's ${target.version}, ${CONVERGENCE_BOUND_MS} ms after healing (agent: version ${st?.version}, last poll ${JSON.stringify(st?.last_poll_result)})`
        // A poll answer cut off in its body is taken for a document the agent cannot accept: it then
        // polls with that ETag and waits for the next change (reported defect; see network.test.ts).
        const refused = agent.logs().some((l) => l.msg === 'config document refused' && Date.parse(l.time) >= since)
        if (refused && st?.version !== target.version) known.push(`${what}; the agent refused a cut-off answer`)
        else violations.push(what)
      }
    }
    await converged('start', t0)

    const background = [
      repeat(async () => void (!writesPaused && (await next())), () => pace.int(100, 400), () => stop),
      repeat(sample(worker, workerSamples), () => 50, () => stop),
      every(sample(agent, agentSamples), 200, () => stop),
    ]
    for (const f of schedule) {
      await Bun.sleep(f.gapMs)
      const start = Date.now()
      const targets = f.link === 'both' ? [links.controller, links.worker] : [links[f.link]]
      for (const p of targets) p.set(f.mode)
      await Bun.sleep(f.ms)
      for (const p of targets) p.heal()
      faults.push(f.kind === 'partition' ? `partition-${f.mode.kind}` : `${f.kind}-${f.link}`)
      writesPaused = true
      await Bun.sleep(500) // a write under way finishes; the changes then stay quiet until the check is done
      await converged(`${describe(f)} at ${iso(start)}`, start)
      writesPaused = false
    }
    stop = true
    await Promise.all(background)
    await converged('the end of the run', Date.now())
    await sample(worker, workerSamples)()

    violations.push(...regressions(workerSamples, 'the worker'), ...regressions(agentSamples, 'the agent'))
    const hit = await exchange(`${worker.url}/hit`)
    if (hit.status !== 200 || hit.body !== 'hello from network-suite') violations.push(`/hit after the run answered ${hit.status}: ${JSON.stringify(hit.body)}`)
    if (known.length) notes.push(`KNOWN DEFECT, seen ${known.length} time(s) (agent: a cut-off poll answer is refused as a document): ${known.join(' | ')}`)
    const sorted = [...convergence].sort((a, b) => a - b)
    notes.push(
      `convergence after healing: ${convergence.length} checks, median ${sorted[Math.floor(sorted.length / 2)] ?? '-'} ms, max ${sorted.at(-1) ?? '-'} ms (bound ${CONVERGENCE_BOUND_MS} ms)`,
      `samples: worker ${workerSamples.length}, agent ${agentSamples.length}; proxy connections: controller link ${links.controller.connections}, worker link ${links.worker.connections}`,
    )
    const r: SuiteReport = {
      suite: 'network',
      seed,
      minutes,
      wall_seconds: Math.round((Date.now() - t0) / 1000),
      faults: tally(faults),
      writes: { total: answers.length, ...tally(answers), acknowledged: acked },
      notes,
      violations,
    }
    printReport(r, 'bun test test/faults/network.test.ts')
    return r
  } catch (e) {
    console.log(`[faults] network suite failed with seed ${seed} (replay: DCM_FAULTS_SEED=${seed} DCM_FAULTS_MINUTES=${minutes} bun test test/faults/network.test.ts): ${(e as Error).message}`)
    throw e
  } finally {
    await Promise.all(services.map((s) => s.stop()))
  }
}

/** The agent's settings for the rate check: plain polling every 0.1 s, a backoff capped at 4 s. */
export const RATE = { pollIntervalSeconds: 0.1, BACKOFF_BASE_MS: 100, BACKOFF_MAX_MS: 4000, REQUEST_TIMEOUT_MS: 500, windowMs: 4000 }

/** Attempts the agent makes against its controller, counted at a proxy in front of it, over a window:
 *  healthy, killed (kill -9), and blackholed (connections accepted, never answered). Each dead window
 *  starts once the backoff has reached its cap (the agent's /state counts the failures). */
export async function deadControllerRate() {
  const cport = await freePort()
  const env = controllerEnv(cport, { POLL_INTERVAL_SECONDS: String(RATE.pollIntervalSeconds), LOG_LEVEL: 'info' })
  let controller = await spawnService('controller', { port: cport, env })
  const services: Service[] = [controller]
  try {
    const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker, LOG_LEVEL: 'info' } })
    services.push(worker)
    const link = await faultProxy({ host: '127.0.0.1', port: cport }, 'agent→controller')
    const agent = await spawnService('agent', {
      env: agentEnv(link.url, worker.url, { LONG_POLL: 'false', BACKOFF_BASE_MS: String(RATE.BACKOFF_BASE_MS), BACKOFF_MAX_MS: String(RATE.BACKOFF_MAX_MS), REQUEST_TIMEOUT_MS: String(RATE.REQUEST_TIMEOUT_MS), LOG_LEVEL: 'info' }),
    })
    services.push(agent)
    await write(controller, 'http://rate.example/')
    await waitFor('the worker to hold version 1', async () => (await exchange(`${worker.url}/state`)).body?.version === 1)
    const failures = async () => (await exchange(`${agent.url}/state`)).body?.controller?.consecutive_failures ?? 0
    // Failures after which the backoff ceiling is at its cap: base · 2^n ≥ cap.
    const capped = Math.ceil(Math.log2(RATE.BACKOFF_MAX_MS / RATE.BACKOFF_BASE_MS)) + 1
    const count = async () => {
      const before = link.attempts
      await Bun.sleep(RATE.windowMs)
      return link.attempts - before
    }
    const healthy = await count()
    await controller.stop('SIGKILL')
    await waitFor(`${capped} failed calls in a row`, async () => (await failures()) >= capped, 60_000, 100)
    const killed = await count()
    controller = await controller.restart()
    services.push(controller)
    await waitFor('the agent to reach the controller again', async () => (await failures()) === 0, 30_000)
    link.set({ kind: 'blackhole' })
    await waitFor(`${capped} failed calls in a row`, async () => (await failures()) >= capped, 60_000, 100)
    const blackholed = await count()
    link.heal()
    return { healthy, killed, blackholed, pollRate: RATE.windowMs / 1000 / RATE.pollIntervalSeconds }
  } finally {
    await Promise.all(services.map((s) => s.stop()))
  }
}
