/** 3. Fleet: K simulated agents, each registered and reporting what it applied, long-polling one
 *  controller on PostgreSQL. Once all K polls are held, one write: the time until all K have the new
 *  version, until all K are held again, the controller's RSS and CPU, and the hot path's latency on a
 *  connection of its own meanwhile. A fresh controller per K, so each RSS is that K's alone; the agents
 *  live in processes of their own (fleet-sim.ts), out of the measuring side's event loop. The anchor,
 *  in the same run: etcd with K watchers on one key, one put (etcd-watch-sim.ts). */
import { b64, startEtcd } from './etcd'
import { setConfig, startController } from './lib/dcm'
import { seedAgents } from './lib/fleet-agents'
import { awaitVersion, child, fdLimitFor, filesFor, FIRST_REPORTS_MS, fits, hold, max, migrate, now, PER_SIM, spawnSims, updated, write } from './lib/fleet-sims'
import { tempDatabase } from './lib/pg'
import { cpuSeconds, machineBusySeconds, openFileLimit, rssBytes } from './lib/proc'
import { row, type Figure, type Row } from './lib/report'
import { fmtMB, fmtMs, pct, percentile } from './lib/stats'
import { which } from './lib/tools'

const TARGET = { k: 10_000, ratio: 0.5, rss: 200 * 2 ** 20, stallP99Ms: 50 }
/** How long after the release the probe keeps being read: the batch of reports the release causes is
 *  written within FLEET_FLUSH_SECONDS (2 s). */
const AFTER_MS = 3000

/** CPU over a window: of the process measured, of the simulator processes (each), and of everything
 *  else on the machine, apart from the bench's own processes (load from outside: noisier figures). */
type Cpu = { own: number; sims: number[]; other: number; seconds: number }

/** Reads the CPU counters now; the returned function reads them again and gives the differences. */
function cpuWindow(pid: number, sims: number[], ours: number[]): () => Cpu {
  const read = () => ({ own: cpuSeconds(pid), sims: sims.map(cpuSeconds), ours: [process.pid, ...ours].map(cpuSeconds).reduce((a, b) => a + b, 0), busy: machineBusySeconds(), t: now() })
  const a = read()
  return () => {
    const b = read()
    const [own, sims] = [b.own - a.own, b.sims.map((x, i) => x - a.sims[i]!)]
    const other = b.busy - a.busy - own - sims.reduce((x, y) => x + y, 0) - (b.ours - a.ours)
    return { own, sims, other: Math.max(0, other), seconds: (b.t - a.t) / 1000 }
  }
}

type Dcm = {
  k: number
  lastMs: number
  after201Ms: number
  p50Ms: number
  writeMs: number
  repolledMs: number
  heldMs: number
  cpu: Cpu
  rssIdle: number
  rssHeld: number
  probe: number[]
  probeAfter: number[]
  connectMs: number
  updated: number
  errors: string[]
}

async function dcm(k: number, databaseUrl: string): Promise<Dcm> {
  const fdLimit = fdLimitFor(k)
  await seedAgents(databaseUrl, k + 1) // agent k is the probe
  const controller = await startController({ logLevel: 'warn', databaseUrl, fdLimit })
  const procs: { stop(): Promise<void> }[] = [controller]
  try {
    const { etag } = await setConfig(controller, `http://127.0.0.1:1/fleet-${k}`)
    const rssIdle = rssBytes(controller.pid)
    const agents = spawnSims(k, controller.port)
    const probe = child('fleet-probe', 'fleet-probe.ts', { INDEX: String(k), CONTROLLER_PORT: String(controller.port), ETAG: etag })
    procs.push(...agents, probe)
    await Promise.all([...agents, probe].map((c) => c.next('ready', 10_000)))

    const t = performance.now()
    await hold(agents, etag)
    // Held means parked in the controller, as its /readyz counts them.
    await waitForHeld(controller.url, k, 60_000)
    const connectMs = performance.now() - t
    // The first polls of K agents new to this controller are written as one batch of reports within
    // FLEET_FLUSH_SECONDS: let it pass, so the release is measured alone.
    await Bun.sleep(FIRST_REPORTS_MS)
    const rssHeld = Math.max(rssBytes(controller.pid), await Bun.sleep(100).then(() => rssBytes(controller.pid)))
    probe.send({ cmd: 'start' })
    await probe.next('started', 5000)
    await Bun.sleep(300)

    const cpu = cpuWindow(controller.pid, agents.map((a) => a.proc.pid), [probe.proc.pid])
    const { t0, t201, etag: target } = await write(controller.url, `fleet-${k}`)
    awaitVersion(agents, target)
    const tHeld = await waitForHeld(controller.url, k, 30_000, 2)
    const used = cpu()
    const { at, rearmAt, errors } = await updated(agents)
    await Bun.sleep(Math.max(0, tHeld + AFTER_MS - now()))
    probe.send({ cmd: 'samples', from: t0, to: tHeld })
    const inWindow = (await probe.next('samples', 5000)).ms as number[]
    probe.send({ cmd: 'samples', from: tHeld, to: tHeld + AFTER_MS })
    const after = (await probe.next('samples', 5000)).ms as number[]

    return {
      k,
      lastMs: max(at) - t0,
      after201Ms: max(at) - t201,
      p50Ms: percentile(at, 50) - t0,
      writeMs: t201 - t0,
      repolledMs: max(rearmAt) - t0,
      heldMs: tHeld - t0,
      cpu: used,
      rssIdle,
      rssHeld,
      probe: inWindow,
      probeAfter: after,
      connectMs,
      updated: at.length,
      errors,
    }
  } finally {
    for (const p of procs.reverse()) await p.stop()
  }
}

