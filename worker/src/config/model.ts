import { t } from 'elysia'
import { ConfigDoc, Int, StoreId } from '@dcm/shared'

export { ConfigDoc }

/** What GET /state shows once a config is applied; the url is masked (userinfo and query values). */
export const AppliedState = t.Object({
  version: Int({ minimum: 1 }),
  store_id: StoreId,
  url: t.String({ description: 'the upstream URL, userinfo and query values masked' }),
  timeout_ms: Int({ description: 'the timeout in effect (5000 when the document has none)' }),
  updated_at: t.String({ description: 'when the controller stored this version' }),
  applied_at: t.String({ description: 'when this worker applied it (ISO 8601)' }),
})
export type AppliedState = typeof AppliedState.static

/** What GET /state shows before any config is applied. */
export const EmptyState = t.Object({ version: t.Null(), store_id: t.Null(), url: t.Null(), applied_at: t.Null() })
export type EmptyState = typeof EmptyState.static

/** How GET /hit has fared with the active version since it was applied. */
export const HitCounts = t.Object({
  version: t.Union([Int(), t.Null()]),
  total: Int({ description: 'every /hit with this version applied: the sum of by_class and upstream_failures' }),
  by_class: t.Object(
    { '2xx': Int(), '3xx': Int(), '4xx': Int(), '5xx': Int() },
    { description: "the upstream's answers passed through, by the class of their status (the worker's own errors are not here)" },
  ),
  upstream_failures: Int({ description: "the worker's own 502/503/504/508 answers for a failed upstream call, and upstream bodies that broke off" }),
  p50_ms: Int({ description: 'median upstream latency, as the upper bound of its bucket (0 before any call)' }),
  p99_ms: Int({ description: '99th percentile upstream latency, as the upper bound of its bucket (0 before any call)' }),
  buckets: t.Object(
    {
      le_ms: t.Array(Int(), { description: 'upper bounds in ms (fixed)' }),
      counts: t.Array(Int(), { description: 'upstream calls per bucket, one more entry than le_ms (the last: above the last bound)' }),
    },
    { description: 'the upstream latency histogram since this version was applied (counts only grow): the agent subtracts two readings' },
  ),
})
export type HitCounts = typeof HitCounts.static

// One object with nullable fields rather than a union: the OpenAPI generator renders a union
// response without its content wrapper.
export const State = t.Object(
  {
    version: t.Union([Int({ minimum: 1 }), t.Null()]),
    store_id: t.Union([StoreId, t.Null()]),
    url: t.Union([t.String(), t.Null()], { description: 'the upstream URL, userinfo and query values masked' }),
    timeout_ms: t.Optional(Int({ description: 'the timeout in effect' })),
    updated_at: t.Optional(t.String()),
    applied_at: t.Union([t.String(), t.Null()]),
    hits: HitCounts,
  },
  { description: 'the active config (version, store_id, url and applied_at null before any is applied) and how /hit fares with it' },
)

/** The config a push replaced, with its /hit counts as they stood at that moment. */
export const ReplacedState = t.Composite([AppliedState, t.Object({ hits: HitCounts })], {
  description: 'the config this push replaced and its final /hit counts (its agent reports them without asking GET /state first)',
})

/** Answer of POST /config: whether this call changed the active config, and the state after it. */
export const ApplyReply = t.Composite([
  t.Object({ applied: t.Boolean({ description: 'false when this version was already active' }), replaced: t.Optional(ReplacedState) }),
  AppliedState,
])
export type ApplyReply = typeof ApplyReply.static

export const ReadyReply = t.Object({ status: t.Literal('ready'), version: Int() })
