import { expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decode, encode, fileStateStore, type AgentState } from '.'

const state = (version: number): AgentState => ({
  agent_id: 'a-1',
  etag: `"${version}-abc"`,
  config: { version, store_id: 'store-1', url: 'http://x.example/', updated_at: '2026-01-01T00:00:00.000Z' },
  worker_version: version - 1,
})
const dir = () => mkdtempSync(join(tmpdir(), 'dcm-state-'))
const sha = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest('hex')

test('a saved state loads back; the file is mode 0600 and no temporary file is left', async () => {
  const d = dir()
  const file = join(d, 'sub', 'state.json')
  expect(await fileStateStore(file).save(state(3))).toEqual({ warning: undefined })
  expect(fileStateStore(file).load()).toEqual({ state: state(3), from: 'primary', problems: [] })
  expect(statSync(file).mode & 0o777).toBe(0o600)
  expect(readdirSync(join(d, 'sub'))).toEqual(['state.json'])
})

test('the backup is the previous generation, not a copy of the same bytes', async () => {
  const file = join(dir(), 'state.json')
  const store = fileStateStore(file)
  await store.save(state(1))
  await store.save(state(2))
  expect(decode(readFileSync(`${file}.bak`, 'utf8'))).toEqual({ state: state(1) })
  expect(decode(readFileSync(file, 'utf8'))).toEqual({ state: state(2) })
  // A primary that no longer decodes is not rotated over a good backup.
  writeFileSync(file, 'torn')
  await store.save(state(3))
  expect(decode(readFileSync(`${file}.bak`, 'utf8'))).toEqual({ state: state(1) })
})

test('a save that is not durable never becomes the backup: .bak stays the last durable generation', async () => {
  const file = join(dir(), 'state.json')
  const store = fileStateStore(file)
  const confirmed = (v: number) => ({ ...state(v), worker_version: v })
  await store.save(state(1))
  await store.save(state(2))
  await store.save(confirmed(2), { durable: false })
  // The file holds the newest; the backup the durable generation before it, with the same config.
  expect(decode(readFileSync(file, 'utf8'))).toEqual({ state: confirmed(2) })
  expect(decode(readFileSync(`${file}.bak`, 'utf8'))).toEqual({ state: state(2) })
  // The next save does not make the non-durable file the backup.
  await store.save(state(3))
  expect(decode(readFileSync(`${file}.bak`, 'utf8'))).toEqual({ state: state(2) })
  await store.save(state(4))
  expect(decode(readFileSync(`${file}.bak`, 'utf8'))).toEqual({ state: state(3) })
  // A torn non-durable save (a power cut before the kernel wrote it) loads the durable one before it.
  await store.save(confirmed(4), { durable: false })
  writeFileSync(file, encode(confirmed(4)).slice(0, 30))
  expect(store.load()).toMatchObject({ state: state(4), from: 'backup' })
})

test('the file found at start may become the backup: the first save after a load keeps it as .bak', async () => {
  const file = join(dir(), 'state.json')
  const before = fileStateStore(file)
  await before.save(state(1))
  await before.save({ ...state(1), worker_version: 1 }, { durable: false })
  const after = fileStateStore(file)
  expect(after.load().state).toEqual({ ...state(1), worker_version: 1 })
  await after.save(state(2))
  expect(decode(readFileSync(`${file}.bak`, 'utf8'))).toEqual({ state: { ...state(1), worker_version: 1 } })
})

test('a torn, edited or foreign primary falls back to the backup copy', async () => {
  const file = join(dir(), 'state.json')
  const store = fileStateStore(file)
  await store.save(state(1))
  await store.save(state(2))
  const good = readFileSync(file, 'utf8')
  for (const bad of [good.slice(0, good.length / 2), good.replace('a-1', 'a-2'), '{"format":9}', '']) {
    writeFileSync(file, bad)
    expect(store.load()).toMatchObject({ state: state(1), from: 'backup' })
    expect(store.load().problems).toHaveLength(1)
  }
})

