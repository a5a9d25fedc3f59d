/** 5. Idle memory: each service's resident memory (VmRSS) after start-up, and again after the long-poll
 *  cycles an idle hour at the default settings makes, with time compressed by settings. Controller on
 *  SQLite, agent long-polling it and pushing to the worker, all at LOG_LEVEL=info; measured as the
 *  images run them (the compiled executables of scripts/build.ts) and as `bun src/index.ts`, side by
 *  side. A bare Bun.serve beside them is the runtime's own floor. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { loadSettings as agentSettings } from '../agent/src/settings'
import { loadSettings as controllerSettings } from '../controller/src/settings'
import { buildService, SERVICES, type Service as Name } from '../scripts/build'
import { call, freePort, waitFor } from '../test/kit'
import { KEYS, ready, run, setConfig, startService, workdir, type Service } from './lib/dcm'
import { rssAnonBytes, rssBytes } from './lib/proc'
import { row, type Figure } from './lib/report'

const TARGET_BYTES = 60 * 2 ** 20
const HOUR_S = 3600
/** The compressed poll interval: the controller's smallest POLL_INTERVAL_SECONDS. */
const FAST_INTERVAL_S = 0.1

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`
const signed = (bytes: number) => ((x) => (x === '0.0' ? '0.0 MB' : `${bytes < 0 ? '−' : '+'}${x} MB`))((Math.abs(bytes) / 2 ** 20).toFixed(1))

/** The default long-poll hold (agent) and poll interval (controller), read from the settings code. */
function defaults() {
  const wait = agentSettings({ CONTROLLER_API_KEY: KEYS.agent, WORKER_API_KEY: KEYS.worker }).longPollWaitSeconds
  const interval = controllerSettings({ AGENT_API_KEY: KEYS.agent, ADMIN_API_KEY: KEYS.admin }).pollIntervalSeconds
  return { wait, interval }
}

type Stack = { form: string; services: Record<Name, Service> }

/** Controller, worker and agent of one form; `bin` holds the executables (none: `bun src/index.ts`). */
async function stack(form: string, bin: string | null, wait: number): Promise<Stack> {
  const o = (name: Name) => ({ label: `${name}-${form}`, cmd: bin ? [join(bin, name)] : undefined })
  const controller = await startService(
    'controller',
    { LOG_LEVEL: 'info', AGENT_API_KEY: KEYS.agent, ADMIN_API_KEY: KEYS.admin, SQLITE_PATH: join(workdir(), `idle-${form}.sqlite`), POLL_INTERVAL_SECONDS: String(FAST_INTERVAL_S) },
    o('controller'),
  )
  await setConfig(controller, `http://127.0.0.1:1/idle-${form}`)
  const worker = await startService('worker', { LOG_LEVEL: 'info', AGENT_API_KEY: KEYS.worker }, o('worker'))
  const agent = await startService(
    'agent',
    {
      LOG_LEVEL: 'info',
      CONTROLLER_URL: controller.url,
      CONTROLLER_API_KEY: KEYS.agent,
      WORKER_URL: worker.url,
      WORKER_API_KEY: KEYS.worker,
      STATE_FILE: join(workdir(), `idle-${form}-agent.json`),
      LONG_POLL_WAIT_SECONDS: String(wait),
    },
    o('agent'),
  )
  return { form, services: { controller, agent, worker } }
}

/** Long-polls the controller answered 304 (a hold that ran out: one idle cycle), as the agent counts them. */
async function idleCycles(agent: Service): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text()
  return Number(/^dcm_agent_polls_total\{result="not_modified"\} (\d+)/m.exec(text)?.[1] ?? NaN)
}

type Reading = { rss: number; anon: number }
const read = (pid: number): Reading => ({ rss: rssBytes(pid), anon: rssAnonBytes(pid) })

