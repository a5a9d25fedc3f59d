/** Human-readable output: aligned tables and key/value blocks. --json bypasses all of this. */
import type { Agent, AuditRecord, ConfigDoc, Decision, Entry, Health, Rollout, Summary } from './contract'

const cell = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v))

/** Columns padded to their widest cell; the last column is not padded. */
export function table(head: string[], rows: unknown[][]): string {
  const cells = [head, ...rows.map((r) => r.map(cell))]
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n')
}

/** "name  value" lines, names aligned. */
export function fields(pairs: [string, unknown][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`).join('\n')
}

export const summaryLine = (s: Summary) => {
  const total = s.in_sync + s.behind + s.rejected + s.stale
  return `${total} agent${total === 1 ? '' : 's'}: ${s.in_sync} in_sync, ${s.behind} behind, ${s.rejected} rejected, ${s.stale} stale`
}

export const configFields = (d: ConfigDoc | Entry, etag?: string | null) => {
  const pairs: [string, unknown][] = [
    ['version', d.version],
    ['url', d.url],
    ['timeout_ms', d.timeout_ms],
    ['updated_at', d.updated_at],
  ]
  if ('created_by' in d) pairs.push(['created_by', d.created_by], ['comment', d.comment])
  pairs.push(['store_id', d.store_id])
  if (etag) pairs.push(['etag', etag])
  return fields(pairs)
}

export const historyTable = (vs: Entry[]) =>
  vs.length === 0 ? '(no versions)' : table(['VERSION', 'UPDATED_AT', 'BY', 'URL', 'TIMEOUT_MS', 'COMMENT'], vs.map((v) => [v.version, v.updated_at, v.created_by, v.url, v.timeout_ms, v.comment]))

const labels = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',')
const rejected = (a: Agent) => (a.rejected ? `${a.rejected.version} (${a.rejected.reason})` : null)

export const agentsTable = (as: Agent[]) =>
  as.length === 0
    ? '(no agents)'
    : table(
        ['AGENT', 'STATUS', 'APPLIED', 'FETCHED', 'REJECTED', 'LAST_SEEN', 'HOSTNAME', 'LABELS'],
        as.map((a) => [a.agent_id, a.status, a.applied_version, a.fetched_version, rejected(a), a.last_seen_at, a.hostname, labels(a.labels)]),
      )

export const agentFields = (a: Agent) =>
  fields([
    ['agent_id', a.agent_id],
    ['status', a.status],
    ['applied_version', a.applied_version],
    ['fetched_version', a.fetched_version],
    ['rejected', rejected(a)],
    ['last_seen_at', a.last_seen_at],
    ['registered_at', a.registered_at],
    ['hostname', a.hostname],
    ['worker_url', a.worker_url],
    ['labels', labels(a.labels)],
  ])

export const auditTable = (rs: AuditRecord[]) =>
  rs.length === 0 ? '(no records)' : table(['ID', 'AT', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME', 'REQUEST_ID'], rs.map((r) => [r.id, r.at, r.actor, r.action, r.target, r.outcome, r.request_id]))

/** A fraction as a percentage, to two decimals at most: 0.0525 → 5.25%. */
export const percent = (r: number | null) => (r === null ? '-' : `${Math.round(r * 10_000) / 100}%`)

/** Steps are counted from 1 for people; the JSON's step is the 0-based index. */
export const stepLine = (r: Rollout) => {
  const s = r.steps[r.step]
  return `${r.step + 1}/${r.steps.length}${s ? ` (${s.percent}%, ${s.cohort} of ${r.eligible} agent${r.eligible === 1 ? '' : 's'}, bake ${s.bake_seconds} s)` : ''}`
}

export const healthLine = (h: Health & { applied?: number }) =>
  `${h.agents} agent${h.agents === 1 ? '' : 's'}${h.applied === undefined ? '' : ` (${h.applied} applied)`}, ${h.hits} hits, ${h.errors} errors, error rate ${percent(h.error_rate)}, p99 ${h.p99_ms === null ? '-' : `${h.p99_ms} ms`}`

export const gateLine = (g: Rollout['gate']) =>
  `error rate above ${percent(g.max_error_rate)} with at least ${g.min_hits} hits${g.max_p99_ms === null ? '' : `, or p99 above ${g.max_p99_ms} ms`}, rolls back`

export const selectorText = (s: Rollout['selector']) => (s === null || Object.keys(s).length === 0 ? 'every agent' : labels(s))

export const decisionLine = (d: Decision) => `${d.at}  ${d.action}  step ${d.step + 1}  ${d.detail}`

/** How many decisions `rollout status` shows (`rollout show` shows them all). */
export const LAST_DECISIONS = 5

/** A rollout in full: its figures, the steps (the one in force marked), the decisions (the last `decisions`). */
export function rolloutFields(r: Rollout, decisions = r.decisions.length): string {
  const pairs: [string, unknown][] = [
    ['id', r.id],
    ['state', r.state],
    ['step', stepLine(r)],
    ['version', `${r.version} (stable ${r.stable_version})`],
    ['selector', selectorText(r.selector)],
    ['gate', gateLine(r.gate)],
    ['eligible', `${r.eligible} agent${r.eligible === 1 ? '' : 's'}`],
    ['cohort', healthLine(r.cohort)],
    ['stable', healthLine(r.stable)],
  ]
  if (r.reason !== null) pairs.push(['reason', r.reason])
  if (r.rollback_version !== null) pairs.push(['rollback_version', r.rollback_version])
  pairs.push(['created', `${r.created_at} by ${r.created_by}`], ['updated_at', r.updated_at])
  const steps = table(
    ['STEP', 'PERCENT', 'BAKE_S', 'COHORT', 'STARTED_AT'],
    r.steps.map((s, i) => [`${i + 1}${i === r.step ? ' *' : ''}`, s.percent, s.bake_seconds, s.cohort, s.started_at]),
  )
  const shown = r.decisions.slice(-decisions)
  const head = shown.length < r.decisions.length ? `decisions (the last ${shown.length} of ${r.decisions.length}; dcm rollout show ${r.id} has them all)` : 'decisions'
  const log = shown.length === 0 ? '(none yet)' : table(['AT', 'ACTION', 'STEP', 'DETAIL'], shown.map((d) => [d.at, d.action, d.step + 1, d.detail]))
  return `${fields(pairs)}\n\n${steps}\n\n${head}\n${log}`
}

export const rolloutsTable = (rs: Rollout[]) =>
  rs.length === 0
    ? '(no rollouts)'
    : table(
        ['ID', 'STATE', 'STEP', 'VERSION', 'STABLE', 'COHORT', 'ERROR_RATE', 'CREATED_AT', 'BY', 'REASON'],
        rs.map((r) => [r.id, r.state, `${r.step + 1}/${r.steps.length}`, r.version, r.stable_version, `${r.cohort.agents}/${r.eligible}`, percent(r.cohort.error_rate), r.created_at, r.created_by, r.reason]),
      )

/** One line after pause, resume, abort or promote. */
export const rolloutLine = (r: Rollout) =>
  `rollout ${r.id} ${r.state} at step ${stepLine(r)}${r.reason === null ? '' : `: ${r.reason}`}${r.rollback_version === null ? '' : ` (rollback version ${r.rollback_version})`}`
