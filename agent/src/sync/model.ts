import { t } from 'elysia'

/** What POST /register answers, as the agent relies on it. A controller of an earlier release sends no
 *  agent_token: then the agent polls with the shared key. */
export const RegistrationReply = t.Object({
  agent_id: t.String({ minLength: 1 }),
  agent_token: t.Optional(t.String({ pattern: '^[A-Za-z0-9_-]{1,256}$' })),
  poll_url: t.String({ pattern: '^https?://' }),
  poll_interval_seconds: t.Number({ exclusiveMinimum: 0 }),
})
