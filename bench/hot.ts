/** 1. Controller hot paths, each against a bare Bun.serve doing the same header check and giving the
 *  identical answer with a fresh request id (baselines/bare-304.ts):
 *  - GET /config answered 304 to an authenticated agent; the controller at LOG_LEVEL=info and at warn,
 *    and at info polled with an agent's own token (how agents poll since #10) instead of the shared key;
 *  - the long-poll re-arm: GET /config?wait=30 with the ETag of the version before, answered 200 with
 *    the document at once — what every agent sends right after each change.
 *  Every poll carries X-Agent-Id and X-Applied-Version, so reporting and metrics are on as in a fleet. */
import { join } from 'node:path'
import { call, freePort } from '../test/kit'
import { KEYS, ready, run, setConfig, startController } from './lib/dcm'
import type { Figure } from './lib/report'
import { versus, type Target } from './lib/wrk'

const agent = (etag: string) => ({ Authorization: `Bearer ${KEYS.agent}`, 'If-None-Match': etag, 'X-Agent-Id': 'bench-agent-0001', 'X-Applied-Version': '1' })

const GOAL = 0.93

/** Each target must give the expected answer with the key and 401 without: otherwise the figure means nothing. */
async function check(t: Target, status: number, body = '') {
  const [ok, noKey] = [await fetch(t.url, { headers: t.headers }), await fetch(t.url)]
  const text = await ok.text()
  if (ok.status !== status || noKey.status !== 401 || text !== body) throw new Error(`${t.label}: expected ${status} with the key and 401 without, got ${ok.status} and ${noKey.status}`)
}

export default {
  id: 'hot',
  label: '1 hot path',
  title: 'controller GET /config 304 against a bare Bun.serve',
  tools: ['wrk'],
  async run({ quick }) {
    const info = await startController({ logLevel: 'info' })
    const warn = await startController({ logLevel: 'warn' })
    const stale = (await setConfig(info, 'http://127.0.0.1:1/before')).etag
    const etag = (await setConfig(info, 'http://127.0.0.1:1/hot')).etag
    const etagWarn = (await setConfig(warn, 'http://127.0.0.1:1/hot')).etag
    const doc = await (await fetch(`${info.url}/config`, { headers: { authorization: `Bearer ${KEYS.agent}` } })).text()
    const token = (await call(`${info.url}/register`, { method: 'POST', key: KEYS.agent, json: {}, headers: { 'x-agent-token': 'new' } })).body?.agent_token as string
    const port = await freePort()
    const bare = run('bare-304', ['bun', join(import.meta.dir, 'baselines', 'bare-304.ts')], { env: { KEY: KEYS.agent, ETAG: etag, BODY: doc, PORT: String(port) } })
    const bareUrl = `http://127.0.0.1:${port}/config`
    await ready(bare, 'bare-304', async () => (await fetch(bareUrl, { headers: agent(etag) })).status === 304)
    const targets: Target[] = [
      { label: 'bare Bun.serve', url: bareUrl, pid: bare.proc.pid, headers: agent(etag) },
      { label: 'GET /config 304, LOG_LEVEL=info', url: `${info.url}/config`, pid: info.pid, headers: agent(etag) },
      { label: 'same, LOG_LEVEL=warn', url: `${warn.url}/config`, pid: warn.pid, headers: agent(etagWarn) },
      { label: 'same, LOG_LEVEL=info, agent token', url: `${info.url}/config`, pid: info.pid, headers: { ...agent(etag), Authorization: `Bearer ${token}` } },
    ]
    for (const t of targets) await check(t, 304)
    const rearm: Target[] = [
      { label: 'bare Bun.serve, 200', url: `${bareUrl}?wait=30`, pid: bare.proc.pid, headers: agent(stale) },
      { label: 'GET /config?wait=30 re-arm → 200, LOG_LEVEL=info, agent token', url: `${info.url}/config?wait=30`, pid: info.pid, headers: { ...agent(stale), Authorization: `Bearer ${token}` } },
    ]
    for (const t of rearm) await check(t, 200, doc)
    const [polls, rearms] = [await versus(targets, GOAL, quick), await versus(rearm, GOAL, quick)]
    return { rows: [...polls.rows, ...rearms.rows], params: polls.params, details: [...polls.details, ...rearms.details.slice(1)] }
  },
} satisfies Figure
