import { describe, expect, test } from 'bun:test'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testDatabase } from '../../../test/harness'
import { LateWrite, postgresStore, sqliteStore, type ConfigInput, type ConfigStore } from '.'

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

    test('registering an agent tells a new id from a known one', async () => {
      const { s } = await fresh()
      expect(await s.registerAgent({ agent_id: 'agent-1', hostname: 'h', labels: { zone: 'a' } })).toEqual({ created: true })
      expect(await s.registerAgent({ agent_id: 'agent-1', hostname: 'h2' })).toEqual({ created: false })
      await s.close()
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
