import { Elysia, t } from 'elysia'
import { ErrorShape, Int, jsonBody, MAX_VERSION, presentedKey, requestIdOf, type AuthPlugin } from '@dcm/shared'
import type { Role } from '../agents'
import type { FleetService } from '../fleet/service'
import { RollbackInput, VersionDetail, VersionEntry, VersionList } from './model'
import type { ConfigService } from './service'

const MAX_PAGE = 500
const entryOnly = ({ converged_at: _, ...e }: { converged_at: string | null } & VersionEntry) => e
type VersionEntry = typeof VersionEntry.static

/** History (admin): GET /config/versions, GET /config/versions/:n with how far it reached the fleet,
 *  and POST /config/rollback. */
export const historyRoutes = (svc: ConfigService, fleet: FleetService, auth: AuthPlugin<Role>, actor: (request: Request) => string) =>
  new Elysia({ name: 'controller.history' })
    .use(auth)
    .get(
      '/config/versions',
      async ({ query, request }) => {
        const limit = query.limit ?? 50
        const page = await svc.versions(limit + 1, query.before ?? null, requestIdOf(request))
        const versions = page.slice(0, limit).map(entryOnly)
        return { versions, next_before: page.length > limit ? versions[versions.length - 1]!.version : null }
      },
      {
        auth: ['admin'],
        query: t.Object({
          limit: t.Optional(t.Integer({ minimum: 1, maximum: MAX_PAGE, description: 'versions per page (default 50)' })),
          before: t.Optional(t.Integer({ minimum: 1, maximum: MAX_VERSION, description: 'only versions below this one (the previous page’s next_before)' })),
        }),
        response: { 200: VersionList, 401: ErrorShape, 403: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: { summary: 'Config history, newest first, with who wrote each version and why', tags: ['history'] },
      },
    )
    .get(
      '/config/versions/:n',
      async ({ params, request }) => {
        const rid = requestIdOf(request)
        const v = await svc.version(params.n, rid)
        return { ...entryOnly(v), convergence: await fleet.convergence(v, rid) }
      },
      {
        auth: ['admin'],
        params: t.Object({ n: t.Integer({ minimum: 1, maximum: MAX_VERSION }) }),
        response: { 200: VersionDetail, 401: ErrorShape, 403: ErrorShape, 404: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: 'One version, and how far it reached the fleet (404 version_not_found)',
          description: 'convergence.applied counts the agents not stale whose worker applied this version or a later one, out of convergence.total; converged_ms is the time from the write until all of them had (null until then).',
          tags: ['history'],
        },
      },
    )
    .post(
      '/config/rollback',
      async ({ body, set, request }) => {
        const rid = requestIdOf(request)
        const who = { actor: actor(request), comment: body.comment ?? null, ifMatch: request.headers.get('if-match'), outsideRollout: true }
        const { written, entry } = await svc.rollback(body.version, rid, who)
        set.status = written.created ? 201 : 200
        set.headers.etag = written.snapshot.etag
        return entry
      },
      {
        ...jsonBody(RollbackInput),
        auth: ['admin'],
        response: { 200: VersionEntry, 201: VersionEntry, 400: ErrorShape, 401: ErrorShape, 403: ErrorShape, 404: ErrorShape, 409: ErrorShape, 412: ErrorShape, 413: ErrorShape, 415: ErrorShape, 422: ErrorShape, 429: ErrorShape, 503: ErrorShape },
        detail: {
          summary: "Roll back: a new version (current + 1) with version n's url and timeout_ms, delivered like any change",
          description:
            'Versions only move forward, so a rollback is a new version; its comment defaults to "rollback to n". n unknown: 404 version_not_found; n\'s content already current: 200 and no new version. If-Match as for POST /config (412 precondition_failed).',
          tags: ['history'],
          parameters: [{ in: 'header', name: 'If-Match', schema: { type: 'string' }, description: 'compare-and-set: the ETag(s) the rollback is based on, or *' }],
        },
      },
    )
