import { emptyState, type AgentState } from '../state'
import type { AgentDeps } from './deps'
import { after, Loop, sleep, type Next } from './loop'

export type StateFileStatus = { ok: boolean; last_error: string | null; loaded_from: string }

/** The agent's state: loaded once at start, changed only through update(), which writes the state file
 *  before it returns (or, when the file cannot be written, keeps the state in memory and retries every
 *  FILE_RETRY_MS). */
export class PersistedState {
  #state: AgentState
  #dirty = false
  readonly #retry: Loop
  readonly status: StateFileStatus = { ok: true, last_error: null, loaded_from: 'none' }

  constructor(
    private readonly deps: AgentDeps,
    private readonly onError: (message: string) => void,
  ) {
    this.#retry = new Loop(
      async () => this.#saveStep(),
      (e) => {
        deps.log.error('unexpected error saving the state file', { error: e as Error })
        return after(deps.settings.fileRetryMs)
      },
    )
    this.#state = this.#load()
  }

  get current(): AgentState {
    return this.#state
  }

  /** Change the state and save it now; a failed save is retried in the background. */
  update(patch: Partial<AgentState>): void {
    this.#state = Object.freeze({ ...this.#state, ...patch })
    this.#dirty = true
    if (!this.#save()) this.#retry.kick()
  }

  /** The last save, on shutdown. */
  flush(): void {
    this.#retry.stop()
    if (this.#dirty) this.#save()
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

  #saveStep(): Next {
    return !this.#dirty || this.#save() ? sleep : after(this.deps.settings.fileRetryMs)
  }

  #save(): boolean {
    const { log, settings, store } = this.deps
    try {
      const { warning } = store.save(this.#state)
      this.#dirty = false
      if (warning) log.warn('state saved without a backup copy', { warning, path: settings.stateFile })
      if (!this.status.ok) log.info('state file writable again', { path: settings.stateFile })
      this.status.ok = true
      this.status.last_error = null
      return true
    } catch (e) {
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
