/** The one-minute soak (issue #10, Load): both hot routes under wrk with long-polls, /hit callers and
 *  slow bodies churning beside them; no errors on valid traffic, RSS flat after warm-up, file
 *  descriptors and held polls back where they started. `bun run soak -- --minutes M` for longer. */
import { expect, test } from 'bun:test'
import { describeSoak, ensureWrk, soak, soakProblems } from './soak'

const missing = ensureWrk()
if (missing) console.warn(`SKIPPING the soak: ${missing}`)

test.skipIf(missing !== null)('a minute of load and churn: no errors on valid traffic, memory flat, files and held polls back to idle', async () => {
  const report = await soak({ minutes: 1, seed: 1 })
  console.log(describeSoak(report))
  expect(soakProblems(report)).toEqual([])
}, 150_000)
