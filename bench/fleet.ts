/** 3. Fleet: K simulated agents long-polling one controller on PostgreSQL. Once all K polls are held, one
 *  write: the time until all K have the new version, and the controller's RSS while they are held. A
 *  fresh controller per K, so each RSS is that K's alone; the agents live in their own process
 *  (fleet-sim.ts), out of the measuring side's event loop. */
import { join } from 'node:path'
import { call, waitFor } from '../test/kit'
import { KEYS, ready, run, setConfig, startController } from './lib/dcm'
import { tempDatabase } from './lib/pg'
import { canSetFileLimit, openFileLimit, rssBytes } from './lib/proc'
import { row, type Figure, type Row } from './lib/report'
import { fmtMB, fmtMs } from './lib/stats'

const TARGET = { k: 2000, ms: 500, rss: 250 * 2 ** 20 }
type Measured = { k: number; updated: number; lastMs: number; p50Ms: number; writeMs: number; errors: number; lastError: string; rssIdle: number; rssHeld: number; sentMs: number }

async function one(k: number, databaseUrl: string): Promise<Measured | { k: number; skipped: string }> {
  // Each side needs K sockets and a few more; raise the limit only where it is too low.
  const fdLimit = openFileLimit() < k + 1000 ? k + 1000 : undefined
  if (fdLimit && !canSetFileLimit(fdLimit)) return { k, skipped: `open-file limit ${openFileLimit()}, and ulimit -n ${fdLimit} needs privileges` }
  const controller = await startController({ logLevel: 'warn', databaseUrl, fdLimit })
  const inbox: any[] = []
  const env = { K: String(k), CONTROLLER_PORT: String(controller.port), AGENT_KEY: KEYS.agent, ADMIN_KEY: KEYS.admin }
  const sim = run('fleet-sim', ['bun', join(import.meta.dir, 'fleet-sim.ts')], { env, fdLimit, ipc: (m) => inbox.push(m) })
  const next = async (event: string, timeoutMs: number) => {
    const m = await ready(sim, `fleet-sim ${event}`, () => inbox.shift(), timeoutMs)
    if (m.event !== event) throw new Error(`fleet-sim: ${m.message ?? m.event}`)
    return m
  }
  await setConfig(controller, `http://127.0.0.1:1/fleet-${k}`)
  const rssIdle = rssBytes(controller.pid)
  await next('ready', 10_000)
  sim.proc.send({ cmd: 'hold' })
  const sent = await next('sent', 60_000)
  if (sent.errors) throw new Error(`fleet-sim: ${sent.errors} errors while connecting, the last: ${sent.lastError}`)
  // Held means parked in the controller, as its /readyz counts them.
  await waitFor(`${k} polls held`, async () => (await call(`${controller.url}/readyz`)).body?.held_polls === k, 20_000)
  const rssHeld = Math.max(rssBytes(controller.pid), await Bun.sleep(100).then(() => rssBytes(controller.pid)))
  sim.proc.send({ cmd: 'write' })
  const result = await next('result', 30_000)
  await sim.stop()
  await controller.stop()
  return { ...result, k, rssIdle, rssHeld, sentMs: sent.ms }
}

export default {
  id: 'fleet',
  label: '3 fleet',
  title: 'K long-polling agents on PostgreSQL, one write',
  tools: [],
  async run({ quick }) {
    const ks = quick ? [100, 500] : [500, 1000, 2000, 5000]
    const db = await tempDatabase()
    const runs = []
    try {
      for (const k of ks) runs.push(await one(k, db.url))
    } finally {
      await db.drop()
    }
    const rows: Row[] = runs.map((r) => {
      const goal = r.k === TARGET.k ? `≤ ${TARGET.ms} ms; < ${fmtMB(TARGET.rss)}` : ''
      if ('skipped' in r) return row(`K=${r.k}`, `SKIPPED: ${r.skipped}`, '', '', goal, goal ? false : null)
      const ok = r.updated === r.k && r.errors === 0
      const result = ok ? `${fmtMs(r.lastMs)}; ${fmtMB(r.rssHeld)}` : `${r.updated}/${r.k} updated (${r.lastError})`
      return row(`K=${r.k}: write → all updated; RSS held`, result, `idle RSS ${fmtMB(r.rssIdle)}`, '', goal, goal ? ok && r.lastMs <= TARGET.ms && r.rssHeld < TARGET.rss : ok ? null : false)
    })
    const head = ['K', 'write → all updated', 'median agent', 'write (POST → 201)', 'RSS idle', 'RSS held', 'connect + send', 'errors']
    const measured = runs.flatMap((r) => ('skipped' in r ? [] : [r]))
    const details = measured.map((r) => [String(r.k), fmtMs(r.lastMs), fmtMs(r.p50Ms), fmtMs(r.writeMs), fmtMB(r.rssIdle), fmtMB(r.rssHeld), fmtMs(r.sentMs), `${r.errors} ${r.lastError}`.trim()])
    return { rows, params: `K = ${ks.join(', ')}; open-file limit ${openFileLimit()}`, details: [head, ...details] }
  },
} satisfies Figure
