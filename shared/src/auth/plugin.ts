import { Elysia } from 'elysia'
import { Forbidden } from '../errors'
import type { Authenticate } from './gate'

/** Elysia plugin: adds the route option `auth: [roles...]`. Who the request is comes from
 *  `authenticate` (401, or 429 for an address that failed too often); a valid credential of another
 *  role gets 403. The matched role is available to the handler as `role`. */
export function apiKeyAuth<R extends string>(authenticate: Authenticate<R>) {
  return new Elysia({ name: 'dcm.auth' }).macro({
    auth: (allowed: R[]) => ({
      detail: { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }] },
      // async: Elysia awaits a resolve only when it is an async function (it reads the function, not the
      // value), and a credential may need a store lookup.
      async resolve({ request }) {
        const role = await authenticate(request)
        if (!allowed.includes(role)) throw new Forbidden(`this endpoint needs the ${allowed.join(' or ')} key`)
        return { role }
      },
    }),
  })
}

export type AuthPlugin<R extends string> = ReturnType<typeof apiKeyAuth<R>>
