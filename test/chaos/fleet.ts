/** A fleet for chaos suites: one controller (SQLite or PostgreSQL) and N agent/worker pairs as real
 *  processes, an upstream stub, and every way a suite touches them — start, kill -9, write, observe —
 *  each recorded in the history. The controller restarts on the same port and store, an agent with the
 *  same state file. */
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decode } from '../../agent/src/state/codec'
import type { AgentState } from '../../agent/src/state/model'
import { call, freePort, start, waitFor, type Proc } from '../kit'
import type { Event, History } from './history'
import { readPostgres, readSqlite } from './stores'

const ROOT = join(import.meta.dir, '..', '..')
const KEYS = { agent: 'chaos-agent-key', admin: 'chaos-admin-key', worker: 'chaos-worker-key' }
/** Small backoffs and timeouts, so a fleet heals within seconds. */
const AGENT_SETTINGS = { BACKOFF_BASE_MS: '50', BACKOFF_MAX_MS: '1000', FILE_RETRY_MS: '100', LONG_POLL_WAIT_SECONDS: '5', REQUEST_TIMEOUT_MS: '2000' }

export type FleetOptions = {
  dir: string
  history: History
  pairs: number
  /** PostgreSQL when set, else a SQLite file in `dir`. */
  databaseUrl?: string
  /** Settings for every agent on top of AGENT_SETTINGS. */
  agentEnv?: Record<string, string>
}

export type Slot = {
  slot: number
  /** The running agent's; each life gets a new port, so a restart never waits for the old one. */
  agentUrl: string
  stateFile: string
  agent: Proc | null
  /** The fail points of the running agent, if armed. */
  armed: string | null
  life: number
  worker: Proc
  workerPort: number
  workerUrl: string
  lastAgent: Extract<Event, { type: 'agent' }> | null
  lastWorker: Extract<Event, { type: 'worker' }> | null
  /** Observations of one target never overlap, so the history has them in the order they were made. */
  agentChain: Promise<void>
  workerChain: Promise<void>
}

type Doc = { store_id: string; version: number; url: string }

export class Fleet {
  readonly slots: Slot[] = []
  readonly controllerUrl: string
  readonly upstreamUrl: string
  readonly backoffMaxMs: number
  controller: Proc | null = null
  controllerLife = 0
  readonly #o: FleetOptions
  readonly #h: History
  readonly #sqlite: string
  readonly #agentCmd: string[]
  readonly #controllerPort: number
  readonly #upstream: ReturnType<typeof Bun.serve>
  /** Ports handed to processes of this fleet that are (or may soon be) listening. */
  readonly #ports = new Set<number>()
  #sampling: Promise<void>[] = []
  #samplingStopped = false
  /** The last report recorded per agent_id (`store/version`). */
  readonly #reported = new Map<string, string>()

  private constructor(o: FleetOptions, controllerPort: number, agentCmd: string[]) {
    this.#o = o
    this.#h = o.history
    this.#controllerPort = controllerPort
    this.controllerUrl = `http://127.0.0.1:${controllerPort}`
    this.#sqlite = join(o.dir, 'controller.sqlite')
    this.#agentCmd = agentCmd
    this.backoffMaxMs = Number({ ...AGENT_SETTINGS, ...o.agentEnv }.BACKOFF_MAX_MS)
    // The stub answers with the path it was called on, so a /hit shows which config it used.
    this.#upstream = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (req) => new Response(new URL(req.url).pathname) })
    this.upstreamUrl = `http://127.0.0.1:${this.#upstream.port}`
  }

  /** Controller, workers and agents up; the agents are bundled once, because a suite restarts them
   *  hundreds of times and a bundle starts in half the CPU time of the sources. */
  static async start(o: FleetOptions): Promise<Fleet> {
    const bin = join(o.dir, 'bin')
    const built = await Bun.build({ entrypoints: [join(ROOT, 'agent', 'src', 'index.ts')], target: 'bun', outdir: bin, naming: 'agent.js', throw: false })
    if (!built.success) throw new AggregateError(built.logs, `bundling the agent failed:\n${built.logs.join('\n')}`)
    const f = new Fleet(o, await freePort(), ['bun', '--no-env-file', join(bin, 'agent.js')])
    f.#ports.add(f.#controllerPort)
    try {
      await f.#startAll()
    } catch (e) {
      await f.close()
      throw e
    }
    return f
  }

