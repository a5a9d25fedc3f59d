/** 5. Replicas: the fleet of figure 3 spread over two controller replicas on one PostgreSQL database,
 *  behind HAProxy (the Debian package, a real load balancer). The K simulated agents long-poll through
 *  HAProxy; the write goes to one replica directly, so the other learns of it the way replicas do
 *  (LISTEN/NOTIFY). Timed until every agent, on either replica, holds the new version. Beside it, in the
 *  same run with the same K and simulator: one replica behind the same kind of HAProxy, and one replica
 *  direct (figure 3's set-up), so what the load balancer and the second replica cost or save show apart.
 *  The agents are figure 3's: registered (seeded into each set-up's database), polling with their own
 *  tokens and reporting what they apply, in simulator processes of their own; the write is the bench's.
 *  Each set-up keeps its processes and its own database for all rounds of a K; a round is fresh
 *  simulators (K connections, all held, one write), the set-ups taking turns in a rotating order. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { call, freePort, waitFor } from '../test/kit'
import { KEYS, ready, run, setConfig, startController, workdir, type Service } from './lib/dcm'
import { seedAgents } from './lib/fleet-agents'
import { awaitVersion, fdLimitFor, FIRST_REPORTS_MS, fits, hold, max, migrate, now, spawnSims, updated, write } from './lib/fleet-sims'
import { tempDatabase } from './lib/pg'
import { canSetFileLimit, cpuSeconds, openFileLimit, rssBytes } from './lib/proc'
import { row, type Figure, type Row } from './lib/report'
import { fmtMB, fmtMs, percentile } from './lib/stats'
import { which } from './lib/tools'

type Setup = { replicas: 1 | 2; lb: boolean; label: string }
const SETUPS: Setup[] = [
  { replicas: 1, lb: false, label: '1 replica, direct' },
  { replicas: 1, lb: true, label: '1 replica, HAProxy' },
  { replicas: 2, lb: true, label: '2 replicas, HAProxy' },
]
const [DIRECT, ONE, TWO] = SETUPS as [Setup, Setup, Setup]

type Round = { updated: number; lastMs: number; p50Ms: number; writeMs: number; errors: string[]; older: number; held: number[]; rss: number[]; lbRss: number; sentMs: number; heardMs: number[]; cpuMs: number[] }
type Env = { setup: Setup; replicas: Service[]; dropDb(): Promise<void> }

/** HAProxy's config, described in bench/results.md: HTTP mode; leastconn, since a held poll is a long
 *  request and the replica holding fewer should get the next; client and server timeouts well past the
 *  agents' 30 s wait; abortonclose, without which an agent that goes away leaves its poll held in the
 *  replica until the wait runs out (HAProxy waits for the answer of a client that only closed its side,
 *  as HTTP allows); room for its share of the K connections; each replica checked on /readyz. */
const haproxyConfig = (port: number, backends: number[], maxconn: number) => `global
  maxconn ${maxconn}
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option dontlog-normal
  maxconn ${maxconn}
  timeout connect 2s
  timeout client 90s
  timeout server 90s
  timeout http-request 10s
  timeout http-keep-alive 90s
  timeout queue 5s
  option redispatch
  option abortonclose
  retries 2
frontend controllers
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance leastconn
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 2
  http-response set-header X-Served-By %s
${backends.map((p, i) => `  server replica${i} 127.0.0.1:${p} check`).join('\n')}
`

/** HAProxy holds two sockets per agent (the agent's and the replica's) and a few of its own. Where
 *  that is more than the open-file limit and the limit cannot be raised (a container without
 *  CAP_SYS_RESOURCE), the load is shared by several HAProxy processes on one port (SO_REUSEPORT, which
 *  HAProxy sets on Linux; the kernel spreads the connections): each holds a share. */
