/** The crash suite (issue #10): kill -9 agents at random moments during a stream of config changes —
 *  also inside state-file saves, by arming the agents' test-only fail points at random — and kill -9
 *  the controller during bursts of parallel writes; after each round let everything heal, and in the
 *  end check promises 1–4 over the whole history. Every choice comes from the seed; what the processes
 *  do with their own timing (and the fail points' own dice) does not. */
import { FAIL_POINTS } from '../../agent/src/state/file'
import { waitFor } from '../kit'
import { check } from './check'
import { Fleet, type Slot } from './fleet'
import { History } from './history'
import { rng, type Rng } from './rng'
import type { SuiteResult } from './suites'

export type CrashOptions = {
  seed: number
  /** Logs, state files, the SQLite store, and the history of a failed run. */
  dir: string
  /** PostgreSQL (a fresh database) when set, else SQLite. */
  databaseUrl?: string
  pairs?: number
  /** No new round once this many agents were killed (by the scenario or a fail point) … */
  agentKills?: number
  /** … or once this much time has passed. */
  ms?: number
  log?: (line: string) => void
}

/** Time the fleet gets, beyond the agents' backoff cap, to converge after a heal. */
const CONVERGE_SLACK_MS = 5000
const SAMPLE_EVERY_MS = 40

export async function crash(o: CrashOptions): Promise<SuiteResult> {
  const history = new History()
  const log = o.log ?? (() => {})
  const seed = rng(o.seed)
  const fleet = await Fleet.start({ dir: o.dir, history, pairs: o.pairs ?? 3, databaseUrl: o.databaseUrl })
  const kills = () => history.count((e) => e.type === 'kill' && e.target === 'agent' && e.by !== 'itself')
  const t0 = performance.now()
  const done = () => (o.agentKills !== undefined && kills() >= o.agentKills) || (o.ms !== undefined && performance.now() - t0 >= o.ms)
  const w = { n: 0, lastAcked: null as string | null, paused: false }
  try {
    fleet.startSampling(SAMPLE_EVERY_MS)
    if ((await fleet.write(`${fleet.upstreamUrl}/w/0`)) === 201) w.lastAcked = `${fleet.upstreamUrl}/w/0`
    for (let round = 1; !done(); round++) {
      const r = seed.fork(`round ${round}`)
      const ends = performance.now() + r.int(2000, 5000)
      const over = () => performance.now() >= ends
      await Promise.all([writer(fleet, r.fork('writer'), over, w), controllerChaos(fleet, r.fork('controller'), ends, w), ...fleet.slots.map((s) => agentChaos(fleet, s, r.fork(`agent ${s.slot}`), over))])
      await heal(fleet, history)
      log(`${fleet.store} round ${round}: ${kills()} agent kills, ${history.count((e) => e.type === 'write')} writes, ${((performance.now() - t0) / 1000).toFixed(0)} s`)
    }
    // A last kill of each agent, so its state file is read with everything it confirmed at the end.
    for (const s of fleet.slots) await fleet.killAgent(s, 0)
  } finally {
    await fleet.close()
  }
  // Nothing runs now: every answer the controller gave is in the database.
  await fleet.readStore()
  return { history, violations: check(history.events), stats: stats(history, fleet) }
}

/** A stream of changes, one at a time, each to a new URL (now and then the last acknowledged one again,
 *  which the controller answers 200). Paused while the controller is down. */
async function writer(fleet: Fleet, r: Rng, over: () => boolean, w: { n: number; lastAcked: string | null; paused: boolean }) {
  while (!over()) {
    if (!w.paused) {
      const url = w.lastAcked && r.chance(0.05) ? w.lastAcked : `${fleet.upstreamUrl}/w/${++w.n}`
      if ((await fleet.write(url)) === 201) w.lastAcked = url
    }
    await Bun.sleep(r.int(10, 120))
  }
}

/** Now and then, a burst of parallel writes with the controller killed in its middle; the store is read
 *  while it is dead, then it starts again on the same store. */