  /** A free port no process of this fleet holds: freePort() alone can hand the same port to two agents
   *  starting at once, before the first has bound it. */
  async #port(): Promise<number> {
    for (;;) {
      const port = await freePort()
      if (this.#ports.has(port)) continue
      this.#ports.add(port)
      return port
    }
  }

  async #startAll() {
    await this.startController()
    for (let slot = 1; slot <= this.#o.pairs; slot++) {
      const workerPort = await this.#port()
      const worker = await this.#worker(workerPort, slot)
      const stateDir = join(this.#o.dir, `agent-${slot}`)
      mkdirSync(stateDir, { recursive: true, mode: 0o700 })
      this.slots.push({
        slot,
        agentUrl: '',
        stateFile: join(stateDir, 'state.json'),
        agent: null,
        armed: null,
        life: 0,
        worker,
        workerPort,
        workerUrl: `http://127.0.0.1:${workerPort}`,
        lastAgent: null,
        lastWorker: null,
        agentChain: Promise.resolve(),
        workerChain: Promise.resolve(),
      })
    }
    for (const s of this.slots) await this.startAgent(s)
  }

  get store(): 'sqlite' | 'postgres' {
    return this.#o.databaseUrl ? 'postgres' : 'sqlite'
  }

  /** Start `cmd` and wait until `ready` (by default its /healthz answers); a process that exits first
   *  fails the run with its log, unless it `mayDie`. */
  async #service(name: string, cmd: string[], cwd: string, env: Record<string, string>, o: { mayDie?: boolean; ready?: () => Promise<boolean> } = {}): Promise<Proc> {
    const p = start(name, cmd, { dir: this.#o.dir, cwd, env: { LOG_LEVEL: 'info', ...env } })
    const ready = o.ready ?? (async () => (await fetch(`http://127.0.0.1:${env.PORT}/healthz`)).ok)
    try {
      await waitFor(`${name} ready`, async () => p.proc.exitCode !== null || p.proc.signalCode !== null || (await ready()), 30_000, 10)
      if ((p.proc.exitCode !== null || p.proc.signalCode !== null) && !o.mayDie) throw new Error(`${name} exited (${p.proc.exitCode ?? p.proc.signalCode}) before it was ready:\n${p.tail()}`)
    } catch (e) {
      await p.kill()
      throw e
    }
    return p
  }

  #worker(port: number, slot: number): Promise<Proc> {
    return this.#service(`worker-${slot}`, ['bun', '--no-env-file', 'src/index.ts'], join(ROOT, 'worker'), { PORT: String(port), AGENT_API_KEY: KEYS.worker })
  }

