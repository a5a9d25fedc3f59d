/** 1. Controller hot path: GET /config answered 304 to an authenticated agent, against a bare Bun.serve
 *  doing the same header check (baselines/bare-304.ts); the controller at LOG_LEVEL=info and at warn, and
 *  at info polled with an agent's own token (how agents poll since #10) instead of the shared key. */
import { join } from 'node:path'
import { call, freePort } from '../test/kit'
import { KEYS, ready, run, setConfig, startController } from './lib/dcm'
import type { Figure } from './lib/report'
import { versus, type Target } from './lib/wrk'

const agent = (etag: string) => ({ Authorization: `Bearer ${KEYS.agent}`, 'If-None-Match': etag, 'X-Agent-Id': 'bench-agent-0001', 'X-Applied-Version': '1' })

/** Each target must answer 304 with the key and 401 without: otherwise the figure means nothing. */
async function check(t: Target) {
  const [ok, noKey] = [await fetch(t.url, { headers: t.headers }), await fetch(t.url)]
  if (ok.status !== 304 || noKey.status !== 401) throw new Error(`${t.label}: expected 304 with the key and 401 without, got ${ok.status} and ${noKey.status}`)
}

export default {
  id: 'hot',
  label: '1 hot path',
  title: 'controller GET /config 304 against a bare Bun.serve',
  tools: ['wrk'],
  async run({ quick }) {
    const info = await startController({ logLevel: 'info' })
    const warn = await startController({ logLevel: 'warn' })
    const etag = (await setConfig(info, 'http://127.0.0.1:1/hot')).etag
    const etagWarn = (await setConfig(warn, 'http://127.0.0.1:1/hot')).etag
    const token = (await call(`${info.url}/register`, { method: 'POST', key: KEYS.agent, json: {}, headers: { 'x-agent-token': 'new' } })).body?.agent_token as string
    const port = await freePort()
    const bare = run('bare-304', ['bun', join(import.meta.dir, 'baselines', 'bare-304.ts')], { env: { KEY: KEYS.agent, ETAG: etag, PORT: String(port) } })
    const bareUrl = `http://127.0.0.1:${port}/config`
    await ready(bare, 'bare-304', async () => (await fetch(bareUrl, { headers: agent(etag) })).status === 304)
    const targets: Target[] = [
      { label: 'bare Bun.serve', url: bareUrl, pid: bare.proc.pid, headers: agent(etag) },
      { label: 'GET /config 304, LOG_LEVEL=info', url: `${info.url}/config`, pid: info.pid, headers: agent(etag) },
      { label: 'same, LOG_LEVEL=warn', url: `${warn.url}/config`, pid: warn.pid, headers: agent(etagWarn) },
      { label: 'same, LOG_LEVEL=info, agent token', url: `${info.url}/config`, pid: info.pid, headers: { ...agent(etag), Authorization: `Bearer ${token}` } },
    ]
    for (const t of targets) await check(t)
    return versus(targets, 0.85, quick)
  },
} satisfies Figure
