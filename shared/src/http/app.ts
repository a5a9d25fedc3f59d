import { Elysia } from 'elysia'
import { errorBody, HttpError } from '../errors'
import type { Logger } from '../logging'
import { bodyReader, NO_BODY, type BodyLimits } from './body'
import { requestIdOf, respond } from './common'
import { fieldMessage } from './validation'

export const DEFAULT_BODY_LIMITS: BodyLimits = { limit: 64 * 1024, timeoutMs: 10_000, maxConcurrent: 64 }

export interface HttpAppOptions {
  service: string
  logger: Logger
  body?: Partial<BodyLimits>
  /** Throws (401, 429) unless a request carries a valid key of this service: no body is read from one
   *  that does not. */
  authenticate: (request: Request) => unknown
}

/** The Elysia base every service builds on: request bodies read through the body gate (key first,
 *  bounded in size, time and number), the shared JSON error shape for every failure, and GET /healthz.
 *  Request ids and the access log live in `frontDoor`, outside Elysia: a global hook that touches `set`
 *  makes Elysia copy every Response a handler returns. */
export function createHttpApp(opts: HttpAppOptions) {
  const { logger } = opts
  const read = bodyReader({ ...DEFAULT_BODY_LIMITS, ...opts.body }, opts.authenticate)

  return new Elysia({ normalize: false })
    .onParse(({ request }) => read(request))
    .onError(({ code, error, request, path }) => {
      const id = requestIdOf(request)
      const failure = toHttpError(code, error, request, path)
      if (failure === null) {
        logger.error('unhandled error', { request_id: id, path, code: String(code), error: error as Error })
        return respond(500, errorBody('internal_error', 'the server failed to answer; see its log for this request id', id), id)
      }
      return respond(failure.status, errorBody(failure.code, failure.message, id), id, failure.headers)
    })
    .get('/healthz', () => ({ status: 'ok', service: opts.service }), {
      detail: { summary: 'Liveness: the process is up', tags: ['health'] },
    })
}

/** What the client did wrong, as an HttpError; null for a failure of our own (a 500). */
function toHttpError(code: unknown, error: unknown, request: Request, path: string): HttpError | null {
  if (error instanceof HttpError) return error
  switch (code) {
    case 'PARSE': {
      const cause = (error as Error).cause
      return cause instanceof HttpError ? cause : new HttpError(400, 'malformed_json', 'the request body is not valid JSON')
    }
    case 'VALIDATION': {
      const e = error as { type?: string; all?: { path?: string; message?: string }[]; value?: unknown }
      // The answer we built does not match our own schema: our bug, not the client's.
      if (e.type === 'response') return null
      const first = e.all?.[0]
      const body = e.value === NO_BODY ? undefined : e.value
      return new HttpError(422, 'validation_failed', fieldMessage(e.type ?? 'request', first?.path ?? '', first?.message, body))
    }
    case 'NOT_FOUND':
      return new HttpError(404, 'not_found', `no route for ${request.method} ${path}`)
  }
  return null
}
