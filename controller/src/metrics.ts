import { Counter, createMetrics, Gauge, Histogram, type Metrics } from '@dcm/shared'
import { storeErrors } from './store/guard'

/** The fleet's statuses as GET /agents sums them up. */
export type AgentsSummary = { in_sync: number; behind: number; rejected: number; stale: number }

type AgentsProvider = () => AgentsSummary | null | Promise<AgentsSummary | null>
let agentsProvider: AgentsProvider | null = null

/** Where dcm_agents{status} reads the fleet from, at each scrape (null, the default: no samples). */
export function setAgentsProvider(provider: AgentsProvider | null): void {
  agentsProvider = provider
}

// Made once per process and registered in each registry made below: observeConvergence works from
// anywhere, before or after the registry exists.
const agents = new Gauge({
  name: 'dcm_agents',
  help: 'Agents by status (in_sync, behind, rejected, stale), as GET /agents counts them',
  labelNames: ['status'],
  registers: [],
  async collect() {
    this.reset()
    // The store may be down: then no samples, and the scrape still answers.
    const summary = await Promise.resolve(agentsProvider?.()).catch(() => null)
    if (summary) for (const [status, n] of Object.entries(summary)) this.set({ status }, n)
  },
})

const convergence = new Histogram({
  name: 'dcm_config_convergence_seconds',
  help: "Time from a config write to each agent's report that its worker applied that version",
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
  registers: [],
})

/** One agent's worker applied a version `seconds` after it was written. */
export function observeConvergence(seconds: number): void {
  if (Number.isFinite(seconds) && seconds >= 0) convergence.observe(seconds)
}

/** The routes whose POST is a config write, and what each answer means for dcm_config_writes_total. */
const WRITE_ROUTES = ['/config', '/config/rollback']
const writeResult = (status: number) =>
  status === 201 ? 'created' : status < 300 ? 'unchanged' : status === 412 ? 'precondition_failed' : status < 500 ? 'refused' : 'failed'

/** The controller's registry: the shared HTTP and process metrics, and what the controller knows, read
 *  at scrape time through `read` (nothing on the hot path). */
export type RolloutReading = { state: string; step: number; errorRate: number | null }

export function controllerMetrics(read: { version: () => number | null; held: () => number; rollout?: () => RolloutReading | null }): Metrics {
  const metrics = createMetrics()
  const { registry, http } = metrics
  new Gauge({
    name: 'dcm_config_version',
    help: 'Version of the config this replica serves (0 while none is set)',
    registers: [registry],
    collect() {
      this.set(read.version() ?? 0)
    },
  })
  new Gauge({
    name: 'dcm_longpolls_held',
    help: 'Long-polls held by this replica right now',
    registers: [registry],
    collect() {
      this.set(read.held())
    },
  })
  new Counter({
    name: 'dcm_store_errors_total',
    help: 'Store calls that failed or missed their deadline and were answered 503',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(storeErrors.total)
    },
  })
  new Counter({
    name: 'dcm_config_writes_total',
    help: 'Config writes (POST /config, POST /config/rollback) by result: created, unchanged, refused (4xx), precondition_failed (412), failed (5xx)',
    labelNames: ['result'],
    registers: [registry],
    // Read from the HTTP counts of the write routes: a write's answer is its result.
    collect() {
      this.reset()
      for (const result of ['created', 'unchanged', 'refused', 'precondition_failed', 'failed']) this.inc({ result }, 0)
      for (const route of WRITE_ROUTES)
        for (const [status, n] of Object.entries(http.routes.get(route)?.answers.POST ?? {})) this.inc({ result: writeResult(Number(status)) }, n)
    },
  })
  new Gauge({
    name: 'dcm_rollout_state',
    help: 'The active rollout: 1 for its state (running or paused); no samples when none is active',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset()
      const r = read.rollout?.()
      if (r) this.set({ state: r.state }, 1)
    },
  })
  new Gauge({
    name: 'dcm_rollout_step',
    help: 'Step in force of the active rollout, counted from 1 (0 when none is active)',
    registers: [registry],
    collect() {
      const r = read.rollout?.()
      this.set(r ? r.step + 1 : 0)
    },
  })
  new Gauge({
    name: 'dcm_rollout_cohort_error_rate',
    help: "The active rollout's cohort error rate at its last judgement (no samples before one, or with no hits)",
    registers: [registry],
    collect() {
      this.reset()
      const rate = read.rollout?.()?.errorRate
      if (rate !== null && rate !== undefined) this.set(rate)
    },
  })
  registry.registerMetric(agents)
  registry.registerMetric(convergence)
  return metrics
}
