/** Staged rollouts against real processes: a controller, four agent/worker pairs, upstream stubs. A
 *  sampler records, every few milliseconds, the version each worker holds and the rollout's steps, so a
 *  worker that got the candidate before its step is caught. */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { call, freePort, spawnService, testDatabase, upstreamStub, waitFor, type Service } from '../../test/harness'
import { agentEnv, controllerEnv, KEYS } from '../../test/stack'

setDefaultTimeout(90_000)
// Polls every 0.5 s: an agent is stale after 1.7 s unseen, which a loaded CI machine must not reach by accident.
const FAST = { POLL_INTERVAL_SECONDS: '0.5', FLEET_FLUSH_SECONDS: '0.2', ROLLOUT_TICK_SECONDS: '0.2' }
type Pair = { agent: Service; worker: Service; id: string }
type Fleet = { controller: Service; replica?: Service; pairs: Pair[]; good: string; bad: string }

/** A controller and `n` agent/worker pairs; with `database`, a second replica on the same PostgreSQL
 *  database, and the agents polling the two replicas in turn. */
async function fleet(n = 4, controllerExtra: Record<string, string> = {}, database?: string): Promise<Fleet> {
  const good = upstreamStub('good').url
  const bad = upstreamStub('bad', () => new Response('broken', { status: 500 })).url
  const start = async () => {
    const port = await freePort()
    return spawnService('controller', { port, env: controllerEnv(port, { ...FAST, ...controllerExtra, ...(database ? { DATABASE_URL: database } : {}) }) })
  }
  const controller = await start()
  const replica = database ? await start() : undefined
  expect((await call(`${controller.url}/config`, { method: 'POST', key: KEYS.admin, json: { url: `${good}/v1` } })).status).toBe(201)
  const pairs = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const worker = await spawnService('worker', { env: { AGENT_API_KEY: KEYS.worker } })
      const agent = await spawnService('agent', { env: agentEnv((replica && i % 2 === 1 ? replica : controller).url, worker.url) })
      const id = await waitFor('the agent registered', async () => (await call(`${agent.url}/state`)).body?.agent_id as string | null)
      return { agent, worker, id }
    }),
  )
  let last: unknown
  await waitFor('every worker at version 1 and every agent in sync', async () => {
    const list = (await call(`${controller.url}/agents`, { key: KEYS.admin })).body
    last = list.agents?.map((a: any) => [a.agent_id, a.status, a.applied_version, a.last_seen_at])
    return list.summary.in_sync === n
  }, 60_000).catch((e) => {
    throw new Error(`${(e as Error).message}; agents: ${JSON.stringify(last)}`)
  })
  return { controller, replica, pairs, good, bad }
}

const admin = (f: Fleet, path: string, json?: unknown) => call(`${f.controller.url}${path}`, { method: json === undefined && !path.includes('/rollouts/') ? 'GET' : 'POST', key: KEYS.admin, ...(json === undefined ? {} : { json }) })
const current = async (f: Fleet) => (await call(`${f.controller.url}/rollouts/current`, { key: KEYS.admin })).body
const rollout = async (f: Fleet, id: string) => (await call(`${f.controller.url}/rollouts/${id}`, { key: KEYS.admin })).body

/** Samples each worker's version and URL until stopped; `seen` per agent: [time, version, url]. */
function sampler(f: Fleet) {
  const seen = new Map<string, [number, number | null, string | null][]>()
  let on = true
  const loop = (async () => {
    while (on) {
      await Promise.all(
        f.pairs.map(async (p) => {
          const st = (await call(`${p.worker.url}/state`).catch(() => null))?.body
          if (st) (seen.get(p.id) ?? seen.set(p.id, []).get(p.id)!).push([Date.now(), st.version ?? null, st.url ?? null])
        }),
      )
      await Bun.sleep(10)
    }
  })()
  return {
    seen,
    async stop() {
      on = false
      await loop
    },
    /** When each agent's worker first held `version` (undefined: never). */
    firstAt: (id: string, version: number) => seen.get(id)?.find(([, v]) => v === version)?.[0],
  }
}

