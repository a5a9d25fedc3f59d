import { configDoc, type ConfigDoc } from '@dcm/shared'

/** A config_versions row as either store returns it (PostgreSQL gives a Date, SQLite ISO text). */
export type VersionRow = { version: number; url: string; timeout_ms: number | null; updated_at: Date | string }

/** The one mapping from a stored row to the document agents receive. */
export const docOf = (r: VersionRow, storeId: string): ConfigDoc =>
  configDoc({ version: r.version, store_id: storeId, url: r.url, timeout_ms: r.timeout_ms, updated_at: typeof r.updated_at === 'string' ? r.updated_at : r.updated_at.toISOString() })
