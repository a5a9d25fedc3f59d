/** The database fault suite in CI: a fixed seed and about half a minute of faults (see database.ts).
 *  Long runs on demand: `DCM_FAULTS_MINUTES=5 DCM_FAULTS_SEED=<n> bun test test/faults/database.test.ts`;
 *  a failing run prints the seed that replays it. */
import { expect, test } from 'bun:test'
import { databaseSuite } from './database'
import { canRunCluster } from './pg-cluster'
import { runSettings } from './rng'

const { seed, minutes } = runSettings(1010, 0.5)
const cannot = canRunCluster()
if (cannot && process.env.CI) throw new Error(`the database fault suite must run in CI: ${cannot}`)
if (cannot) console.warn(`SKIPPING the database fault suite: ${cannot}`)

test.skipIf(!!cannot)(
  `database faults (seed ${seed}): acknowledged writes kept, refused ones never stored, reads and readiness truthful, the worker converges`,
  async () => {
    const report = await databaseSuite({ seed, minutes })
    expect(report.violations).toEqual([])
  },
  (minutes * 60 + 120) * 1000 * 1.5,
)
