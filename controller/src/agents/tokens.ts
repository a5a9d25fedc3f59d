import type { TokenRow } from '../store'
import { AgentRevoked } from './errors'

/** What an agent token looks like: 32 random bytes in base64url (256 bits). Anything else presented as
 *  a credential is not looked up. */
export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

export const newToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')

/** The only form of a token the controller stores. */
export const hashToken = (token: string) => new Bun.CryptoHasher('sha256').update(token).digest('hex')

type Entry = { readonly agent_id: string; revoked: boolean }

/** This replica's view of the agents' tokens: hash → agent, filled at start-up, by registrations here,
 *  by other replicas' notifications, and by a store lookup for a hash it has not seen. A token that
 *  passed once is remembered as it was presented (no hash on the next poll), bounded by the number of
 *  tokens known, since only valid ones enter. A revocation flips the shared entry, so the remembered
 *  token stops working at once. */
export class TokenRegistry {
  readonly #byHash = new Map<string, Entry>()
  readonly #verified = new Map<string, Entry>()
  readonly #lookups = new Map<string, Promise<Entry | null>>()

  constructor(private readonly lookup: (hash: string) => Promise<TokenRow | null>) {}

  /** 'token' for a token that passed before and is not revoked: one map lookup. */
  known(presented: string): 'token' | undefined {
    const e = this.#verified.get(presented)
    return e !== undefined && !e.revoked ? 'token' : undefined
  }

  /** The shared entry of a token that passed before: its `revoked` flips when the agent is revoked, so
   *  whoever keeps it sees a revocation at once. */
  entryOf(presented: string): { readonly agent_id: string; readonly revoked: boolean } | undefined {
    return this.#verified.get(presented)
  }

  /** The agent of a token that passed before (for reports of what it runs). */
  agentOf(presented: string): string | undefined {
    return this.#verified.get(presented)?.agent_id
  }

  /** The full check: the hash looked up here, then (unless `quick`) in the store, once per hash at a
   *  time. Throws AgentRevoked for a revoked agent's token. */
  verify(presented: string, quick: boolean): 'token' | null | Promise<'token' | null> {
    if (!TOKEN_SHAPE.test(presented)) return null
    const hash = hashToken(presented)
    const e = this.#byHash.get(hash)
    if (e !== undefined) return this.#accept(presented, e)
    if (quick) return null
    let pending = this.#lookups.get(hash)
    if (pending === undefined) {
      pending = this.lookup(hash)
        .then((row) => (row === null ? null : this.learn(row)))
        .finally(() => this.#lookups.delete(hash))
      this.#lookups.set(hash, pending)
    }
    return pending.then((found) => (found === null ? null : this.#accept(presented, found)))
  }

  /** Take in what the store says about a token; a revocation is never undone. */
  learn(row: TokenRow): Entry {
    const e = this.#byHash.get(row.token_hash)
    if (e === undefined) {
      const fresh = { agent_id: row.agent_id, revoked: row.revoked }
      this.#byHash.set(row.token_hash, fresh)
      return fresh
    }
    if (row.revoked) e.revoked = true
    return e
  }

  /** Tokens this replica knows (revoked ones included). */
  get size(): number {
    return this.#byHash.size
  }

  #accept(presented: string, e: Entry): 'token' {
    if (e.revoked) throw new AgentRevoked()
    if (this.#verified.size < this.#byHash.size + 1024) this.#verified.set(presented, e)
    return 'token'
  }
}
