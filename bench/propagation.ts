/** 2. Propagation: controller (SQLite) + agent (long-poll, the default) + worker as real processes. For
 *  each change: POST /config, then GET /state on the worker back to back until it shows the new version.
 *  Anchor: etcd's put → watch event on the same machine. */
import { join } from 'node:path'
import { call } from '../test/kit'
import { etcdPutWatch } from './etcd'
import { KEYS, setConfig, startController, startService, workdir } from './lib/dcm'
import { row, type Figure } from './lib/report'
import { fmtMs, percentile } from './lib/stats'
import { which } from './lib/tools'

const TARGET = { p50: 10, p99: 50 }

export default {
  id: 'propagation',
  label: '2 propagation',
  title: 'POST /config → the worker shows it, against etcd put → watch',
  tools: ['etcd'],
  async run({ quick }) {
    const o = quick ? { count: 30, warmup: 5 } : { count: 200, warmup: 20 }
    const controller = await startController({ logLevel: 'warn' })
    const worker = await startService('worker', { LOG_LEVEL: 'warn', AGENT_API_KEY: KEYS.worker })
    const agentEnv = { CONTROLLER_URL: controller.url, CONTROLLER_API_KEY: KEYS.agent, WORKER_URL: worker.url, WORKER_API_KEY: KEYS.worker }
    const agent = await startService('agent', { ...agentEnv, LOG_LEVEL: 'warn', STATE_FILE: join(workdir(), 'agent-state.json') })
    const version = async () => ((await call(`${worker.url}/state`)).body as { version: number | null }).version ?? 0
    const ms = { reply: [] as number[], post: [] as number[] }
    for (let i = 0; i <= o.warmup + o.count; i++) {
      const t0 = performance.now()
      const wrote = (await setConfig(controller, `http://127.0.0.1:1/change-${i}`)).version
      const t201 = performance.now()
      // The first change waits for the agent to register; after it, 5 s is a failure.
      for (const deadline = t201 + (i ? 5000 : 30_000); (await version()) < wrote; )
        if (performance.now() > deadline) throw new Error(`version ${wrote} did not reach the worker in time\nagent: ${agent.tail(5)}`)
      const seen = performance.now()
      if (i > o.warmup) {
        ms.reply.push(seen - t201)
        ms.post.push(seen - t0)
      }
      await Bun.sleep(Math.random() * 10) // changes land anywhere in the agent's cycle
    }
    for (const p of [agent, worker, controller]) await p.stop()
    const etcd = await etcdPutWatch(which('etcd')!, o)
    const [p50, p99, e50, e99] = [percentile(ms.reply, 50), percentile(ms.reply, 99), percentile(etcd.ms, 50), percentile(etcd.ms, 99)]
    const line = (name: string, xs: number[]) => [name, ...[50, 90, 99, 100].map((p) => fmtMs(percentile(xs, p)))]
    return {
      rows: [
        row(`201 → worker shows it, p50 (${o.count} changes)`, fmtMs(p50), `${fmtMs(e50)} (etcd put→watch)`, '', `< ${TARGET.p50} ms`, p50 < TARGET.p50),
        row('201 → worker shows it, p99', fmtMs(p99), `${fmtMs(e99)} (etcd put→watch)`, '', `< ${TARGET.p99} ms`, p99 < TARGET.p99),
      ],
      params: `${o.count} changes after ${o.warmup} unmeasured, 0–10 ms apart; etcd ${etcd.version}, the same number of puts`,
      details: [
        ['Path', 'p50', 'p90', 'p99', 'max'],
        line('dcm: 201 → worker shows it (the target measure)', ms.reply),
        line('dcm: POST sent → worker shows it (write included)', ms.post),
        line(`etcd ${etcd.version}: put sent → watch event`, etcd.ms),
      ],
    }
  },
} satisfies Figure
