/** 3. Fleet: K simulated agents long-polling one controller on PostgreSQL. Once all K polls are held,
 *  one write; the time until all K have the new version, and the controller's RSS while they are held.
 *
 *  The simulator (bench/fleet-sim.ts) is its own process: K sockets and their answers would otherwise
 *  share an event loop with this script's bookkeeping (process logs, /proc reads, IPC), and it keeps the
 *  measuring side out of the simulator's way. The controller gets a fresh process for each K, so each
 *  RSS figure is that K's alone; all of them share one fresh database, dropped at the end. */
import { join } from 'node:path'
import { KEYS, setConfig, startController } from './lib/dcm'
import { tempDatabase } from './lib/pg'
import { call, canSetFileLimit, cpuSeconds, openFileLimit, rssBytes, start, waitFor } from './lib/procs'
import { LABELS, type BenchResult, type Row } from './lib/report'
import { fmtMB, fmtMs } from './lib/stats'

export const FLEET_TARGET = { k: 2000, allUpdatedMs: 500, rssBytes: 250 * 2 ** 20 }
export const FLEET_DEFAULTS = { ks: [500, 1000, 2000, 5000] }

type SimResult = { k: number; updated: number; fromWriteMs: number; from201Ms: number; p50Ms: number; writeMs: number; repolled: boolean; closed: number; errors: number; lastError: string }
type Skipped = { k: number; skipped: string }
type Measured = SimResult & { rssIdle: number; rssHeld: number; sentMs: number; settleMs: number; fdLimit: number | undefined; heldSeen: number | null }

/** Wait until the process has used (almost) no CPU for `quietMs`: it has read and parked every poll. */
async function idle(pid: number, quietMs = 300, timeoutMs = 20_000): Promise<number> {
  const t0 = performance.now()
  let last = cpuSeconds(pid)
  for (;;) {
    await Bun.sleep(quietMs)
    const now = cpuSeconds(pid)
    if (now - last <= 0.02) return performance.now() - t0 - quietMs
    last = now
    if (performance.now() - t0 > timeoutMs) throw new Error(`the controller was still busy after ${timeoutMs} ms`)
  }
}

async function runOne(k: number, databaseUrl: string): Promise<Measured | Skipped> {
  // Each side needs K sockets plus a few; raise the limit through `ulimit -n` only when needed.
  const fdLimit = openFileLimit() < k + 1000 ? k + 1000 : undefined
  if (fdLimit && !canSetFileLimit(fdLimit))
    return { k, skipped: `the open-file limit is ${openFileLimit()} and cannot be raised to ${fdLimit} here (ulimit -n needs privileges)` }
  const controller = await startController({ logLevel: 'warn', databaseUrl, label: `controller-fleet-${k}`, fdLimit })
  const inbox: Record<string, any>[] = []
  const sim = start('fleet-sim', ['bun', join(import.meta.dir, 'fleet-sim.ts')], {
    env: { K: String(k), CONTROLLER_PORT: String(controller.port), AGENT_KEY: KEYS.agent, ADMIN_KEY: KEYS.admin, WAIT: '30' },
    fdLimit,
    ipc: (m) => inbox.push(m as Record<string, any>),
  })
  const next = async (event: string, timeoutMs: number) => {
    const m = await waitFor(`fleet-sim "${event}"`, () => inbox.find((x) => x.event === event || x.event === 'error'), { proc: sim, timeoutMs, everyMs: 5 })
    inbox.splice(inbox.indexOf(m), 1)
    if (m.event === 'error') throw new Error(`fleet-sim: ${m.message}\n${sim.tail()}`)
    return m
  }
  try {
    await setConfig(controller, `http://127.0.0.1:1/fleet-${k}-start`)
    await idle(controller.pid, 200)
    const rssIdle = rssBytes(controller.pid)
    await next('ready', 10_000)
    sim.proc.send({ cmd: 'hold' })
    const sent = await next('sent', 60_000)
    if (sent.errors) throw new Error(`fleet-sim: ${sent.errors} errors while connecting, last: ${sent.lastError}`)
    // Held means parked in the controller: its /readyz counts held polls (held_polls); where it does
    // not, the controller's CPU going quiet says it has read and parked every poll.
    const t0 = performance.now()
    const heldPolls = async () => ((await call(`${controller.url}/readyz`)).body as { held_polls?: number }).held_polls
    let heldSeen: number | null = null
    if (typeof (await heldPolls()) === 'number') heldSeen = await waitFor(`${k} polls held`, async () => ((await heldPolls()) === k ? k : 0), { timeoutMs: 20_000, everyMs: 20 })
    await idle(controller.pid, 200)
    const settleMs = performance.now() - t0
    let rssHeld = 0
    for (let i = 0; i < 3; i++) {
      if (i) await Bun.sleep(100)
      rssHeld = Math.max(rssHeld, rssBytes(controller.pid))
    }
    sim.proc.send({ cmd: 'write' })
    const r = (await next('result', 30_000)) as unknown as SimResult
    return { ...r, rssIdle, rssHeld, sentMs: sent.ms, settleMs, fdLimit, heldSeen }
  } finally {
    await sim.stop()
    await controller.stop()
  }
}

