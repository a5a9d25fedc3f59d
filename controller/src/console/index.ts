import { Elysia, t } from 'elysia'
import { clientAddress, closeConnection, ErrorShape, jsonBody, presentedKey, requestIdOf, TooManyRequests, Unauthorized, type AuthPlugin, type Credentials, type FailureLimiter } from '@dcm/shared'
import type { Role } from '../agents'
import type { ConsoleEvents } from './events'
import { sessionCookie, setCookie, type Sessions } from './sessions'

export { ConsoleEvents } from './events'
export { Sessions, sessionCookie } from './sessions'

const Session = t.Object({
  actor: t.String({ description: 'who the session acts as (the admin key’s name, or key:<first 8 hex of its sha256>)' }),
  csrf_token: t.String({ description: 'send it as X-CSRF-Token with every request that changes something' }),
  expires_at: t.String({ format: 'date-time' }),
})
const SignIn = t.Optional(t.Object({ key: t.String({ minLength: 1, maxLength: 4096, description: 'an admin key (or send it as Authorization: Bearer)' }) }, { additionalProperties: false }))

/** The console's sessions and live events: POST/GET/DELETE /ui/session, GET /ui/events. */
export const consoleRoutes = (
  sessions: Sessions,
  events: ConsoleEvents,
  auth: AuthPlugin<Role>,
  deps: { credentials: Credentials<Role>; failures: FailureLimiter; actorOfKey: (key: string) => string },
) =>
  new Elysia({ name: 'controller.console' })
    .use(auth)
    .post(
      '/ui/session',
      async ({ body, request, set }) => {
        const key = presentedKey(request.headers) ?? body?.key ?? null
        // A wrong key is a failed authentication like any other: counted, and limited per address.
        const address = clientAddress(request)
        const blockedMs = deps.failures.blockedFor(address)
        let role: Role | null = null
        try {
          const r = key === null ? null : deps.credentials.verify(key, true)
          role = r instanceof Promise ? null : r
        } catch {
          role = null
        }
        if (role !== 'admin' || key === null) {
          if (blockedMs > 0) throw closeConnection(new TooManyRequests('too many failed authentications from this address; a valid key is still accepted', 'too_many_failures', blockedMs))
          deps.failures.fail(address)
          throw new Unauthorized('that is not an admin key')
        }
        const { cookie, row } = await sessions.create(deps.actorOfKey(key), requestIdOf(request))
        set.headers['set-cookie'] = setCookie(request, cookie)
        set.headers['cache-control'] = 'no-store'
        return { actor: row.actor, csrf_token: row.csrf, expires_at: row.expires_at }
      },
      {
        ...jsonBody(SignIn),
        response: { 200: Session, 400: ErrorShape, 401: ErrorShape, 413: ErrorShape, 415: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'Sign in to the console with an admin key: a session cookie (HttpOnly, SameSite=Strict, 8 h) and its CSRF token',
          description: 'The key is checked like any credential (a wrong one counts as a failed authentication: 429 too_many_failures beyond the limit) and never stored; the browser keeps only the cookie.',
          tags: ['console'],
        },
      },
    )
    .get(
      '/ui/session',
      async ({ request, set }) => {
        const cookie = sessionCookie(request)
        const row = cookie === null ? null : await sessions.find(cookie)
        if (row === null) throw new Unauthorized('no console session; sign in')
        set.headers['cache-control'] = 'no-store'
        return { actor: row.actor, csrf_token: row.csrf, expires_at: row.expires_at }
      },
      { response: { 200: Session, 401: ErrorShape, 503: ErrorShape }, detail: { summary: 'The console session of this browser (401 when none)', tags: ['console'] } },
    )
    .delete(
      '/ui/session',
      async ({ request }) => {
        const cookie = sessionCookie(request)
        if (cookie !== null) await sessions.end(cookie, requestIdOf(request))
        return new Response(null, { status: 204, headers: { 'set-cookie': setCookie(request, null) } })
      },
      {
        auth: ['admin'],
        response: { 204: t.Void(), 401: ErrorShape, 403: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: { summary: 'Sign out: the session ends on every replica and the cookie is cleared (needs X-CSRF-Token)', tags: ['console'] },
      },
    )
    .get(
      '/ui/events',
      ({ request }) => {
        const cookie = sessionCookie(request)
        const stillValid = cookie === null || presentedKey(request.headers) !== null ? async () => true : async () => (await sessions.find(cookie)) !== null
        return events.stream(request.signal, stillValid)
      },
      {
        auth: ['admin'],
        detail: {
          summary: 'Live updates for the console (text/event-stream): config, fleet and rollout events',
          description: '`event: config` with `{version, etag}` when a new version is current; `event: fleet` with `{summary}` when agents’ reports were written (at most every FLEET_FLUSH_SECONDS); `event: rollout` with `{id, state, step}` (id null: none active) when the active rollout changes; a `: ping` comment every 15 s.',
          tags: ['console'],
          responses: { 200: { description: 'an event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } } },
        },
      },
    )
