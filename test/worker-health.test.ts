/** Worker health end to end: real controller, agent and worker, an upstream that fails for some hits,
 *  and a recording proxy between the agent and the controller that shows what each poll carried. */
import { expect, setDefaultTimeout, test } from 'bun:test'
import { waitFor } from './kit'
import { setConfig, startStack, waitWorkerVersion, workerState, type ControllerCall } from './stack'

setDefaultTimeout(60_000)

const TIMEOUT_MS = 200

/** Sum of the X-Worker-Health values of the polls the controller answered (a poll that got no answer
 *  reported nothing: its hits travel again with the next). */
function reported(calls: ControllerCall[]) {
  const sum = { polls: 0, versions: new Set<string>(), total: 0, err: 0, maxP99: 0, empty: 0 }
  for (const c of calls) {
    const h = c.headers.get('x-worker-health')
    if (h === null || (c.status !== 200 && c.status !== 304)) continue
    const f = Object.fromEntries(h.split(';').map((kv) => kv.split('='))) as Record<string, string>
    sum.polls++
    sum.versions.add(f.v!)
    sum.total += Number(f.total)
    sum.err += Number(f.err)
    sum.maxP99 = Math.max(sum.maxP99, Number(f.p99))
    if (Number(f.total) === 0) sum.empty++
  }
  return sum
}

test('the worker counts /hit outcomes of its version, and the agent reports them to the controller with its polls: every hit once, a restarted worker from zero', async () => {
  // Every third call answers 200, every third 500, every third too late (the worker's own 504).
  let n = 0
  const s = await startStack({
    recordAgentCalls: true,
    agent: { LONG_POLL_WAIT_SECONDS: '0.5' }, // held polls end soon: the test sees several polls go by
    upstream: () => {
      const k = n++ % 3
      if (k === 0) return new Response('ok')
      if (k === 1) return new Response('broken', { status: 500 })
      return new Promise((resolve) => setTimeout(() => resolve(new Response('late')), TIMEOUT_MS * 3))
    },
  })
  await setConfig(s, { url: s.upstream.url, timeout_ms: TIMEOUT_MS })
  await waitWorkerVersion(s.worker, 1)

  const statuses: number[] = []
  for (let i = 0; i < 9; i++) statuses.push((await fetch(`${s.worker.url}/hit`).then(async (r) => (await r.arrayBuffer(), r))).status)
  expect(statuses).toEqual([200, 500, 504, 200, 500, 504, 200, 500, 504])

  const { hits } = await workerState(s.worker)
  expect(hits).toMatchObject({ version: 1, total: 9, by_class: { '2xx': 3, '3xx': 0, '4xx': 0, '5xx': 3 }, upstream_failures: 3 })
  // The timed-out calls lasted at least the timeout: p99 is at or above it; the buckets hold every call.
  expect(hits.p99_ms).toBeGreaterThanOrEqual(TIMEOUT_MS)
  expect(hits.buckets.counts.reduce((a: number, b: number) => a + b, 0)).toBe(9)

  // The controller hears all nine, six of them errors (500s and the worker's 504s), for version 1.
  await waitFor('the nine hits reported', () => reported(s.controllerCalls).total >= 9)
  const sum = reported(s.controllerCalls)
  expect({ versions: [...sum.versions], total: sum.total, err: sum.err, empty: sum.empty }).toEqual({ versions: ['1'], total: 9, err: 6, empty: 0 })
  expect(sum.maxP99).toBeGreaterThanOrEqual(TIMEOUT_MS)

  // Later polls carry nothing more: no hit is reported twice, and no header is sent with nothing new.
  const seen = s.controllerCalls.length
  await waitFor('five more polls', () => s.controllerCalls.filter((c) => c.status !== null).length >= seen + 5)
  expect(s.controllerCalls.slice(seen).filter((c) => c.headers.has('x-worker-health'))).toEqual([])
  expect(reported(s.controllerCalls).total).toBe(9)

  // A restarted worker counts from zero again: the agent refills it, and its new hits are reported on top.
  const worker = await s.worker.restart()
  await waitWorkerVersion(worker, 1)
  for (let i = 0; i < 3; i++) await fetch(`${worker.url}/hit`).then((r) => r.arrayBuffer())
  expect((await workerState(worker)).hits).toMatchObject({ version: 1, total: 3, by_class: { '2xx': 1, '5xx': 1 }, upstream_failures: 1 })
  await waitFor('the three new hits reported', () => reported(s.controllerCalls).total >= 12)
  const after = reported(s.controllerCalls)
  expect({ total: after.total, err: after.err }).toEqual({ total: 12, err: 8 })
})
