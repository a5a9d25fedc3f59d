import { closeConnection, HttpError, TooManyRequests, Unauthorized } from '../errors'
import { clientAddress } from '../http/common'
import type { FailureLimiter } from '../rate-limit'
import { presentedKey, type Credentials } from './keys'

/** Who a request is: the role of its credential, or a thrown answer. */
export type Authenticate<R extends string> = (request: Request) => R | Promise<R>

/** No credential is valid: a service that checks no key (every request with a body is refused). */
export const NO_CREDENTIALS: Credentials<never> = { known: () => undefined, verify: () => null }

/** The one place a request's credential is checked (the auth macro and the body gate both ask here).
 *  A credential known from before passes at once. Otherwise the client's address is looked up in
 *  `failures`: a refused request counts one failure, and an address over its limit gets 429
 *  too_many_failures (with Retry-After, and the connection closed) instead of 401, its credential
 *  checked in memory only (never in a store). A valid credential is never refused by the limiter: a
 *  whole fleet may share one address behind NAT. */
export function gatekeeper<R extends string>(credentials: Credentials<R>, failures: FailureLimiter | null): Authenticate<R> {
  return (request) => {
    const presented = presentedKey(request.headers)
    if (presented !== null) {
      const role = credentials.known(presented)
      if (role !== undefined) return role
    }
    const address = failures === null ? '' : clientAddress(request)
    const blockedMs = failures?.blockedFor(address) ?? 0
    // A refused credential (any 401) counts; a store that could not answer (503) does not.
    const refuse = (e: unknown): never => {
      if (!(e instanceof HttpError) || e.status !== 401) throw e
      if (blockedMs > 0) throw e instanceof Unauthorized ? tooManyFailures(blockedMs) : e
      failures?.fail(address)
      throw e
    }
    const decide = (role: R | null): R => (role === null ? refuse(new Unauthorized()) : role)
    let out: R | null | Promise<R | null>
    try {
      out = presented === null ? null : credentials.verify(presented, blockedMs > 0)
    } catch (e) {
      return refuse(e)
    }
    return out instanceof Promise ? out.then(decide, refuse) : decide(out)
  }
}

const tooManyFailures = (ms: number) =>
  closeConnection(new TooManyRequests('too many failed authentications from this address; a valid key is still accepted', 'too_many_failures', ms))
