/** What the hot-path benchmark and its diagnosis share: an agent's poll headers, the check that a
 *  target really answers the 304 path, and the bare Bun.serve baseline. */
import { join } from 'node:path'
import { KEYS } from './dcm'
import { freePort, start, waitFor, type Proc } from './procs'

/** The headers an agent sends on a poll. */
export const agentHeaders = (etag: string) => ({ Authorization: `Bearer ${KEYS.agent}`, 'If-None-Match': etag, 'X-Agent-Id': 'bench-agent-0001' })

/** The 304 path must really answer 304 with the key, and 401 without: otherwise the figure is meaningless. */
export async function checkHotPath(url: string, etag: string) {
  const ok = await fetch(url, { headers: agentHeaders(etag) })
  const noKey = await fetch(url, { headers: { 'If-None-Match': etag } })
  if (ok.status !== 304 || noKey.status !== 401) throw new Error(`${url}: expected 304 with the key and 401 without, got ${ok.status} and ${noKey.status}`)
}

export async function startBare304(etag: string): Promise<Proc & { url: string }> {
  const port = await freePort()
  const p = start('bare-304', ['bun', join(import.meta.dir, '..', 'baselines', 'bare-304.ts')], { env: { KEY: KEYS.agent, ETAG: etag, PORT: String(port) } })
  const url = `http://127.0.0.1:${port}/config`
  await waitFor('bare-304 server', async () => (await fetch(url, { headers: agentHeaders(etag) })).status === 304, { proc: p })
  return Object.assign(p, { url })
}
