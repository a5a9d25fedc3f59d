import { Elysia } from 'elysia'
import { swagger } from '@elysiajs/swagger'
import { errorBody, HttpError } from '../errors'
import type { Logger } from '../logging'
import { requestIdFrom } from '../request-id'
import { readJsonBody } from './body'

export { readJsonBody } from './body'

export const DEFAULT_BODY_LIMIT = 64 * 1024

type Meta = { id: string; start: number }
const meta = new WeakMap<Request, Meta>()

/** The request id of a request being handled, for log lines written while handling it. */
export const requestIdOf = (r: Request): string => meta.get(r)?.id ?? requestIdFrom(r.headers)

export interface HttpAppOptions {
  service: string
  logger: Logger
  /** Largest accepted request body in bytes. */
  bodyLimit?: number
  /** Paths answered without an access log line at info level (they are logged at debug). */
  quietPaths?: string[]
}

/** The base every service builds on: request ids, JSON body parsing with a size limit, the shared
 *  JSON error shape for every failure, one access log line per request, and GET /healthz. */
export function createHttpApp(opts: HttpAppOptions) {
  const { logger } = opts
  const limit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT
  const quiet = new Set(opts.quietPaths ?? ['/healthz', '/readyz'])

  return new Elysia({ normalize: false })
    .onRequest(({ request, set }) => {
      const id = requestIdFrom(request.headers)
      meta.set(request, { id, start: performance.now() })
      set.headers['x-request-id'] = id
    })
    .onParse(async ({ request }) => readJsonBody(request, limit))
    .onError(({ code, error, request, path, set }) => {
      const id = requestIdOf(request)
      const failure = toHttpError(code, error, request, path)
      set.status = failure?.status ?? 500 // read by the access log
      if (failure === null) {
        logger.error('unhandled error', { request_id: id, path, error: error as Error })
        return respond(500, errorBody('internal_error', 'the server failed to answer; see its log for this request id', id), id)
      }
      return respond(failure.status, errorBody(failure.code, failure.message, id), id, failure.headers)
    })
    .onAfterResponse(({ request, path, set, responseValue }) => {
      const m = meta.get(request)
      const status = responseValue instanceof Response ? responseValue.status : typeof set.status === 'number' ? set.status : 200
      const level = quiet.has(path) && status < 400 ? 'debug' : 'info'
      if (!logger.enabled(level)) return
      logger[level]('request', {
        method: request.method,
        path,
        status,
        duration_ms: m ? Math.round((performance.now() - m.start) * 1000) / 1000 : undefined,
        request_id: m?.id,
      })
    })
    .get('/healthz', () => ({ status: 'ok', service: opts.service }), {
      detail: { summary: 'Liveness: the process is up', tags: ['health'] },
    })
}

function respond(status: number, body: object, id: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'x-request-id': id, ...headers },
  })
}

function toHttpError(code: unknown, error: unknown, request: Request, path: string): HttpError | null {
  if (error instanceof HttpError) return error
  switch (code) {
    case 'PARSE': {
      const cause = (error as Error).cause
      return cause instanceof HttpError ? cause : new HttpError(400, 'malformed_json', 'the request body is not valid JSON')
    }
    case 'VALIDATION':
      return new HttpError(422, 'validation_failed', validationMessage(error))
    case 'NOT_FOUND':
      return new HttpError(404, 'not_found', `no route for ${request.method} ${path}`)
    case 'INVALID_COOKIE_SIGNATURE':
    case 'INVALID_FILE_TYPE':
      return new HttpError(400, 'bad_request', (error as Error).message)
  }
  return null
}

type ValidationIssue = { path?: string; message?: string; summary?: string }

function validationMessage(error: unknown): string {
  const e = error as { type?: string; all?: ValidationIssue[] }
  const first = e.all?.[0]
  const where = e.type ?? 'body'
  if (!first) return `the ${where} does not match the schema`
  if ((first as { value?: unknown }).value === undefined && !first.path) return `a JSON ${where} is required`
  const field = (first.path ?? '').replace(/^\//, '').replace(/\//g, '.')
  if (!field) return `the ${where} must be ${first.message?.replace(/^Expected /, 'a ') ?? 'valid'}`
  if (first.message === 'Unexpected property') return `${where} field "${field}" is not allowed`
  return `${where} field "${field}": ${first.message ?? 'invalid'}`
}

/** OpenAPI docs at /swagger (UI) and /swagger/json, with both ways to present an API key. */
export function apiDocs(info: { title: string; version: string; description: string }) {
  return swagger({
    path: '/swagger',
    exclude: ['/swagger', '/swagger/json'],
    documentation: {
      info,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
  })
}
