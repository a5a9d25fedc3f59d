import { t } from 'elysia'
import { HttpUrl, Text } from '@dcm/shared'

export const AgentId = t.String({ pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'letters, digits, . _ -; at most 128' })

/** Body of POST /register; every field is optional. */
export const Registration = t.Optional(
  t.Object(
    {
      agent_id: t.Optional(AgentId),
      hostname: t.Optional(Text({ minLength: 1, maxLength: 255 })),
      worker_url: t.Optional(HttpUrl({ description: "the worker's URL, as its agent reaches it (userinfo masked)" })),
      labels: t.Optional(t.Record(Text({ minLength: 1, maxLength: 63 }), Text({ maxLength: 255 }), { maxProperties: 64 })),
    },
    { additionalProperties: false },
  ),
)
export type Registration = NonNullable<typeof Registration.static>

export const AgentToken = t.String({
  pattern: '^[A-Za-z0-9_-]{43}$',
  description: "the agent's own credential: 32 random bytes, base64url; present it as the key on GET /config and in X-Agent-Token when registering again (absent for a caller that sent no X-Agent-Token)",
})

export const RegistrationReply = t.Object({
  agent_id: AgentId,
  agent_token: t.Optional(AgentToken),
  poll_url: t.String({ description: 'absolute URL of GET /config' }),
  poll_interval_seconds: t.Number(),
})
