/** Controller replicas behind a real load balancer (HAProxy, the Debian package): two replicas on one
 *  PostgreSQL database, health-checked on /readyz; two agent+worker pairs and the operator's writes go
 *  through HAProxy. A seeded schedule kills one replica (kill -9) while changes stream in, and starts it
 *  again before the next round. Checked over the whole history: every `201` version is stored with its
 *  URL (promise 1; a write cut off by the kill has no answer, or HAProxy's own 502: unknown), no worker
 *  ever went to an older version (promise 3), and after each round both workers hold the current
 *  version within the network suite's bound (promise 4). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort, onCleanup, spawnService, waitFor, type Service } from '../harness'
import { start, type Proc } from '../kit'
import { agentEnv, controllerEnv, KEYS } from '../stack'
import { CONVERGENCE_BOUND_MS, NET_AGENT } from './network'
import { exchange, printReport, regressions, repeat, tally, type Sample, type SuiteReport } from './record'
import { rng } from './rng'

/** HAProxy on this machine, installed with apt-get when missing (the suite runs as root in CI); the
 *  reason when it cannot be had. */
export function ensureHaproxy(): string | null {
  if (Bun.which('haproxy')) return null
  if (process.getuid?.() !== 0) return 'haproxy is not installed and installing it needs root'
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = () => Bun.spawnSync(['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'haproxy'], { env, stdout: 'pipe', stderr: 'pipe', timeout: 240_000 })
  let r = install()
  if (r.exitCode !== 0) {
    Bun.spawnSync(['apt-get', 'update', '-q'], { env, stdout: 'pipe', stderr: 'pipe', timeout: 240_000 })
    r = install()
  }
  if (Bun.which('haproxy')) return null
  return `haproxy could not be installed with apt-get (exit ${r.exitCode}): ${r.stderr.toString().trim().split('\n').slice(-2).join(' ')}`
}

const config = (port: number, backends: number[]) => `global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 90s
  timeout server 90s
  option redispatch
  retries 2
frontend controllers
  bind 127.0.0.1:${port}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 200ms fall 2 rise 2
  http-response set-header X-Served-By %s
${backends.map((p, i) => `  server replica${i} 127.0.0.1:${p} check`).join('\n')}
`

export async function haproxyFailover({ seed, minutes, db }: { seed: number; minutes: number; db: string }): Promise<SuiteReport> {
  const t0 = Date.now()
  const r = rng(seed)
  const violations: string[] = []
  const notes: string[] = []
  const services: Service[] = []
  let lb: Proc | null = null
  const dir = mkdtempSync(join(tmpdir(), 'dcm-haproxy-'))
  const sql = postgres(db, { max: 1, onnotice: () => {} })
  try {
    const ports = [await freePort(), await freePort()]
    const env = (port: number) => controllerEnv(port, { DATABASE_URL: db, REFRESH_SECONDS: '1', LOG_LEVEL: 'info' })
    const replicas: Service[] = []
    for (const port of ports) replicas.push(await spawnService('controller', { port, env: env(port) }))
    services.push(...replicas)
    const lbPort = await freePort()
    writeFileSync(join(dir, 'haproxy.cfg'), config(lbPort, ports))
    const proc = (lb = start('haproxy', ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')], { dir }))
    onCleanup(() => proc.stop())
    const front = `http://127.0.0.1:${lbPort}`
    // Both replicas in rotation: a few requests in a row reach each of them.
    const bothInRotation = async () => {
      const served = new Set<string | null>()
      for (let i = 0; i < 4; i++) served.add((await fetch(`${front}/healthz`, { signal: AbortSignal.timeout(1000) })).headers.get('x-served-by'))
      return served.has('replica0') && served.has('replica1')
    }
    await waitFor('HAProxy to forward to both replicas', bothInRotation, 30_000)

    const settings = Object.fromEntries(Object.entries(NET_AGENT).map(([k, v]) => [k, String(v)]))
    const workers: Service[] = []
    for (let i = 0; i < 2; i++) {
      const w = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker, LOG_LEVEL: 'info' } })
      workers.push(w)
      services.push(w, await spawnService('agent', { env: agentEnv(front, w.url, { ...settings, LOG_LEVEL: 'info' }) }))
    }

    type Write = { url: string; status: number | null; body: any }
    const writes: Write[] = []
    let seq = 0
    const put = async () => {
      const url = `http://ha.example/${++seq}`
      const e = await exchange(`${front}/config`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ url }), timeoutMs: 10_000 })
      writes.push({ url, status: e.status, body: e.body })
    }
    const samples: Sample[][] = workers.map(() => [])
    const kills: string[] = []
    const rounds = Math.max(1, Math.round(minutes * 4))
    for (let round = 0; round < rounds; round++) {
      let stop = false
      const background = [
        repeat(put, () => r.int(50, 250), () => stop),
        ...workers.map((w, i) =>
          repeat(async () => {
            const e = await exchange(`${w.url}/state`, { timeoutMs: 5000 })
            if (e.status === 200) samples[i]!.push({ at: e.answered, store_id: e.body.store_id, version: e.body.version })
          }, () => 50, () => stop),
        ),
      ]
      await Bun.sleep(r.int(1500, 4000))
      const victim = r.int(0, 1)
      await replicas[victim]!.stop('SIGKILL')
      kills.push(`replica${victim}`)
      await Bun.sleep(r.int(2000, 5000))
      stop = true
      await Promise.all(background)

      // Quiet now: both workers hold the newest stored version.
      const [newest] = await sql<{ version: number; url: string }[]>`select version, url from config_versions order by version desc limit 1`
      const t = Date.now()
      for (const [i, w] of workers.entries()) {
        try {
          await waitFor(`worker ${i} to hold version ${newest!.version}`, async () => (await exchange(`${w.url}/state`, { timeoutMs: 2000 })).body?.url === newest!.url, CONVERGENCE_BOUND_MS, 20)
        } catch (e) {
          violations.push(`round ${round + 1}, replica${victim} killed: ${(e as Error).message} within ${CONVERGENCE_BOUND_MS} ms (it holds ${(await exchange(`${w.url}/state`)).body?.version})`)
        }
      }
      notes.push(`round ${round + 1}: replica${victim} killed; both workers at version ${newest!.version} ${Date.now() - t} ms after the changes stopped`)
      replicas[victim] = await replicas[victim]!.restart()
      services.push(replicas[victim]!)
      await waitFor('both replicas behind HAProxy again', bothInRotation, 30_000)
    }

    const rows = new Map((await sql<{ version: number; url: string }[]>`select version, url from config_versions`).map((x) => [x.version, x.url]))
    const stored = new Set(rows.values())
    for (const w of writes) {
      if (w.status === 201 && rows.get(w.body?.version) !== w.url) violations.push(`${w.url} was acknowledged as version ${w.body?.version}, but the store has ${rows.get(w.body?.version) ?? 'no such version'}`)
      if (w.status === 503 && w.body?.error === 'store_unavailable' && stored.has(w.url)) violations.push(`${w.url} was answered 503 store_unavailable, yet it is stored`)
    }
    samples.forEach((s, i) => violations.push(...regressions(s, `worker ${i}`)))
    const status = (w: Write) => (w.status === null ? 'no answer' : String(w.status))
    const report: SuiteReport = {
      suite: 'haproxy',
      seed,
      minutes,
      wall_seconds: Math.round((Date.now() - t0) / 1000),
      faults: tally(kills.map((k) => `kill-9 ${k}`)),
      writes: { total: writes.length, ...tally(writes.map(status)) },
      notes: [...notes, `worker samples: ${samples.map((s) => s.length).join(', ')}`],
      violations,
    }
    printReport(report, 'bun test test/faults/network.test.ts -t HAProxy')
    return report
  } catch (e) {
    console.log(`[faults] HAProxy case failed with seed ${seed} (replay: DCM_FAULTS_SEED=${seed} bun test test/faults/network.test.ts -t HAProxy): ${(e as Error).message}`)
    if (lb) console.log(`[faults] haproxy log:\n${lb.tail(20)}`)
    throw e
  } finally {
    await Promise.all(services.map((s) => s.stop()))
    await lb?.stop()
    rmSync(dir, { recursive: true, force: true })
    await sql.end({ timeout: 1 })
  }
}