export default {
  id: 'idle',
  label: '6 idle memory',
  title: 'each service’s RSS after start-up and after an hour-equivalent of idle long-polls',
  tools: [],
  async run({ quick }) {
    const d = defaults()
    // Both the hold and the interval shrink by the same factor, so each cycle keeps its default shape:
    // a held poll that runs out, a new one at once, and the agent's probes of the worker (every interval).
    const factor = d.interval / FAST_INTERVAL_S
    const wait = d.wait / factor
    const perHour = Math.round(HOUR_S / d.wait)
    const cycles = quick ? Math.round(perHour / 4) : perHour
    const bin = join(workdir(), 'bin')
    mkdirSync(bin, { recursive: true })
    for (const name of SERVICES) await buildService(name, bin)

    const port = await freePort()
    const bare = run('bare-serve', ['bun', join(import.meta.dir, 'baselines', 'bare-proxy.ts')], { env: { UPSTREAM: 'http://127.0.0.1:1/', PORT: String(port) } })
    await ready(bare, 'bare Bun.serve', async () => (await fetch(`http://127.0.0.1:${port}/`)).status > 0)
    const stacks = [await stack('compiled', bin, wait), await stack('source', null, wait)]

    // Started up: the worker holds the config the agent pushed, and one held poll has run out.
    for (const s of stacks) {
      const { worker, agent } = s.services
      await waitFor(`${s.form} worker holds the config`, async () => (await call(`${worker.url}/state`)).body?.version === 1, 30_000)
      await waitFor(`${s.form} agent's first idle cycle`, async () => (await idleCycles(agent)) >= 1, 30_000)
    }
    const pids = (s: Stack) => SERVICES.map((n) => s.services[n].pid)
    const start = stacks.map((s) => pids(s).map(read))
    const bareStart = read(bare.proc.pid)
    const from = await Promise.all(stacks.map((s) => idleCycles(s.services.agent)))
    const t0 = performance.now()
    await Promise.all(
      stacks.map((s, i) =>
        waitFor(`${s.form}: ${cycles} idle cycles`, async () => (await idleCycles(s.services.agent)) >= from[i]! + cycles, cycles * wait * 1000 * 3 + 30_000, 200),
      ),
    )
    const seconds = (performance.now() - t0) / 1000
    const after = stacks.map((s) => pids(s).map(read))
    const bareAfter = read(bare.proc.pid)

    // The summary judges the compiled executables (stacks[0]): what the images run.
    const rows = SERVICES.map((name, j) => {
      const [a, b] = [start[0]![j]!, after[0]![j]!]
      const what = name === 'controller' ? 'controller (SQLite)' : name
      return row(
        `${what}, compiled: start-up → after ${cycles} idle cycles`,
        `${mb(a.rss)} → ${mb(b.rss)}`,
        `${mb(bareAfter.rss)} (bare Bun.serve)`,
        `${signed(b.rss - a.rss)}`,
        '< 60 MB',
        a.rss < TARGET_BYTES && b.rss < TARGET_BYTES,
      )
    })
    const details = [
      ['Service', 'form', 'VmRSS after start-up', `VmRSS after ${cycles} cycles`, 'growth', 'private (RssAnon) start-up → after', 'growth, private'],
      ...stacks.flatMap((s, i) =>
        SERVICES.map((name, j) => {
          const [a, b] = [start[i]![j]!, after[i]![j]!]
          return [name, s.form === 'compiled' ? 'compiled executable' : 'bun src/index.ts', mb(a.rss), mb(b.rss), signed(b.rss - a.rss), `${mb(a.anon)} → ${mb(b.anon)}`, signed(b.anon - a.anon)]
        }),
      ),
      ['bare Bun.serve', 'bun baselines/bare-proxy.ts', mb(bareStart.rss), mb(bareAfter.rss), signed(bareAfter.rss - bareStart.rss), `${mb(bareStart.anon)} → ${mb(bareAfter.anon)}`, signed(bareAfter.anon - bareStart.anon)],
    ]
    const scope = quick ? `A quarter of the ${perHour} cycles of an hour` : 'An hour-equivalent'
    return {
      rows,
      params: `All at LOG_LEVEL=info; the summary judges the compiled executables (as the images run them). ${scope}: ${cycles} long-poll cycles (defaults: ${d.wait} s hold, ${d.interval} s poll interval, ${perHour} cycles an hour) compressed ${factor}× by LONG_POLL_WAIT_SECONDS=${wait} and POLL_INTERVAL_SECONDS=${FAST_INTERVAL_S}, in ${seconds.toFixed(0)} s`,
      details,
    }
  },
} satisfies Figure
