/** The simulated fleet's identities: agent i is `sim-i` with a token derived from i, so the simulator
 *  and the store agree without passing 25,000 tokens around; and their rows in the store, as a
 *  registration leaves them. Seeded straight into the table: registering through the API is limited to
 *  NEW_AGENTS_PER_MINUTE per replica, and it is not what the figure measures. */
import postgres from 'postgres'

export const simId = (i: number) => `sim-${i}`

/** 43 characters of base64url, the shape of a real agent token (TOKEN_SHAPE). */
export const simToken = (i: number) => new Bun.CryptoHasher('sha256').update(`dcm-bench-sim-${i}`).digest('base64url')

/** Agents 0 … n-1 registered in the controller's database (its migrations already run); the ones
 *  there already are kept. The stored form of a token is its SHA-256 in hex, as hashToken makes it. */
export async function seedAgents(databaseUrl: string, n: number): Promise<void> {
  const db = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    const ids = Array.from({ length: n }, (_, i) => simId(i))
    const hashes = Array.from({ length: n }, (_, i) => new Bun.CryptoHasher('sha256').update(simToken(i)).digest('hex'))
    await db`
      insert into agents (agent_id, hostname, worker_url, labels, registered_at, last_seen_at, token_hash)
      select id, 'bench', 'http://127.0.0.1:1', '{}', now(), now(), hash from unnest(${ids}::text[], ${hashes}::text[]) as t(id, hash)
      on conflict (agent_id) do nothing`
  } finally {
    await db.end({ timeout: 2 })
  }
}
