/** 2. Propagation: controller + agent (long-poll, the default) + worker as real processes. For each of
 *  200 changes: POST /config, then poll the worker's GET /state back to back until it shows the new
 *  version; the time from the 201 to that answer. Anchor: etcd put → watch, measured here too. */
import { join } from 'node:path'
import { etcdPutWatch } from './etcd'
import { KEYS, setConfig, startController } from './lib/dcm'
import { call, cpuSeconds, machineBusySeconds, startService, waitFor, workdir } from './lib/procs'
import { LABELS, type BenchResult } from './lib/report'
import { fmtMs, percentile } from './lib/stats'
import { ensureTools } from './lib/tools'

const pct = (x: number) => `${Math.round(x * 100)}%`

export const PROPAGATION_TARGET = { p50Ms: 10, p99Ms: 50 }
export type PropagationOptions = { count: number; warmup: number; perChangeTimeoutMs: number }
export const PROPAGATION_DEFAULTS: PropagationOptions = { count: 200, warmup: 20, perChangeTimeoutMs: 5000 }

export async function propagation(o: PropagationOptions = PROPAGATION_DEFAULTS): Promise<BenchResult> {
  const title = '2. Propagation: POST /config → worker GET /state shows it'
  const { etcd } = await ensureTools(['etcd'])

  const controller = await startController({ logLevel: 'warn' })
  const worker = await startService('worker', { LOG_LEVEL: 'warn', AGENT_API_KEY: KEYS.worker })
  const agent = await startService('agent', {
    LOG_LEVEL: 'warn',
    CONTROLLER_URL: controller.url,
    CONTROLLER_API_KEY: KEYS.agent,
    WORKER_URL: worker.url,
    WORKER_API_KEY: KEYS.worker,
    STATE_FILE: join(workdir(), 'agent-state.json'),
  })
  const workerState = async () => (await (await fetch(`${worker.url}/state`)).json()) as { version: number | null; applied_at: string | null }
  const workerVersion = async () => (await workerState()).version

  const first = await setConfig(controller, 'http://127.0.0.1:1/change-0')
  await waitFor('the worker at the first version', async () => (await workerVersion()) === first.doc.version, { timeoutMs: 20_000, proc: agent })

  const fromReply: number[] = []
  const fromStart: number[] = []
  // Where the time goes, from the services' own timestamps (ms resolution): the agent's last_poll_at
  // (its long-poll answered) and the worker's applied_at.
  const seg = { toAgent: [] as number[], agentToWorker: [] as number[], workerToSeen: [] as number[] }
  let polls = 0
  const busy0 = machineBusySeconds()
  const ours = [controller, agent, worker].map((p) => p.pid)
  const ours0 = ours.map(cpuSeconds)
  const run0 = performance.now()
  for (let i = 1; i <= o.warmup + o.count; i++) {
    const t0 = performance.now()
    const { doc } = await setConfig(controller, `http://127.0.0.1:1/change-${i}`)
    const t201 = performance.now()
    const wall201 = Date.now()
    const deadline = t201 + o.perChangeTimeoutMs
    let seen: { version: number | null; applied_at: string | null }
    for (;;) {
      seen = await workerState()
      polls++
      if (seen.version !== null && seen.version >= doc.version) break
      if (performance.now() > deadline) throw new Error(`version ${doc.version} did not reach the worker within ${o.perChangeTimeoutMs} ms\nagent: ${agent.tail(5)}`)
    }
    const tSeen = performance.now()
    const wallSeen = Date.now()
    if (i > o.warmup) {
      fromReply.push(tSeen - t201)
      fromStart.push(tSeen - t0)
      const a = (await call(`${agent.url}/state`)).body as { version: number; last_poll_at: string }
      if (a.version === doc.version && seen.version === doc.version && seen.applied_at) {
        const polled = Date.parse(a.last_poll_at)
        const applied = Date.parse(seen.applied_at)
        seg.toAgent.push(polled - wall201)
        seg.agentToWorker.push(applied - polled)
        seg.workerToSeen.push(wallSeen - applied)
      }
    }
    // Changes land at random moments of the agent's cycle, not in step with it.
    await Bun.sleep(Math.random() * 10)
  }
  const wall = (performance.now() - run0) / 1000
  const oursCpu = ours.map((pid, i) => (cpuSeconds(pid) - ours0[i]!) / wall)
  const otherCpu = Math.max(0, (machineBusySeconds() - busy0) / wall - oursCpu.reduce((x, y) => x + y, 0))
  const agentState = (await call(`${agent.url}/state`)).body as { last_poll_result: string; controller: { consecutive_failures: number } }
  for (const p of [agent, worker, controller]) await p.stop()

  const p50 = percentile(fromReply, 50)
  const p99 = percentile(fromReply, 99)
  const met = p50 < PROPAGATION_TARGET.p50Ms && p99 < PROPAGATION_TARGET.p99Ms

  const etcdRun = etcd ? await etcdPutWatch(etcd, o) : null
  const e50 = etcdRun ? percentile(etcdRun.samples.map((s) => s.fromPutStartMs), 50) : NaN
  const e99 = etcdRun ? percentile(etcdRun.samples.map((s) => s.fromPutStartMs), 99) : NaN
  const anchor = etcdRun ? `etcd ${etcdRun.version} put→watch: p50 ${fmtMs(e50)}, p99 ${fmtMs(e99)}` : 'etcd not available: anchor skipped'

  const row = (name: string, xs: number[]) => `| ${name} | ${fmtMs(percentile(xs, 50))} | ${fmtMs(percentile(xs, 90))} | ${fmtMs(percentile(xs, 99))} | ${fmtMs(Math.max(...xs))} |`
  return {
    id: 'propagation',
    title,
    rows: [
      { bench: LABELS.propagation, what: `201 → worker shows it, p50 (${o.count} changes)`, result: fmtMs(p50), baseline: etcdRun ? `${fmtMs(e50)} (etcd put→watch)` : 'etcd skipped', ratio: '', target: `< ${PROPAGATION_TARGET.p50Ms} ms`, met: p50 < PROPAGATION_TARGET.p50Ms },
      { bench: '', what: '201 → worker shows it, p99', result: fmtMs(p99), baseline: etcdRun ? `${fmtMs(e99)} (etcd put→watch)` : 'etcd skipped', ratio: '', target: `< ${PROPAGATION_TARGET.p99Ms} ms`, met: p99 < PROPAGATION_TARGET.p99Ms },
    ],
    details: [
      `Controller on **SQLite** (the embedded default; the write itself is outside the measured time, which starts at the 201), agent with long-poll on (\`wait=30\`, the default), worker: three \`bun src/index.ts\` processes, LOG_LEVEL=warn. ${o.count} changes measured after ${o.warmup} unmeasured ones, each a new url, 0–10 ms apart at random; after each 201 the script polls the worker's GET /state back to back (${polls} polls in all) until it shows the new version (deadline ${o.perChangeTimeoutMs} ms per change). Overall: ${met ? 'target met' : 'target missed'}. The agent's last poll result: ${agentState.last_poll_result}.`,
      '',
      '| Path | p50 | p90 | p99 | max |',
      '|---|---|---|---|---|',
      row('dcm: 201 → worker state (the target measure)', fromReply),
      row('dcm: POST sent → worker state (write included)', fromStart),
      row('… of which 201 → agent has the 200 (agent last_poll_at, ms clock)', seg.toAgent),
      row('… agent has it → worker applied it (worker applied_at)', seg.agentToWorker),
      row('… worker applied → this script sees it', seg.workerToSeen),
      ...(etcdRun
        ? [
            row(`etcd ${etcdRun.version}: put sent → watch event`, etcdRun.samples.map((s) => s.fromPutStartMs)),
            row('etcd: put reply → watch event (0 when the event came first)', etcdRun.samples.map((s) => s.fromPutReplyMs)),
          ]
        : []),
      '',
      `The three "…" rows split the path with the services' own millisecond timestamps (the first can be negative by up to the clock's resolution). CPU during the measured changes, 100% = one core of the two: controller ${pct(oursCpu[0]!)}, agent ${pct(oursCpu[1]!)}, worker ${pct(oursCpu[2]!)}, this script and every other process on the machine ${pct(otherCpu)}.`,
      '',
      etcdRun
        ? `Anchor: ${anchor}. A one-member etcd with a temporary data dir on loopback, its v3 JSON gateway: \`POST /v3/kv/put\` and one streaming \`POST /v3/watch\`, the same ${o.count} (+${o.warmup}) puts, 0–5 ms apart. etcd's watch fires on commit, usually before the put's reply, so "put sent → event" (which includes etcd's fsync'd write) is the comparable figure to dcm's "POST sent → worker state".`
        : 'Anchor skipped: etcd is not installed and could not be installed.',
    ],
  }
}
