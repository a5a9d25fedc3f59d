import { Elysia, t } from 'elysia'
import { ErrorShape, HttpUrl, Int, Invalid, jsonBody, NotFound, Nullable, presentedKey, requestIdOf, Text, upstreamRefusal, type AuthPlugin, type UpstreamAllow } from '@dcm/shared'
import type { Role } from '../agents'
import type { RolloutService } from './service'

export { RolloutService } from './service'

const Step = t.Object({ percent: Int({ minimum: 1, maximum: 100 }), bake_seconds: t.Number({ minimum: 0, maximum: 86_400, description: 'seconds the step runs before its gate is judged' }) }, { additionalProperties: false })
const Gate = t.Object(
  {
    max_error_rate: t.Number({ minimum: 0, maximum: 1, description: 'errors (the worker’s 5xx, upstream failures) per hit above which the rollout rolls back' }),
    min_hits: Int({ minimum: 0, maximum: 1_000_000_000, description: 'hits the cohort needs before the gate can fail it' }),
    max_p99_ms: t.Optional(Int({ minimum: 1, maximum: 3_600_000, description: 'p99 upstream latency (the highest any cohort agent reported) above which it rolls back' })),
  },
  { additionalProperties: false },
)
export const RolloutInput = t.Object(
  {
    config: t.Object({ url: HttpUrl(), timeout_ms: t.Optional(Int({ minimum: 1, maximum: 60000 })) }, { additionalProperties: false }),
    comment: t.Optional(Text({ maxLength: 500 })),
    steps: t.Array(Step, { minItems: 1, maxItems: 10 }),
    selector: t.Optional(t.Record(Text({ minLength: 1, maxLength: 63 }), Text({ maxLength: 255 }), { maxProperties: 16 })),
    gate: Gate,
  },
  { additionalProperties: false },
)
const Figures = t.Object({ agents: Int(), hits: t.Number(), errors: t.Number(), error_rate: Nullable(t.Number()), p99_ms: Nullable(Int()) })
const Rollout = t.Object({
  id: t.String(),
  version: Int({ description: 'the candidate version' }),
  stable_version: Int({ description: 'the version agents outside the cohort keep' }),
  state: t.Union([t.Literal('running'), t.Literal('paused'), t.Literal('completed'), t.Literal('rolled_back'), t.Literal('aborted')]),
  step: Int({ description: 'index of the step in force (0-based)' }),
  steps: t.Array(t.Object({ percent: Int(), bake_seconds: t.Number(), cohort: Int({ description: 'agents in the cohort at this step' }), started_at: Nullable(t.String()) })),
  selector: Nullable(t.Record(t.String(), t.String())),
  gate: t.Object({ max_error_rate: t.Number(), min_hits: Int(), max_p99_ms: Nullable(Int()) }),
  comment: Nullable(t.String()),
  config: t.Object({ url: t.String(), timeout_ms: t.Optional(Int()) }),
  eligible: Int({ description: 'agents taking part, fixed at the start (not stale, matching the selector)' }),
  cohort: t.Object({ ...Figures.properties, applied: Int({ description: 'cohort agents whose worker applied the candidate or later' }) }),
  cohort_agents: t.Array(t.String(), { description: 'the agents of the step in force, in cohort order' }),
  stable: Figures,
  reason: Nullable(t.String()),
  rollback_version: Nullable(Int()),
  created_by: t.String(),
  created_at: t.String(),
  updated_at: t.String(),
  decisions: t.Array(t.Object({ at: t.String(), action: t.String(), step: Int(), detail: t.String() })),
})
const Id = t.Object({ id: t.String({ minLength: 1, maxLength: 64, description: 'a rollout id (unknown: 404 rollout_not_found)' }) })
/** Ids are numbers; any other text names no rollout (404, like an unknown number). */
const idOf = (id: string) => (/^[0-9]{1,9}$/.test(id) ? Number(id) : 0)
const errors = { 401: ErrorShape, 403: ErrorShape, 404: ErrorShape, 409: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape }

/** Staged rollouts (admin). */
export const rolloutRoutes = (rollouts: RolloutService, auth: AuthPlugin<Role>, actor: (request: Request) => string, opts: { upstreamAllow: UpstreamAllow }) => {
  const who = (request: Request) => ({ actor: actor(request), requestId: requestIdOf(request) })
  // One chain for the four actions (the typed client sees one route per action, not a union).
  const act = (name: 'pause' | 'resume' | 'abort' | 'promote') => async ({ params, request }: { params: { id: string }; request: Request }) => {
    const w = who(request)
    return rollouts.view(await rollouts[name](idOf(params.id), w), w.requestId)
  }
  const actOpts = (summary: string) => ({ auth: ['admin'] as Role[], params: Id, response: { 200: Rollout, ...errors }, detail: { summary, tags: ['rollouts'] } })
  return new Elysia({ name: 'controller.rollouts' })
    .use(auth)
    .post(
      '/rollouts',
      async ({ body, set, request }) => {
        const refusal = upstreamRefusal(body.config.url, opts.upstreamAllow)
        if (refusal !== null) throw new Invalid(`body field "config.url": ${refusal}`)
        const pcts = body.steps.map((s) => s.percent)
        if (pcts.some((p, i) => i > 0 && p <= pcts[i - 1]!)) throw new Invalid('body field "steps": percents must increase from step to step')
        const w = who(request)
        const row = await rollouts.create(body, w)
        set.status = 201
        return rollouts.view(row, w.requestId)
      },
      {
        ...jsonBody(RolloutInput),
        auth: ['admin'],
        response: { 201: Rollout, 400: ErrorShape, 413: ErrorShape, 415: ErrorShape, ...errors },
        detail: {
          summary: 'Start a staged rollout of a new config (one at a time: 409 rollout_in_progress)',
          description:
            'Writes the candidate version at once but serves it only to the cohort of the step in force: the agents taking part (not stale, matching the selector, fixed at the start) ordered by a hash of agent_id and rollout id; a step of p % takes the first ⌈p × eligible / 100⌉. After each step’s bake time the cohort’s health is judged by the gate: a failure rolls back (a new version with the stable content), a pass moves on; after the last step the candidate is the config for everyone.',
          tags: ['rollouts'],
        },
      },
    )
    .get(
      '/rollouts/current',
      async ({ request }) => {
        await rollouts.load()
        const row = rollouts.active
        if (row === null) throw new NotFound('no rollout is running or paused', 'no_rollout')
        return rollouts.view(row, requestIdOf(request))
      },
      { auth: ['admin'], response: { 200: Rollout, ...errors }, detail: { summary: 'The rollout running or paused (404 no_rollout)', tags: ['rollouts'] } },
    )
    .get(
      '/rollouts',
      async ({ query, request }) => {
        const rid = requestIdOf(request)
        const rows = await rollouts.list(query.limit ?? 20, rid)
        return { rollouts: await Promise.all(rows.map((r) => rollouts.view(r, rid))) }
      },
      {
        auth: ['admin'],
        query: t.Object({ limit: t.Optional(t.Integer({ minimum: 1, maximum: 100, description: 'rollouts (default 20), newest first' })) }),
        response: { 200: t.Object({ rollouts: t.Array(Rollout) }), ...errors },
        detail: { summary: 'Rollouts, newest first', tags: ['rollouts'] },
      },
    )
    .get('/rollouts/:id', async ({ params, request }) => rollouts.view(await rollouts.get(idOf(params.id), requestIdOf(request)), requestIdOf(request)), {
      auth: ['admin'],
      params: Id,
      response: { 200: Rollout, ...errors },
      detail: { summary: 'One rollout with its steps, health figures and decisions (404 rollout_not_found)', tags: ['rollouts'] },
    })
    .post('/rollouts/:id/pause', act('pause'), actOpts('Pause: the cohort keeps the candidate, nothing advances (409 rollout_not_active once ended)'))
    .post('/rollouts/:id/resume', act('resume'), actOpts('Resume a paused rollout; the step in force bakes again'))
    .post('/rollouts/:id/abort', act('abort'), actOpts('Abort = roll back now: a new version with the stable content, for everyone'))
    .post('/rollouts/:id/promote', act('promote'), actOpts('Promote = skip to 100 %: the candidate becomes the config for everyone'))
}