async function controllerChaos(fleet: Fleet, r: Rng, ends: number, w: { n: number; paused: boolean }) {
  if (!r.chance(0.7)) return
  await Bun.sleep(r.int(0, Math.max(0, ends - performance.now() - 500)))
  w.paused = true
  const burst = Array.from({ length: r.int(5, 30) }, () => fleet.write(`${fleet.upstreamUrl}/b/${++w.n}`))
  await Bun.sleep(r.int(0, 40))
  await fleet.killController()
  await Promise.all(burst)
  await fleet.readStore()
  await Bun.sleep(r.int(0, 500))
  await fleet.startController()
  w.paused = false
}

/** One agent slot: start the agent (armed with fail points half of the time), let it run a random while
 *  or until it dies in a save, kill -9 it, read its state file; again until the round is over. */
async function agentChaos(fleet: Fleet, s: Slot, r: Rng, over: () => boolean) {
  while (!over()) {
    if (!s.agent) await fleet.startAgent(s, r.chance(0.5) ? failPoints(r) : undefined)
    await fleet.killAgent(s, r.chance(0.1) ? 0 : r.int(0, s.armed ? 1500 : 600))
  }
}

/** `*=p` (every point) or one point, with a probability per save that makes a death likely within a
 *  few changes. */
function failPoints(r: Rng): string {
  return r.chance(0.5) ? `*=${r.pick([0.02, 0.05, 0.1, 0.25])}` : `${r.pick(FAIL_POINTS)}=${r.pick([0.1, 0.3, 1])}`
}

/** Every fault healed: the controller up, every agent up and unarmed. The fleet then has the agents'
 *  backoff cap plus a few seconds to reach the controller's current config (the checker judges it);
 *  each worker's /hit is tried once it has, or once the time is up. */
async function heal(fleet: Fleet, history: History) {
  await fleet.reviveDead()
  if (!fleet.controller) await fleet.startController()
  await Promise.all(fleet.slots.map((s) => (s.agent ? undefined : fleet.startAgent(s))))
  const current = await fleet.current()
  const deadline_ms = fleet.backoffMaxMs + CONVERGE_SLACK_MS
  const healed = history.record({ type: 'heal', deadline_ms, current })
  const reached = (s: Slot) =>
    s.lastAgent !== null && s.lastAgent.at > healed.at && s.lastAgent.version === current.version && s.lastAgent.store_id === current.store_id && s.lastAgent.worker_version === current.version &&
    s.lastWorker !== null && s.lastWorker.at > healed.at && s.lastWorker.version === current.version && s.lastWorker.store_id === current.store_id
  await waitFor('the fleet to converge', () => fleet.slots.every(reached), deadline_ms, 20).catch(() => {})
  await Promise.all(fleet.slots.map((s) => fleet.hit(s)))
}

function stats(h: History, fleet: Fleet): Record<string, number> {
  const n = (pred: Parameters<History['count']>[0]) => h.count(pred)
  return {
    agent_kills: n((e) => e.type === 'kill' && e.target === 'agent' && e.by !== 'itself'),
    in_a_save: n((e) => e.type === 'kill' && e.target === 'agent' && e.by === 'fail-point'),
    controller_kills: n((e) => e.type === 'kill' && e.target === 'controller' && e.by === 'chaos'),
    restarts: n((e) => e.type === 'start') - fleet.slots.length - 1,
    writes: n((e) => e.type === 'write'),
    answered_201: n((e) => e.type === 'write' && e.status === 201),
    answered_200: n((e) => e.type === 'write' && e.status === 200),
    answered_503: n((e) => e.type === 'write' && e.status === 503),
    no_answer: n((e) => e.type === 'write' && e.status === null),
    heals: n((e) => e.type === 'heal'),
    observations: n((e) => e.type === 'agent' || e.type === 'worker' || e.type === 'agent-file'),
  }
}
