import type { ConfigDoc } from '@dcm/shared'

export type Decision = 'apply' | 'same' | 'stale' | 'conflict'

/** Versions only move forward: a newer document replaces the active one, the active one again is a
 *  no-op, an older one is stale, and the same version with other content is a conflict. */
export function decide(active: ConfigDoc | null, next: ConfigDoc): Decision {
  if (active === null || next.version > active.version) return 'apply'
  if (next.version < active.version) return 'stale'
  return sameContent(active, next) ? 'same' : 'conflict'
}

function sameContent(a: ConfigDoc, b: ConfigDoc): boolean {
  return a.url === b.url && a.timeout_ms === b.timeout_ms && a.updated_at === b.updated_at
}
