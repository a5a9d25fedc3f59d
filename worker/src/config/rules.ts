import { sameContent, type ConfigDoc } from '@dcm/shared'

export type Decision = 'apply' | 'new_store' | 'same' | 'stale' | 'conflict'

/** Within one store, versions only move forward: a newer document replaces the active one, the active
 *  one again is a no-op, an older one is stale, and the same version with other content is a conflict.
 *  A document from another store (a reset or restored database) replaces the active one whatever its
 *  number: numbers of two stores cannot be compared. */
export function decide(active: ConfigDoc | null, next: ConfigDoc): Decision {
  if (active === null) return 'apply'
  if (next.store_id !== active.store_id) return 'new_store'
  if (next.version > active.version) return 'apply'
  if (next.version < active.version) return 'stale'
  return sameContent(active, next) && active.updated_at === next.updated_at ? 'same' : 'conflict'
}
