import { Elysia, t } from 'elysia'
import { ErrorShape, Forbidden, Invalid, jsonBody, NotFound, presentedKey, requestIdOf, Unauthorized, upstreamRefusal, type AuthPlugin, type Credentials, type UpstreamAllow } from '@dcm/shared'
import type { Role } from '../agents'
import { AgentRevoked } from '../agents/errors'
import type { PollRecorder } from '../fleet/recorder'
import type { RolloutService } from '../rollouts'
import { ConfigDoc, ConfigInput, VersionEntry } from './model'
import type { Passes } from './passes'
import type { ConfigService } from './service'
import { etagMatches, type Snapshot } from './snapshot'
import { MAX_WAIT_SECONDS, waitSeconds } from './wait'

export { Passes } from './passes'
export { ConfigService } from './service'

const notModified = (snap: Snapshot, interval: string, id?: string) =>
  new Response(null, {
    status: 304,
    headers: id
      ? { etag: snap.etag, 'cache-control': 'no-cache', 'x-poll-interval': interval, 'x-request-id': id }
      : { etag: snap.etag, 'cache-control': 'no-cache', 'x-poll-interval': interval },
  })

const current = (snap: Snapshot, interval: string, id?: string) =>
  new Response(snap.body, {
    headers: id
      ? { etag: snap.etag, 'cache-control': 'no-cache', 'content-type': 'application/json', 'x-poll-interval': interval, 'x-request-id': id }
      : { etag: snap.etag, 'cache-control': 'no-cache', 'content-type': 'application/json', 'x-poll-interval': interval },
  })

export type ConfigRouteOptions = { pollIntervalSeconds: number; allowSharedKeyPolls: boolean }

const tokenRequired = () =>
  new Forbidden('polling with the shared agent key is turned off (ALLOW_SHARED_KEY_POLLS=false): register, then poll with the agent_token', 'agent_token_required')

/** The fleet's polls answered before Elysia (a hot route of the front door), for a credential this
 *  replica knows (a key, or an agent's token; `Authorization: Bearer` is remembered as sent, `Passes`) and
 *  no query but `?wait=<s>`:
 *  - a poll whose If-None-Match is the current ETag → 304, or with `wait`, held until the config
 *    changes (200) or the wait runs out (304);
 *  - a poll whose ETag is not the current one (the re-arm every agent makes right after a change, and a
 *    first poll) → 200 with the document at once, long-poll or not: there is nothing to wait for.
 *  Anything else — a token this replica must look up in the store, an unusual query, no config yet —
 *  returns undefined and takes the full route below, which answers the same way. */
export const hotConfig = (svc: ConfigService, passes: Passes, opts: ConfigRouteOptions, recorder: PollRecorder) => {
  const interval = String(opts.pollIntervalSeconds)
  return (request: Request, id: string): Response | Promise<Response> | undefined => {
    if (request.method !== 'GET') return
    const url = request.url
    const q = url.indexOf('?')
    const wait = q === -1 ? 0 : hotWait(url, q)
    if (wait === null) return
    const pass = passes.of(request.headers)
    if (pass === null || (pass.role === 'agent' && !opts.allowSharedKeyPolls)) return
    // The version this agent gets (its cohort's while a rollout runs): a set lookup.
    const agentId = pass.token !== null ? pass.token.agent_id : recorder.agentOf(request, pass.role, pass.key)
    const snap = svc.snapshotFor(agentId)
    if (snap === null) return
    const inm = request.headers.get('if-none-match')
    const same = inm === snap.etag || etagMatches(inm, snap.etag)
    recorder.report(agentId, request.headers, snap.doc.version)
    if (same && wait > 0) {
      // A token's pass is the registry's shared entry: a revocation while held is seen without
      // checking the key again.
      const held = holdPoll(svc, recorder, agentId, wait, request.signal, () => {
        if (pass.token?.revoked) throw new AgentRevoked()
        const now = svc.snapshotFor(agentId)
        if (now === null) throw new NotFound('no config has been set yet; POST /config with the admin key', 'no_config')
        recorder.answered(agentId, now.doc.version)
        return inm === now.etag || etagMatches(inm, now.etag) ? notModified(now, interval, id) : current(now, interval, id)
      })
      if (held !== null) return held
    }
    return same ? notModified(snap, interval, id) : current(snap, interval, id)
  }
}

/** Hold a poll until the config changes or its wait runs out, then `answer` (for both routes). A jitter of
 *  up to 10% keeps a fleet from coming back in step; a hold ends when its caller goes away; a held poll
 *  counts as seen until it is answered. Null beyond the replica's maximum: the poll is answered at once. */
function holdPoll(svc: ConfigService, recorder: PollRecorder, agentId: string | null, wait: number, signal: AbortSignal, answer: () => Response): Promise<Response> | null {
  const release = recorder.holding(agentId)
  const held = svc.nextChange(wait * 1000 * (0.9 + 0.1 * Math.random()), signal)
  if (held === null) {
    release()
    return null
  }
  return held.then(answer).finally(release)
}

/** `wait` from a query that is exactly `wait=<whole seconds>` (what agents send), within the limit; null
 *  for any other query (the full route parses and validates it). */
function hotWait(url: string, q: number): number | null {
  if (!url.startsWith('wait=', q + 1)) return null
  const digits = url.length - q - 6
  if (digits < 1 || digits > 2) return null
  let n = 0
  for (let i = q + 6; i < url.length; i++) {
    const c = url.charCodeAt(i) - 48
    if (c < 0 || c > 9) return null
    n = n * 10 + c
  }
  return n <= MAX_WAIT_SECONDS ? n : null
}

