/** The crash suite in CI: a fixed seed, 150 agent kills per store (300 with PostgreSQL), controller
 *  kills during bursts of writes, and promises 1–4 checked over the whole history. A failure prints the
 *  seed and the command that replays it; longer runs: `bun run chaos -- --suite crash --minutes M`. */
import { expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testDatabase } from '../harness'
import { formatViolation } from './check'
import { crash } from './crash'

const SEED = 1128
const AGENT_KILLS = 150
const pgUrl = await testDatabase()

for (const store of ['sqlite', 'postgres'] as const) {
  test.skipIf(store === 'postgres' && !pgUrl)(`${store}: ${AGENT_KILLS} agents and a few controllers killed at random (seed ${SEED}): nothing acknowledged is lost, no agent state goes back, no worker goes back, and the fleet converges after every heal`, async () => {
    const replay = `bun run chaos -- --suite crash --seed ${SEED} --minutes 1 --store ${store}`
    const dir = mkdtempSync(join(tmpdir(), `dcm-chaos-${store}-`))
    let kept = false
    try {
      const r = await crash({ seed: SEED, dir, databaseUrl: store === 'postgres' ? pgUrl! : undefined, agentKills: AGENT_KILLS })
      console.log(`crash suite, ${store}, seed ${SEED}: ${Object.entries(r.stats).map(([k, v]) => `${k} ${v}`).join(', ')}; violations: ${r.violations.length}`)
      if (r.violations.length) {
        kept = true
        r.history.save(join(dir, 'history.jsonl'))
        console.error(`crash suite FAILED on ${store} with seed ${SEED}; history and logs in ${dir}; replay: ${replay}`)
      }
      expect(r.violations.map(formatViolation)).toEqual([])
    } catch (e) {
      if (!kept) console.error(`crash suite broke off on ${store} with seed ${SEED}; logs in ${dir}; replay: ${replay}`)
      kept = true
      throw e
    } finally {
      if (!kept) rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
}
