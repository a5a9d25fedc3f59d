import { Elysia } from 'elysia'
import { ErrorShape, FORBIDDEN_TEXT, Invalid, jsonBody, requestIdOf, type AuthPlugin, type Logger } from '@dcm/shared'
import { guard, type ConfigStore } from '../store'
import { Registration, RegistrationReply } from './model'

/** POST /register: a new agent gets an id (201); an agent presenting its id keeps it (200), also when
 *  this controller's database no longer knows it. */
export const agentRoutes = (store: ConfigStore, auth: AuthPlugin<'agent' | 'admin'>, opts: { pollUrl: string; pollIntervalSeconds: number; logger: Logger }) =>
  new Elysia({ name: 'controller.agents' }).use(auth).post(
    '/register',
    async ({ body, set, request }) => {
      const b: Registration = body ?? {}
      // TypeBox checks label values, not label names.
      if (Object.keys(b.labels ?? {}).some((k) => k.length < 1 || k.length > 63 || FORBIDDEN_TEXT.test(k)))
        throw new Invalid('body field "labels": label names must be 1 to 63 characters without control characters')
      const agent_id = b.agent_id ?? crypto.randomUUID()
      const request_id = requestIdOf(request)
      const { created } = await guard((signal) => store.registerAgent({ ...b, agent_id }, new Date(), signal), 'write', opts.logger, request_id)
      // A presented id that this database did not know: a reset or restored database, or another region.
      if (b.agent_id && created) opts.logger.info('known agent re-registered into an empty record', { agent_id, request_id })
      set.status = b.agent_id ? 200 : 201
      return { agent_id, poll_url: opts.pollUrl, poll_interval_seconds: opts.pollIntervalSeconds }
    },
    {
      ...jsonBody(Registration),
      auth: ['agent'],
      response: { 200: RegistrationReply, 201: RegistrationReply, 400: ErrorShape, 401: ErrorShape, 403: ErrorShape, 413: ErrorShape, 415: ErrorShape, 422: ErrorShape, 503: ErrorShape },
      detail: { summary: 'Register an agent (or re-register with its agent_id)', tags: ['agents'] },
    },
  )
