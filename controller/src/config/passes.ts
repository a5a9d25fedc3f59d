import { presentedKey, type Credentials } from '@dcm/shared'
import type { Role } from '../agents'
import type { TokenRegistry } from '../agents/tokens'

/** A credential the hot route has let through before, by the Authorization header exactly as sent. */
export type Pass = {
  readonly role: Role
  readonly key: string
  /** For an agent token: its agent, and the registry's shared entry (revoked flips it at once). */
  readonly token: { readonly agent_id: string; readonly revoked: boolean } | null
}

/** The hot route's memory of Authorization headers that carried a valid credential: one map lookup of
 *  the header as sent, where cutting out the key and looking it up cost about twice as much (measured in
 *  a running server: ~50 ns against ~145 ns per poll). Only credentials that passed the full check
 *  enter; a token's pass stops working the moment its agent is revoked (the shared entry), and the map
 *  is bounded by the tokens this replica knows. Configured keys never change while the process runs. */
export class Passes {
  readonly #byHeader = new Map<string, Pass>()

  constructor(
    private readonly credentials: Credentials<Role>,
    private readonly tokens: TokenRegistry,
  ) {}

  /** The pass for this request's credential (from `Authorization: Bearer`, or X-API-Key, checked each
   *  time), or null when the full route must decide (no credential, an unknown or revoked one, one this
   *  replica has to look up in the store). */
  of(headers: Headers): Pass | null {
    const auth = headers.get('authorization')
    if (auth !== null) {
      const seen = this.#byHeader.get(auth)
      if (seen !== undefined) return seen.token === null || !seen.token.revoked ? seen : null
    }
    const key = presentedKey(headers)
    if (key === null) return null
    const role = this.credentials.known(key) ?? firstSeen(this.credentials, key)
    if (role === null) return null
    const pass: Pass = { role, key, token: role === 'token' ? (this.tokens.entryOf(key) ?? null) : null }
    if (role === 'token' && pass.token === null) return null
    // Remembered only when the header is exactly what carried the key (`Bearer <key>`): a key from
    // X-API-Key beside some other Authorization (a proxy's Basic, say) must not make that other header a
    // pass, and spellings of one key (`bearer`, spaces) are not entries of their own.
    if (auth !== null && auth.length === key.length + 7 && auth.startsWith('Bearer ') && auth.endsWith(key) && this.#byHeader.size < this.tokens.size + 1024)
      this.#byHeader.set(auth, pass)
    return pass
  }
}

/** A credential not seen before: checked in memory only (a digest; no store lookup), so it is
 *  remembered and the next poll is a map lookup. Anything else (unknown, revoked) is the full route's. */
function firstSeen(credentials: Credentials<Role>, key: string): Role | null {
  try {
    const role = credentials.verify(key, true)
    return typeof role === 'string' ? role : null
  } catch {
    return null
  }
}
