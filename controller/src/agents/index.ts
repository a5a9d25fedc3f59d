import { Elysia, t } from 'elysia'
import { ErrorShape, type AuthPlugin } from '@dcm/shared'
import { guard } from '../config/service'
import type { ConfigStore } from '../store'
import { Registration, RegistrationReply } from './model'

/** POST /register: a new agent gets an id (201); an agent presenting its id keeps it (200), also when
 *  this controller's database no longer knows it. */
export const agentRoutes = (store: ConfigStore, auth: AuthPlugin<'agent' | 'admin'>, opts: { pollUrl: string; pollIntervalSeconds: number }) =>
  new Elysia({ name: 'controller.agents' }).use(auth).post(
    '/register',
    async ({ body, set }) => {
      const b: Registration = body ?? {}
      const agent_id = b.agent_id ?? crypto.randomUUID()
      await guard(store.registerAgent({ ...b, agent_id }), 'write')
      set.status = b.agent_id ? 200 : 201
      return { agent_id, poll_url: opts.pollUrl, poll_interval_seconds: opts.pollIntervalSeconds }
    },
    {
      auth: ['agent'],
      body: t.Optional(Registration),
      response: { 200: RegistrationReply, 201: RegistrationReply, 401: ErrorShape, 403: ErrorShape, 422: ErrorShape, 503: ErrorShape },
      detail: { summary: 'Register an agent (or re-register with its agent_id)', tags: ['agents'] },
    },
  )