/** /hit on every worker, over and over, so workers have health to report. */
function traffic(f: Fleet) {
  let on = true
  const loops = f.pairs.map(async (p) => {
    while (on) {
      await fetch(`${p.worker.url}/hit`).then((r) => r.arrayBuffer()).catch(() => {})
      await Bun.sleep(5)
    }
  })
  return async () => {
    on = false
    await Promise.all(loops)
  }
}

describe('staged rollouts', () => {
  test('a healthy rollout walks its steps to completed; no worker gets the candidate before its step', async () => {
    const f = await fleet()
    const s = sampler(f)
    const start = await admin(f, '/rollouts', { config: { url: `${f.good}/v2` }, steps: [{ percent: 25, bake_seconds: 1 }, { percent: 50, bake_seconds: 1 }, { percent: 100, bake_seconds: 0.5 }], gate: { max_error_rate: 0.5, min_hits: 0 } })
    expect(start).toMatchObject({ status: 201, body: { version: 2, stable_version: 1, state: 'running', step: 0, eligible: 4, steps: [{ cohort: 1 }, { cohort: 2 }, { cohort: 4 }] } })
    // A plain write is held back while it runs.
    expect(await admin(f, '/config', { url: `${f.good}/other` })).toMatchObject({ status: 409, body: { error: 'rollout_in_progress' } })
    const id = start.body.id as string
    const cohorts: string[][] = []
    const done = await waitFor('the rollout completed', async () => {
      const r = await rollout(f, id)
      if (cohorts[r.step] === undefined) cohorts[r.step] = r.cohort_agents
      return r.state === 'completed' ? r : null
    }, 30_000)
    await waitFor('every worker at version 2', async () => f.pairs.every((p) => s.firstAt(p.id, 2) !== undefined))
    await s.stop()
    expect(done.decisions.map((d: any) => d.action)).toEqual(['start', 'advance', 'advance', 'complete'])
    // The agent each step added got the candidate only after that step started.
    const order: string[] = cohorts[2] ?? done.cohort_agents
    const joined = (agent: string) => [1, 2, 4].findIndex((size) => order.slice(0, size).includes(agent))
    for (const p of f.pairs) {
      const step = joined(p.id)
      expect({ agent: p.id, early: s.firstAt(p.id, 2)! < Date.parse(done.steps[step].started_at) }).toEqual({ agent: p.id, early: false })
    }
    expect((await call(`${f.controller.url}/config`, { key: KEYS.admin })).body).toMatchObject({ version: 2, url: `${f.good}/v2` })
    const audit = (await call(`${f.controller.url}/audit`, { key: KEYS.admin })).body.records.map((r: any) => r.action)
    expect(audit).toEqual(expect.arrayContaining(['rollout.start', 'rollout.advance', 'rollout.complete']))
  })

  test('a candidate that fails for its cohort is rolled back at the first step; the others never serve it', async () => {
    const f = await fleet()
    const s = sampler(f)
    const stopTraffic = traffic(f)
    const start = await admin(f, '/rollouts', { config: { url: `${f.bad}/v2` }, steps: [{ percent: 25, bake_seconds: 2 }, { percent: 100, bake_seconds: 1 }], gate: { max_error_rate: 0.1, min_hits: 5 } })
    expect(start.status).toBe(201)
    const id = start.body.id as string
    const canary: string[] = start.body.cohort_agents
    expect(canary).toHaveLength(1)
    const ended = await waitFor('the rollout rolled back', async () => {
      const r = await rollout(f, id)
      return r.state === 'rolled_back' ? r : null
    }, 30_000)
    expect(ended).toMatchObject({ step: 0, rollback_version: 3, cohort: { agents: 1 } })
    expect(ended.reason).toMatch(/error rate .* above 0.1/)
    expect(ended.cohort.error_rate).toBeGreaterThan(0.1)
    await waitFor('every worker on version 3 (the stable config again)', async () => f.pairs.every((p) => s.seen.get(p.id)?.at(-1)?.[1] === 3))
    await stopTraffic()
    await s.stop()
    for (const p of f.pairs) expect(s.seen.get(p.id)!.at(-1)![2]).toBe(`${f.good}/v1`)
    // Only the canary's worker ever held the bad URL.
    const servedBad = f.pairs.filter((p) => s.seen.get(p.id)!.some(([, , url]) => url === `${f.bad}/v2`)).map((p) => p.id)
    expect(servedBad.every((a) => canary.includes(a))).toBe(true)
    expect((await call(`${f.controller.url}/config/versions/3`, { key: KEYS.admin })).body).toMatchObject({ url: `${f.good}/v1`, created_by: 'rollout' })
  })

  test('pause, resume, promote; abort rolls back at once; a forced config write aborts the rollout first', async () => {
    const f = await fleet(2)
    const body = (url: string) => ({ config: { url }, steps: [{ percent: 50, bake_seconds: 600 }], gate: { max_error_rate: 0.5, min_hits: 0 } })
    const a = (await admin(f, '/rollouts', body(`${f.good}/v2`))).body
    expect((await admin(f, `/rollouts/${a.id}/pause`)).body).toMatchObject({ state: 'paused' })
    expect((await admin(f, `/rollouts/${a.id}/resume`)).body).toMatchObject({ state: 'running' })
    expect((await admin(f, '/rollouts', body(`${f.good}/v9`))).body).toMatchObject({ error: 'rollout_in_progress' })
    expect((await admin(f, `/rollouts/${a.id}/promote`)).body).toMatchObject({ state: 'completed', version: 2 })
    await waitFor('both workers on version 2', async () => (await Promise.all(f.pairs.map(async (p) => (await call(`${p.worker.url}/state`)).body.version))).every((v) => v === 2))
    expect(await admin(f, `/rollouts/${a.id}/pause`)).toMatchObject({ status: 409, body: { error: 'rollout_not_active' } })

    const b = (await admin(f, '/rollouts', body(`${f.good}/v3`))).body
    expect(b).toMatchObject({ version: 3, stable_version: 2 })
    expect((await admin(f, `/rollouts/${b.id}/abort`)).body).toMatchObject({ state: 'aborted', rollback_version: 4 })
    await waitFor('both workers on version 4 with version 2’s URL', async () =>
      (await Promise.all(f.pairs.map(async (p) => (await call(`${p.worker.url}/state`)).body))).every((st) => st.version === 4 && st.url === `${f.good}/v2`),
    )

    const c = (await admin(f, '/rollouts', body(`${f.good}/v5`))).body
    expect(c.version).toBe(5)
    const forced = await call(`${f.controller.url}/config?force=true`, { method: 'POST', key: KEYS.admin, json: { url: `${f.good}/forced` } })
    expect(forced).toMatchObject({ status: 201, body: { version: 7 } }) // 6: the abort's rollback
    expect(await rollout(f, c.id)).toMatchObject({ state: 'aborted', rollback_version: 6 })
    expect(await admin(f, '/rollouts/999/abort')).toMatchObject({ status: 404, body: { error: 'rollout_not_found' } })
    expect((await call(`${f.controller.url}/rollouts/current`, { key: KEYS.admin })).body).toMatchObject({ error: 'no_rollout' })
  })

  test('a controller restarted in the middle of a rollout continues it', async () => {
    const f = await fleet(2)
    const start = await admin(f, '/rollouts', { config: { url: `${f.good}/v2` }, steps: [{ percent: 50, bake_seconds: 4 }, { percent: 100, bake_seconds: 0 }], gate: { max_error_rate: 0.5, min_hits: 0 } })
    const canary = start.body.cohort_agents[0] as string
    const other = f.pairs.find((p) => p.id !== canary)!
    await waitFor('the canary’s worker on version 2', async () => (await call(`${f.pairs.find((p) => p.id === canary)!.worker.url}/state`)).body.version === 2)
    f.controller = await f.controller.restart()
    const after = await current(f)
    expect(after).toMatchObject({ id: start.body.id, state: 'running', step: 0 })
    // Still step 1 after the restart: until the step advances the other worker stays on version 1.
    const s = sampler({ ...f, pairs: [other] })
    await waitFor('the step advanced', async () => (await rollout(f, start.body.id)).step === 1, 30_000)
    const advancedAt = Date.parse((await rollout(f, start.body.id)).steps[1].started_at)
    const done = await waitFor('the rollout completed after the restart', async () => {
      const r = await rollout(f, start.body.id)
      return r.state === 'completed' ? r : null
    }, 30_000)
    expect(done.decisions.map((d: any) => d.action)).toEqual(['start', 'advance', 'complete'])
    await waitFor('the other worker on version 2', async () => (await call(`${other.worker.url}/state`)).body.version === 2)
    await s.stop()
    expect(s.firstAt(other.id, 2)!).toBeGreaterThanOrEqual(advancedAt)
  })

  test('a paused rollout does not advance when its bake time is over', async () => {
    const f = await fleet(2)
    const r = (await admin(f, '/rollouts', { config: { url: `${f.good}/v2` }, steps: [{ percent: 50, bake_seconds: 1 }, { percent: 100, bake_seconds: 0 }], gate: { max_error_rate: 0.5, min_hits: 0 } })).body
    expect((await admin(f, `/rollouts/${r.id}/pause`)).body).toMatchObject({ state: 'paused', step: 0 })
    // Well past the bake time (several ticks of 0.2 s): still paused at step 1.
    const started = Date.now()
    await waitFor('2 s to pass', () => Date.now() - started > 2000)
    expect(await rollout(f, r.id)).toMatchObject({ state: 'paused', step: 0 })
    expect((await admin(f, `/rollouts/${r.id}/resume`)).body).toMatchObject({ state: 'running' })
    await waitFor('completed after the resume', async () => (await rollout(f, r.id)).state === 'completed', 30_000)
  })
})

