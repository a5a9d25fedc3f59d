import { t } from 'elysia'
import { ConfigDoc, Int, Text } from '@dcm/shared'

export { ConfigDoc }

/** Body of POST /config. */
export const ConfigInput = t.Object(
  {
    url: Text({ minLength: 1, maxLength: 2048, description: 'Absolute http(s) URL, at most 2048 characters' }),
    timeout_ms: t.Optional(Int({ minimum: 1, maximum: 60000, description: 'Upstream timeout for GET /hit, 1..60000' })),
  },
  { additionalProperties: false },
)
export type ConfigInput = typeof ConfigInput.static
