/** The simulated fleet as the figures that use it drive it (3 fleet, 5 replicas): its agents seeded
 *  into the controller's database, simulator processes (fleet-sim.ts) of up to PER_SIM agents each
 *  spoken to over IPC, the write from the bench, and what the simulators report put together. Times
 *  are absolute (`now()`), as the simulators report theirs. */
import { join } from 'node:path'
import { KEYS, ready, run, startController } from './dcm'
import { canSetFileLimit, openFileLimit } from './proc'

/** Simulated agents per process: one Bun process reads and answers about this many releases in the
 *  time the controller makes them, so the simulator is not what is measured (see results.md). */
export const PER_SIM = 5000

/** How long after K new agents are held before a release is measured: the batch of reports their
 *  first polls cause is written within FLEET_FLUSH_SECONDS (2 s), so the release is measured alone. */
export const FIRST_REPORTS_MS = 2500

export const now = () => performance.timeOrigin + performance.now()
export const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), -Infinity)

/** A bench process of ours (a file in bench/) spoken to over IPC: `next` waits for its next message,
 *  which must be `event`. */
export function child(name: string, file: string, env: Record<string, string>, fdLimit?: number) {
  const inbox: any[] = []
  const p = run(name, ['bun', join(import.meta.dir, '..', file)], { env, fdLimit, ipc: (m) => inbox.push(m) })
  const next = async (event: string, timeoutMs: number) => {
    const m = await ready(p, `${name} ${event}`, () => inbox.shift(), timeoutMs)
    if (m.event !== event) throw new Error(`${name}: ${m.message ?? m.event}`)
    return m
  }
  return Object.assign(p, { next, send: (m: object) => p.proc.send(m) })
}
export type Child = ReturnType<typeof child>

/** Open files a process needs for `n` sockets: they, plus its logs, libraries, database pool and room. */
export const filesFor = (n: number) => n + 1000

/** The `ulimit -n` a process needs for `n` sockets when the inherited limit is too low (undefined: it
 *  is enough). Raising the hard limit takes root with CAP_SYS_RESOURCE. */
export const fdLimitFor = (n: number) => (openFileLimit() >= filesFor(n) ? undefined : filesFor(n))
export const fits = (n: number) => fdLimitFor(n) === undefined || canSetFileLimit(filesFor(n))

/** The controller's tables in a fresh database (its migrations run at start-up), for seedAgents. */
export const migrate = async (databaseUrl: string) => (await startController({ logLevel: 'warn', databaseUrl })).stop()

/** Simulators for agents 0 … k-1 polling 127.0.0.1:`port`, PER_SIM at most each; started, not yet
 *  ready (each says `ready` first). */
export function spawnSims(k: number, port: number): Child[] {
  const sims = Math.ceil(k / PER_SIM)
  const fdLimit = fdLimitFor(Math.ceil(k / sims))
  return Array.from({ length: sims }, (_, s) => {
    const [from, to] = [Math.floor((s * k) / sims), Math.floor(((s + 1) * k) / sims)]
    return child(`fleet-sim-${s}`, 'fleet-sim.ts', { FROM: String(from), TO: String(to), CONTROLLER_PORT: String(port) }, fdLimit)
  })
}

/** Every agent sends its first poll with `etag`; throws if any could not. Returns the longest time a
 *  simulator took to connect its agents and send their polls (ms). */
export async function hold(sims: Child[], etag: string): Promise<number> {
  for (const s of sims) s.send({ cmd: 'hold', etag })
  const sent = await Promise.all(sims.map((s) => s.next('sent', 120_000)))
  const broken = sent.find((s) => s.errors)
  if (broken) throw new Error(`fleet-sim: ${broken.errors} errors while connecting, the last: ${broken.lastError}`)
  return max(sent.map((s) => s.ms as number))
}

/** One write: POST /config with a new URL to `url` (a controller or one replica). `t0` when it was sent,
 *  `t201` when answered, and the new version's ETag. */
export async function write(url: string, name: string): Promise<{ t0: number; t201: number; etag: string }> {
  const t0 = now()
  const res = await fetch(`${url}/config`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:1/${name}-${Date.now()}` }),
  })
  const t201 = now()
  const etag = res.headers.get('etag')
  await res.arrayBuffer()
  if (res.status !== 201 || !etag) throw new Error(`POST /config answered ${res.status}`)
  return { t0, t201, etag }
}

/** Tells every simulator to wait until its agents have `etag` (and have polled again). Their answers
 *  are read with `updated`, so the bench can watch the controller meanwhile. */
export const awaitVersion = (sims: Child[], etag: string) => sims.forEach((s) => s.send({ cmd: 'await', etag }))

/** What the simulators saw, put together: when each updated agent got the version (sorted) and sent
 *  its next poll, the older versions left, and each simulator's errors (`n last error`). */
export type Updated = { at: number[]; rearmAt: number[]; older: number; errors: string[] }

export async function updated(sims: Child[], timeoutMs = 30_000): Promise<Updated> {
  const results = await Promise.all(sims.map((s) => s.next('result', timeoutMs)))
  return {
    at: results.flatMap((r) => r.at as number[]).sort((x, y) => x - y),
    rearmAt: results.flatMap((r) => r.rearmAt as number[]),
    older: results.reduce((a, r) => a + (r.older as number), 0),
    errors: results.filter((r) => r.errors).map((r) => `${r.errors} ${r.lastError}`),
  }
}