const pgUrl = await testDatabase()

describe.skipIf(!pgUrl)('staged rollouts across two replicas (PostgreSQL)', () => {
  test('agents polling the replica that did not start the rollout get the candidate only in their step; a failing one is rolled back for all', async () => {
    const f = await fleet(4, {}, (await testDatabase())!)
    const s = sampler(f)
    // Started through one replica; half the agents poll the other, which learns of it from the store.
    const start = await admin(f, '/rollouts', { config: { url: `${f.good}/v2` }, steps: [{ percent: 25, bake_seconds: 1.5 }, { percent: 100, bake_seconds: 0.5 }], gate: { max_error_rate: 0.5, min_hits: 0 } })
    expect(start.status).toBe(201)
    const done = await waitFor('the rollout completed', async () => {
      const r = await rollout(f, start.body.id)
      return r.state === 'completed' ? r : null
    }, 30_000)
    await waitFor('every worker at version 2', async () => f.pairs.every((p) => s.firstAt(p.id, 2) !== undefined))
    const canary = new Set<string>(start.body.cohort_agents)
    for (const p of f.pairs)
      if (!canary.has(p.id)) expect({ agent: p.id, early: s.firstAt(p.id, 2)! < Date.parse(done.steps[1].started_at) }).toEqual({ agent: p.id, early: false })

    // A failing candidate started through the other replica: rolled back, and only its canary served it.
    const stopTraffic = traffic(f)
    const bad = await call(`${f.replica!.url}/rollouts`, { method: 'POST', key: KEYS.admin, json: { config: { url: `${f.bad}/v3` }, steps: [{ percent: 25, bake_seconds: 2 }, { percent: 100, bake_seconds: 1 }], gate: { max_error_rate: 0.1, min_hits: 5 } } })
    expect(bad).toMatchObject({ status: 201, body: { version: 3 } })
    const ended = await waitFor('rolled back', async () => {
      const r = await rollout(f, bad.body.id)
      return r.state === 'rolled_back' ? r : null
    }, 30_000)
    await waitFor('every worker on the rollback version', async () => f.pairs.every((p) => s.seen.get(p.id)?.at(-1)?.[1] === ended.rollback_version))
    await stopTraffic()
    await s.stop()
    const servedBad = f.pairs.filter((p) => s.seen.get(p.id)!.some(([, , url]) => url === `${f.bad}/v3`)).map((p) => p.id)
    expect(servedBad.every((a) => bad.body.cohort_agents.includes(a))).toBe(true)
  })
})
