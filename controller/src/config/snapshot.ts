import type { ConfigDoc } from '@dcm/shared'

/** What GET /config serves, prepared once per version so the hot path only copies bytes. */
export type Snapshot = { readonly doc: ConfigDoc; readonly etag: string; readonly body: string }

export function snapshotOf(doc: ConfigDoc): Snapshot {
  const body = JSON.stringify(doc)
  return Object.freeze({ doc, etag: etagOf(doc, body), body })
}

/** A strong ETag that changes with any change of the document: the body holds the store identity and
 *  the time of the version, so a reset database that hands out version 1 again gets another tag. */
export function etagOf(doc: ConfigDoc, body: string): string {
  return `"${doc.version}-${Bun.hash(body).toString(36)}"`
}

/** If-None-Match semantics (RFC 9110 13.1.2): weak comparison, a list of tags, or `*`. */
export function etagMatches(header: string | null, etag: string): boolean {
  if (header === null) return false
  if (header === etag) return true
  // One tag (what agents send): no list to split.
  if (!header.includes(',')) {
    const tag = header.trim()
    return tag === '*' || tag === etag || (tag.length === etag.length + 2 && tag.startsWith('W/') && tag.endsWith(etag))
  }
  for (const part of header.split(',')) {
    const tag = part.trim()
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true
  }
  return false
}
