/** The network fault suite in CI: a fixed seed and about twenty seconds of faults (see network.ts), the
 *  agent's request rate against a dead controller, and a controller replica killed behind HAProxy.
 *  Long runs on demand: `DCM_FAULTS_MINUTES=5 DCM_FAULTS_SEED=<n> bun test test/faults/network.test.ts`;
 *  a failing run prints the seed that replays it. */
import { expect, test } from 'bun:test'
import { freePort, spawnService, testDatabase, upstreamStub, waitFor } from '../harness'
import { agentEnv, controllerEnv, KEYS } from '../stack'
import { faultProxy } from './fault-proxy'
import { ensureHaproxy, haproxyFailover } from './haproxy'
import { CONVERGENCE_BOUND_MS, deadControllerRate, NET_AGENT, networkSuite, RATE } from './network'
import { exchange } from './record'
import { runSettings } from './rng'

const { seed, minutes } = runSettings(1010, 0.3)

test(
  `network faults (seed ${seed}): the worker never goes back, and holds the current version soon after each fault heals`,
  async () => {
    const report = await networkSuite({ seed, minutes })
    expect(report.violations).toEqual([])
  },
  (minutes * 60 + 120) * 1000 * 1.5,
)

test('against a killed or blackholed controller the agent tries far less often than its poll interval would', async () => {
  const r = await deadControllerRate()
  console.log(`[faults] attempts in ${RATE.windowMs} ms: healthy ${r.healthy} (poll interval gives ${r.pollRate}), killed ${r.killed}, blackholed ${r.blackholed}`)
  // Fewer than a quarter of what the poll interval gives, and of what the agent did against a healthy one.
  expect({ killed: r.killed < r.pollRate / 4, blackholed: r.blackholed < r.pollRate / 4 }).toEqual({ killed: true, blackholed: true })
  expect({ killed: 4 * r.killed < r.healthy, blackholed: 4 * r.blackholed < r.healthy }).toEqual({ killed: true, blackholed: true })
}, 120_000)

const haproxyMissing = ensureHaproxy()
if (haproxyMissing) console.warn(`SKIPPING the HAProxy case: ${haproxyMissing}`)
const db = haproxyMissing ? null : await testDatabase()

test.skipIf(!db)(
  `HAProxy in front of two replicas (seed ${seed}): a replica killed with kill -9 during a stream of changes; the workers converge and never go back`,
  async () => {
    const report = await haproxyFailover({ seed, minutes, db: db! })
    expect(report.violations).toEqual([])
  },
  (minutes * 60 + 120) * 1000 * 1.5,
)

/** The size of a whole `GET /config` answer and of its body, as read off the wire. */
async function answerSize(port: number) {
  const bytes: number[] = []
  await new Promise<void>((resolve) =>
    Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open: (s) => void s.write(`GET /config HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEYS.agent}\r\nConnection: close\r\n\r\n`),
        data: (_s, chunk) => void bytes.push(...chunk),
        close: () => resolve(),
      },
    }),
  )
  const text = String.fromCharCode(...bytes)
  return { total: bytes.length, body: text.length - text.indexOf('\r\n\r\n') - 4 }
}

// KNOWN DEFECT (reported, not fixed here): the agent reads a 200's body with `res.json().catch(() =>
// undefined)` (agent/src/sync/controller-loop.ts, #received), so an answer cut off by the network is
// taken for a document it cannot accept; it then polls with that ETag, the controller answers 304, and
// the worker stays on the older version until the next change. When this test starts failing, the
// defect is fixed: make it a plain `test`.
test('after a poll answer cut off in its body, the worker still reaches that version once the network heals', async () => {
  const upstream = upstreamStub('cut-body')
  const port = await freePort()
  const controller = await spawnService('controller', { port, env: controllerEnv(port, { LOG_LEVEL: 'info' }) })
  const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker, LOG_LEVEL: 'info' } })
  const link = await faultProxy({ host: '127.0.0.1', port })
  const settings = Object.fromEntries(Object.entries(NET_AGENT).map(([k, v]) => [k, String(v)]))
  // A long hold, so the poll is still held when version 2 is written.
  await spawnService('agent', { env: agentEnv(link.url, worker.url, { ...settings, LONG_POLL_WAIT_SECONDS: '30', LOG_LEVEL: 'info' }) })
  const put = (url: string) => exchange(`${controller.url}/config`, { method: 'POST', headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ url }) })
  await put(`${upstream.url}/1`)
  await waitFor('the worker at version 1', async () => (await exchange(`${worker.url}/state`)).body?.version === 1)
  const size = await answerSize(port)
  await waitFor('the agent to hold a long-poll', async () => (await exchange(`${controller.url}/readyz`)).body?.held_polls === 1)
  // The held poll's request has gone through; its answer (version 2, as long as version 1's) is cut
  // in the middle of its body.
  link.set({ kind: 'drop-after', bytes: size.total - Math.floor(size.body / 2) })
  await put(`${upstream.url}/2`)
  await Bun.sleep(1000)
  link.heal()
  await waitFor('the worker at version 2', async () => (await exchange(`${worker.url}/state`)).body?.version === 2, CONVERGENCE_BOUND_MS)
}, 60_000)