function haproxyPlan(k: number): { processes: number; maxconn: number; fdLimit?: number } | { skipped: string } {
  const fds = (n: number) => 2 * (Math.ceil(k / n) + 500) + 100
  if (fds(1) <= openFileLimit()) return { processes: 1, maxconn: k + 500 }
  if (canSetFileLimit(fds(1))) return { processes: 1, maxconn: k + 500, fdLimit: fds(1) }
  for (let n = 2; n <= 8; n++) if (fds(n) <= openFileLimit()) return { processes: n, maxconn: Math.ceil(k / n) + 500 }
  return { skipped: `open-file limit ${openFileLimit()}, and ulimit -n ${fds(1)} for HAProxy needs privileges` }
}

async function startHaproxy(backends: number[], k: number) {
  const plan = haproxyPlan(k)
  if ('skipped' in plan) throw new Error(plan.skipped)
  const port = await freePort()
  const cfg = join(workdir(), `haproxy-${port}.cfg`)
  writeFileSync(cfg, haproxyConfig(port, backends, plan.maxconn))
  const lbs = Array.from({ length: plan.processes }, (_, i) => run(`haproxy-${i}`, [which('haproxy')!, '-db', '-f', cfg], { fdLimit: plan.fdLimit }))
  // In rotation: every replica has answered through it (its health checks passed).
  const seen = new Set<string | null>()
  await ready(lbs[0]!, `HAProxy forwarding to ${backends.length} replica(s)`, async () => {
    for (const lb of lbs) if (lb.proc.exitCode !== null) throw new Error(`${lb.name} exited with ${lb.proc.exitCode}:\n${lb.tail()}`)
    seen.add((await fetch(`http://127.0.0.1:${port}/healthz`)).headers.get('x-served-by'))
    return backends.every((_, i) => seen.has(`replica${i}`))
  }, 20_000)
  return { port, lbs: lbs.map((p) => Object.assign(p, { pid: p.proc.pid })) }
}

async function setUp(setup: Setup, k: number, fdLimit: number | undefined): Promise<Env> {
  const db = await tempDatabase()
  // The K agents registered before the replicas start, so each knows every token from its start-up
  // (a token it has not seen costs a lookup in the store on its first poll).
  const replicas: Service[] = []
  try {
    await migrate(db.url)
    await seedAgents(db.url, k)
    for (let i = 0; i < setup.replicas; i++) replicas.push(await startController({ logLevel: 'warn', databaseUrl: db.url, fdLimit }))
    await setConfig(replicas[0]!, `http://127.0.0.1:1/replicas-${k}`)
  } catch (e) {
    for (const r of replicas) await r.stop()
    await db.drop()
    throw e
  }
  return { setup, replicas, dropDb: db.drop }
}

/** Long-polls each replica holds now, as its /readyz counts them. */
const heldBy = (env: Env) => Promise.all(env.replicas.map(async (r) => Number((await call(`${r.url}/readyz`)).body?.held_polls ?? 0)))

/** One round: K agents through the set-up's front, all held, then one write to replica0 directly.
 *  A fresh HAProxy per round, so every round starts alike (no server connections kept from the last). */
