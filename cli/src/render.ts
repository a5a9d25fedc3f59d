/** Human-readable output: aligned tables and key/value blocks. --json bypasses all of this. */
import type { Agent, AuditRecord, ConfigDoc, Entry, Summary } from './contract'

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
