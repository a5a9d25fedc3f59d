/** An agent killed at the worst moments of saving its state comes back with a readable state no older
 *  than the previous save, keeps its id, and converges. (The seeded crash suite repeats this at random.) */
import { expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { startupRefusal, waitFor } from '../../test/harness'
import { agentState, setConfig, stackAtVersion1, waitWorkerVersion } from '../../test/stack'

test.each(['after-temp-write', 'after-temp-fsync', 'after-backup', 'after-rename'])('killed %s: the restarted agent reads its state, keeps its id and converges', async (point) => {
  const s = await stackAtVersion1()
  // Everything about version 1 saved, so the armed agent's next save is version 2's.
  const id = (await waitFor('version 1 confirmed and saved', async () => {
    const b = await agentState(s.agent)
    return b.worker_version === 1 ? b : null
  })).agent_id
  const armed = await s.agent.restart({ TEST_FAIL_POINTS: `${point}=1` })
  await waitFor('the armed agent registered', async () => (await agentState(armed)).controller.reachable === true)
  await setConfig(s, { url: `${s.upstream.url}/v2` })
  // The next save (version 2) kills it at that point.
  await waitFor('the agent to die in its save', () => armed.proc.exitCode !== null || armed.proc.signalCode !== null)
  expect(armed.proc.signalCode).toBe('SIGKILL')
  const temps = () => readdirSync(dirname(s.agent.env.STATE_FILE!)).filter((f) => f.endsWith('.tmp'))
  const leftBehind = temps()
  const agent = await armed.restart({ TEST_FAIL_POINTS: '' })
  const st = await waitFor('state loaded', async () => {
    const b = await agentState(agent)
    return b.agent_id ? b : null
  })
  expect({ id: st.agent_id, version: st.version === 1 || st.version === 2, from: ['primary', 'backup'].includes(st.state_file.loaded_from) }).toEqual({ id, version: true, from: true })
  await waitWorkerVersion(s.worker, 2)
  // The dead agent's temporary files were removed at start (a save of the live one may be under way now).
  expect(temps().filter((f) => leftBehind.includes(f))).toEqual([])
})

test('production refuses the fail points', async () => {
  const { code, stderr } = await startupRefusal('agent', { NODE_ENV: 'production', CONTROLLER_API_KEY: 'a-production-agent-key', WORKER_API_KEY: 'a-production-worker-key', TEST_FAIL_POINTS: '*=1' })
  expect({ code, named: stderr.includes('TEST_FAIL_POINTS') }).toEqual({ code: 2, named: true })
})
