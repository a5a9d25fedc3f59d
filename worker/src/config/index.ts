import { Elysia, t } from 'elysia'
import { ErrorShape, jsonBody, requestIdOf, type AuthPlugin } from '@dcm/shared'
import { ApplyReply, ConfigDoc, State } from './model'
import type { ConfigService } from './service'

export { ConfigService } from './service'

/** POST /config (the agent pushes the controller's document) and GET /state. */
export const configRoutes = (svc: ConfigService, auth: AuthPlugin<'agent'>) =>
  new Elysia({ name: 'worker.config' })
    .use(auth)
    .post('/config', ({ body, request, query }) => svc.apply(body, requestIdOf(request), query.replace === 'true'), {
      ...jsonBody(ConfigDoc),
      auth: ['agent'],
      query: t.Object({ replace: t.Optional(t.Union([t.Literal('true'), t.Literal('false')], { description: 'true: apply even a lower version of the active store (the agent replaces a version its store never issued)' })) }),
      response: { 200: ApplyReply, 400: ErrorShape, 401: ErrorShape, 409: ErrorShape, 413: ErrorShape, 415: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
      detail: {
        summary:
          'Apply a config document: a newer version (or any version of another store) replaces the active one (applied: true), the active one again changes nothing (applied: false); older → 409 stale_version, same version with other content → 409 version_conflict, unless ?replace=true; a link-local or cloud metadata upstream (unless UPSTREAM_ALLOW permits it) or one pointing at this worker → 422',
        tags: ['config'],
      },
    })
    .get('/state', () => svc.state, {
      response: { 200: State },
      detail: { summary: 'The active config (url masked) and how /hit fares with it, or nulls before any is applied', tags: ['config'] },
    })
