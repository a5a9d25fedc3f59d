import { timingSafeEqual } from 'node:crypto'
import { Elysia } from 'elysia'
import { Forbidden, Unauthorized } from '../errors'

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

/** Maps a presented key to the role it belongs to. A key seen for the first time is compared as a
 *  fixed-length digest, in constant time, against every configured key, so neither its length nor which
 *  key matched leaks through timing. A key that matched is remembered (a bounded map), so a fleet polling
 *  with valid keys skips the digest; the map lookup that comes first is an ordinary string comparison,
 *  which can only tell a caller whether its exact string was a valid key already seen. */
export function keyChecker<R extends string>(keysByRole: Record<R, readonly string[]>) {
  const table = (Object.entries(keysByRole) as [R, readonly string[]][]).flatMap(([role, keys]) =>
    keys.map((k) => ({ role, digest: digest(k) })),
  )
  const known = new Map<string, R>()
  return (presented: string | null): R | null => {
    if (presented === null) return null
    const hit = known.get(presented)
    if (hit !== undefined) return hit
    const d = digest(presented)
    let found: R | null = null
    for (const entry of table) if (timingSafeEqual(d, entry.digest) && found === null) found = entry.role
    if (found !== null && known.size < table.length * 4) known.set(presented, found)
    return found
  }
}

/** Elysia plugin: adds the route option `auth: [roles...]`. A request without a valid key gets 401;
 *  a valid key of another role gets 403. The matched role is available to the handler as `role`. */
export function apiKeyAuth<R extends string>(keysByRole: Record<R, readonly string[]>, roleOf = keyChecker(keysByRole)) {
  return new Elysia({ name: 'dcm.auth' }).macro({
    auth: (allowed: R[]) => ({
      detail: { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }] },
      resolve({ request }) {
        const role = roleOf(presentedKey(request.headers))
        if (role === null) throw new Unauthorized()
        if (!allowed.includes(role)) throw new Forbidden(`this endpoint needs the ${allowed.join(' or ')} key`)
        return { role }
      },
    }),
  })
}

export type AuthPlugin<R extends string> = ReturnType<typeof apiKeyAuth<R>>

/** Whether a request carries a key `roleOf` knows (any role): the body gate's question. */
export const carriesKey =
  (roleOf: (key: string | null) => string | null) =>
  (request: Request): boolean =>
    roleOf(presentedKey(request.headers)) !== null
