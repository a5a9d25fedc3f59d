/** Operating the fleet against real processes: what GET /agents says while workers apply, refuse and
 *  restart; a rollback reaching the worker; If-Match refusing a stale write and letting exactly one of
 *  two racing writers win. */
import { describe, expect, test } from 'bun:test'
import { call, freePort, spawnService, testDatabase, waitFor, type Service } from '../../test/harness'
import { controllerEnv, KEYS, setConfig, stackAtVersion1, waitWorkerVersion } from '../../test/stack'

const pgUrl = await testDatabase()
// Reports reach the store every 0.2 s; agents poll every 0.2 s (stale after 3 intervals + a batch).
const FAST = { FLEET_FLUSH_SECONDS: '0.2' }
const agents = async (c: Service, query = '') => (await call(`${c.url}/agents${query}`, { key: KEYS.admin })).body
const one = async (c: Service) => (await agents(c)).agents[0]

describe('who runs what, as GET /agents shows it', () => {
  test('a version the worker refuses shows as rejected, with the worker’s code; the next good version brings it back in sync', async () => {
    const s = await stackAtVersion1({ controller: FAST })
    await waitFor('the agent in sync at version 1', async () => (await one(s.controller))?.status === 'in_sync')
    // The controller accepts a URL that points at the worker itself; the worker refuses it.
    expect((await setConfig(s, { url: `${s.worker.url}/hit` })).status).toBe(201)
    const rejected = await waitFor('the agent shown as rejected', async () => {
      const a = await one(s.controller)
      return a?.status === 'rejected' ? a : null
    })
    expect(rejected).toMatchObject({ applied_version: 1, fetched_version: 2, rejected: { version: 2, reason: 'validation_failed' } })
    expect((await agents(s.controller)).summary).toEqual({ in_sync: 0, behind: 0, rejected: 1, stale: 0 })
    expect((await agents(s.controller, '?status=rejected')).agents.map((a: any) => a.agent_id)).toEqual([rejected.agent_id])
    expect((await setConfig(s, { url: `${s.upstream.url}/next` })).status).toBe(201)
    await waitFor('in sync at version 3, the refusal gone', async () => {
      const a = await one(s.controller)
      return a?.status === 'in_sync' && a.applied_version === 3 && a.rejected === null
    })
  })

  test('a worker restarted while its agent is down: the agent goes stale, comes back behind, then in sync', async () => {
    const s = await stackAtVersion1({ controller: FAST })
    await waitFor('in sync', async () => (await one(s.controller))?.status === 'in_sync')
    await s.agent.stop()
    // The worker comes back empty, and (for now) refuses the agent's key, so it stays empty.
    let worker = await s.worker.restart({ AGENT_API_KEY: 'not-the-agents-key' })
    await waitFor('the agent shown as stale', async () => (await one(s.controller))?.status === 'stale')
    await s.agent.restart()
    const behind = await waitFor('the agent shown as behind', async () => {
      const a = await one(s.controller)
      return a?.status === 'behind' ? a : null
    })
    expect(behind).toMatchObject({ applied_version: null, fetched_version: 1 })
    worker = await worker.restart({ AGENT_API_KEY: KEYS.worker })
    await waitWorkerVersion(worker, 1)
    await waitFor('in sync again', async () => (await one(s.controller))?.status === 'in_sync')
  })

  test('a rollback reaches the worker as a new version with the old content', async () => {
    const s = await stackAtVersion1({ controller: FAST })
    expect((await setConfig(s, { url: `${s.upstream.url}/bad` })).status).toBe(201)
    await waitWorkerVersion(s.worker, 2)
    const back = await call(`${s.controller.url}/config/rollback`, { method: 'POST', key: KEYS.admin, json: { version: 1 } })
    expect(back).toMatchObject({ status: 201, body: { version: 3, url: s.upstream.url, comment: 'rollback to 1' } })
    await waitWorkerVersion(s.worker, 3)
    expect((await call(`${s.worker.url}/state`)).body.url).toBe(s.upstream.url)
    // History says who did it; the version page says the fleet has it.
    const v3 = await waitFor('version 3 converged', async () => {
      const r = (await call(`${s.controller.url}/config/versions/3`, { key: KEYS.admin })).body
      return r.convergence?.converged_ms !== null ? r : null
    })
    expect(v3.convergence).toMatchObject({ applied: 1, total: 1 })
    expect(v3.convergence.converged_ms).toBeGreaterThanOrEqual(0)
  })
})