  async startController(): Promise<void> {
    const env: Record<string, string> = {
      PORT: String(this.#controllerPort),
      AGENT_API_KEY: KEYS.agent,
      ADMIN_API_KEY: KEYS.admin,
      POLL_INTERVAL_SECONDS: '0.2',
      PUBLIC_URL: this.controllerUrl,
      ...(this.#o.databaseUrl ? { DATABASE_URL: this.#o.databaseUrl } : { SQLITE_PATH: this.#sqlite }),
    }
    this.controller = await this.#service('controller', ['bun', '--no-env-file', 'src/index.ts'], join(ROOT, 'controller'), env)
    this.#h.record({ type: 'start', target: 'controller', life: ++this.controllerLife })
  }

  /** kill -9 the controller (or note that it died on its own). */
  async killController(): Promise<void> {
    const p = this.controller!
    const by = gone(p) ? 'itself' : 'chaos'
    await p.kill()
    this.controller = null
    this.#h.record({ type: 'kill', target: 'controller', life: this.controllerLife, by, signal: signalOf(p), code: p.proc.exitCode })
  }

  /** Start the slot's agent, armed with `failPoints` (TEST_FAIL_POINTS) if given. Returns once it is
   *  healthy, or has already died (an armed agent can die in its first save). */
  async startAgent(s: Slot, failPoints?: string): Promise<void> {
    const port = await this.#port()
    s.agentUrl = `http://127.0.0.1:${port}`
    const env: Record<string, string> = {
      ...AGENT_SETTINGS,
      ...this.#o.agentEnv,
      PORT: String(port),
      CONTROLLER_URL: this.controllerUrl,
      CONTROLLER_API_KEY: KEYS.agent,
      WORKER_URL: s.workerUrl,
      WORKER_API_KEY: KEYS.worker,
      STATE_FILE: s.stateFile,
      ...(failPoints ? { TEST_FAIL_POINTS: failPoints } : {}),
    }
    s.life++
    s.armed = failPoints ?? null
    this.#h.record({ type: 'start', target: 'agent', slot: s.slot, life: s.life, ...(failPoints ? { fail_points: failPoints } : {}) })
    // Ready once this slot's agent answers on its port; one that dies first is found dead by killAgent,
    // which says why.
    s.agent = await this.#service(`agent-${s.slot}`, this.#agentCmd, this.#o.dir, env, { mayDie: true, ready: async () => (await this.#agentState(s)) !== null })
  }

  /** Let the agent run `ms` (or until it dies in a save), note what it shows, then kill -9 it and read
   *  its state file from disk while it is dead. */
  async killAgent(s: Slot, ms: number): Promise<'chaos' | 'fail-point' | 'itself'> {
    const p = s.agent!
    if (await Promise.race([p.proc.exited.then(() => false), Bun.sleep(ms).then(() => true)])) await this.observeAgent(s)
    const deadBefore = gone(p)
    await p.kill()
    const by = !deadBefore ? 'chaos' : s.armed && p.proc.signalCode === 'SIGKILL' ? 'fail-point' : 'itself'
    this.#h.record({ type: 'kill', target: 'agent', slot: s.slot, life: s.life, by, signal: signalOf(p), code: p.proc.exitCode })
    s.agent = null
    this.#ports.delete(Number(new URL(s.agentUrl).port))
    this.readStateFile(s)
    return by
  }

  /** The slot's state file as the agent would load it (the file, else its backup), into the history. */
  readStateFile(s: Slot): void {
    const problems: string[] = []
    let found: { state: AgentState; from: 'primary' | 'backup' } | null = null
    for (const [path, from] of [[s.stateFile, 'primary'], [`${s.stateFile}.bak`, 'backup']] as const) {
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${from}: ${(e as Error).message}`)
        continue
      }
      const r = decode(text)
      if ('problem' in r) problems.push(`${from}: ${r.problem}`)
      else {
        found = { state: r.state, from }
        break
      }
    }
    const st = found?.state
    this.#h.record({
      type: 'agent-file',
      slot: s.slot,
      life: s.life,
      from: found?.from ?? 'none',
      problems,
      agent_id: st?.agent_id ?? null,
      store_id: st?.config?.store_id ?? null,
      version: st?.config?.version ?? null,
      url: st?.config?.url ?? null,
      worker_version: st?.worker_version ?? null,
    })
  }

  observeAgent(s: Slot): Promise<void> {
    return (s.agentChain = s.agentChain.then(async () => {
      const life = s.life
      const b = await this.#agentState(s)
      if (!b) return
      s.lastAgent = this.#h.record({ type: 'agent', slot: s.slot, life, agent_id: b.agent_id, store_id: b.store_id, version: b.version, url: b.url, worker_version: b.worker_version })
    }))
  }

  /** The slot's agent's /state, or null when it does not answer, or when what answers is not this slot's
   *  agent (its state file tells). */
  async #agentState(s: Slot): Promise<any> {
    const b = await getJson(`${s.agentUrl}/state`)
    return b?.state_file?.path === s.stateFile ? b : null
  }

  observeWorker(s: Slot): Promise<void> {
    return (s.workerChain = s.workerChain.then(async () => {
      const b = await getJson(`${s.workerUrl}/state`)
      if (!b) return
      s.lastWorker = this.#h.record({ type: 'worker', slot: s.slot, store_id: b.store_id, version: b.version, url: b.url })
    }))
  }

  /** What the controller has heard each agent report as applied, into the history when it changed. An
   *  answer shows reports received before it came, so each is recorded at the answer's arrival. */
  async observeReports(): Promise<void> {
    if (!this.controller) return
    const cfg = await getJson(`${this.controllerUrl}/config`, KEYS.admin)
    const list = cfg && (await getJson(`${this.controllerUrl}/agents`, KEYS.admin))
    if (!list) return
    for (const a of list.agents as { agent_id: string; applied_version: number | null }[]) {
      const key = `${cfg.store_id}/${a.applied_version}`
      if (a.applied_version === null || this.#reported.get(a.agent_id) === key) continue
      this.#reported.set(a.agent_id, key)
      this.#h.record({ type: 'reported', agent_id: a.agent_id, store_id: cfg.store_id, version: a.applied_version, url: null })
    }
  }

  /** Observe every agent and worker, and the controller's view of the agents' reports, each in its own
   *  loop, every `everyMs`, until stopSampling(). */
  startSampling(everyMs: number): void {
    this.#samplingStopped = false
    const loop = async (observe: () => Promise<void>) => {
      while (!this.#samplingStopped) {
        await observe()
        await Bun.sleep(everyMs)
      }
    }
    this.#sampling = [...this.slots.flatMap((s) => [loop(() => this.observeAgent(s)), loop(() => this.observeWorker(s))]), loop(() => this.observeReports())]
  }

  async stopSampling(): Promise<void> {
    this.#samplingStopped = true
    await Promise.all(this.#sampling)
  }

  /** POST /config with `url`; the answer (or that none came) goes into the history. */
  async write(url: string): Promise<number | null> {
    const sent = this.#h.now()
    try {
      const r = await call(`${this.controllerUrl}/config`, { method: 'POST', key: KEYS.admin, json: { url }, signal: AbortSignal.timeout(10_000) })
      const ok = r.status === 201 || r.status === 200
      this.#h.record({ type: 'write', sent, url, status: r.status, ...(ok ? { version: r.body.version, store_id: r.body.store_id } : {}) })
      return r.status
    } catch (e) {
      this.#h.record({ type: 'write', sent, url, status: null, error: String((e as Error).message ?? e).slice(0, 200) })
      return null
    }
  }

  /** The controller's current config. */
  async current(): Promise<Doc> {
    const r = await call(`${this.controllerUrl}/config`, { key: KEYS.admin, signal: AbortSignal.timeout(5000) })
    if (r.status !== 200) throw new Error(`GET /config answered ${r.status}: ${JSON.stringify(r.body)}`)
    return { store_id: r.body.store_id, version: r.body.version, url: r.body.url }
  }

  /** GET /hit on the slot's worker: which URL the upstream stub was called on. */
  async hit(s: Slot): Promise<void> {
    const res = await fetch(`${s.workerUrl}/hit`, { signal: AbortSignal.timeout(5000) }).catch(() => null)
    const text = res ? await res.text() : ''
    this.#h.record({ type: 'hit', slot: s.slot, status: res?.status ?? 0, called: res?.status === 200 ? `${this.upstreamUrl}${text}` : null })
  }

  /** Every version in the store, read from the database (call it while no controller runs, so every
   *  answer it gave is already there). */
  async readStore(): Promise<void> {
    const at = this.#h.now()
    const content = this.#o.databaseUrl ? await readPostgres(this.#o.databaseUrl) : readSqlite(this.#sqlite, this.#o.dir)
    this.#h.record({ type: 'store', ...content }, at)
  }

  /** A controller or workers that died on their own are noted (the checker reports it) and started again. */
  async reviveDead(): Promise<void> {
    if (this.controller && gone(this.controller)) {
      await this.killController()
      await this.startController()
    }
    for (const s of this.slots) {
      if (!gone(s.worker)) continue
      await s.worker.kill()
      this.#h.record({ type: 'kill', target: 'worker', slot: s.slot, life: 1, by: 'itself', signal: signalOf(s.worker), code: s.worker.proc.exitCode })
      s.worker = await this.#worker(s.workerPort, s.slot)
    }
  }

  /** kill -9 everything the fleet started, and stop the stub. */
  async close(): Promise<void> {
    await this.stopSampling()
    await Promise.all([this.controller?.kill(), ...this.slots.flatMap((s) => [s.agent?.kill(), s.worker.kill()])])
    this.controller = null
    for (const s of this.slots) s.agent = null
    this.#upstream.stop(true)
  }
}

/** GET a JSON page, or null when the process is not there (killed, restarting). */
async function getJson(url: string, key?: string): Promise<any> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000), headers: key ? { authorization: `Bearer ${key}` } : {} })
    return r.ok ? await r.json() : null
  } catch {
    return null
  }
}

const signalOf = (p: Proc) => (p.proc.signalCode === null ? null : String(p.proc.signalCode))

/** The process has ended, reaped or not (under load Bun may reap a dead child late). */
function gone(p: Proc): boolean {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return true
  try {
    return readFileSync(`/proc/${p.proc.pid}/stat`, 'utf8').split(') ')[1]?.[0] === 'Z'
  } catch {
    return true
  }
}
