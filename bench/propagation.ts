/** 2. Propagation: controller (SQLite) + agent (long-poll, the default) + worker as real processes. For
 *  each change: POST /config, then the moment the worker applies it, which the worker itself tells the
 *  script over IPC (bench/lib/taps.ts) instead of being asked GET /state back to back; GET /state is
 *  asked once afterwards, to check that it shows the version. Anchor: etcd's put → watch event on the same
 *  machine, as many puts, in the same run; the targets are computed from it. */
import { join } from 'node:path'
import { call } from '../test/kit'
import { etcdPutWatch } from './etcd'
import { KEYS, setConfig, startController, startService, workdir, type Service } from './lib/dcm'
import { row, type Figure } from './lib/report'
import { fmtMs, percentile } from './lib/stats'
import { clock, type Tap } from './lib/taps'
import { which } from './lib/tools'

/** p50 at most this many times etcd's put → watch p50 (three hops and a durable write against its one);
 *  p99 at most etcd's p99. */
const P50_OF_ETCD = 1.5
const TAPS = join(import.meta.dir, 'lib', 'taps.ts')
/** A fresh state file for each run: an agent with a cached config would push it to the new worker first. */
let runs = 0

type Ev = Extract<Tap, { version: number }>['ev']
type At = { arrived: number; own: number }

/** What the taps of the agent and the worker said, per event and version (first heard), on the script's
 *  clock: when it arrived, and when it happened by the sender's own clock (offset measured). */
class Heard {
  readonly #at = new Map<Ev, Map<number, At>>()
  readonly #waiting = new Set<{ ev: Ev; version: number; resolve: (at: number) => void }>()
  #clockReply: ((at: number) => void) | null = null