async function round(env: Env, k: number): Promise<Round> {
  const writer = env.replicas[0]!
  const lb = env.setup.lb ? await startHaproxy(env.replicas.map((r) => r.port), k) : null
  const lbs = lb?.lbs ?? []
  const sims = spawnSims(k, lb?.port ?? writer.port)
  const abort = new AbortController()
  try {
    // A probe: one long-poll held on each replica straight from here, before the agents', so it is the
    // first its replica answers when it releases (holds are released in the order they came): its
    // answer is when that replica had the new version (the writer at once, the other once it heard
    // the NOTIFY).
    const etag = (await call(`${writer.url}/config`, { key: KEYS.agent })).headers.get('etag')!
    const probes = env.replicas.map((r) =>
      fetch(`${r.url}/config?wait=60`, { headers: { authorization: `Bearer ${KEYS.agent}`, 'if-none-match': etag }, signal: abort.signal }).then(async (res) => ((await res.arrayBuffer()), now()))
        .catch(() => NaN), // aborted when the round fails first
    )
    await waitFor('probes held', async () => (await heldBy(env)).every((h) => h === 1), 10_000)
    await Promise.all(sims.map((s) => s.next('ready', 10_000)))
    const sentMs = await hold(sims, etag)
    // Held means parked in a replica, as its /readyz counts them (less the probe); summed, K.
    let held: number[] = []
    await waitFor(`${k} polls held`, async () => (held = (await heldBy(env)).map((h) => h - 1)).reduce((a, b) => a + b, 0) === k, 60_000)
    // The batch of reports the agents' first polls cause is written first, so the release is measured alone.
    await Bun.sleep(FIRST_REPORTS_MS)
    const rss = env.replicas.map((r) => rssBytes(r.pid))
    const lbRss = lbs.length ? lbs.reduce((a, p) => a + rssBytes(p.pid), 0) : NaN
    // CPU over the write and the release, until the simulators have every agent updated: what each
    // part of the set-up spent on it (less sensitive to the other load than the times).
    const sum = (pids: number[]) => pids.reduce((a, pid) => a + cpuSeconds(pid), 0)
    const cpu = () => [...env.replicas.map((r) => cpuSeconds(r.pid)), sum(lbs.map((p) => p.pid)), sum(sims.map((s) => s.proc.pid))]
    const cpu0 = cpu()
    const { t0, t201, etag: target } = await write(writer.url, `replicas-${k}`)
    awaitVersion(sims, target)
    const { at, older, errors } = await updated(sims)
    const cpuMs = cpu().map((c, i) => (c - cpu0[i]!) * 1000)
    const heardMs = (await Promise.all(probes)).map((t) => t - t0)
    return { updated: at.length, lastMs: max(at) - t0, p50Ms: percentile(at, 50) - t0, writeMs: t201 - t0, errors, older, held, rss, lbRss, sentMs, heardMs, cpuMs }
  } finally {
    abort.abort()
    for (const s of sims) await s.stop()
    for (const p of lbs) await p.stop()
    // The agents are gone once no replica holds a poll: the next round starts from nothing held.
    await waitFor('held polls to end', async () => (await heldBy(env)).every((h) => h === 0), 20_000)
  }
}

const median = (xs: number[]) => percentile(xs, 50)
const clean = (k: number, rs: Round[]) => rs.length > 0 && rs.every((x) => x.updated === k && x.errors.length === 0)