describe.skipIf(!pgUrl)('replicas share what agents report (PostgreSQL)', () => {
  test('a clean stop writes the last batch of reports', async () => {
    const db = (await testDatabase())!
    // The replica the agent polls writes its batches only every minute: what the other replica sees
    // after the stop was written by the stop itself.
    const s = await stackAtVersion1({ controller: { FLEET_FLUSH_SECONDS: '60', DATABASE_URL: db } })
    const port = await freePort()
    const other = await spawnService('controller', { port, env: controllerEnv(port, { ...FAST, DATABASE_URL: db }) })
    // Registered (written at once) but no report batch yet: the other replica knows nothing applied.
    expect(await one(other)).toMatchObject({ applied_version: null })
    await waitFor('the polled replica sees the agent in sync', async () => (await one(s.controller))?.status === 'in_sync')
    // The agent stops; the replica it polled stops cleanly (SIGTERM): its last batch is in the store.
    await s.agent.stop()
    expect(await s.controller.stop('SIGTERM')).toBe(0)
    expect(await one(other)).toMatchObject({ applied_version: 1, fetched_version: 1 })
  })

  test('an agent polling one replica is listed in sync by another within a batch', async () => {
    const db = (await testDatabase())!
    await stackAtVersion1({ controller: { ...FAST, DATABASE_URL: db } })
    const port = await freePort()
    const other = await spawnService('controller', { port, env: controllerEnv(port, { ...FAST, DATABASE_URL: db }) })
    const seen = await waitFor('the other replica lists the agent in sync', async () => {
      const a = await one(other)
      return a?.status === 'in_sync' ? a : null
    })
    expect(seen).toMatchObject({ applied_version: 1, fetched_version: 1 })
  })
})

describe('compare-and-set with If-Match', () => {
  const write = (c: Service, url: string, ifMatch?: string) =>
    call(`${c.url}/config`, { method: 'POST', key: KEYS.admin, json: { url }, headers: ifMatch ? { 'if-match': ifMatch } : {} })

  async function controllers(): Promise<Service[]> {
    // Two replicas on one PostgreSQL database when there is one; else one SQLite controller.
    const db = pgUrl ? await testDatabase() : null
    const one = async () => {
      const port = await freePort()
      return spawnService('controller', { port, env: controllerEnv(port, db ? { DATABASE_URL: db } : {}) })
    }
    return db ? [await one(), await one()] : [await one()]
  }

  test('a stale If-Match is 412 with the current ETag, and nothing is stored', async () => {
    const [c] = await controllers()
    const first = await write(c!, 'http://one.example/')
    const second = await write(c!, 'http://two.example/', first.headers.get('etag')!)
    expect(second.status).toBe(201)
    const stale = await write(c!, 'http://three.example/', first.headers.get('etag')!)
    expect({ status: stale.status, error: stale.body.error, etag: stale.headers.get('etag') }).toEqual({ status: 412, error: 'precondition_failed', etag: second.headers.get('etag') })
    const current = await call(`${c!.url}/config`, { key: KEYS.admin })
    expect(current.body).toMatchObject({ version: 2, url: 'http://two.example/' })
    expect((await call(`${c!.url}/config/versions`, { key: KEYS.admin })).body.versions).toHaveLength(2)
  })

  test('two writers racing with the same If-Match (through two replicas on PostgreSQL): exactly one wins', async () => {
    const cs = await controllers()
    const base = await write(cs[0]!, 'http://base.example/')
    const etag = base.headers.get('etag')!
    // Each replica has served the base version, so each judges the tag itself.
    await waitFor('every replica at the base version', async () => {
      const tags = await Promise.all(cs.map(async (c) => (await call(`${c.url}/config`, { key: KEYS.admin })).headers.get('etag')))
      return tags.every((t) => t === etag)
    })
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => write(cs[i % cs.length]!, `http://racer${i}.example/`, etag)))
    expect(results.map((r) => r.status).sort()).toEqual([201, 412, 412, 412, 412, 412])
    const winner = results.find((r) => r.status === 201)!
    expect((await call(`${cs[0]!.url}/config`, { key: KEYS.admin })).body).toMatchObject({ version: 2, url: winner.body.url })
  })
})

