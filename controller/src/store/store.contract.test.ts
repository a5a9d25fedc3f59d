import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testDatabase } from '../../../test/harness'
import { LateWrite, PreconditionFailed, postgresStore, RolloutActive, sqliteStore, type ConfigInput, type ConfigStore } from '.'
import { migrations } from './migrations'

const pgUrl = await testDatabase()
const soon = () => ({ deadline: Date.now() + 4000 })

/** One contract, run against both stores. `place()` makes a new empty location; `open(place)` opens a
 *  store on it (every call on the same place sees the same data). */
function contract<P>(name: string, place: () => Promise<P>, open: (p: P) => ConfigStore) {
  const fresh = async () => {
    const p = await place()
    const s = open(p)
    await s.migrate()
    return { p, s }
  }
  const write = (s: ConfigStore, input: ConfigInput) => s.write(input, soon())

  describe(`${name} store`, () => {
    test('is empty at first, has an identity, and migrations can run again', async () => {
      const { s } = await fresh()
      const id = s.storeId
      expect(id).toMatch(/^[0-9a-f]{32}$/)
      await s.migrate()
      expect(s.storeId).toBe(id)
      expect(await s.current()).toBeNull()
      await s.close()
    })

    test('writes new versions, skips an identical write, and stamps each with the store identity', async () => {
      const { s } = await fresh()
      const a = await write(s, { url: 'http://a.example/' })
      const at = a.doc.updated_at
      expect(a).toEqual({ created: true, doc: { version: 1, store_id: s.storeId, url: 'http://a.example/', updated_at: at } })
      expect(await write(s, { url: 'http://a.example/' })).toEqual({ created: false, doc: a.doc })
      const b = await write(s, { url: 'http://a.example/', timeout_ms: 250 })
      expect(b.doc).toMatchObject({ version: 2, timeout_ms: 250 })
      expect(await s.current()).toEqual(b.doc)
      await s.close()
    })

    test('parallel writes from several connections get distinct, gapless versions, updated_at never going back', async () => {
      const { p, s: first } = await fresh()
      const stores = [first, open(p), open(p)]
      await Promise.all(stores.slice(1).map((s) => s.migrate()))
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => write(stores[i % 3]!, { url: `http://p${i}.example/` })))
      const docs = results.map((r) => r.doc).sort((x, y) => x.version - y.version)
      expect(docs.map((d) => d.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
      const times = docs.map((d) => Date.parse(d.updated_at))
      expect(times).toEqual([...times].sort((x, y) => x - y))
      await Promise.all(stores.map((s) => s.close()))
    })

    test('a write that reaches the store after its deadline is refused and stores nothing', async () => {
      const { s } = await fresh()
      const a = await write(s, { url: 'http://a.example/' })
      await expect(s.write({ url: 'http://late.example/' }, { deadline: Date.now() - 1000 })).rejects.toBeInstanceOf(LateWrite)
      expect(await s.current()).toEqual(a.doc)
      expect((await write(s, { url: 'http://b.example/' })).doc.version).toBe(2)
      await s.close()
    })

    test('data and identity survive closing and reopening', async () => {
      const { p, s } = await fresh()
      const { doc } = await write(s, { url: 'http://durable.example/', timeout_ms: 1000 })
      await s.close()
      const again = open(p)
      await again.migrate()
      expect(await again.current()).toEqual(doc)
      await again.close()
    })

    test('the identity is read from the store, so a new one is seen by every handle at once', async () => {
      const { p, s } = await fresh()
      const other = open(p)
      await other.migrate()
      const before = s.storeId
      await write(s, { url: 'http://a.example/' })
      const id = await other.newIdentity(before)
      expect(id).not.toBe(before)
      expect((await s.current())!.store_id).toBe(id)
      expect((await write(s, { url: 'http://b.example/' })).doc.store_id).toBe(id)
      // A second replica that noticed the same restore does not turn it over again.
      expect(await s.newIdentity(before)).toBe(id)
      await Promise.all([s.close(), other.close()])
    })

    test('registration: a new id gets the new hash; a known id needs its hash, or adopts one when it has none; revoked and limited ids change nothing', async () => {
      const { s } = await fresh()
      const reg = (agent_id: string, presentedHash: string | null, newHash: string | null, create = true) => s.registerAgent({ agent: { agent_id, hostname: 'h', labels: { zone: 'a' } }, presentedHash, newHash, create })
      expect(await reg('agent-1', null, 'h1')).toBe('created')
      expect(await reg('agent-1', 'h1', 'h1')).toBe('known')
      expect(await reg('agent-1', null, 'h9')).toBe('mismatch')
      expect(await reg('agent-1', 'h2', 'h2')).toBe('mismatch')
      expect(await reg('agent-2', null, 'h2', false)).toBe('limited')
      expect(await reg('agent-1', 'h1', 'h1', false)).toBe('known') // a known agent is never limited
      expect(await s.tokenByHash('h1')).toEqual({ agent_id: 'agent-1', token_hash: 'h1', revoked: false })
      expect(await s.tokenByHash('h2')).toBeNull()
      // A caller that keeps no token: its row stays without one, open to it, until one is asked for.
      expect(await reg('legacy', null, null)).toBe('created')
      expect(await reg('legacy', null, null)).toBe('known')
      expect(await reg('legacy', null, 'hL')).toBe('known')
      expect(await reg('legacy', null, null)).toBe('mismatch')
      expect(await s.tokenByHash('hL')).toEqual({ agent_id: 'legacy', token_hash: 'hL', revoked: false })
      expect(await s.revokeAgent('agent-1')).toEqual({ token_hash: 'h1' })
      expect(await s.revokeAgent('agent-1')).toEqual({ token_hash: 'h1' }) // again: still revoked, still known
      expect(await s.revokeAgent('nobody')).toBeNull()
      expect(await reg('agent-1', 'h1', 'h1')).toBe('revoked')
      expect(await s.tokenByHash('h1')).toEqual({ agent_id: 'agent-1', token_hash: 'h1', revoked: true })
      expect(await reg('agent-3', 'h3', 'h3')).toBe('created')
      expect((await s.agentTokens('all')).sort((a, b) => a.agent_id.localeCompare(b.agent_id))).toEqual([
        { agent_id: 'agent-1', token_hash: 'h1', revoked: true },
        { agent_id: 'agent-3', token_hash: 'h3', revoked: false },
        { agent_id: 'legacy', token_hash: 'hL', revoked: false },
      ])
      expect(await s.agentTokens('revoked')).toEqual([{ agent_id: 'agent-1', token_hash: 'h1', revoked: true }])
      await s.close()
    })

    test('history: who wrote each version and why, newest first, paged by version', async () => {
      const { s } = await fresh()
      const ctx = (actor: string, comment: string | null = null) => ({ actor, action: 'config.write' as const, comment, request_id: `r-${actor}` })
      await s.write({ url: 'http://a.example/' }, soon(), ctx('alice', 'first'))
      await s.write({ url: 'http://b.example/', timeout_ms: 9 }, soon(), ctx('key:1a2b3c4d'))
      await s.write({ url: 'http://b.example/', timeout_ms: 9 }, soon(), ctx('bob', 'same again'))
      await s.write({ url: 'http://c.example/' }, soon())
      const all = await s.versions(50, null)
      expect(all.map((v) => [v.version, v.url, v.created_by, v.comment])).toEqual([
        [3, 'http://c.example/', null, null],
        [2, 'http://b.example/', 'key:1a2b3c4d', null],
        [1, 'http://a.example/', 'alice', 'first'],
      ])
      expect(all[1]).toMatchObject({ store_id: s.storeId, timeout_ms: 9, converged_at: null })
      expect((await s.versions(1, 3)).map((v) => v.version)).toEqual([2])
      expect(await s.version(2)).toEqual(all[1]!)
      expect(await s.version(9)).toBeNull()
      const at = new Date('2026-11-28T10:00:00.000Z')
      await s.converged([1, 2], at)
      await s.converged([2], new Date('2026-11-28T11:00:00.000Z')) // the first time is kept
      expect((await s.version(2))!.converged_at).toBe(at.toISOString())
      // Every write with a context is audited, the unchanged one too; newest first, paged by id.
      const audit = await s.audit(10, null)
      expect(audit.map((a) => [a.actor, a.action, a.target, a.request_id, a.outcome])).toEqual([
        ['bob', 'config.write', 'version 2', 'r-bob', 'unchanged'],
        ['key:1a2b3c4d', 'config.write', 'version 2', 'r-key:1a2b3c4d', 'created'],
        ['alice', 'config.write', 'version 1', 'r-alice', 'created'],
      ])
      expect((await s.audit(10, audit[1]!.id)).map((a) => a.actor)).toEqual(['alice'])
      await s.appendAudit({ actor: 'alice', action: 'agent.revoke', target: 'agent x', request_id: null, outcome: 'revoked' })
      expect((await s.audit(1, null))[0]).toMatchObject({ actor: 'alice', action: 'agent.revoke', target: 'agent x', request_id: null, outcome: 'revoked' })
      await s.close()
    })

    test('If-Match: a write meets its precondition under the lock, or stores nothing and names the current version', async () => {
      const { s } = await fresh()
      const ctx = (expect: { store_id: string; version: number } | 'any') => ({ actor: 'ci', action: 'config.write' as const, expect })
      await expect(s.write({ url: 'http://a.example/' }, soon(), ctx('any'))).rejects.toMatchObject({ name: 'PreconditionFailed', current: null })
      expect(await s.current()).toBeNull()
      const a = await s.write({ url: 'http://a.example/' }, soon())
      const b = await s.write({ url: 'http://b.example/' }, soon(), ctx({ store_id: s.storeId, version: 1 }))
      expect(b).toMatchObject({ created: true, doc: { version: 2 } })
      const refused = await s.write({ url: 'http://c.example/' }, soon(), ctx({ store_id: s.storeId, version: 1 })).catch((e) => e)
      expect(refused).toBeInstanceOf(PreconditionFailed)
      expect(refused.current).toEqual(b.doc)
      await expect(s.write({ url: 'http://c.example/' }, soon(), ctx({ store_id: 'another-store', version: 2 }))).rejects.toBeInstanceOf(PreconditionFailed)
      expect(await s.current()).toEqual(b.doc)
      expect((await s.write({ url: 'http://c.example/' }, soon(), ctx('any'))).doc.version).toBe(3)
      expect(a.doc.version).toBe(1)
      expect((await s.audit(10, null)).map((r) => r.outcome)).toEqual(['created', 'precondition_failed', 'precondition_failed', 'created', 'precondition_failed'])
      await s.close()
    })

    test('two writers racing with the same If-Match: exactly one wins', async () => {
      const { p, s: first } = await fresh()
      const stores = [first, open(p), open(p)]
      await Promise.all(stores.slice(1).map((s) => s.migrate()))
      const base = await first.write({ url: 'http://base.example/' }, soon())
      const expect1 = { actor: 'ci', action: 'config.write' as const, expect: { store_id: first.storeId, version: base.doc.version } }
      const results = await Promise.allSettled(stores.flatMap((s, i) => [0, 1].map((j) => s.write({ url: `http://w${i}${j}.example/` }, soon(), expect1))))
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof PreconditionFailed)).toHaveLength(5)
      expect((await first.current())!.version).toBe(2)
      await Promise.all(stores.map((s) => s.close()))
    })

    test('poll reports: saved in one batch, only for registered agents not revoked, the newest report winning', async () => {
      const { s } = await fresh()
      await s.registerAgent({ agent: { agent_id: 'a1', hostname: 'h1', labels: { zone: 'x' } }, presentedHash: null, newHash: 'h1', create: true }, new Date('2026-11-28T09:00:00.000Z'))
      await s.registerAgent({ agent: { agent_id: 'a2' }, presentedHash: null, newHash: 'h2', create: true }, new Date('2026-11-28T09:00:00.000Z'))
      const at = (m: number) => new Date(Date.parse('2026-11-28T10:00:00.000Z') + m * 60_000)
      const saved = await s.saveReports([
        { agent_id: 'a1', last_seen_at: at(2), fetched_version: 3, applied_version: 2, applied_at: at(2), rejected: { version: 3, reason: 'upstream_forbidden' } },
        { agent_id: 'ghost', last_seen_at: at(2), fetched_version: 3, applied_version: 3, applied_at: at(2), rejected: null },
      ])
      expect(saved).toEqual(['a1'])
      // An older report (another replica's batch, late) moves nothing back.
      await s.saveReports([{ agent_id: 'a1', last_seen_at: at(1), fetched_version: 1, applied_version: 1, applied_at: at(1), rejected: null }])
      expect(await s.agent('a1')).toEqual({
        agent_id: 'a1', hostname: 'h1', worker_url: null, labels: { zone: 'x' }, registered_at: '2026-11-28T09:00:00.000Z',
        last_seen_at: at(2).toISOString(), fetched_version: 3, applied_version: 2, applied_at: at(2).toISOString(), rejected: { version: 3, reason: 'upstream_forbidden' },
      })
      await s.saveReports([{ agent_id: 'a1', last_seen_at: at(3), fetched_version: 4, applied_version: 4, applied_at: at(3), rejected: null }])
      expect(await s.agent('a1')).toMatchObject({ fetched_version: 4, applied_version: 4, rejected: null })
      expect((await s.agents()).map((a) => [a.agent_id, a.applied_version])).toEqual([['a1', 4], ['a2', null]])
      await s.revokeAgent('a2')
      expect((await s.agents()).map((a) => a.agent_id)).toEqual(['a1'])
      expect(await s.agent('a2')).toBeNull()
      expect(await s.saveReports([{ agent_id: 'a2', last_seen_at: at(4), fetched_version: 4, applied_version: 4, applied_at: null, rejected: null }])).toEqual([])
      await s.close()
    })

    test('rollouts: one active at a time, changed only at the revision read, leased to one advancer; health summed per agent and version', async () => {
      const { s } = await fresh()
      const spec = { config: { url: 'http://new.example/' }, comment: null, steps: [{ percent: 10, bake_seconds: 30 }], selector: null, gate: { max_error_rate: 0.05, min_hits: 10, max_p99_ms: null } }
      const row = { version: 2, stable_version: 1, state: 'running' as const, step: 0, spec, eligible: ['b', 'a'], step_started_at: '2026-11-28T10:00:00.000Z', reason: null, rollback_version: null, decisions: [{ at: '2026-11-28T10:00:00.000Z', action: 'start', step: 0, detail: 'x' }], created_by: 'alice', created_at: '2026-11-28T10:00:00.000Z' }
      const r = (await s.createRollout(row))!
      expect(r).toMatchObject({ ...row, rev: 0 })
      expect(await s.createRollout(row)).toBeNull()
      expect(await s.activeRollout()).toEqual(r)
      const paused = (await s.updateRollout(r.id, 0, { state: 'paused', decisions: [...r.decisions, { at: r.created_at, action: 'pause', step: 0, detail: '' }] }))!
      expect(paused).toMatchObject({ state: 'paused', rev: 1, step: 0, reason: null })
      expect(paused.decisions).toHaveLength(2)
      expect(await s.updateRollout(r.id, 0, { state: 'running' })).toBeNull() // a stale revision changes nothing
      expect(await s.leaseRollout(r.id, 'replica-a', Date.now() + 5000)).toBe(false) // paused: nobody advances it
      const running = (await s.updateRollout(r.id, 1, { state: 'running', step: 1, step_started_at: '2026-11-28T10:01:00.000Z' }))!
      expect(await s.leaseRollout(r.id, 'replica-a', Date.now() + 5000)).toBe(true)
      expect(await s.leaseRollout(r.id, 'replica-b', Date.now() + 5000)).toBe(false)
      expect(await s.leaseRollout(r.id, 'replica-a', Date.now() + 5000)).toBe(true)
      // While it is active a plain write is refused in its own statement (and audited); rollout writes pass.
      await s.write({ url: 'http://v1.example/' }, soon())
      await expect(s.write({ url: 'http://plain.example/' }, soon(), { actor: 'bob', action: 'config.write', outsideRollout: true })).rejects.toBeInstanceOf(RolloutActive)
      expect((await s.audit(1, null))[0]).toMatchObject({ actor: 'bob', outcome: 'rollout_in_progress' })
      expect((await s.write({ url: 'http://candidate.example/' }, soon(), { actor: 'rollout', action: 'rollout.start' })).doc.version).toBe(2)
      const ended = (await s.updateRollout(r.id, running.rev, { state: 'rolled_back', reason: 'error rate', rollback_version: 3 }))!
      expect(ended).toMatchObject({ state: 'rolled_back', reason: 'error rate', rollback_version: 3, step: 1 })
      expect(await s.activeRollout()).toBeNull()
      expect((await s.write({ url: 'http://plain.example/' }, soon(), { actor: 'bob', action: 'config.write', outsideRollout: true })).created).toBe(true)
      const next = (await s.createRollout({ ...row, version: 4, stable_version: 3 }))!
      expect((await s.rollouts(10)).map((x) => x.id)).toEqual([next.id, r.id])
      expect(await s.rollout(r.id)).toEqual(ended)
      await s.saveHealth([{ agent_id: 'a', version: 2, hits: 10, errors: 1, p99_ms: 40 }, { agent_id: 'b', version: 1, hits: 5, errors: 0, p99_ms: 9 }])
      await s.saveHealth([{ agent_id: 'a', version: 2, hits: 5, errors: 2, p99_ms: 20 }])
      expect((await s.health([2, 1])).sort((x, y) => x.agent_id.localeCompare(y.agent_id))).toEqual([
        { agent_id: 'a', version: 2, hits: 15, errors: 3, p99_ms: 40 },
        { agent_id: 'b', version: 1, hits: 5, errors: 0, p99_ms: 9 },
      ])
      await s.close()
    })

    test('parallel registrations of one new id with different tokens: exactly one is created, the others are refused', async () => {
      const { p, s: first } = await fresh()
      const stores = [first, open(p), open(p)]
      await Promise.all(stores.slice(1).map((s) => s.migrate()))
      const outcomes = await Promise.all(stores.flatMap((s, i) => [0, 1].map((j) => s.registerAgent({ agent: { agent_id: 'same' }, presentedHash: `t${i}${j}`, newHash: `t${i}${j}`, create: true }))))
      expect(outcomes.sort()).toEqual(['created', 'mismatch', 'mismatch', 'mismatch', 'mismatch', 'mismatch'])
      await Promise.all(stores.map((s) => s.close()))
    })
  })
}

