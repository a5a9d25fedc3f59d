import { t } from 'elysia'
import { ConfigDoc, Int } from '@dcm/shared'

export { ConfigDoc }

/** What GET /state shows once a config is applied; the url has its userinfo masked. */
export const AppliedState = t.Object({
  version: Int({ minimum: 1 }),
  url: t.String({ description: 'the upstream URL, user:password masked' }),
  timeout_ms: Int({ description: 'the timeout in effect (5000 when the document has none)' }),
  updated_at: t.String({ description: 'when the controller stored this version' }),
  applied_at: t.String({ description: 'when this worker applied it (ISO 8601)' }),
})
export type AppliedState = typeof AppliedState.static

/** What GET /state shows before any config is applied. */
export const EmptyState = t.Object({ version: t.Null(), url: t.Null(), applied_at: t.Null() })
export type EmptyState = typeof EmptyState.static

// One object with nullable fields rather than a union: the OpenAPI generator renders a union
// response without its content wrapper.
export const State = t.Object(
  {
    version: t.Union([Int({ minimum: 1 }), t.Null()]),
    url: t.Union([t.String(), t.Null()], { description: 'the upstream URL, user:password masked' }),
    timeout_ms: t.Optional(Int({ description: 'the timeout in effect' })),
    updated_at: t.Optional(t.String()),
    applied_at: t.Union([t.String(), t.Null()]),
  },
  { description: 'the active config, or version, url and applied_at null before any is applied' },
)

/** Answer of POST /config: whether this call changed the active config, and the state after it. */
export const ApplyReply = t.Composite([t.Object({ applied: t.Boolean({ description: 'false when this version was already active' }) }), AppliedState])
export type ApplyReply = typeof ApplyReply.static

export const ReadyReply = t.Object({ status: t.Literal('ready'), version: Int() })