export default {
  id: 'replicas',
  label: '5 replicas',
  title: 'K agents spread over two controller replicas behind HAProxy, one write',
  tools: ['haproxy'],
  async run({ quick }) {
    const ks = quick ? [200, 1000] : [2000, 10_000]
    const rounds = quick ? 1 : 3
    const results = new Map<string, Round[] | { skipped: string }>()
    const at = (k: number, s: Setup) => results.get(`${k} ${s.label}`)
    for (const k of ks) {
      // A lone replica holds K sockets and a few more (a simulator holds at most PER_SIM).
      const fdLimit = fdLimitFor(k)
      if (!fits(k)) {
        for (const s of SETUPS) results.set(`${k} ${s.label}`, { skipped: `open-file limit ${openFileLimit()}, and ulimit -n ${fdLimit} needs privileges` })
        continue
      }
      const envs: Env[] = []
      try {
        for (const s of SETUPS) {
          const plan = haproxyPlan(k)
          if (s.lb && 'skipped' in plan) results.set(`${k} ${s.label}`, plan)
          else envs.push(await setUp(s, k, fdLimit)), results.set(`${k} ${s.label}`, [])
        }
        for (let r = 0; r < rounds; r++)
          for (let i = 0; i < envs.length; i++) {
            const env = envs[(i + r) % envs.length]!
            ;(at(k, env.setup) as Round[]).push(await round(env, k))
          }
      } finally {
        for (const env of envs) {
          for (const r of env.replicas) await r.stop()
          await env.dropDb()
        }
      }
    }

    const rows: Row[] = ks.map((k) => {
      const two = at(k, TWO)
      const one = at(k, ONE)
      const measure = `K=${k}: write → all updated, 2 replicas (201 → all)`
      if (!two || 'skipped' in two) return row(measure, `SKIPPED: ${two?.skipped}`, '', '', '', null)
      if (!clean(k, two)) {
        const bad = two.find((x) => x.updated !== k || x.errors.length)!
        return row(measure, `${bad.updated}/${k} updated (${bad.errors.join('; ')})`, '', '', '', false)
      }
      const result = `${fmtMs(median(two.map((x) => x.lastMs)))} (${fmtMs(Math.max(0, median(two.map((x) => x.lastMs - x.writeMs))))}); held ${two.at(-1)!.held.join(' + ')}`
      if (!one || 'skipped' in one || !clean(k, one)) return row(measure, result, '1 replica, HAProxy: no figure', '', '', null)
      const direct = at(k, DIRECT)
      const alone = direct && !('skipped' in direct) && clean(k, direct) ? `; ${fmtMs(median(direct.map((x) => x.lastMs)))} direct` : ''
      // Each round measures the set-ups back to back: the median of the per-round ratios, as figure 1.
      const ratio = median(two.map((x, r) => x.lastMs / one[r]!.lastMs))
      return row(measure, result, `${fmtMs(median(one.map((x) => x.lastMs)))} (1 replica, HAProxy)${alone}`, `${ratio.toFixed(2)}${rounds > 1 ? ` (median of ${rounds})` : ''}`, '', null)
    })
    const head = ['K', 'set-up', 'write → all updated', '201 → all updated', 'median agent', 'write (POST → 201)', 'write → each replica has it (probe)', 'CPU ms, write → all: replicas; HAProxy; agents', 'held per replica', 'RSS held per replica (first round)', 'HAProxy RSS', 'connect + send', 'older answers', 'errors', 'write → all, per round']
    const details = ks.flatMap((k) =>
      SETUPS.map((s) => {
        const rs = at(k, s)!
        if ('skipped' in rs) return [String(k), s.label, `SKIPPED: ${rs.skipped}`, ...head.slice(3).map(() => '')]
        const m = (f: (x: Round) => number) => median(rs.map(f))
        const fromCreated = m((x) => x.lastMs - x.writeMs)
        const last = rs.at(-1)!
        return [String(k), s.label, fmtMs(m((x) => x.lastMs)), fromCreated <= 0 ? 'before the 201' : fmtMs(fromCreated), fmtMs(m((x) => x.p50Ms)), fmtMs(m((x) => x.writeMs)),
          rs[0]!.heardMs.map((_, i) => fmtMs(m((x) => x.heardMs[i]!))).join(' / '),
          `${rs[0]!.heardMs.map((_, i) => m((x) => x.cpuMs[i]!).toFixed(0)).join(' + ')}; ${s.lb ? m((x) => x.cpuMs.at(-2)!).toFixed(0) : '–'}; ${m((x) => x.cpuMs.at(-1)!).toFixed(0)}`, last.held.join(' + '), rs[0]!.rss.map(fmtMB).join(' + '), fmtMB(last.lbRss), fmtMs(m((x) => x.sentMs)), String(rs.reduce((a, x) => a + x.older, 0)),
          rs.flatMap((x) => x.errors).join('; ') || '0', rs.map((x) => x.lastMs.toFixed(0)).join(' ')]
      }),
    )
    const lbs = ks.map((k) => ((p) => ('skipped' in p ? '' : `${p.processes} HAProxy process${p.processes > 1 ? 'es' : ''} at K=${k}`))(haproxyPlan(k))).filter(Boolean)
    const params = `K = ${ks.join(', ')}; ${rounds} round${rounds > 1 ? 's' : ''} per set-up (${SETUPS.map((s) => s.label).join('; ')}), rotating, medians shown; a PostgreSQL database per set-up; the write to replica0 directly; ${lbs.join(', ')}; open-file limit ${openFileLimit()}`
    return { rows, params, details: [head, ...details] }
  },
} satisfies Figure
