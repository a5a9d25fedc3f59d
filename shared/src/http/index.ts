import { Elysia } from 'elysia'
import { swagger } from '@elysiajs/swagger'
import { errorBody, HttpError } from '../errors'
import type { Logger } from '../logging'
import { readJsonBody } from './body'
import { requestIdOf, respond } from './common'

export { readJsonBody } from './body'
export { pathOf, requestIdOf } from './common'
export { frontDoor, type HotHandler } from './front-door'

export const DEFAULT_BODY_LIMIT = 64 * 1024

export interface HttpAppOptions {
  service: string
  logger: Logger
  /** Largest accepted request body in bytes. */
  bodyLimit?: number
}

/** The Elysia base every service builds on: JSON body parsing with a size limit, the shared JSON error
 *  shape for every failure, and GET /healthz. Request ids and the access log live in `frontDoor`,
 *  outside Elysia: a global hook that touches `set` makes Elysia copy every Response a handler returns
 *  (new Headers, new Response), which on GET /config cost more than the handler itself. */
export function createHttpApp(opts: HttpAppOptions) {
  const { logger } = opts
  const limit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT

  return new Elysia({ normalize: false })
    .onParse(async ({ request }) => readJsonBody(request, limit))
    .onError(({ code, error, request, path }) => {
      const id = requestIdOf(request)
      const failure = toHttpError(code, error, request, path)
      if (failure === null) {
        logger.error('unhandled error', { request_id: id, path, error: error as Error })
        return respond(500, errorBody('internal_error', 'the server failed to answer; see its log for this request id', id), id)
      }
      return respond(failure.status, errorBody(failure.code, failure.message, id), id, failure.headers)
    })
    .get('/healthz', () => ({ status: 'ok', service: opts.service }), {
      detail: { summary: 'Liveness: the process is up', tags: ['health'] },
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
