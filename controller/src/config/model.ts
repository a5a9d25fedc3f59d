import { t } from 'elysia'
import { ConfigDoc, HttpUrl, Int, MAX_VERSION, Nullable, Text } from '@dcm/shared'

export { ConfigDoc }

const Comment = Text({ maxLength: 500, description: 'why (at most 500 characters); not part of the document agents receive' })

/** Body of POST /config: the URL rule is the document's own (one schema for what is accepted and
 *  what is served), and the URL is stored exactly as sent. */
export const ConfigInput = t.Object(
  {
    url: HttpUrl({ description: 'Absolute http(s) URL that GET /hit calls, at most 2048 characters, stored exactly as sent' }),
    timeout_ms: t.Optional(Int({ minimum: 1, maximum: 60000, description: 'Upstream timeout for GET /hit, 1..60000' })),
    comment: t.Optional(Comment),
  },
  { additionalProperties: false },
)
export type ConfigInput = typeof ConfigInput.static

/** Body of POST /config/rollback. */
export const RollbackInput = t.Object(
  {
    version: Int({ minimum: 1, maximum: MAX_VERSION, description: 'the version whose url and timeout_ms become a new version' }),
    comment: t.Optional(Comment),
  },
  { additionalProperties: false },
)

/** A version as history shows it: the document, who wrote it and why. */
export const VersionEntry = t.Object(
  {
    ...ConfigDoc.properties,
    created_by: Nullable(t.String({ description: "the admin key's name, or key:<first 8 hex of its sha256>; null for versions written before history was kept" })),
    comment: Nullable(t.String()),
  },
  { additionalProperties: false },
)

export const Convergence = t.Object({
  applied: Int({ description: 'agents not stale whose worker applied this version or a later one' }),
  total: Int({ description: 'agents not stale' }),
  converged_ms: Nullable(Int({ description: 'ms from the write until every agent not stale had applied it (null: not yet, or no agents)' })),
})

export const VersionDetail = t.Object({ ...VersionEntry.properties, convergence: Convergence }, { additionalProperties: false })

export const VersionList = t.Object({
  versions: t.Array(VersionEntry),
  next_before: Nullable(Int({ description: 'pass as ?before= for the next page; null on the last page' })),
})
