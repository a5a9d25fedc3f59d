import { Type, type IntegerOptions } from '@sinclair/typebox'

/** A strict JSON integer. Elysia's `t.Integer` also accepts numeric strings (it is built for query
 *  strings); documents and bodies must not, so "5" is a 422, not a 5. */
export const Int = (options?: IntegerOptions) => Type.Integer(options)