contract('sqlite', async () => join(mkdtempSync(join(tmpdir(), 'dcm-store-')), 'c.sqlite'), (path) => sqliteStore(path))
if (pgUrl) contract('postgres', async () => (await testDatabase())!, (url) => postgresStore(url))

describe.skipIf(!pgUrl)('postgres store under locks and read-only databases', () => {
  test('a write that got the row lock only after its deadline is rolled back', async () => {
    const db = (await testDatabase())!
    const s = postgresStore(db)
    await s.migrate()
    const before = await s.write({ url: 'http://before.example/' }, soon())
    const other = (await import('postgres')).default(db, { max: 1, onnotice: () => {} })
    const conn = await other.reserve()
    await conn`begin`
    await conn`select * from config_head for update`
    const late = s.write({ url: 'http://late.example/' }, { deadline: Date.now() + 300 })
    const refused = expect(late).rejects.toBeInstanceOf(LateWrite)
    await Bun.sleep(800)
    await conn`rollback` // the holder changed nothing: the lock alone made the write wait
    conn.release()
    await refused
    expect(await s.current()).toEqual(before.doc)
    await Promise.all([s.close(), other.end()])
  })

  test('ping fails on a database that takes no writes', async () => {
    const db = (await testDatabase())!
    const s = postgresStore(db)
    await s.migrate()
    await s.ping()
    const admin = (await import('postgres')).default(db, { max: 1, onnotice: () => {} })
    await admin.unsafe(`alter database ${new URL(db).pathname.slice(1)} set default_transaction_read_only = on`)
    const fresh = postgresStore(db)
    await expect(fresh.ping()).rejects.toThrow()
    await Promise.all([s.close(), fresh.close(), admin.end()])
  })
})