  /** The IPC handler for one process's taps. `offset` (its clock minus ours) is set by calibrate(). */
  source() {
    const src = { offset: 0, handle: (m: Tap) => this.#note(m, src.offset) }
    return src
  }

  /** The offset of a process's clock from ours: the quickest of 20 round trips, halved. */
  async calibrate(p: Service, src: { offset: number }) {
    let best = { rtt: Infinity, offset: 0 }
    for (let i = 0; i < 20; i++) {
      const sent = clock()
      const theirs = await new Promise<number>((resolve) => {
        this.#clockReply = resolve
        p.proc.send('clock')
      })
      const back = clock()
      if (back - sent < best.rtt) best = { rtt: back - sent, offset: theirs - (sent + back) / 2 }
    }
    src.offset = best.offset
  }

  #note(m: Tap, offset: number) {
    if (m.ev === 'clock') return this.#clockReply?.(m.at)
    const arrived = performance.now()
    const byVersion = this.#at.get(m.ev) ?? this.#at.set(m.ev, new Map()).get(m.ev)!
    if (!byVersion.has(m.version)) byVersion.set(m.version, { arrived, own: m.at - offset - performance.timeOrigin })
    for (const w of this.#waiting) if (w.ev === m.ev && m.version >= w.version) (this.#waiting.delete(w), w.resolve(arrived))
  }

  /** When `ev` was first heard of for `version` or a later one. */
  at(ev: Ev, version: number): At | undefined {
    let first: At | undefined
    for (const [v, at] of this.#at.get(ev) ?? []) if (v >= version && (first === undefined || at.arrived < first.arrived)) first = at
    return first
  }

  /** The arrival of `ev` for `version` or a later one, waited for up to `ms`. */
  wait(ev: Ev, version: number, ms: number, why: () => string): Promise<number> {
    const known = this.at(ev, version)
    if (known !== undefined) return Promise.resolve(known.arrived)
    const { promise, resolve, reject } = Promise.withResolvers<number>()
    const w = { ev, version, resolve }
    this.#waiting.add(w)
    const timer = setTimeout(() => (this.#waiting.delete(w), reject(new Error(`${ev} of version ${version} not heard within ${ms} ms\n${why()}`))), ms)
    return promise.finally(() => clearTimeout(timer))
  }
}

export default {
  id: 'propagation',
  label: '2 propagation',
  title: 'POST /config → the worker applied it, against etcd put → watch',
  tools: ['etcd'],
  async run({ quick }) {
    const o = quick ? { count: 30, warmup: 5 } : { count: 500, warmup: 20 }
    const heard = new Heard()
    const [fromWorker, fromAgent] = [heard.source(), heard.source()]
    const controller = await startController({ logLevel: 'warn' })
    const worker = await startService('worker', { LOG_LEVEL: 'warn', AGENT_API_KEY: KEYS.worker, BENCH_TAP: 'worker' }, { preload: TAPS, ipc: fromWorker.handle })
    const agentEnv = { CONTROLLER_URL: controller.url, CONTROLLER_API_KEY: KEYS.agent, WORKER_URL: worker.url, WORKER_API_KEY: KEYS.worker, BENCH_TAP: 'agent' }
    const agent = await startService('agent', { ...agentEnv, LOG_LEVEL: 'warn', STATE_FILE: join(workdir(), `agent-state-${++runs}.json`) }, { preload: TAPS, ipc: fromAgent.handle })
    await heard.calibrate(worker, fromWorker)
    await heard.calibrate(agent, fromAgent)
    const shows = async () => ((await call(`${worker.url}/state`)).body as { version: number | null }).version ?? 0
    const ms = { reply: [] as number[], post: [] as number[], write: [] as number[], toAgent: [] as number[], toPush: [] as number[], toWorker: [] as number[], toReport: [] as number[] }
    const changes: { version: number; t0: number }[] = []
    for (let i = 0; i < o.warmup + o.count; i++) {
      const t0 = performance.now()
      const wrote = (await setConfig(controller, `http://127.0.0.1:1/change-${i}`)).version
      const t201 = performance.now()
      // The first change waits for the agent to register; after it, 5 s is a failure.
      const applied = await heard.wait('applied', wrote, i ? 5000 : 30_000, () => `agent: ${agent.tail(5)}`)
      if ((await shows()) < wrote) throw new Error(`the worker applied version ${wrote} but its GET /state does not show it`)
      if (i >= o.warmup) {
        ms.reply.push(applied - t201)
        ms.post.push(applied - t0)
        ms.write.push(t201 - t0)
        changes.push({ version: wrote, t0 })
      }
      await Bun.sleep(Math.random() * 10) // changes land anywhere in the agent's cycle
    }
    // Where the time went, from the agent's and the worker's taps. The agent reports the last version
    // once its save is over: waited for, briefly.
    const last = changes.at(-1)!.version
    await heard.wait('reported', last, 5000, () => `agent: ${agent.tail(5)}`).catch(() => {})
    for (const c of changes) {
      const [received, push, applied, reported] = (['received', 'push', 'applied', 'reported'] as const).map((ev) => heard.at(ev, c.version)?.own)
      if (received !== undefined) ms.toAgent.push(received - c.t0)
      if (received !== undefined && push !== undefined) ms.toPush.push(push - received)
      if (push !== undefined && applied !== undefined) ms.toWorker.push(applied - push)
      if (applied !== undefined && reported !== undefined) ms.toReport.push(reported - applied)
    }
    for (const p of [agent, worker, controller]) await p.stop()
    const etcd = await etcdPutWatch(which('etcd')!, o)
    const [p50, p99, e50, e99] = [percentile(ms.reply, 50), percentile(ms.reply, 99), percentile(etcd.ms, 50), percentile(etcd.ms, 99)]
    const line = (name: string, xs: number[]) => [name, ...[50, 90, 99, 100].map((p) => fmtMs(percentile(xs, p)))]
    return {
      rows: [
        row(`201 → worker applied, p50 (${o.count} changes)`, fmtMs(p50), `${fmtMs(e50)} (etcd put→watch)`, (p50 / e50).toFixed(2), `≤ ${P50_OF_ETCD} × etcd = ${fmtMs(P50_OF_ETCD * e50)}`, p50 <= P50_OF_ETCD * e50),
        row('201 → worker applied, p99', fmtMs(p99), `${fmtMs(e99)} (etcd put→watch)`, (p99 / e99).toFixed(2), `≤ etcd = ${fmtMs(e99)}`, p99 <= e99),
      ],
      params: `${o.count} changes after ${o.warmup} unmeasured, 0–10 ms apart; the worker's apply heard over IPC; etcd ${etcd.version}, the same number of puts. Steps: by the services' own clocks (offset measured), each step's own percentiles, so they do not add up`,
      details: [
        ['Path', 'p50', 'p90', 'p99', 'max'],
        line('dcm: 201 → worker applied (the target measure)', ms.reply),
        line('dcm: POST sent → worker applied (write included)', ms.post),
        line(`etcd ${etcd.version}: put sent → watch event`, etcd.ms),
        line('step: POST sent → 201 (the controller stores it)', ms.write),
        line('step: POST sent → the agent has it (its long-poll answered)', ms.toAgent),
        line('step: the agent has it → its push to the worker sent', ms.toPush),
        line('step: push sent → the worker applied it', ms.toWorker),
        line('after: applied → the agent reports it to the controller (its state file holds it)', ms.toReport),
      ],
    }
  },
} satisfies Figure
