/** Promise 5 of issue #10, by property-based testing: no request, however malformed, gets a 5xx (the
 *  allowlist in ./judge.ts), crashes or hangs a service, or changes stored state, on every route of
 *  every service, with no key, a wrong key, the right key and another role's key. The stored state is
 *  compared before and after each request against a model of the writes acknowledged; each service's
 *  RSS stays bounded. A fixed seed and a bounded number of runs here; DCM_FUZZ_RUNS=… DCM_FUZZ_SEED=…
 *  for longer runs. */
import { describe, expect, test } from 'bun:test'
import { testDatabase } from '../harness'
import { describeStats, fuzz, fuzzRuns, fuzzSeed, logProblems } from './runner'
import { agentTarget, controllerTarget, FUZZ_KEYS, workerTarget, type Target } from './targets'

const pgUrl = await testDatabase()
/** Memory a service may hold after a run: a bound far above its ~60-90 MB, not a figure. */
const RSS_BOUND_MB = 300
const timeout = (runs: number) => 30_000 + runs * 400

async function run(t: Target<any>, runs: number, seed: number) {
  const stats = await fuzz(t, { runs, seed })
  console.log(describeStats(stats))
  const problems = [...(await t.final()), ...logProblems(t, Object.values(FUZZ_KEYS))]
  expect(problems).toEqual([])
  expect({ alive: t.svc.proc.exitCode === null, rssUnderBound: stats.rssEndMb < RSS_BOUND_MB }).toEqual({ alive: true, rssUnderBound: true })
}

describe('hostile requests change nothing and get no 5xx', () => {
  const runs = { controller: fuzzRuns(560), worker: fuzzRuns(480), agent: fuzzRuns(360), postgres: fuzzRuns(280) }
  test('controller (SQLite)', async () => run(await controllerTarget(), runs.controller, fuzzSeed()), timeout(runs.controller))
  test('worker', async () => run(await workerTarget(), runs.worker, fuzzSeed()), timeout(runs.worker))
  test('agent', async () => run(await agentTarget(), runs.agent, fuzzSeed()), timeout(runs.agent))
  test.skipIf(!pgUrl)('controller (PostgreSQL)', async () => run(await controllerTarget(pgUrl!), runs.postgres, fuzzSeed()), timeout(runs.postgres))
})
