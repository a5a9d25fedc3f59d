import { t } from 'elysia'

/** An error that is also an HTTP answer: a machine code, a status and a message safe to show. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on a 503. */
    readonly headers?: Record<string, string>,
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class BadRequest extends HttpError {
  constructor(message = 'the request is malformed', code = 'bad_request') {
    super(400, code, message)
  }
}
export class Unauthorized extends HttpError {
  constructor(message = 'a valid API key is required (Authorization: Bearer <key> or X-API-Key)') {
    super(401, 'unauthorized', message, { 'www-authenticate': 'Bearer' })
  }
}
export class Forbidden extends HttpError {
  constructor(message = 'this key may not do that', code = 'forbidden') {
    super(403, code, message)
  }
}
export class NotFound extends HttpError {
  constructor(message = 'not found', code = 'not_found') {
    super(404, code, message)
  }
}
export class Conflict extends HttpError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message)
  }
}
/** If-Match named no current version (RFC 9110 13.1.1): nothing was done; the ETag header names the
 *  current one, when there is one. */
export class PreconditionFailedError extends HttpError {
  constructor(message: string, etag: string | null) {
    super(412, 'precondition_failed', message, etag === null ? undefined : { etag })
  }
}
export class PayloadTooLarge extends HttpError {
  constructor(limit: number) {
    super(413, 'payload_too_large', `the request body is over the ${limit} byte limit`)
  }
}
export class UnsupportedMediaType extends HttpError {
  constructor(message = 'send the body as application/json') {
    super(415, 'unsupported_media_type', message)
  }
}
export class Invalid extends HttpError {
  constructor(message: string) {
    super(422, 'validation_failed', message)
  }
}
export class TooManyRequests extends HttpError {
  constructor(message: string, code: string, retryAfterMs: number) {
    super(429, code, message, { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) })
  }
}
export class Unavailable extends HttpError {
  constructor(message: string, code = 'unavailable', retryAfterSeconds?: number) {
    super(503, code, message, retryAfterSeconds ? { 'retry-after': String(retryAfterSeconds) } : undefined)
  }
}
export class BadGateway extends HttpError {
  constructor(message: string, code = 'bad_gateway') {
    super(502, code, message)
  }
}
export class GatewayTimeout extends HttpError {
  constructor(message: string, code = 'gateway_timeout') {
    super(504, code, message)
  }
}

/** The same error, answered with `Connection: close`: for a request whose body is not read to the end,
 *  so the rest of it is never waited for (and a stranger cannot keep the connection). */
export function closeConnection<E extends HttpError>(e: E): E {
  return Object.assign(e, { headers: { ...e.headers, connection: 'close' } })
}

/** The one JSON error shape every service answers with. */
export type ErrorBody = { error: string; message: string; request_id: string }

export function errorBody(code: string, message: string, requestId: string): ErrorBody {
  return { error: code, message, request_id: requestId }
}

/** The error shape as a schema, for OpenAPI. */
export const ErrorShape = t.Object({
  error: t.String({ description: 'machine-readable code' }),
  message: t.String({ description: 'what went wrong, for a person' }),
  request_id: t.String(),
})
