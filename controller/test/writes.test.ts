/** A write the operator was told failed (503) never lands later, and waiting writes never starve
 *  health checks or registration (PostgreSQL, through a TCP proxy the test stalls, and a lock held
 *  from another session). */
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { call, freePort, onCleanup, spawnService, testDatabase, waitFor } from '../../test/harness'
import { behindProxy, controllerEnv, KEYS } from '../../test/stack'

const pgUrl = await testDatabase()
const write = (url: string, target: string) => call(`${url}/config`, { method: 'POST', key: KEYS.admin, json: { url: target } })
const stored = async (sql: postgres.Sql) => (await sql<{ version: number; url: string }[]>`select version, url from config_versions order by version`).map((r) => `${r.version} ${r.url}`)

async function controllerOn(db: string) {
  const port = await freePort()
  return spawnService('controller', { port, env: controllerEnv(port, { DATABASE_URL: db }) })
}

describe.skipIf(!pgUrl)('writes answered 503 are never stored (PostgreSQL)', () => {
  test('a write stuck behind a lock held by another session: 503, and it never commits after the lock goes', async () => {
    const db = (await testDatabase())!
    const c = await controllerOn(db)
    expect((await write(c.url, 'http://before.example/')).status).toBe(201)
    const other = postgres(db, { max: 1, onnotice: () => {} })
    onCleanup(() => other.end({ timeout: 1 }))
    const locked = other.reserve()
    const conn = await locked
    await conn`begin`
    await conn`lock table config_head in access exclusive mode`

    const stuck = await write(c.url, 'http://stuck.example/')
    expect({ status: stuck.status, error: stuck.body.error }).toEqual({ status: 503, error: 'store_unavailable' })
    await conn`commit`
    conn.release()

    expect(await write(c.url, 'http://after.example/')).toMatchObject({ status: 201, body: { version: 2 } })
    expect(await stored(other)).toEqual(['1 http://before.example/', '2 http://after.example/'])
  })

  test('writes waiting behind a lock do not starve /readyz or registration', async () => {
    const db = (await testDatabase())!
    const c = await controllerOn(db)
    await write(c.url, 'http://before.example/')
    const other = postgres(db, { max: 1, onnotice: () => {} })
    onCleanup(() => other.end({ timeout: 1 }))
    const conn = await other.reserve()
    await conn`begin`
    await conn`lock table config_head in access exclusive mode`
    // More waiting writes than the pool has connections.
    const waiting = Array.from({ length: 15 }, (_, i) => write(c.url, `http://w${i}.example/`))
    expect((await call(`${c.url}/readyz`)).status).toBe(200)
    expect((await call(`${c.url}/register`, { method: 'POST', key: KEYS.agent, json: { hostname: 'h' } })).status).toBe(201)
    expect(new Set((await Promise.all(waiting)).map((r) => r.status))).toEqual(new Set([503]))
    await conn`rollback`
    conn.release()
    expect(await stored(other)).toEqual(['1 http://before.example/'])
  })

  test('a write held up in the network reaches the database after its 503: refused there, and a newer write through another replica stays current', async () => {
    const db = (await testDatabase())!
    const { proxy, url: viaProxy } = await behindProxy(db!)
    const a = await controllerOn(viaProxy)
    const b = await controllerOn(db)
    expect((await write(a.url, 'http://first.example/')).status).toBe(201)

    proxy.stall()
    const lost = await write(a.url, 'http://answered-503.example/')
    expect({ status: lost.status, error: lost.body.error }).toEqual({ status: 503, error: 'store_unavailable' })
    expect(await write(b.url, 'http://newer.example/')).toMatchObject({ status: 201, body: { version: 2 } })
    // The network heals: everything A sent, the refused write included, now reaches the database.
    proxy.resume()
    await waitFor('A to reach its database again', async () => (await call(`${a.url}/readyz`)).status === 200, 30_000)
    expect(await write(a.url, 'http://third.example/')).toMatchObject({ status: 201, body: { version: 3 } })

    const sql = postgres(db, { max: 1, onnotice: () => {} })
    onCleanup(() => sql.end({ timeout: 1 }))
    expect(await stored(sql)).toEqual(['1 http://first.example/', '2 http://newer.example/', '3 http://third.example/'])
    const logged = a.logs().find((l) => l.msg === 'config store call failed' && l.what === 'write')
    expect(logged).toBeDefined()
  })
})
