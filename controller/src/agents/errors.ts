import { Forbidden, HttpError, TooManyRequests } from '@dcm/shared'

/** The agent's token was revoked (DELETE /agents/<id>): a 401 the agent can tell from a wrong key, so
 *  it stops instead of retrying. */
export class AgentRevoked extends HttpError {
  constructor() {
    super(401, 'agent_revoked', 'this agent was revoked (DELETE /agents/<id>); it must stop polling and registering', { 'www-authenticate': 'Bearer' })
  }
}

/** A known agent_id presented without its token (or with another one): never handed to the caller. */
export const tokenMismatch = () => new Forbidden('this agent_id is registered with another token; present the agent_token it was given in X-Agent-Token', 'agent_token_mismatch')

/** Registrations that would make a new agent came faster than NEW_AGENTS_PER_MINUTE. */
export const tooManyRegistrations = (retryAfterMs: number) => new TooManyRequests('too many new agents registered lately; retry later (known agents presenting their id are not limited)', 'too_many_registrations', retryAfterMs)
