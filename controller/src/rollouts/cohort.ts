import type { HealthRow, RolloutSpec } from '../store'

/** The agents taking part, in cohort order: by a hash of each agent_id with the rollout's id, so the
 *  order differs between rollouts but never within one. */
export function cohortOrder(agentIds: readonly string[], rolloutId: number): string[] {
  const key = (id: string) => new Bun.CryptoHasher('sha256').update(`${rolloutId}\0${id}`).digest('hex')
  return agentIds
    .map((id) => [key(id), id] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, id]) => id)
}

/** A step of `percent` takes the first ⌈percent × eligible / 100⌉ agents: a canary step on a small fleet
 *  still holds one, and widening only adds. */
export const cohortSize = (percent: number, eligible: number) => Math.ceil((percent * eligible) / 100)

/** Labels a selector asks for, all of which must hold (no selector: everyone). */
export const selects = (selector: Record<string, string> | null, labels: Record<string, string>) =>
  selector === null || Object.entries(selector).every(([k, v]) => labels[k] === v)

export type Figures = { agents: number; hits: number; errors: number; error_rate: number | null; p99_ms: number | null }

/** Health summed over some agents' reports for one version (p99: the highest any of them reported). */
export function figures(rows: readonly HealthRow[], version: number, agents: ReadonlySet<string>, agentCount: number): Figures {
  let hits = 0
  let errors = 0
  let p99: number | null = null
  for (const r of rows) {
    if (r.version !== version || !agents.has(r.agent_id)) continue
    hits += r.hits
    errors += r.errors
    if (r.hits > 0) p99 = Math.max(p99 ?? 0, r.p99_ms)
  }
  return { agents: agentCount, hits, errors, error_rate: hits === 0 ? null : Math.min(1, errors / hits), p99_ms: p99 }
}

export type Verdict = { pass: true } | { pass: false; reason: string }

/** The gate, after a step's bake time: the cohort's error rate above max_error_rate, or its p99 above
 *  max_p99_ms, with at least min_hits hits, fails it; anything else (too few hits to judge included)
 *  passes. */
export function judge(cohort: Figures, gate: RolloutSpec['gate']): Verdict {
  if (cohort.hits === 0 || cohort.hits < gate.min_hits) return { pass: true }
  if (cohort.error_rate !== null && cohort.error_rate > gate.max_error_rate)
    return { pass: false, reason: `error rate ${cohort.error_rate.toFixed(4)} above ${gate.max_error_rate} (${cohort.errors} of ${cohort.hits} hits)` }
  if (gate.max_p99_ms !== null && cohort.p99_ms !== null && cohort.p99_ms > gate.max_p99_ms)
    return { pass: false, reason: `p99 ${cohort.p99_ms} ms above ${gate.max_p99_ms} ms (${cohort.hits} hits)` }
  return { pass: true }
}
