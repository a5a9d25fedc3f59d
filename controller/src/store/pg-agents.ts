import type { listening } from './pg-listen'
import type { renewable } from './pg-pool'
import type { ConfigStore, RegisterOutcome, TokenRow } from './types'

/** NOTIFY channel carrying agent tokens registered or revoked: `{agent_id, token_hash, revoked}`. */
export const AGENTS_CHANNEL = 'dcm_agents'

type AgentCalls = Pick<ConfigStore, 'registerAgent' | 'revokeAgent' | 'tokenByHash' | 'agentTokens' | 'subscribeAgents'>

/** The PostgreSQL store's agent calls: registration and revocation (each one statement that also
 *  notifies the replicas), token lookups, and LISTEN on the agents channel. */
export function postgresAgents(pool: ReturnType<typeof renewable>, listener: ReturnType<typeof listening>): AgentCalls {
  return {
    async registerAgent({ agent: a, presentedHash, newHash, create }, now = new Date(), signal) {
      // One statement: the update re-checks its condition under the row lock, so a registration racing a
      // revocation or another registration of the same id never hands out a second token.
      for (let attempt = 0; ; attempt++) {
        const [r] = await pool.run(
          signal,
          (sql) => sql<{ existed: boolean; revoked: boolean; created: number; updated: number }[]>`
            with prev as (
              select token_hash, revoked_at is not null as revoked from agents where agent_id = ${a.agent_id}
            ), ins as (
              insert into agents (agent_id, hostname, worker_url, labels, registered_at, last_seen_at, token_hash)
              select ${a.agent_id}, ${a.hostname ?? null}, ${a.worker_url ?? null}, ${sql.json(a.labels ?? {})}, ${now}, ${now}, ${newHash}::text
              where ${create}::boolean and not exists (select 1 from prev)
              on conflict (agent_id) do nothing
              returning 1
            ), upd as (
              update agents g set hostname = ${a.hostname ?? null}, worker_url = ${a.worker_url ?? null}, labels = ${sql.json(a.labels ?? {})},
                last_seen_at = ${now}, token_hash = coalesce(g.token_hash, ${newHash}::text)
              where g.agent_id = ${a.agent_id} and g.revoked_at is null and (g.token_hash is null or g.token_hash = ${presentedHash}::text)
              returning (select token_hash from prev) is null as adopted
            ), notified as (
              select pg_notify(${AGENTS_CHANNEL}, json_build_object('agent_id', ${a.agent_id}::text, 'token_hash', ${newHash}::text, 'revoked', false)::text)
              from (select 1 from ins union all select 1 from upd where adopted) x where ${newHash}::text is not null
            )
            select exists (select 1 from prev) as existed, coalesce((select revoked from prev), false) as revoked,
              (select count(*) from ins)::int as created, (select count(*) from upd)::int as updated, (select count(*) from notified)::int as n`,
        )
        const outcome: RegisterOutcome | null = r!.created ? 'created' : r!.updated ? 'known' : r!.revoked ? 'revoked' : r!.existed ? 'mismatch' : create ? null : 'limited'
        // null: the row appeared between the statement's snapshot and its insert (another registration of
        // the same new id); once more sees it.
        if (outcome !== null || attempt > 0) return outcome ?? 'mismatch'
      }
    },
    async revokeAgent(id, now = new Date(), signal) {
      const [r] = await pool.run(
        signal,
        (sql) => sql<{ token_hash: string | null }[]>`
          with r as (
            update agents set revoked_at = coalesce(revoked_at, ${now}) where agent_id = ${id} returning agent_id, token_hash
          ), n as (
            select pg_notify(${AGENTS_CHANNEL}, json_build_object('agent_id', agent_id, 'token_hash', token_hash, 'revoked', true)::text)
            from r where token_hash is not null
          )
          select token_hash, (select count(*) from n) as n from r`,
      )
      return r ? { token_hash: r.token_hash } : null
    },
    async tokenByHash(hash, signal) {
      const [r] = await pool.run(signal, (sql) => sql<TokenRow[]>`select agent_id, token_hash, revoked_at is not null as revoked from agents where token_hash = ${hash}`)
      return r ? { agent_id: r.agent_id, token_hash: r.token_hash, revoked: r.revoked } : null
    },
    async agentTokens(which, signal) {
      const rows = await pool.run(
        signal,
        (sql) => sql<TokenRow[]>`
          select agent_id, token_hash, revoked_at is not null as revoked from agents
          where token_hash is not null ${which === 'revoked' ? sql`and revoked_at is not null` : sql``}`,
      )
      return rows.map((r) => ({ agent_id: r.agent_id, token_hash: r.token_hash, revoked: r.revoked }))
    },
    async subscribeAgents(onToken, onResubscribe) {
      return listener.listen(
        AGENTS_CHANNEL,
        (payload) => {
          try {
            const p = JSON.parse(payload) as TokenRow
            if (typeof p.agent_id !== 'string' || typeof p.token_hash !== 'string' || typeof p.revoked !== 'boolean') throw new Error('unexpected payload')
            onToken({ agent_id: p.agent_id, token_hash: p.token_hash, revoked: p.revoked })
          } catch {
            onResubscribe() // unreadable payload: read the table instead
          }
        },
        onResubscribe,
      )
    },
  }
}