/** GET /config (the fleet's hot path: served from the snapshot) and POST /config (admin writes). */
export const configRoutes = (
  svc: ConfigService,
  auth: AuthPlugin<Role>,
  credentials: Credentials<Role>,
  opts: ConfigRouteOptions & { upstreamAllow: UpstreamAllow },
  recorder: PollRecorder,
  actor: (request: Request) => string,
  rollouts: RolloutService,
) => {
  const interval = String(opts.pollIntervalSeconds)
  // A token revoked while its poll was held gets no document: checked again in memory when the hold ends
  // (verify throws agent_revoked).
  const stillValid = (request: Request) => {
    const key = presentedKey(request.headers)!
    if (credentials.known(key) === undefined && credentials.verify(key, true) === null) throw new Unauthorized()
  }
  const answer = (snap: Snapshot | null, ifNoneMatch: string | null): Response => {
    if (!snap) throw new NotFound('no config has been set yet; POST /config with the admin key', 'no_config')
    if (etagMatches(ifNoneMatch, snap.etag)) return notModified(snap, interval)
    return current(snap, interval)
  }
  return new Elysia({ name: 'controller.config' })
    .use(auth)
    .get(
      '/config',
      ({ request, role }): Response | Promise<Response> => {
        if (role === 'agent' && !opts.allowSharedKeyPolls) throw tokenRequired()
        const inm = request.headers.get('if-none-match')
        const wait = waitSeconds(request.url)
        const key = presentedKey(request.headers)!
        const agentId = recorder.agentOf(request, role, key)
        const snap = svc.snapshotFor(agentId)
        // Every poll reports what its agent runs (the version answered, or confirmed by a 304).
        recorder.report(agentId, request.headers, snap?.doc.version ?? null)
        // Hold when the caller already has the current version (or nothing exists yet).
        if (wait > 0 && (snap === null || etagMatches(inm, snap.etag))) {
          const held = holdPoll(svc, recorder, agentId, wait, request.signal, () => {
            if (role === 'token') stillValid(request)
            const now = svc.snapshotFor(agentId)
            recorder.answered(agentId, now?.doc.version ?? null)
            return answer(now, inm)
          })
          if (held !== null) return held
        }
        return answer(snap, inm)
      },
      {
        auth: ['agent', 'admin', 'token'],
        response: { 200: ConfigDoc, 304: t.Void(), 401: ErrorShape, 403: ErrorShape, 404: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'Current config, with ETag / If-None-Match → 304; ?wait=<s> long-polls',
          description:
            'An agent presents its own agent_token as the key; the shared agent key works only while ALLOW_SHARED_KEY_POLLS is true (else 403 agent_token_required); a revoked agent gets 401 agent_revoked. With `wait` (seconds, at most 60) and an If-None-Match matching the current ETag, the request is held until the config changes (200) or the wait runs out (304). Every answer carries X-Poll-Interval: the seconds the controller wants between polls.',
          tags: ['config'],
          parameters: [
            { in: 'query', name: 'wait', schema: { type: 'number', minimum: 0, maximum: MAX_WAIT_SECONDS }, description: 'long-poll: hold up to this many seconds' },
            { in: 'header', name: 'If-None-Match', schema: { type: 'string' }, description: 'ETag of the config the caller holds' },
          ],
        },
      },
    )
    .post(
      '/config',
      async ({ body, set, request, query }) => {
        const { comment, ...input } = body
        const refusal = upstreamRefusal(input.url, opts.upstreamAllow)
        if (refusal !== null) throw new Invalid(`body field "url": ${refusal}`)
        const rid = requestIdOf(request)
        const who = { actor: actor(request), comment: comment ?? null, ifMatch: request.headers.get('if-match'), outsideRollout: true }
        // A rollout in progress holds plain writes back (409, checked in the write), unless forced: then
        // it is aborted first.
        if (query.force === true) await rollouts.forceWrite({ actor: who.actor, requestId: rid })
        const written = await svc.write(input, rid, who)
        set.status = written.created ? 201 : 200
        set.headers.etag = written.snapshot.etag
        return svc.entry(written, who, rid)
      },
      {
        ...jsonBody(ConfigInput),
        auth: ['admin'],
        query: t.Object({ force: t.Optional(t.Boolean({ description: 'abort a rollout in progress first (else 409 rollout_in_progress)' })) }),
        response: { 200: VersionEntry, 201: VersionEntry, 400: ErrorShape, 401: ErrorShape, 403: ErrorShape, 409: ErrorShape, 412: ErrorShape, 413: ErrorShape, 415: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'Store a new config version (identical url and timeout_ms: no new version, 200); a link-local or cloud metadata url is 422 unless UPSTREAM_ALLOW permits it',
          description:
            'The answer is the version as history shows it: the document plus created_by (the admin key\'s name) and comment. With If-Match (ETags, or *), the write happens only if the current config is one of them, checked under the store\'s write lock; otherwise 412 precondition_failed with the current ETag, and nothing is stored. Every attempt is an audit record.',
          tags: ['config'],
          parameters: [{ in: 'header', name: 'If-Match', schema: { type: 'string' }, description: 'compare-and-set: the ETag(s) the write is based on, or *' }],
        },
      },
    )
}
