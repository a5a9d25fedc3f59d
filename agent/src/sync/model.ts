import { t } from 'elysia'

/** What POST /register answers, as the agent relies on it. */
export const RegistrationReply = t.Object({
  agent_id: t.String({ minLength: 1 }),
  poll_url: t.String({ pattern: '^https?://' }),
  poll_interval_seconds: t.Number({ exclusiveMinimum: 0 }),
})
