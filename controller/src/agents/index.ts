import { Elysia, t } from 'elysia'
import { ErrorShape, FORBIDDEN_TEXT, Invalid, jsonBody, presentedKey, requestIdOf, type AuthPlugin } from '@dcm/shared'
import type { Audit } from '../audit'
import type { Role } from './credentials'
import { AgentId, Registration, RegistrationReply } from './model'
import type { AgentService } from './service'
import { TOKEN_SHAPE } from './tokens'

export { AgentService } from './service'
export type { Role } from './credentials'

/** POST /register (the shared agent key; an agent registering again presents its token in
 *  X-Agent-Token) and DELETE /agents/:id (admin: revoke one agent). */
export const agentRoutes = (agents: AgentService, auth: AuthPlugin<Role>, opts: { pollUrl: string; pollIntervalSeconds: number }, audit: Audit, actor: (request: Request) => string) =>
  new Elysia({ name: 'controller.agents' })
    .use(auth)
    .post(
      '/register',
      async ({ body, set, request }) => {
        const b: Registration = body ?? {}
        // TypeBox checks label values, not label names.
        if (Object.keys(b.labels ?? {}).some((k) => k.length < 1 || k.length > 63 || FORBIDDEN_TEXT.test(k)))
          throw new Invalid('body field "labels": label names must be 1 to 63 characters without control characters')
        const presented = request.headers.get('x-agent-token')
        if (presented !== null && presented !== 'new' && !TOKEN_SHAPE.test(presented))
          throw new Invalid('header "X-Agent-Token": must be the agent_token this controller issued (43 characters of base64url), or "new"')
        const rid = requestIdOf(request)
        const r = await agents.register(b, presented, rid)
        if (r.created) await audit.record({ actor: actor(request), action: 'agent.register', target: `agent ${r.agent_id}`, request_id: rid, outcome: 'registered' })
        set.status = r.status
        const reply = { agent_id: r.agent_id, poll_url: opts.pollUrl, poll_interval_seconds: opts.pollIntervalSeconds }
        return r.agent_token === null ? reply : { ...reply, agent_token: r.agent_token }
      },
      {
        ...jsonBody(Registration),
        auth: ['agent'],
        response: { 200: RegistrationReply, 201: RegistrationReply, 400: ErrorShape, 401: ErrorShape, 403: ErrorShape, 413: ErrorShape, 415: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'Register an agent (X-Agent-Token: new), or again with its agent_id and its token in X-Agent-Token',
          description:
            'With X-Agent-Token: new a new agent gets an agent_id and an agent_token (201); at most NEW_AGENTS_PER_MINUTE new agents per replica (429 too_many_registrations beyond). A known agent_id needs its token (403 agent_token_mismatch), keeps it (200, the same token), and a revoked one gets 401 agent_revoked; one registered without a token (before this release) gets one. Without X-Agent-Token (an agent of an earlier release, which would discard a token) no token is bound and none is returned.',
          tags: ['agents'],
          parameters: [
            { in: 'header', name: 'X-Agent-Token', schema: { type: 'string' }, description: 'the agent_token of the agent_id in the body, or "new" for a caller that has none yet and keeps the one it is given' },
          ],
        },
      },
    )
    .delete(
      '/agents/:id',
      async ({ params, request }) => {
        const rid = requestIdOf(request)
        await agents.revoke(params.id, rid)
        await audit.record({ actor: actor(request), action: 'agent.revoke', target: `agent ${params.id}`, request_id: rid, outcome: 'revoked' })
        return new Response(null, { status: 204 })
      },
      {
        params: t.Object({ id: AgentId }),
        auth: ['admin'],
        response: { 204: t.Void(), 401: ErrorShape, 403: ErrorShape, 404: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'Revoke one agent: its next call gets 401 agent_revoked, on every replica; the others are untouched',
          description: 'Idempotent (204 again for a revoked agent); an unknown id is 404 agent_not_found. The agent keeps its worker on the config it has and does not register itself anew.',
          tags: ['agents'],
        },
      },
    )
