import { Type, type IntegerOptions, type StringOptions, type TSchema } from '@sinclair/typebox'

/** A strict JSON integer. Elysia's `t.Integer` also accepts numeric strings (it is built for query
 *  strings); documents and bodies must not, so "5" is a 422, not a 5. */
export const Int = (options?: IntegerOptions) => Type.Integer(options)

/** Text without control characters: PostgreSQL refuses U+0000, and no URL, host name or label needs
 *  any of them. Without this a NUL in a body would reach the store and come back as a 503. */
export const Text = (options: StringOptions = {}) => Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]*$', ...options })

/** `schema` or null. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])
