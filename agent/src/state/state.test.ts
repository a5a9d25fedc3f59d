import { expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decode, encode, fileStateStore, type AgentState } from '.'

const state: AgentState = {
  agent_id: 'a-1',
  etag: '"3-abc"',
  version: 3,
  config: { version: 3, url: 'http://x.example/', updated_at: '2026-01-01T00:00:00.000Z' },
  worker_version: 2,
}
const dir = () => mkdtempSync(join(tmpdir(), 'dcm-state-'))

test('a saved state loads back; the file is mode 0600 and no temp file is left', () => {
  const d = dir()
  const file = join(d, 'sub', 'state.json')
  fileStateStore(file).save(state)
  expect(fileStateStore(file).load()).toEqual({ state, from: 'primary', problems: [] })
  expect(statSync(file).mode & 0o777).toBe(0o600)
  expect(readdirSync(join(d, 'sub')).sort()).toEqual(['state.json', 'state.json.bak'])
})

test('a torn, edited or foreign primary falls back to the backup copy', () => {
  const file = join(dir(), 'state.json')
  const store = fileStateStore(file)
  store.save(state)
  const good = readFileSync(file, 'utf8')
  for (const bad of [good.slice(0, good.length / 2), good.replace('a-1', 'a-2'), '{"format":9}', '']) {
    writeFileSync(file, bad)
    const loaded = store.load()
    expect(loaded.state).toEqual(state)
    expect(loaded.from).toBe('backup')
    expect(loaded.problems).toHaveLength(1)
  }
})

test('with both copies damaged the agent starts fresh and says why', () => {
  const file = join(dir(), 'state.json')
  writeFileSync(file, 'garbage')
  writeFileSync(`${file}.bak`, encode(state).replace('"version":3', '"version":4'))
  expect(fileStateStore(file).load()).toEqual({
    state: null,
    from: 'none',
    problems: ['state.json: not valid JSON (torn or corrupt)', 'state.json.bak: checksum mismatch'],
  })
})

test('a missing file is a fresh start with no problems', () => {
  expect(fileStateStore(join(dir(), 'none.json')).load()).toEqual({ state: null, from: 'none', problems: [] })
})

test('decode rejects a document that passes the checksum but not the schema', () => {
  const data = JSON.stringify({ agent_id: 5 })
  const text = `{"format":1,"checksum":"${new Bun.CryptoHasher('sha256').update(data).digest('hex')}","state":${data}}`
  expect(decode(text)).toEqual({ problem: 'content does not match the state schema' })
})
