import { OptionalKind, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Invalid } from '../errors'
import { NO_BODY } from './body'

/** A 422 message that names the field and says what is wrong, never echoing the value. */
export function fieldMessage(where: string, path: string, message: string | undefined, value: unknown): string {
  if (value === undefined && !path) return `a JSON ${where} is required`
  const field = path.replace(/^\//, '').replace(/\//g, '.')
  if (!field) return `the ${where} must be ${message?.replace(/^Expected /, 'a ') ?? 'valid'}`
  if (message === 'Unexpected property') return `${where} field "${field}" is not allowed`
  if (message?.startsWith("Expected string to match 'http-url' format")) return `${where} field "${field}": must be an absolute http:// or https:// URL, spelled exactly (no spaces, backslashes or control characters)`
  return `${where} field "${field}": ${message ?? 'invalid'}`
}

/** Route options for a JSON body: `body` for the types and the API document, and a check of our own
 *  that runs before the framework's, so a refused body costs one compiled check and one message (the
 *  framework's error would render the whole value, and more so outside production). */
export function jsonBody<S extends TSchema>(schema: S) {
  const optional = OptionalKind in schema
  const check = TypeCompiler.Compile(schema)
  return {
    body: schema,
    transform(ctx: { body: unknown }) {
      if (ctx.body === NO_BODY) ctx.body = undefined
      if (ctx.body === undefined && optional) return
      if (check.Check(ctx.body)) return
      const first = check.Errors(ctx.body).First()
      throw new Invalid(fieldMessage('body', first?.path ?? '', first?.message, ctx.body))
    },
  }
}