test.each([
  ['empty', '', 'not valid JSON (torn or corrupt)'],
  ['garbage', 'garbage', 'not valid JSON (torn or corrupt)'],
  ['null', 'null', 'not a state file (no object)'],
  ['an array', '[1]', 'not a state file (no object)'],
  ['a number', '7', 'not a state file (no object)'],
  ['no format', '{}', 'unknown format undefined'],
  ['no state object', '{"format":1,"checksum":"x"}', 'no state in the file'],
  ['no state object (format 2)', '{"format":2,"checksum":"x"}', 'no state in the file'],
  ['a wrong checksum', '{"format":2,"checksum":"x","state":{}}', 'checksum mismatch'],
  ['a checksum that is not text', '{"format":2,"checksum":5,"state":{}}', 'checksum mismatch'],
  ['state null with its checksum', `{"format":2,"checksum":"${sha('null')}","state":null}`, 'content does not match the state schema'],
  ['a state of the wrong shape', `{"format":2,"checksum":"${sha('{"agent_id":5}')}","state":{"agent_id":5}}`, 'content does not match the state schema'],
  ['an unknown format', '{"format":"2","checksum":"x","state":{}}', 'unknown format "2"'],
])('a file holding %s is a problem reported, never a crash', (_, text, problem) => {
  expect(decode(text)).toEqual({ problem })
  const file = join(dir(), 'state.json')
  writeFileSync(file, text)
  expect(fileStateStore(file).load()).toEqual({ state: null, from: 'none', problems: [`state.json: ${problem}`] })
})

test('a file of the format before store identities keeps the agent id and the cached config', () => {
  const old = { agent_id: 'a-old', etag: '"4-x"', version: 4, config: { version: 4, url: 'http://x.example/', updated_at: '2026-01-01T00:00:00.000Z' }, worker_version: 4 }
  const data = JSON.stringify(old)
  expect(decode(`{"format":1,"checksum":"${sha(data)}","state":${data}}`)).toEqual({
    state: { agent_id: 'a-old', etag: '"4-x"', config: { ...old.config, store_id: 'legacy' }, worker_version: 4 },
  })
})

test('temporary files left by a crash are removed at start', async () => {
  const d = dir()
  const file = join(d, 'state.json')
  await fileStateStore(file).save(state(1))
  writeFileSync(join(d, '.state.json.1234.tmp'), 'half')
  writeFileSync(join(d, '.state.json.5c1f.tmp'), 'half')
  expect(fileStateStore(file).load().state).toEqual(state(1))
  expect(readdirSync(d).sort()).toEqual(['state.json'])
})

test('a backup that cannot be kept is a warning; the state itself is saved', async () => {
  const d = dir()
  const file = join(d, 'state.json')
  const store = fileStateStore(file)
  await store.save(state(1))
  mkdirSync(`${file}.bak`) // a folder where the backup goes: the rotation fails
  for (const v of [2, 3, 4]) expect((await store.save(state(v))).warning).toContain('could not keep the previous state')
  // Nothing left behind by the failed rotations (looked at before load(), which would clean up).
  expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([])
  expect(store.load()).toEqual({ state: state(4), from: 'primary', problems: [] })
})

test('encode and decode round-trip', () => {
  expect(decode(encode(state(9)))).toEqual({ state: state(9) })
})

test('the agent token rides in format 2 as an optional field: files without it (earlier releases) load as they are', async () => {
  const withToken = { ...state(3), agent_token: 'T'.repeat(43) }
  expect(decode(encode(withToken))).toEqual({ state: withToken })
  expect(encode(withToken).startsWith('{"format":2,')).toBe(true)
  const earlier = JSON.stringify(state(3))
  expect(decode(`{"format":2,"checksum":"${sha(earlier)}","state":${earlier}}`)).toEqual({ state: state(3) })
  const file = join(dir(), 'state.json')
  await fileStateStore(file).save(withToken)
  expect(statSync(file).mode & 0o777).toBe(0o600)
})