export async function fleet(o = FLEET_DEFAULTS): Promise<BenchResult> {
  const title = '3. Fleet: K long-polling agents, one write'
  const db = await tempDatabase()
  const all: (Measured | Skipped)[] = []
  try {
    for (const k of o.ks) all.push(await runOne(k, db.url))
  } finally {
    await db.drop()
  }
  const runs = all.filter((r): r is Measured => !('skipped' in r))
  const skippedKs = all.filter((r): r is Skipped => 'skipped' in r)
  const rows: Row[] = all.map((r, i) => {
    if ('skipped' in r)
      return { bench: i === 0 ? LABELS.fleet : '', what: `K=${r.k}`, result: `SKIPPED: ${r.skipped}`, baseline: '', ratio: '', target: '', met: r.k === FLEET_TARGET.k ? false : null }
    const isTarget = r.k === FLEET_TARGET.k
    const ok = r.updated === r.k && r.errors === 0
    const met = isTarget ? ok && r.fromWriteMs <= FLEET_TARGET.allUpdatedMs && r.rssHeld < FLEET_TARGET.rssBytes : null
    return {
      bench: i === 0 ? LABELS.fleet : '',
      what: `K=${r.k}: write → all updated; RSS held`,
      result: ok ? `${fmtMs(r.fromWriteMs)}; ${fmtMB(r.rssHeld)}` : `${r.updated}/${r.k} updated (${r.lastError})`,
      baseline: `idle RSS ${fmtMB(r.rssIdle)}`,
      ratio: '',
      target: isTarget ? `≤ ${FLEET_TARGET.allUpdatedMs} ms; < ${fmtMB(FLEET_TARGET.rssBytes)}` : '',
      met: ok ? met : false,
    }
  })
  return {
    id: 'fleet',
    title,
    rows,
    details: [
      `One controller process per K (\`bun src/index.ts\`, **PostgreSQL**, a fresh database for the run, LOG_LEVEL=warn). K simulated agents in one separate process (\`bench/fleet-sim.ts\`): one kept-alive connection each, looping \`GET /config?wait=30\` with If-None-Match and re-polling at once on a 200 or 304. When all K polls were written and held (the controller's /readyz showed held_polls = K${runs.every((r) => r.heldSeen === r.k) ? '' : ' where it reports it, else its CPU had gone quiet'}), its VmRSS was read (the highest of three reads 100 ms apart); then the simulator sent one POST /config and timed until the last of the K agents had the new ETag. "write → all updated" runs from sending the POST, so it includes the PostgreSQL write; "201 → all" from its answer (0 when every agent had the new version before the POST's own answer arrived: the controller releases the held polls before it answers the write). The open-file limit (hard; Bun raises its soft limit to it) was ${openFileLimit()}${runs.some((r) => r.fdLimit) ? `; raised with \`ulimit -n\` for the controller and the simulator where K needed it (${runs.filter((r) => r.fdLimit).map((r) => `K=${r.k}: ${r.fdLimit}`).join(', ')})` : skippedKs.length ? '' : ', enough for every K'}.`,
      '',
      '| K | write → all updated | 201 → all | median agent | write (POST→201) | RSS idle | RSS held | connect + send | settle | errors |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.k} | ${fmtMs(r.fromWriteMs)} | ${fmtMs(Math.max(0, r.from201Ms))} | ${fmtMs(r.p50Ms)} | ${fmtMs(r.writeMs)} | ${fmtMB(r.rssIdle)} | ${fmtMB(r.rssHeld)} | ${fmtMs(r.sentMs)} | ${fmtMs(r.settleMs)} | ${r.errors}${r.lastError ? ` (${r.lastError})` : ''}${r.repolled ? '' : '; not all re-polled'} |`,
      ),
      '',
      ...skippedKs.map((r) => `K=${r.k} SKIPPED: ${r.skipped}.\n`),
      `Target (K=${FLEET_TARGET.k}): all updated within ${FLEET_TARGET.allUpdatedMs} ms and RSS below ${fmtMB(FLEET_TARGET.rssBytes)}. The times include the simulator reading the K answers on the same two cores.`,
    ],
  }
}
