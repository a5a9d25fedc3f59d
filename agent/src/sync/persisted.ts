import { emptyState, type AgentState } from '../state'
import type { AgentDeps } from './deps'
import { after, Loop, sleep, type Next } from './loop'

export type StateFileStatus = { ok: boolean; last_error: string | null; loaded_from: string }

/** The agent's state: loaded once at start, changed only through update(), which starts writing the
 *  state file at once (one save at a time: changes made meanwhile go into the next one; when the file
 *  cannot be written, the state stays in memory and the save is retried every FILE_RETRY_MS).
 *
 *  Three views of it: `current`, the newest, which the loops act on; `shown`, what /state shows: the
 *  newest whose save is over (saved, or failed and kept in memory), as when saving held up everything
 *  else; `saved`, what the file holds for sure: the state of the last durable save. */
export class PersistedState {
  #state: AgentState
  #shown: AgentState
  #saved: AgentState
  #dirty = false
  /** A change not yet saved durably: the next save fsyncs. */
  #durableDue = false
  readonly #saver: Loop
  readonly status: StateFileStatus = { ok: true, last_error: null, loaded_from: 'none' }

  constructor(
    private readonly deps: AgentDeps,
    private readonly onError: (message: string) => void,
    /** Called after each durable save: what the agent may report has grown. */
    private readonly onSaved: () => void = () => {},
  ) {
    this.#saver = new Loop(
      () => this.#saveStep(),
      (e) => {
        deps.log.error('unexpected error saving the state file', { error: e as Error })
        return after(deps.settings.fileRetryMs)
      },
    )
    this.#state = this.#shown = this.#saved = this.#load()
  }

  get current(): AgentState {
    return this.#state
  }

  get shown(): AgentState {
    return this.#shown
  }

  /** The state as the file holds it for sure: after a crash at any moment, at least this is loaded. */
  get saved(): AgentState {
    return this.#saved
  }

  /** Change the state and start saving it. `meanwhile` runs once the change is in `current` and before
   *  the save starts: the push of a new config starts there, so the worker applies it while the file is
   *  written. A change of `worker_version` alone is saved without fsync (see fileStateStore: nothing is
   *  reported on it); any other change durably. */
  update(patch: Partial<AgentState>, meanwhile?: () => void): void {
    this.#state = Object.freeze({ ...this.#state, ...patch })
    this.#dirty = true
    for (const k in patch) if (k !== 'worker_version') this.#durableDue = true
    meanwhile?.()
    this.#saver.runNow()
  }

  /** On shutdown: wait for a save under way, then save what is left once more. */
  async flush(): Promise<void> {
    await this.#saver.settle()
    if (this.#dirty) await this.#save()
  }

  #load(): AgentState {
    const { log, settings, store } = this.deps
    let loaded: ReturnType<typeof store.load>
    try {
      loaded = store.load()
    } catch (e) {
      loaded = { state: null, from: 'none', problems: [`cannot read the state: ${(e as Error).message}`] }
    }
    this.status.loaded_from = loaded.from
    if (loaded.problems.length)
      log.warn(
        loaded.state ? 'state file damaged; recovered the previous good copy' : 'state file damaged and no good copy; starting fresh and registering anew',
        { problems: loaded.problems, path: settings.stateFile },
      )
    if (loaded.state) log.info('state loaded', { from: loaded.from, agent_id: loaded.state.agent_id, version: loaded.state.config?.version ?? null })
    return Object.freeze(loaded.state ?? emptyState())
  }

  /** Save until nothing is left; after a failure, again in FILE_RETRY_MS (or at the next change). */
  async #saveStep(): Promise<Next> {
    while (this.#dirty) if (!(await this.#save())) return after(this.deps.settings.fileRetryMs)
    return sleep
  }

  async #save(): Promise<boolean> {
    const { log, settings, store } = this.deps
    const state = this.#state
    const durable = this.#durableDue
    this.#dirty = false
    this.#durableDue = false
    try {
      const { warning } = await store.save(state, { durable })
      if (warning) log.warn('state saved without a backup copy', { warning, path: settings.stateFile })
      if (!this.status.ok) log.info('state file writable again', { path: settings.stateFile })
      this.status.ok = true
      this.status.last_error = null
      this.#shown = state
      if (durable) {
        this.#saved = state
        this.onSaved()
      }
      return true
    } catch (e) {
      this.#dirty = true
      if (durable) this.#durableDue = true
      this.#shown = state
      const message = `cannot write ${settings.stateFile}: ${(e as Error).message}`
      if (this.deps.counters) this.deps.counters.stateWriteFailures++
      if (this.status.ok) log.error('state file error; keeping state in memory and retrying', { error: message })
      this.status.ok = false
      this.status.last_error = message
      this.onError(message)
      return false
    }
  }
}
