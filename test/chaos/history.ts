/** The history of a chaos run: every write and its answer, every state observed, every kill and start,
 *  in the order they happened, each with the time since the run began (ms). The promises are checked
 *  over the whole history afterwards (check.ts), as etcd's robustness tests do. */
import { writeFileSync } from 'node:fs'

/** A config document as seen somewhere: which store, which version, which URL. */
export type Seen = { store_id: string | null; version: number | null; url: string | null }

export type Event =
  /** A POST /config and its answer: `status` null when none came (the controller died, or was down). */
  | { type: 'write'; at: number; sent: number; url: string; status: number | null; version?: number; store_id?: string; error?: string }
  /** An agent's GET /state. `life` counts the agent's starts in its slot. */
  | ({ type: 'agent'; at: number; slot: number; life: number; agent_id: string | null; worker_version: number | null } & Seen)
  /** An agent's state file read from disk while the agent was dead, as the agent would load it. */
  | ({ type: 'agent-file'; at: number; slot: number; life: number; from: 'primary' | 'backup' | 'none'; problems: string[]; agent_id: string | null; worker_version: number | null } & Seen)
  /** A worker's GET /state. */
  | ({ type: 'worker'; at: number; slot: number } & Seen)
  /** What the controller heard an agent report as applied (X-Applied-Version, read from GET /agents when it
   *  changed), a version of the store the controller served then; `url` is not reported (null). */
  | ({ type: 'reported'; at: number; agent_id: string } & Seen)
  /** A worker's GET /hit after a heal: `called` is the URL the upstream stub saw. */
  | { type: 'hit'; at: number; slot: number; status: number; called: string | null }
  | { type: 'start'; at: number; target: 'agent' | 'controller' | 'worker'; slot?: number; life: number; fail_points?: string }
  /** `by`: the scenario's SIGKILL, a fail point inside a save (SIGKILL while armed), or the process itself. */
  | { type: 'kill'; at: number; target: 'agent' | 'controller' | 'worker'; slot?: number; life: number; by: 'chaos' | 'fail-point' | 'itself'; signal: string | null; code: number | null }
  /** Every version in the store, read from the database itself while no controller ran. */
  | { type: 'store'; at: number; store_id: string; versions: { version: number; url: string }[] }
  /** Every fault healed: the controller's current config, and how long the fleet has to reach it. */
  | { type: 'heal'; at: number; deadline_ms: number; current: { store_id: string; version: number; url: string } }

type Without<E, K extends PropertyKey> = E extends unknown ? Omit<E, K> : never
export type NewEvent = Without<Event, 'at'>

export class History {
  readonly events: Event[] = []
  readonly #t0 = performance.now()

  /** Milliseconds since the run began. */
  now(): number {
    return Math.round((performance.now() - this.#t0) * 10) / 10
  }

  /** Append an event, stamped now (or at `at`: when what it reports began, e.g. a read). */
  record<E extends NewEvent>(e: E, at = this.now()): E & { at: number } {
    const stamped = { ...e, at }
    this.events.push(stamped as unknown as Event)
    return stamped
  }

  count(pred: (e: Event) => boolean): number {
    return this.events.reduce((n, e) => n + (pred(e) ? 1 : 0), 0)
  }

  /** One JSON event per line, to read or replay a failed run's history. */
  save(path: string): void {
    writeFileSync(path, this.events.map((e) => JSON.stringify(e)).join('\n') + '\n')
  }
}
