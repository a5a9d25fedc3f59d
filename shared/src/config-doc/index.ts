import { t } from 'elysia'
import { Int } from '../schema'

/** The config document: what the controller serves, the agent caches and the worker applies. */
export const ConfigDoc = t.Object(
  {
    version: Int({ minimum: 1, description: 'Increases by one with every change' }),
    url: t.String({ minLength: 1, maxLength: 2048, pattern: '^[hH][tT][tT][pP][sS]?://', description: 'Absolute http(s) URL that GET /hit calls' }),
    timeout_ms: t.Optional(Int({ minimum: 1, maximum: 60000, description: 'Upstream timeout for GET /hit (default 5000)' })),
    updated_at: t.String({ format: 'date-time', description: 'When this version was stored (ISO 8601)' }),
  },
  { additionalProperties: false },
)
export type ConfigDoc = typeof ConfigDoc.static

/** True when `url` parses as an absolute http: or https: URL with a host and holds no control character. */
export function isHttpUrl(url: string): boolean {
  if (/[\u0000-\u001f\u007f]/.test(url) || !URL.canParse(url)) return false
  const u = new URL(url)
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ''
}

/** Hide the userinfo part of a URL (`user:pass@`) before it is shown or logged. */
export function maskUrl(url: string): string {
  if (!URL.canParse(url)) return url
  const u = new URL(url)
  if (!u.username && !u.password) return url
  u.username = '***'
  u.password = ''
  return u.toString()
}
