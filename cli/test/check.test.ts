/** `dcm check` end to end: the compiled executable (dist/dcm) run against a real local stack (controller
 *  on SQLite, agent, worker, an upstream stub): every check passes on the healthy stack, and the stack
 *  broken one way at a time fails the row that names the break, with the exit code a script can test. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { ROOT } from '../../test/harness'
import { KEYS, setConfig, stackAtVersion1, waitWorkerVersion } from '../../test/stack'

const DCM = join(ROOT, 'dist', 'dcm')

beforeAll(async () => {
  const build = Bun.spawn([process.execPath, 'scripts/build.ts', 'dcm'], { cwd: ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([build.exited, new Response(build.stdout).text(), new Response(build.stderr).text()])
  if (code !== 0) throw new Error(`bun scripts/build.ts dcm exited with ${code}:\n${out}${err}`)
})

/** Run dcm to its end (killed after 60 s: a hang fails the test with the output so far). */
async function dcm(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([DCM, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DCM_ADMIN_KEY: KEYS.admin, ...env }, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', timeout: 60_000, killSignal: 'SIGKILL' })
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  return { code, out: out.trimEnd(), err: err.trimEnd() }
}
const row = (out: string, service: string, name: string) => out.split('\n').find((l) => new RegExp(`^${service} +${name} `).test(l))?.replace(/ {2,}/g, ' | ')

describe('dcm check against a local stack', () => {
  test('a healthy stack: all 12 checks pass (--agent-key or DCM_AGENT_KEY for the register check), exit 0; the same with --json; one dcm-check agent however often it runs', async () => {
    const s = await stackAtVersion1()
    const urls = [s.controller.url, s.agent.url, s.worker.url]
    const r = await dcm(['check', ...urls, '--agent-key', KEYS.agent])
    expect({ code: r.code, err: r.err, last: r.out.split('\n').at(-1) }).toEqual({ code: 0, err: '', last: '12 checks: 12 passed, 0 failed, 0 skipped' })
    expect(row(r.out, 'agent', 'state')).toStartWith("agent | state | pass | version 1 (the controller's), confirmed by its worker, agent ")
    expect(row(r.out, 'worker', 'hit')).toBe('worker | hit | pass | HTTP 200 from the upstream')
    expect(row(r.out, 'controller', 'admin')).toMatch(/^controller \| admin \| pass \| the admin key reads the history \(newest version 1, by /)
    expect(row(r.out, 'controller', 'register')).toBe(`controller | register | pass | HTTP 200, agent_id dcm-check, poll_url ${s.controller.url}/config`)
    const again = await dcm(['check', ...urls, '--json'], { DCM_AGENT_KEY: KEYS.agent })
    const j = JSON.parse(again.out)
    expect([again.code, j.ok, j.checks.length, j.checks.filter((c: { result: string }) => c.result === 'pass').length]).toEqual([0, true, 12, 12])
    // The register check re-uses one agent record: the fleet holds the real agent and dcm-check only.
    const fleet = await dcm(['--url', s.controller.url, 'agents', '--json'])
    expect((JSON.parse(fleet.out).agents as { agent_id: string }[]).filter((a) => a.agent_id === 'dcm-check')).toHaveLength(1)
  })

  test('broken one way at a time: a wrong agent key, a version the worker lacks, a stopped worker (exit 1), a stopped controller (exit 3)', async () => {
    const s = await stackAtVersion1()
    const urls = [s.controller.url, s.agent.url, s.worker.url]

    const wrongKey = await dcm(['check', ...urls, '--agent-key', 'not-the-agent-key'])
    expect(wrongKey.code).toBe(1)
    expect(row(wrongKey.out, 'controller', 'register')).toMatch(/^controller \| register \| FAIL \| HTTP 401 unauthorized: /)
    expect(wrongKey.out.split('\n').at(-1)).toBe('12 checks: 11 passed, 1 failed, 0 skipped')

    const wrongAdmin = await dcm(['check', ...urls], { DCM_ADMIN_KEY: KEYS.agent })
    expect(wrongAdmin.code).toBe(1)
    expect(row(wrongAdmin.out, 'controller', 'config')).toMatch(/^controller \| config \| pass \| version 1, /)
    expect(row(wrongAdmin.out, 'controller', 'admin')).toMatch(/^controller \| admin \| FAIL \| the admin key was refused: HTTP 403 /)

    // The worker gone: the agent cannot push version 2, and every worker row fails.
    await s.worker.stop()
    await setConfig(s, { url: `${s.upstream.url}?v=2` })
    const noWorker = await dcm(['check', ...urls])
    expect(noWorker.code).toBe(1)
    expect(row(noWorker.out, 'worker', 'healthz')).toMatch(/^worker \| healthz \| FAIL \| no answer: /)
    expect(row(noWorker.out, 'worker', 'hit')).toBe('worker | hit | FAIL | not tried: the worker did not answer /healthz')
    expect(row(noWorker.out, 'agent', 'state')).toMatch(/^agent \| state \| FAIL \| .*its worker confirmed 1/)

    // Back: the agent refills the worker and the deployment passes again.
    await s.worker.restart()
    await waitWorkerVersion(s.worker, 2)
    expect((await dcm(['check', ...urls])).code).toBe(0)

    await s.controller.stop()
    const noController = await dcm(['check', ...urls])
    expect(noController.code).toBe(3)
    expect(row(noController.out, 'controller', 'healthz')).toMatch(/^controller \| healthz \| FAIL \| no answer: /)
    expect(row(noController.out, 'worker', 'state')).toBe("worker | state | skip | holds version 2; not compared: the controller's config was not read")
  })
})
