import { timingSafeEqual } from 'node:crypto'

const digest = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest()

/** The key a request presents: `Authorization: Bearer <key>`, else `X-API-Key: <key>` (an
 *  Authorization of another scheme, e.g. Basic for a proxy in between, does not hide X-API-Key). */
export function presentedKey(headers: Headers): string | null {
  const auth = headers.get('authorization')
  if (auth !== null) {
    // Plain string work, no regex: this runs on every poll of the fleet.
    const scheme = auth.slice(0, 7)
    if (scheme === 'Bearer ' || scheme.toLowerCase() === 'bearer ') return auth.slice(7).trim() || null
  }
  const key = headers.get('x-api-key')
  return key?.trim() || null
}

/** Checks presented credentials. `known` answers from memory for a credential that was valid before
 *  (no hashing, no store): the hot path. `verify` is the full check; `quick` asks it to stay in memory
 *  (the caller's address is blocked: no store lookup for it). It may throw an HttpError that is the
 *  answer (say, a revoked credential). */
export interface Credentials<R extends string> {
  known(presented: string): R | undefined
  verify(presented: string, quick: boolean): R | null | Promise<R | null>
}

/** A key check: call it with a key for its role (or null); also usable as Credentials. */
export type KeyCheck<R extends string> = ((presented: string | null) => R | null) & Credentials<R>

/** Maps a presented key to the role it belongs to. A key seen for the first time is compared as a
 *  fixed-length digest, in constant time, against every configured key, so neither its length nor which
 *  key matched leaks through timing. A key that matched is remembered (a bounded map), so a fleet polling
 *  with valid keys skips the digest; the map lookup that comes first is an ordinary string comparison,
 *  which can only tell a caller whether its exact string was a valid key already seen. */
export function keyChecker<R extends string>(keysByRole: Record<R, readonly string[]>): KeyCheck<R> {
  const table = (Object.entries(keysByRole) as [R, readonly string[]][]).flatMap(([role, keys]) =>
    keys.map((k) => ({ role, digest: digest(k) })),
  )
  const known = new Map<string, R>()
  const check = (presented: string | null): R | null => {
    if (presented === null) return null
    const hit = known.get(presented)
    if (hit !== undefined) return hit
    const d = digest(presented)
    let found: R | null = null
    for (const entry of table) if (timingSafeEqual(d, entry.digest) && found === null) found = entry.role
    if (found !== null && known.size < table.length * 4) known.set(presented, found)
    return found
  }
  return Object.assign(check, { known: (presented: string) => known.get(presented), verify: (presented: string) => check(presented) })
}
