import { NotFound, TokenBucket, type Credentials, type Logger } from '@dcm/shared'
import { guard, type ConfigStore } from '../store'
import { controllerCredentials, type Role } from './credentials'
import { AgentRevoked, tokenMismatch, tooManyRegistrations } from './errors'
import type { Registration } from './model'
import { hashToken, newToken, TokenRegistry } from './tokens'

/** `created`: the store made a new row (a new agent, or a presented id the store did not know). */
export type Registered = { status: 200 | 201; agent_id: string; agent_token: string | null; created: boolean }

export type AgentServiceOptions = { agentKeys: readonly string[]; adminKeys: readonly string[]; newAgentsPerMinute: number; now?: () => number }

/** Registration and revocation of agents, this replica's view of their tokens, and so who may call the
 *  controller: one `credentials` for the app and its hot route, so a credential verified by one is
 *  known to the other. */
export class AgentService {
  readonly tokens: TokenRegistry
  readonly credentials: Credentials<Role>
  readonly #newAgents: TokenBucket

  constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    opts: AgentServiceOptions,
  ) {
    this.tokens = new TokenRegistry((hash) => guard((signal) => store.tokenByHash(hash, signal), 'read', logger))
    this.credentials = controllerCredentials(opts, this.tokens)
    this.#newAgents = new TokenBucket(opts.newAgentsPerMinute, opts.newAgentsPerMinute, opts.now)
  }

  /** Every token in the store (start-up, and after notifications may have been missed). */
  async load(): Promise<void> {
    for (const row of await guard((signal) => this.store.agentTokens('all', signal), 'read', this.logger)) this.tokens.learn(row)
  }

  /** The revocations in the store: the safety net behind the notifications. */
  async refreshRevoked(): Promise<void> {
    for (const row of await guard((signal) => this.store.agentTokens('revoked', signal), 'read', this.logger)) this.tokens.learn(row)
  }

  /** A new agent gets an id and a token (201); an agent presenting its id keeps both (200) if it
   *  presents its token too, or has none yet (registered before tokens existed: it gets one). An id
   *  this database does not know (a reset database) is made again, with the presented token if any.
   *  The token is never rotated here: an agent that crashed between our answer and its save would be
   *  locked out. A token is bound to an id only for a caller that keeps it (`presented` a token, or
   *  'new'): an agent of an earlier release (no X-Agent-Token) would discard it and find its own id
   *  locked at its next registration, so its row stays without one, as open as before. Registrations
   *  that would make a new agent are limited per replica. */
  async register(b: Registration, presented: string | 'new' | null, requestId: string): Promise<Registered> {
    const wantsId = b.agent_id !== undefined
    const allowance = this.#newAgents.take()
    if (!wantsId && !allowance) throw tooManyRegistrations(this.#newAgents.retryAfterMs)
    const agent_id = b.agent_id ?? crypto.randomUUID()
    const held = wantsId && presented !== null && presented !== 'new' ? presented : null
    const agent_token = held ?? (presented !== null ? newToken() : null)
    const hash = agent_token === null ? null : hashToken(agent_token)
    let outcome: Awaited<ReturnType<ConfigStore['registerAgent']>> | undefined
    try {
      outcome = await guard(
        (signal) => this.store.registerAgent({ agent: { ...b, agent_id }, presentedHash: held === null ? null : hash, newHash: hash, create: allowance }, new Date(), signal),
        'write',
        this.logger,
        requestId,
      )
    } finally {
      if (allowance && outcome !== 'created') this.#newAgents.give()
    }
    switch (outcome) {
      case 'created':
      case 'known':
        if (hash !== null) this.tokens.learn({ agent_id, token_hash: hash, revoked: false })
        // A presented id that this database did not know: a reset or restored database, or another region.
        if (wantsId && outcome === 'created') this.logger.info('known agent re-registered into an empty record', { agent_id, request_id: requestId })
        return { status: wantsId ? 200 : 201, agent_id, agent_token, created: outcome === 'created' }
      case 'revoked':
        throw new AgentRevoked()
      case 'mismatch':
        this.logger.warn('registration refused: agent_id presented without its token', { agent_id, request_id: requestId })
        throw tokenMismatch()
      case 'limited':
        throw tooManyRegistrations(this.#newAgents.retryAfterMs)
    }
  }

  /** Revoke an agent: its token stops working here at once, on other replicas when they hear of it. */
  async revoke(agentId: string, requestId: string): Promise<void> {
    const r = await guard((signal) => this.store.revokeAgent(agentId, new Date(), signal), 'write', this.logger, requestId)
    if (r === null) throw new NotFound(`no agent ${agentId} is registered`, 'agent_not_found')
    if (r.token_hash !== null) this.tokens.learn({ agent_id: agentId, token_hash: r.token_hash, revoked: true })
    this.logger.info('agent revoked', { agent_id: agentId, request_id: requestId })
  }
}