/** Poll /readyz until the controller holds `k` polls; returns the time of the answer that said so (an
 *  upper bound, to within one round trip of /readyz). */
async function waitForHeld(url: string, k: number, timeoutMs: number, everyMs = 25): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (let held = -1; ; ) {
    const body = (await (await fetch(`${url}/readyz`)).json()) as { held_polls?: number }
    const at = now()
    held = body.held_polls ?? -1
    if (held === k) return at
    if (performance.now() > deadline) throw new Error(`the controller holds ${held} polls, not ${k}, after ${timeoutMs} ms`)
    await Bun.sleep(everyMs)
  }
}

type Etcd = { k: number; version: string; lastMs: number; p50Ms: number; replyMs: number; cpu: Cpu; rssIdle: number; rssHeld: number; updated: number; errors: string[] }

/** etcd with K watchers on one key, one put: from the put's sending until the last watcher has it. */
async function etcd(k: number): Promise<Etcd> {
  const fdLimit = fdLimitFor(k)
  const server = await startEtcd(which('etcd')!)
  const procs: { stop(): Promise<void> }[] = [server]
  try {
    const key = b64('/dcm/bench/fleet')
    const rssIdle = rssBytes(server.pid)
    const sim = child('etcd-watch-sim', 'etcd-watch-sim.ts', { K: String(k), ETCD_PORT: String(server.port), KEY: key }, fdLimit)
    procs.push(sim)
    await sim.next('ready', 10_000)
    sim.send({ cmd: 'watch' })
    const watching = await sim.next('watching', 60_000)
    if (watching.errors) throw new Error(`etcd-watch-sim: ${watching.errors} errors while connecting, the last: ${watching.lastError}`)
    await Bun.sleep(1000)
    const rssHeld = Math.max(rssBytes(server.pid), await Bun.sleep(100).then(() => rssBytes(server.pid)))
    const value = b64(`fleet-${k}-${Date.now()}`)
    const cpu = cpuWindow(server.pid, [], [sim.proc.pid])
    const t0 = now()
    const put = await fetch(`${server.base}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key, value }) })
    const tReply = now()
    if (!put.ok) throw new Error(`etcd put answered ${put.status}`)
    await put.arrayBuffer()
    sim.send({ cmd: 'await', value })
    const r = await sim.next('result', 30_000)
    const used = cpu()
    const at = (r.at as number[]).sort((x, y) => x - y)
    return { k, version: server.version, lastMs: max(at) - t0, p50Ms: percentile(at, 50) - t0, replyMs: tReply - t0, cpu: used, rssIdle, rssHeld, updated: at.length, errors: r.errors ? [`${r.errors} ${r.lastError}`] : [] }
  } finally {
    for (const p of procs.reverse()) await p.stop()
  }
}

const us = (ms: number, k: number) => (ms * 1000) / k
const fmtUs = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} µs` : 'n/a')
const fmtS = (s: number) => `${s.toFixed(2)} s`
const fmtKB = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KB` : 'n/a')

export default {
  id: 'fleet',
  label: '3 fleet',
  title: 'K long-polling agents on PostgreSQL, one write, against etcd with K watchers',
  tools: ['etcd'],
  async run({ quick }) {
    const wanted = quick ? [500, 2000] : [2000, 5000, 10_000, 25_000]
    // A K whose sockets the open-file limit cannot take here is skipped, and the largest K it takes is
    // measured in its place, so the curve still reaches as far as this machine lets it.
    const limit = openFileLimit()
    const largest = Math.floor((limit - filesFor(0)) / 1000) * 1000
    const skipped = wanted.filter((k) => !fits(k))
    const ks = [...new Set(wanted.map((k) => (fits(k) ? k : largest)))].filter((k) => k > 0)
    const anchor = await etcd(quick ? 500 : 2000)
    const perWatcher = us(anchor.lastMs, anchor.k)
    const db = await tempDatabase()
    const runs: Dcm[] = []
    try {
      // The controller's migrations make the tables the agents are seeded into.
      await migrate(db.url)
      for (const k of ks) runs.push(await dcm(k, db.url))
    } finally {
      await db.drop()
    }

    const anchorOk = anchor.updated === anchor.k && anchor.errors.length === 0
    const rows: Row[] = [
      row(
        `etcd ${anchor.version}, K=${anchor.k} watchers: put → all saw it; RSS`,
        anchorOk ? `${fmtMs(anchor.lastMs)} (${fmtUs(perWatcher)} per watcher); ${fmtMB(anchor.rssHeld)}` : `${anchor.updated}/${anchor.k} saw it (${anchor.errors.join('; ')})`,
        `idle RSS ${fmtMB(anchor.rssIdle)}`,
        '',
        '',
        anchorOk ? null : false,
      ),
    ]
    for (const r of runs) {
      const ok = r.updated === r.k && r.errors.length === 0
      const perAgent = us(r.lastMs, r.k)
      const ratio = perAgent / perWatcher
      const goal = r.k === TARGET.k
      const result = ok ? `${fmtMs(r.lastMs)} (${fmtUs(perAgent)} per agent); held again ${fmtMs(r.heldMs)}; ${fmtMB(r.rssHeld)}` : `${r.updated}/${r.k} updated (${r.errors.join('; ')})`
      const met = ok && anchorOk && ratio <= TARGET.ratio && r.rssHeld < TARGET.rss
      rows.push(row(`K=${r.k}: POST → all hold it; µs per agent; RSS held`, result, `etcd K=${anchor.k}: ${fmtUs(perWatcher)} per watcher`, ratio.toFixed(2), goal ? `≤ ${TARGET.ratio}; < ${fmtMB(TARGET.rss)}` : '', goal ? met : ok ? null : false))
    }
    rows.push(row('growth: per agent (POST → all hold it) and per held agent (RSS)', runs.map((r) => `K=${r.k}: ${fmtUs(us(r.lastMs, r.k))}, ${fmtKB((r.rssHeld - r.rssIdle) / r.k)}`).join('; '), '', '', '', null))
    for (const k of skipped)
      rows.push(row(`K=${k}`, `SKIPPED: needs ${filesFor(k)} open files; the hard limit here is ${limit} and \`ulimit -n ${filesFor(k)}\` failed (it takes root with CAP_SYS_RESOURCE); K=${largest} measured instead`, '', '', '', null))
    for (const r of runs.filter((r) => r.k === TARGET.k || (quick && r === runs.at(-1)))) {
      const p99 = percentile(r.probe, 99)
      const goal = r.k === TARGET.k
      rows.push(row(`K=${r.k} release: GET /config 304 on its own connection, p99 / max`, `${fmtMs(p99)} / ${fmtMs(max(r.probe))} (${r.probe.length} polls)`, '', '', goal ? `p99 < ${TARGET.stallP99Ms} ms` : '', goal ? p99 < TARGET.stallP99Ms : null))
    }

    const head = ['K', 'POST → all hold it', 'per agent', '÷ etcd', '201 → all', 'median agent', 'POST → 201', 're-polls sent', 'held again', 'CPU per agent',
      'busy: server / busiest sim', 'other load', 'RSS idle → held', 'per held agent', 'probe p99 / max (polls)', `probe max, next ${AFTER_MS / 1000} s`, 'connect + hold', 'errors']
    const busy = (c: Cpu) => `${pct(c.own / c.seconds)} / ${c.sims.length ? `${pct(max(c.sims) / c.seconds)} (${c.sims.length})` : '–'}`
    const details = runs.map((r) => [String(r.k), fmtMs(r.lastMs), fmtUs(us(r.lastMs, r.k)), (us(r.lastMs, r.k) / perWatcher).toFixed(2), fmtMs(r.after201Ms), fmtMs(r.p50Ms), fmtMs(r.writeMs),
      fmtMs(r.repolledMs), fmtMs(r.heldMs), fmtUs((r.cpu.own * 1e6) / r.k), busy(r.cpu), pct(r.cpu.other / r.cpu.seconds), `${fmtMB(r.rssIdle)} → ${fmtMB(r.rssHeld)}`, fmtKB((r.rssHeld - r.rssIdle) / r.k),
      `${fmtMs(percentile(r.probe, 99))} / ${fmtMs(max(r.probe))} (${r.probe.length})`, fmtMs(max(r.probeAfter)), fmtMs(r.connectMs), r.errors.join('; ') || '0'])
    const a = anchor
    details.push([`etcd ${a.k}`, fmtMs(a.lastMs), fmtUs(perWatcher), '1.00', '', fmtMs(a.p50Ms), fmtMs(a.replyMs), '', '', fmtUs((a.cpu.own * 1e6) / a.k), busy(a.cpu), pct(a.cpu.other / a.cpu.seconds),
      `${fmtMB(a.rssIdle)} → ${fmtMB(a.rssHeld)}`, fmtKB((a.rssHeld - a.rssIdle) / a.k), '', '', '', a.errors.join('; ') || '0'])
    const params = `K = ${ks.join(', ')} agents (${PER_SIM} per simulator process); etcd ${a.version} with ${a.k} watchers; open-file limit ${limit}, raised per process where K needs it and root may`
    return { rows, params, details: [head, ...details] }
  },
} satisfies Figure
