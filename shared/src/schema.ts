import { FormatRegistry, Type, type IntegerOptions, type StringOptions, type TSchema } from '@sinclair/typebox'

/** A strict JSON integer. Elysia's `t.Integer` also accepts numeric strings (it is built for query
 *  strings); documents and bodies must not, so "5" is a 422, not a 5. */
export const Int = (options?: IntegerOptions) => Type.Integer(options)

/** Characters no URL, host name, label or comment needs: C0 and C1 controls, DEL, and U+2028/U+2029
 *  (line breaks to JavaScript). PostgreSQL refuses U+0000, and the rest only hide text from a reader. */
export const FORBIDDEN_TEXT = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
export const Text = (options: StringOptions = {}) => Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$', ...options })

/** `schema` or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

// After the scheme comes the authority, never a slash, backslash, query or space: WHATWG URL parsing
// would otherwise "repair" `http:/x`, `http:x` or `http:\\x`, and the URL used would differ from the one
// written down.
const HTTP_PREFIX = /^https?:\/\/[^/\\?#\s]/i
const NOT_IN_URL = /[\s\\\u0000-\u001f\u007f-\u009f]/

/** True when `url` is an absolute http(s) URL with a host, spelled so that it means what it says: no
 *  whitespace, backslash or control character anywhere, and `//` right after the scheme. */
export function isHttpUrl(url: string): boolean {
  if (!HTTP_PREFIX.test(url) || NOT_IN_URL.test(url) || !URL.canParse(url)) return false
  const u = new URL(url)
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== ''
}

FormatRegistry.Set('http-url', isHttpUrl)

/** An absolute http(s) URL (see isHttpUrl), at most 2048 characters: the one URL rule of every service. */
export const HttpUrl = (options: StringOptions = {}) =>
  Type.String({ format: 'http-url', minLength: 1, maxLength: 2048, description: 'absolute http:// or https:// URL, at most 2048 characters', ...options })
