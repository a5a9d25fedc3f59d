import type { ConfigDoc } from '@dcm/shared'

/** A strong ETag that changes with any change of the document, also after a database reset
 *  restarts the version count (updated_at differs). */
export function etagOf(doc: ConfigDoc, body: string): string {
  return `"${doc.version}-${Bun.hash(body).toString(36)}"`
}

/** If-None-Match semantics (RFC 9110 13.1.2): weak comparison, a list of tags, or `*`. */
export function etagMatches(header: string | null, etag: string): boolean {
  if (header === null) return false
  if (header === etag) return true
  for (const part of header.split(',')) {
    const tag = part.trim()
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true
  }
  return false
}
