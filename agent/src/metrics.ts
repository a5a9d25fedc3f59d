import { Counter, createMetrics, Gauge, type Metrics } from '@dcm/shared'
import type { Agent } from './sync/agent'
import type { Outcome } from './sync/transport'

/** How a call to the controller or the worker ended, as dcm_agent_polls_total and _pushes_total label it. */
export const CALL_RESULTS = ['ok', 'not_modified', 'no_config', 'auth_refused', 'rejected', 'unavailable', 'unreachable'] as const
export type CallResult = (typeof CALL_RESULTS)[number]

export const resultOf = (out: Outcome): CallResult =>
  out.kind === 'auth'
    ? 'auth_refused'
    : out.kind === 'retry'
      ? out.status === undefined
        ? 'unreachable'
        : 'unavailable'
      : out.kind === 'rejected' && out.status === 404 && out.code === 'no_config'
        ? 'no_config'
        : out.kind

const zeros = () => Object.fromEntries(CALL_RESULTS.map((r) => [r, 0])) as Record<CallResult, number>

/** What the agent's loops count, in plain numbers (read by /metrics at scrape time). */
export class AgentCounters {
  readonly polls = zeros()
  readonly pushes = zeros()
  stateWriteFailures = 0

  poll(out: Outcome): void {
    this.polls[resultOf(out)]++
  }

  push(out: Outcome): void {
    this.pushes[resultOf(out)]++
  }
}

/** The agent's registry: the shared HTTP and process metrics, its counters and what the agent holds. */
export function agentMetrics(agent: Agent, counters: AgentCounters): Metrics {
  const metrics = createMetrics()
  const { registry } = metrics
  const counted = (name: string, help: string, values: Record<CallResult, number>) =>
    new Counter({
      name,
      help,
      labelNames: ['result'],
      registers: [registry],
      collect() {
        this.reset()
        for (const result of CALL_RESULTS) this.inc({ result }, values[result])
      },
    })
  counted(
    'dcm_agent_polls_total',
    'Polls of the controller by result: ok (200), not_modified (304), no_config (404 before any config), auth_refused (401/403), rejected (other 4xx), unavailable (429/5xx), unreachable (no answer)',
    counters.polls,
  )
  counted('dcm_agent_pushes_total', 'Config pushes to the worker (POST /config) by result, labelled as the polls are', counters.pushes)
  new Counter({
    name: 'dcm_agent_state_write_failures_total',
    help: 'Saves of the state file that failed (the state is kept in memory and the save retried)',
    registers: [registry],
    collect() {
      this.reset()
      this.inc(counters.stateWriteFailures)
    },
  })
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read())
      },
    })
  gauge('dcm_agent_config_version', 'Version of the config the agent holds (0 while none)', () => agent.snapshot().version ?? 0)
  gauge('dcm_agent_worker_version', 'Version its worker confirmed (0 while none)', () => agent.snapshot().worker_version ?? 0)
  new Gauge({
    name: 'dcm_agent_backoff_seconds',
    help: 'Delay before the next call to a target (controller or worker) after failed calls; 0 once a call worked',
    labelNames: ['target'],
    registers: [registry],
    collect() {
      const ms = agent.backoffMs()
      this.set({ target: 'controller' }, ms.controller / 1000)
      this.set({ target: 'worker' }, ms.worker / 1000)
    },
  })
  return metrics
}