test('the SQLite file is readable by its owner only', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'dcm-store-')), 'sub', 'c.sqlite')
  const s = sqliteStore(path)
  await s.migrate()
  await s.write({ url: 'http://a.example/' }, soon())
  expect(statSync(path).mode & 0o777).toBe(0o600)
  expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600)
  await s.close()
})

describe.each([3, 4])('a database of an earlier release (migrations 1 to %d) upgrades in place', (last) => {
  const before = migrations.filter((m) => m.id <= last)
  const check = async (s: ConfigStore, storeId: string) => {
    await s.migrate()
    expect(s.storeId).toBe(storeId)
    expect(await s.current()).toMatchObject({ version: 1, url: 'http://old.example/' })
    expect(await s.agentTokens('all')).toEqual([])
    // The agent registered before tokens existed presents its id without a token and adopts one.
    expect(await s.registerAgent({ agent: { agent_id: 'old-agent' }, presentedHash: null, newHash: 'adopted', create: false })).toBe('known')
    expect(await s.tokenByHash('adopted')).toEqual({ agent_id: 'old-agent', token_hash: 'adopted', revoked: false })
    // History shows the old version as written by nobody known; the agent has reported nothing yet.
    expect(await s.versions(50, null)).toMatchObject([{ version: 1, url: 'http://old.example/', created_by: null, comment: null, converged_at: null }])
    expect(await s.agents()).toMatchObject([{ agent_id: 'old-agent', fetched_version: null, applied_version: null, rejected: null }])
    const next = await s.write({ url: 'http://new.example/' }, soon(), { actor: 'alice', action: 'config.write', expect: { store_id: storeId, version: 1 } })
    expect(next.doc.version).toBe(2)
    expect((await s.audit(5, null)).map((a) => a.outcome)).toEqual(['created'])
    await s.close()
  }

  test('sqlite', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'dcm-store-')), 'old.sqlite')
    const db = new Database(path, { create: true })
    db.exec('create table schema_migrations (id integer primary key, name text not null, applied_at text not null)')
    for (const m of before) {
      db.exec(m.sqlite)
      db.query('insert into schema_migrations values (?, ?, ?)').run(m.id, m.name, new Date().toISOString())
    }
    db.exec(`insert into config_versions values (1, 'http://old.example/', null, '2026-01-01T00:00:00.000Z')`)
    db.exec(`insert into agents (agent_id, registered_at, last_seen_at) values ('old-agent', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`)
    const storeId = db.query<{ value: string }, []>(`select value from store_meta where key = 'store_id'`).get()!.value
    db.close()
    await check(sqliteStore(path), storeId)
  })

  test.skipIf(!pgUrl)('postgres', async () => {
    const url = (await testDatabase())!
    const sql = (await import('postgres')).default(url, { max: 1, onnotice: () => {} })
    await sql`create table schema_migrations (id integer primary key, name text not null, applied_at timestamptz not null default now())`
    for (const m of before) {
      await sql.unsafe(m.postgres)
      await sql`insert into schema_migrations (id, name) values (${m.id}, ${m.name})`
    }
    await sql`insert into config_versions values (1, 'http://old.example/', null, now())`
    await sql`update config_head set version = 1, url = 'http://old.example/', updated_at = now()`
    await sql`insert into agents (agent_id, registered_at, last_seen_at) values ('old-agent', now(), now())`
    const [meta] = await sql<{ value: string }[]>`select value from store_meta where key = 'store_id'`
    await sql.end()
    await check(postgresStore(url), meta!.value)
  })
})
