import { Elysia, t } from 'elysia'
import { ErrorShape, NotFound, type AuthPlugin } from '@dcm/shared'
import { etagMatches } from './etag'
import { ConfigDoc, ConfigInput } from './model'
import type { ConfigService } from './service'

export { ConfigService } from './service'

/** GET /config (the fleet's hot path: served from the snapshot) and POST /config (admin writes). */
export const configRoutes = (svc: ConfigService, auth: AuthPlugin<'agent' | 'admin'>) =>
  new Elysia({ name: 'controller.config' })
    .use(auth)
    .get(
      '/config',
      ({ request }) => {
        const snap = svc.snapshot
        if (!snap) throw new NotFound('no config has been set yet; POST /config with the admin key', 'no_config')
        if (etagMatches(request.headers.get('if-none-match'), snap.etag))
          return new Response(null, { status: 304, headers: { etag: snap.etag, 'cache-control': 'no-cache' } })
        return new Response(snap.body, {
          headers: { etag: snap.etag, 'cache-control': 'no-cache', 'content-type': 'application/json' },
        })
      },
      {
        auth: ['agent', 'admin'],
        response: { 200: ConfigDoc, 304: t.Void(), 401: ErrorShape, 404: ErrorShape },
        detail: {
          summary: 'Current config, with ETag / If-None-Match → 304',
          tags: ['config'],
          parameters: [
            { in: 'header', name: 'If-None-Match', schema: { type: 'string' }, description: 'ETag of the config the caller holds' },
            { in: 'header', name: 'X-Agent-Id', schema: { type: 'string' }, description: 'the calling agent' },
          ],
        },
      },
    )
    .post(
      '/config',
      async ({ body, set }) => {
        const { snapshot, created } = await svc.write(body)
        set.status = created ? 201 : 200
        set.headers.etag = snapshot.etag
        return snapshot.doc
      },
      {
        auth: ['admin'],
        body: ConfigInput,
        response: { 200: ConfigDoc, 201: ConfigDoc, 400: ErrorShape, 401: ErrorShape, 403: ErrorShape, 413: ErrorShape, 422: ErrorShape, 503: ErrorShape },
        detail: { summary: 'Store a new config version (identical body: no new version, 200)', tags: ['config'] },
      },
    )
