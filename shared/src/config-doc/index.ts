import { t } from 'elysia'
import { HttpUrl, Int } from '../schema'

export { isHttpUrl } from '../schema'

/** Versions are int4 in PostgreSQL. */
export const MAX_VERSION = 2 ** 31 - 1

/** Which store a document comes from: a random id made when the store was created. A database reset or
 *  restore to another store starts a new identity, and version numbers are compared only within one. */
export const StoreId = t.String({ pattern: '^[A-Za-z0-9-]{1,64}$', description: 'identity of the store that issued the document' })

/** The config document: what the controller serves, the agent caches and the worker applies. */
export const ConfigDoc = t.Object(
  {
    version: Int({ minimum: 1, maximum: MAX_VERSION, description: 'Increases by one with every change within one store' }),
    store_id: StoreId,
    url: HttpUrl({ description: 'Absolute http(s) URL that GET /hit calls' }),
    timeout_ms: t.Optional(Int({ minimum: 1, maximum: 60000, description: 'Upstream timeout for GET /hit (default 5000)' })),
    updated_at: t.String({ format: 'date-time', description: 'When this version was stored (ISO 8601)' }),
  },
  { additionalProperties: false },
)
export type ConfigDoc = typeof ConfigDoc.static

/** The document with its fields in one fixed order, whatever object it came from: its serialised form
 *  (and so its ETag) must not depend on where it was built. */
export function configDoc(f: { version: number; store_id: string; url: string; timeout_ms?: number | null; updated_at: string }): ConfigDoc {
  return f.timeout_ms === undefined || f.timeout_ms === null
    ? { version: f.version, store_id: f.store_id, url: f.url, updated_at: f.updated_at }
    : { version: f.version, store_id: f.store_id, url: f.url, timeout_ms: f.timeout_ms, updated_at: f.updated_at }
}

/** Two documents carry the same config (what a worker would do with them is the same). */
export const sameContent = (a: { url: string; timeout_ms?: number }, b: { url: string; timeout_ms?: number }) => a.url === b.url && a.timeout_ms === b.timeout_ms

/** A URL as a person or a log may see it: userinfo, every query value (`?token=***`) and the fragment
 *  hidden, since any of them may hold a credential. Unparseable text keeps only its scheme. */
export function maskUrl(url: string): string {
  if (!URL.canParse(url)) return `${/^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? ''}(unparseable URL, not shown)`
  const u = new URL(url)
  if (!u.username && !u.password && !u.search && !u.hash) return url
  if (u.hash) u.hash = '***'
  if (u.username || u.password) {
    u.username = '***'
    u.password = ''
  }
  if (u.search) {
    const masked = [...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=***`).join('&')
    u.search = masked ? `?${masked}` : ''
  }
  return u.toString()
}
