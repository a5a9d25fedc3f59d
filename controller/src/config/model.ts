import { t } from 'elysia'
import { ConfigDoc, HttpUrl, Int } from '@dcm/shared'

export { ConfigDoc }

/** Body of POST /config: the URL rule is the document's own (one schema for what is accepted and
 *  what is served), and the URL is stored exactly as sent. */
export const ConfigInput = t.Object(
  {
    url: HttpUrl({ description: 'Absolute http(s) URL that GET /hit calls, at most 2048 characters, stored exactly as sent' }),
    timeout_ms: t.Optional(Int({ minimum: 1, maximum: 60000, description: 'Upstream timeout for GET /hit, 1..60000' })),
  },
  { additionalProperties: false },
)
export type ConfigInput = typeof ConfigInput.static
