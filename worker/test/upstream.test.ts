/** Upstream safety at a real worker (#10): link-local and metadata URLs refused on apply, and a host name
 *  checked after resolution before each /hit (a verdict serves the calls of one second). The name is made to resolve to the metadata address by a
 *  stand-in for the worker's resolver (test/fixtures/fake-dns.ts, preloaded): offline, no hosts file. */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, spawnService, upstreamStub, waitFor } from '../../test/harness'
import { apply, doc, env, errorOf, hit, state } from './kit'
import { METADATA_SPELLINGS } from '../../test/fixtures/metadata-urls'

setDefaultTimeout(30_000)

/** A worker whose resolver answers `localhost` as the table file says (else as usual). */
async function workerWithDns(extra: Record<string, string> = {}) {
  const table = join(mkdtempSync(join(tmpdir(), 'dcm-dns-')), 'hosts.json')
  const point = (map: Record<string, string>) => writeFileSync(table, JSON.stringify(map))
  point({})
  const w = await spawnService('worker', {
    env: { ...env, TEST_FAKE_DNS: table, ...extra },
    cmd: ['bun', '--no-env-file', '--preload', join(ROOT, 'test', 'fixtures', 'fake-dns.ts'), 'src/index.ts'],
  })
  return { w, point }
}

describe('worker upstream safety', () => {
  test('a link-local or metadata URL is refused on apply (422 on url) in every spelling; the active config stays', async () => {
    const up = upstreamStub('kept')
    const w = await spawnService('worker', { env })
    await apply(w, doc(1, up.url))
    const urls = [
      ...METADATA_SPELLINGS,
      'http://instance-data/latest/',
    ]
    for (const [i, url] of urls.entries()) {
      const r = await apply(w, doc(2 + i, url))
      expect({ url, ...errorOf(r), names: r.body.message.includes('"url"') }).toEqual({ url, status: 422, error: 'validation_failed', names: true })
    }
    expect((await state(w)).version).toBe(1)
    expect((await hit(w)).body).toBe('hello from kept')
  })

  test('a name is checked after resolution at call time: 502 upstream_forbidden while it resolves to the metadata address, counted as an upstream failure', async () => {
    let calls = 0
    const up = upstreamStub('named', () => (calls++, new Response('hello from named')))
    const { w, point } = await workerWithDns()
    // Names are not resolved on apply (what they resolve to may change): judged at call time.
    expect((await apply(w, doc(1, `http://localhost:${new URL(up.url).port}/`))).status).toBe(200)
    expect(await hit(w)).toMatchObject({ status: 200, body: 'hello from named' })
    // A verdict serves the calls of one second; the next resolution sees the change.
    point({ localhost: '169.254.169.254' })
    await waitFor('the name to be refused', async () => (await hit(w)).status === 502)
    const before = calls
    expect(errorOf(await hit(w))).toEqual({ status: 502, error: 'upstream_forbidden' })
    expect(calls).toBe(before) // the upstream is not called
    point({ localhost: '::ffff:a9fe:a9fe' })
    await Bun.sleep(1100)
    expect(errorOf(await hit(w))).toEqual({ status: 502, error: 'upstream_forbidden' })
    point({})
    await waitFor('the name to be called again', async () => (await hit(w)).status === 200)
    const { hits } = await state(w)
    expect(hits.upstream_failures + hits.by_class['2xx']).toBe(hits.total)
    expect(hits.upstream_failures).toBeGreaterThanOrEqual(3)
    expect(new Set(w.logs().filter((l) => l.msg.startsWith('upstream refused')).map((l) => l.address))).toEqual(new Set(['169.254.169.254', '::ffff:a9fe:a9fe']))
  })

  test('UPSTREAM_ALLOW permits a name whatever it resolves to, and addresses by range', async () => {
    const up = upstreamStub('allowed')
    const byName = await workerWithDns({ UPSTREAM_ALLOW: 'localhost' })
    byName.point({ localhost: '169.254.169.254' })
    await apply(byName.w, doc(1, `http://localhost:${new URL(up.url).port}/`))
    expect(await hit(byName.w)).toMatchObject({ status: 200, body: 'hello from allowed' })
    const byRange = await spawnService('worker', { env: { ...env, UPSTREAM_ALLOW: '169.254.0.0/16' } })
    expect((await apply(byRange, doc(1, 'http://169.254.169.254:9/'))).status).toBe(200)
  })
})
