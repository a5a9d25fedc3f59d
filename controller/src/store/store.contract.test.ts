import { describe, expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testDatabase } from '../../../test/harness'
import { postgresStore, sqliteStore, type ConfigStore } from '.'

const pgUrl = await testDatabase()
const sqlitePath = () => join(mkdtempSync(join(tmpdir(), 'dcm-store-')), 'c.sqlite')

// One contract, run against both stores. `open` must return a store on the same data every call.
function contract(name: string, open: () => ConfigStore) {
  describe(`${name} store`, () => {
    test('is empty at first, and migrations can run again', async () => {
      const s = open()
      await s.migrate()
      await s.migrate()
      expect(await s.current()).toBeNull()
      await s.close()
    })

    test('writes new versions, skips an identical write, keeps history', async () => {
      const s = open()
      const a = await s.write({ url: 'http://a.example/' })
      expect(a).toEqual({ created: true, doc: { version: 1, url: 'http://a.example/', updated_at: expect.any(String) } })
      expect(await s.write({ url: 'http://a.example/' })).toEqual({ created: false, doc: a.doc })
      const b = await s.write({ url: 'http://a.example/', timeout_ms: 250 })
      expect(b.doc).toMatchObject({ version: 2, timeout_ms: 250 })
      expect(await s.current()).toEqual(b.doc)
      expect((await s.history(10)).map((d) => d.version)).toEqual([2, 1])
      await s.close()
    })

    test('parallel writes from several connections get distinct, gapless versions and all are kept', async () => {
      const stores = [open(), open(), open()]
      const before = (await stores[0]!.current())!.version
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => stores[i % 3]!.write({ url: `http://p${i}.example/` })))
      const versions = results.map((r) => r.doc.version).sort((x, y) => x - y)
      expect(versions).toEqual(Array.from({ length: 30 }, (_, i) => before + 1 + i))
      const history = await stores[0]!.history(100)
      for (const r of results) expect(history).toContainEqual(r.doc)
      await Promise.all(stores.map((s) => s.close()))
    })

    test('data survives closing and reopening', async () => {
      const s = open()
      const { doc } = await s.write({ url: 'http://durable.example/', timeout_ms: 1000 })
      await s.close()
      const again = open()
      await again.migrate()
      expect(await again.current()).toEqual(doc)
      await again.close()
    })

    test('registering an agent tells a new id from a known one', async () => {
      const s = open()
      expect(await s.registerAgent({ agent_id: 'agent-1', hostname: 'h', labels: { zone: 'a' } })).toEqual({ created: true })
      expect(await s.registerAgent({ agent_id: 'agent-1', hostname: 'h2' })).toEqual({ created: false })
      await s.close()
    })
  })
}

const path = sqlitePath()
contract('sqlite', () => sqliteStore(path))
if (pgUrl) contract('postgres', () => postgresStore(pgUrl))
