/** dcm end to end: the compiled executable (dist/dcm, what `bun run build` ships) run as a process for
 *  every command against a real controller (SQLite), checking what it prints and its exit code.
 *  The first block needs only the routes every controller has (GET/POST /config); the "fleet routes"
 *  block the fleet routes with real agents; the "rollout routes" block the /rollouts routes. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { freePort, onCleanup, ROOT, spawnService, waitFor, type Service } from '../../test/harness'
import { agentState, controllerEnv, KEYS, setConfig, stackAtVersion1, waitWorkerVersion, workerState } from '../../test/stack'

const DCM = join(ROOT, 'dist', 'dcm')

beforeAll(async () => {
  const build = Bun.spawn([process.execPath, 'scripts/build.ts', 'dcm'], { cwd: ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([build.exited, new Response(build.stdout).text(), new Response(build.stderr).text()])
  if (code !== 0) throw new Error(`bun scripts/build.ts dcm exited with ${code}:\n${out}${err}`)
})

const envFor = (c: Pick<Service, 'url'> | null, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  ...(c ? { DCM_URL: c.url, DCM_ADMIN_KEY: KEYS.admin } : {}),
  ...extra,
})

/** Run dcm to its end (killed after 20 s: a hang fails the test with the output so far). */
async function dcm(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([DCM, ...args], { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', timeout: 20_000, killSignal: 'SIGKILL' })
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  return { code, out: out.trimEnd(), err: err.trimEnd() }
}

/** Start a long-running dcm (watch); its output so far is read with out(). Killed at the end of the run. */
function start(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([DCM, ...args], { env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  onCleanup(() => {
    proc.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  const drain = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const dec = new TextDecoder()
    for await (const chunk of s) add(dec.decode(chunk, { stream: true }))
  }
  void drain(proc.stdout, (t) => (out += t))
  void drain(proc.stderr, (t) => (err += t))
  return { proc, out: () => out, err: () => err }
}

async function controller(): Promise<Service> {
  const port = await freePort()
  return spawnService('controller', { port, env: controllerEnv(port) })
}

const REQUEST_ID = /request_id [0-9a-f-]{36}\)/

describe('dcm against a controller (GET/POST /config)', () => {
  test('status, config get, config set (new, identical, --json), exit 0; a config get before any config is exit 1 no_config', async () => {
    const c = await controller()
    const env = envFor(c)
    const before = await dcm(['status'], env)
    const none = await dcm(['config', 'get'], env)
    expect(before.code).toBe(0)
    expect(before.out).toContain(`controller  ${c.url}\nconfig      none set yet`)
    expect(none.code).toBe(1)
    expect(none.err).toMatch(/^dcm: no config has been set yet.* \(no_config, HTTP 404, request_id [0-9a-f-]{36}\)$/)

    const set = await dcm(['config', 'set', '--url', 'https://up.example/a', '--timeout-ms', '900'], env)
    expect({ code: set.code, first: set.out.split('\n')[0], err: set.err }).toEqual({ code: 0, first: 'stored version 1', err: '' })
    expect(set.out).toMatch(/^url +https:\/\/up\.example\/a$/m)
    const same = await dcm(['config', 'set', '--url', 'https://up.example/a', '--timeout-ms', '900'], env)
    expect({ code: same.code, out: same.out }).toEqual({ code: 0, out: 'unchanged: the current config (version 1) is identical; no new version' })

    const got = await dcm(['config', 'get'], env)
    expect(got.code).toBe(0)
    expect(got.out.split('\n').slice(0, 3)).toEqual(['version     1', 'url         https://up.example/a', 'timeout_ms  900'])
    expect(got.out).toMatch(/^etag +"1-[^"]+"$/m)
    const json = await dcm(['config', 'get', '--json'], env)
    expect(JSON.parse(json.out)).toMatchObject({ version: 1, url: 'https://up.example/a', timeout_ms: 900 })

    const status = await dcm(['status'], env)
    expect(status.code).toBe(0)
    expect(status.out).toMatch(/^config +version 1  https:\/\/up\.example\/a  timeout_ms 900  \(\S+\)$/m)
  })

  test('--url and --key override DCM_URL and DCM_ADMIN_KEY; a wrong key is exit 1 with the server message and request id', async () => {
    const c = await controller()
    const elsewhere = envFor({ url: `http://127.0.0.1:${await freePort()}` })
    const set = await dcm(['--url', c.url, '--key', KEYS.admin, 'config', 'set', '--url', 'https://up.example/b'], elsewhere)
    expect({ code: set.code, first: set.out.split('\n')[0] }).toEqual({ code: 0, first: 'stored version 1' })
    const wrong = await dcm(['config', 'get', '--key', 'not-the-key'], envFor(c))
    expect(wrong.code).toBe(1)
    expect(wrong.err).toMatch(/^dcm: a valid API key is required.*\(unauthorized, HTTP 401, request_id [0-9a-f-]{36}\)$/)
  })

  test('a URL the controller refuses (cloud metadata) is exit 1 with its validation message; nothing is stored', async () => {
    const c = await controller()
    const r = await dcm(['config', 'set', '--url', 'http://169.254.169.254/latest/meta-data'], envFor(c))
    expect(r.code).toBe(1)
    expect(r.err).toContain('validation_failed, HTTP 422')
    expect(r.err).toMatch(REQUEST_ID)
    expect((await dcm(['config', 'get'], envFor(c))).code).toBe(1)
  })

  test('usage errors are exit 2 and send nothing: the controller still has no config', async () => {
    const c = await controller()
    const env = envFor(c)
    const cases = [
      ['bogus'],
      ['config', 'set'],
      ['config', 'set', '--url', 'ftp://up.example'],
      ['config', 'set', '--url', 'https://up.example', '--timeout-ms', '70000'],
      ['config', 'set', '--url', 'https://up.example', '--colour', 'red'],
      ['config', 'history', '--limit', 'all'],
      ['config', 'rollback', 'last'],
      ['agents', '--status', 'gone'],
      ['agent'],
      ['rollout', 'start', '--url', 'https://up.example', '--steps', '50:10,10:0', '--max-error-rate', '0.05'],
      ['rollout', 'start', '--url', 'https://up.example', '--steps', '10-30', '--max-error-rate', '0.05'],
      ['rollout', 'start', '--url', 'https://up.example', '--steps', '100:0', '--max-error-rate', '2'],
    ]
    const results = await Promise.all(cases.map((args) => dcm(args, env)))
    expect(results.map((r) => [r.code, r.out])).toEqual(cases.map(() => [2, '']))
    for (const r of results) expect(r.err).toMatch(/^dcm: .+\n\n[^]*Usage: dcm/)
    expect((await dcm(['status'], env)).out).toContain('config      none set yet')
    const nokey = await dcm(['status'], { ...envFor(null), DCM_URL: c.url })
    expect({ code: nokey.code, first: nokey.err.split('\n')[0] }).toEqual({ code: 2, first: 'dcm: no admin key: set DCM_ADMIN_KEY or pass --key' })
  })

  test('--help on every command and subcommand is exit 0 and needs no controller', async () => {
    const cases = [[], ['config'], ['status'], ['config', 'get'], ['config', 'set'], ['config', 'history'], ['config', 'rollback'], ['agents'], ['agent'], ['audit'], ['watch'], ['rollout'], ['rollout', 'start'], ['rollout', 'status'], ['rollout', 'pause']]
    const results = await Promise.all(cases.map((args) => dcm([...args, '--help'], envFor(null))))
    expect(results.map((r) => [r.code, r.err, r.out.split('\n')[0]])).toEqual([
      [0, '', 'dcm — operate a dcm controller'],
      [0, '', 'Usage: dcm config <get|set|history|rollback> [options]'],
      [0, '', 'Usage: dcm status'],
      [0, '', 'Usage: dcm config get'],
      [0, '', 'Usage: dcm config set [options]'],
      [0, '', 'Usage: dcm config history [options]'],
      [0, '', 'Usage: dcm config rollback N [options]'],
      [0, '', 'Usage: dcm agents [options]'],
      [0, '', 'Usage: dcm agent ID'],
      [0, '', 'Usage: dcm audit [options]'],
      [0, '', 'Usage: dcm watch'],
      [0, '', 'Usage: dcm rollout <start|status|list|show|pause|resume|abort|promote> [options]'],
      [0, '', 'Usage: dcm rollout start [options]'],
      [0, '', 'Usage: dcm rollout status [options]'],
      [0, '', 'Usage: dcm rollout pause [ID]'],
    ])
  })

  test('a controller nobody answers at is exit 3 for every command that calls it', async () => {
    const env = envFor({ url: `http://127.0.0.1:${await freePort()}` })
    const cases = [
      ['status'],
      ['config', 'get'],
      ['config', 'set', '--url', 'https://up.example'],
      ['config', 'history'],
      ['config', 'rollback', '1'],
      ['agents'],
      ['agent', 'a-1'],
      ['audit'],
      ['watch'],
      ['rollout', 'start', '--url', 'https://up.example', '--steps', '100:0', '--max-error-rate', '0.05'],
      ['rollout', 'status', '--watch'],
      ['rollout', 'list'],
      ['rollout', 'abort'],
    ]
    const results = await Promise.all(cases.map((args) => dcm(args, env)))
    expect(results.map((r) => [r.code, r.out])).toEqual(cases.map(() => [3, '']))
    for (const r of results) expect(r.err).toStartWith(`dcm: cannot reach the controller at ${env.DCM_URL}: `)
  })

  test('watch prints each new version as it is written and ends with 0 on SIGINT, and on SIGTERM', async () => {
    const c = await controller()
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const w = start(['watch'], envFor(c))
      const n = signal === 'SIGINT' ? 1 : 3
      // Before a first version watch waits (long-polls); with one it prints it at once.
      if (n === 1) await waitFor('watch waiting for a first version', () => w.out().includes('no config set yet; waiting'))
      expect((await dcm(['config', 'set', '--url', `https://up.example/${n}`], envFor(c))).code).toBe(0)
      await waitFor(`watch printing version ${n}`, () => w.out().includes(`version ${n}  https://up.example/${n}`))
      expect((await dcm(['config', 'set', '--url', `https://up.example/${n + 1}`], envFor(c))).code).toBe(0)
      await waitFor(`watch printing version ${n + 1}`, () => w.out().includes(`version ${n + 1}  https://up.example/${n + 1}`))
      w.proc.kill(signal)
      expect(await w.proc.exited).toBe(0)
      expect(w.err()).toBe('')
    }
  })
})

/** created_by of the admin key when it has no name: the first 8 hex characters of its SHA-256. */
const adminId = `key:${createHash('sha256').update(KEYS.admin).digest('hex').slice(0, 8)}`

describe('fleet routes', () => {
  test('status, agents, agent: the fleet summary and each agent with its applied version; filters; an unknown agent is exit 1', async () => {
    const s = await stackAtVersion1()
    const env = envFor(s.controller)
    const id = (await agentState(s.agent)).agent_id as string
    // The agent reports what its worker applied on its next poll.
    const agents = await waitFor('dcm agents showing the agent in_sync', async () => {
      const r = await dcm(['agents'], env)
      return r.code === 0 && r.out.startsWith('1 agent: 1 in_sync, 0 behind, 0 rejected, 0 stale') ? r : null
    })
    expect(agents.out.split('\n').slice(2)).toHaveLength(2)
    expect(agents.out).toMatch(new RegExp(`^${id.replace(/[.]/g, '\\.')} +in_sync +1 +1 +- `, 'm'))

    const status = await dcm(['status'], env)
    expect(status.out).toMatch(/^fleet +1 agent: 1 in_sync, 0 behind, 0 rejected, 0 stale$/m)
    expect(JSON.parse((await dcm(['status', '--json'], env)).out)).toMatchObject({ config: { version: 1 }, fleet: { in_sync: 1, behind: 0, rejected: 0, stale: 0 } })

    const inSync = JSON.parse((await dcm(['agents', '--status', 'in_sync', '--json'], env)).out)
    const behind = JSON.parse((await dcm(['agents', '--status', 'behind', '--json'], env)).out)
    expect([inSync.agents.map((a: { agent_id: string }) => a.agent_id), behind.agents]).toEqual([[id], []])
    const noLabel = JSON.parse((await dcm(['agents', '--label', 'zone=nowhere', '--json'], env)).out)
    expect(noLabel.agents).toEqual([])

    const one = await dcm(['agent', id], env)
    expect(one.code).toBe(0)
    expect(one.out).toMatch(new RegExp(`^agent_id +${id.replace(/[.]/g, '\\.')}\nstatus +in_sync\napplied_version +1\n`))
    expect(JSON.parse((await dcm(['agent', id, '--json'], env)).out)).toMatchObject({ agent_id: id, status: 'in_sync', applied_version: 1 })

    const unknown = await dcm(['agent', 'no-such-agent'], env)
    expect(unknown.code).toBe(1)
    expect(unknown.err).toContain('(agent_not_found, HTTP 404, ')
  })

  test('a version the worker refuses shows as rejected in dcm agents (with the worker’s code) and in dcm status', async () => {
    const s = await stackAtVersion1()
    const env = envFor(s.controller)
    const id = (await agentState(s.agent)).agent_id as string
    // The controller accepts a URL that points at the worker itself; the worker refuses it.
    expect((await dcm(['config', 'set', '--url', `${s.worker.url}/hit`], env)).code).toBe(0)
    const agents = await waitFor('dcm agents showing the agent rejected', async () => {
      const r = await dcm(['agents'], env)
      return r.code === 0 && r.out.startsWith('1 agent: 0 in_sync, 0 behind, 1 rejected, 0 stale') ? r : null
    })
    expect(agents.out).toMatch(new RegExp(`^${id.replace(/[.]/g, '\\.')} +rejected +1 +2 +2 \\(validation_failed\\) `, 'm'))
    const only = JSON.parse((await dcm(['agents', '--status', 'rejected', '--json'], env)).out)
    expect(only.agents.map((a: { agent_id: string; rejected: unknown }) => [a.agent_id, a.rejected])).toEqual([[id, { version: 2, reason: 'validation_failed' }]])
    expect((await dcm(['status'], env)).out).toMatch(/^fleet +1 agent: 0 in_sync, 0 behind, 1 rejected, 0 stale$/m)
  })

  test('config set with a comment, history, rollback reaching the worker, rollback 999 is exit 1, a stale --if-match is exit 1 with nothing stored, audit', async () => {
    const s = await stackAtVersion1()
    const env = envFor(s.controller)
    const v1 = s.upstream.url

    const set = await dcm(['config', 'set', '--url', 'https://up.example/two', '--comment', 'try two'], env)
    expect({ code: set.code, first: set.out.split('\n')[0] }).toEqual({ code: 0, first: 'stored version 2' })
    expect(set.out).toMatch(new RegExp(`^created_by +${adminId}\ncomment +try two$`, 'm'))

    const history = await dcm(['config', 'history'], env)
    expect(history.code).toBe(0)
    const rows = history.out.split('\n')
    expect(rows[0]).toMatch(/^VERSION +UPDATED_AT +BY +URL +TIMEOUT_MS +COMMENT$/)
    expect(rows.slice(1).map((r) => r.split(/ {2,}/).filter((_, i) => i !== 1))).toEqual([
      ['2', adminId, 'https://up.example/two', '-', 'try two'],
      ['1', adminId, v1, '-', '-'],
    ])
    expect(JSON.parse((await dcm(['config', 'history', '--limit', '1', '--json'], env)).out)).toMatchObject({ versions: [{ version: 2, comment: 'try two' }], next_before: 2 })

    const back = await dcm(['config', 'rollback', '1', '--comment', 'two was bad'], env)
    expect({ code: back.code, first: back.out.split('\n')[0] }).toEqual({ code: 0, first: 'rolled back to the content of version 1: stored version 3' })
    await waitWorkerVersion(s.worker, 3)
    expect((await workerState(s.worker)).url).toBe(v1)
    const again = await dcm(['config', 'rollback', '1'], env)
    expect({ code: again.code, out: again.out }).toEqual({ code: 0, out: "unchanged: version 1's content is the current config (version 3); no new version" })

    const missing = await dcm(['config', 'rollback', '999'], env)
    expect(missing.code).toBe(1)
    expect(missing.err).toMatch(/^dcm: .*\(version_not_found, HTTP 404, request_id [0-9a-f-]{36}\)$/)

    const stale = await dcm(['config', 'set', '--url', 'https://up.example/four', '--if-match', '"2-stale"'], env)
    expect(stale.code).toBe(1)
    expect(stale.err).toContain('(precondition_failed, HTTP 412, ')
    expect(stale.err).toMatch(/\ndcm: the current config's ETag is "3-[^"]+"$/)
    const etag = (await dcm(['config', 'get'], env)).out.match(/^etag +(.+)$/m)![1]!
    expect(JSON.parse((await dcm(['config', 'get', '--json'], env)).out)).toMatchObject({ version: 3, url: v1 })
    const fresh = await dcm(['config', 'set', '--url', 'https://up.example/four', '--if-match', etag], env)
    expect(fresh.out.split('\n')[0]).toBe('stored version 4')

    const audit = await dcm(['audit', '--limit', '3'], env)
    expect(audit.code).toBe(0)
    const actions = audit.out.split('\n').slice(1).map((r) => r.split(/ {2,}/))
    expect(actions.map((r) => [r[2], r[3]])).toEqual([
      [adminId, 'config.write'],
      [adminId, 'config.write'],
      [adminId, 'config.rollback'],
    ])
    // The refusal's outcome names its code (the contract spells it refused:<code>).
    expect([actions[0]![5], actions[1]![5], actions[2]![5]]).toEqual(['created', expect.stringContaining('precondition_failed'), 'unchanged'])
    expect(JSON.parse((await dcm(['audit', '--limit', '1', '--json'], env)).out).records).toHaveLength(1)
  })

  test('watch prints the new version, the fleet summary as the agent applies it, and that it converged', async () => {
    const s = await stackAtVersion1()
    const env = envFor(s.controller)
    const w = start(['watch'], env)
    await waitFor('watch converged on version 1', () => w.out().includes('converged: every agent that is not stale runs version 1'))
    expect((await dcm(['config', 'set', '--url', 'https://up.example/two'], env)).code).toBe(0)
    await waitFor('watch converged on version 2', () => w.out().includes('converged: every agent that is not stale runs version 2'))
    const lines = w.out().trimEnd().split('\n')
    const from = lines.findIndex((l) => l.startsWith('version 2  https://up.example/two'))
    expect(from).toBeGreaterThan(0)
    expect(lines.at(-2)).toBe('  fleet: 1 agent: 1 in_sync, 0 behind, 0 rejected, 0 stale')
    expect(lines.at(-1)).toBe('  converged: every agent that is not stale runs version 2')
    w.proc.kill('SIGINT')
    expect(await w.proc.exited).toBe(0)
  })
})

describe('rollout routes', () => {
  /** A controller with no agents at version 1: a rollout's cohorts are empty, its gate has nothing to trip on. */
  async function atVersion1() {
    const c = await controller()
    const env = envFor(c)
    expect((await dcm(['config', 'set', '--url', 'https://up.example/stable'], env)).code).toBe(0)
    return env
  }
  const startRollout = (env: Record<string, string>, steps: string, url = 'https://up.example/new') =>
    dcm(['rollout', 'start', '--url', url, '--steps', steps, '--max-error-rate', '0.05', '--min-hits', '0', '--comment', 'try new'], env)
  const show = async (env: Record<string, string>, id: string) => JSON.parse((await dcm(['rollout', 'show', id, '--json'], env)).out)

  test('0-second bakes on a fleet of none: the rollout completes by itself and its version is the config', async () => {
    const env = await atVersion1()
    const started = await startRollout(env, '50:0,100:0')
    expect({ code: started.code, err: started.err }).toEqual({ code: 0, err: '' })
    const id = started.out.match(/^started rollout (\S+)$/m)![1]!
    expect(started.out).toMatch(/^version +2 \(stable 1\)$/m)
    const done = await waitFor('the rollout completed', async () => ((await show(env, id)).state === 'completed' ? show(env, id) : null))
    expect(done).toMatchObject({ id, version: 2, stable_version: 1, state: 'completed', eligible: 0, reason: null })
    expect(JSON.parse((await dcm(['config', 'get', '--json'], env)).out)).toMatchObject({ version: 2, url: 'https://up.example/new' })
    const status = await dcm(['rollout', 'status'], env)
    expect({ code: status.code, err: status.err.split('\n')[0] }).toEqual({ code: 1, err: expect.stringMatching(/\(no_rollout, HTTP 404, request_id [0-9a-f-]{36}\)$/) })
  })

  test('status, list, show, pause/resume, promote; a second start and a plain config set are exit 1 rollout_in_progress; unknown ids are exit 1', async () => {
    const env = await atVersion1()
    const started = await startRollout(env, '10:3600,100:0')
    expect(started.code).toBe(0)
    const id = started.out.match(/^started rollout (\S+)$/m)![1]!
    expect(started.out).toMatch(/^state +running$/m)

    const again = await startRollout(env, '100:0', 'https://up.example/other')
    expect(again.code).toBe(1)
    expect(again.err).toMatch(/\(rollout_in_progress, HTTP 409, request_id [0-9a-f-]{36}\)\ndcm: a rollout is in progress/)
    const plain = await dcm(['config', 'set', '--url', 'https://up.example/other'], env)
    expect([plain.code, plain.err]).toEqual([1, expect.stringContaining('(rollout_in_progress, HTTP 409, ')])

    const status = await dcm(['rollout', 'status'], env)
    expect(status.code).toBe(0)
    expect(status.out).toMatch(new RegExp(`^id +${id}\nstate +running\nstep +1/2 \\(10%, 0 of 0 agents, bake 3600 s\\)$`, 'm'))
    expect(JSON.parse((await dcm(['rollout', 'status', '--json'], env)).out)).toMatchObject({ id, state: 'running', step: 0, steps: [{ percent: 10, bake_seconds: 3600 }, { percent: 100, bake_seconds: 0 }], gate: { max_error_rate: 0.05, min_hits: 0 } })

    const paused = await dcm(['rollout', 'pause'], env)
    expect({ code: paused.code, out: paused.out }).toEqual({ code: 0, out: `rollout ${id} paused at step 1/2 (10%, 0 of 0 agents, bake 3600 s)` })
    expect((await dcm(['rollout', 'pause', id], env)).code).toBe(0)
    expect((await show(env, id)).state).toBe('paused')
    const resumed = await dcm(['rollout', 'resume', id], env)
    expect({ code: resumed.code, out: resumed.out }).toEqual({ code: 0, out: `rollout ${id} running at step 1/2 (10%, 0 of 0 agents, bake 3600 s)` })

    const list = await dcm(['rollout', 'list'], env)
    expect(list.code).toBe(0)
    expect(list.out).toMatch(new RegExp(`^ID +STATE .*\n${id} +running +1/2 +2 +1 `))

    expect((await dcm(['rollout', 'promote'], env)).code).toBe(0)
    await waitFor('the promoted rollout completed', async () => (await show(env, id)).state === 'completed')
    expect(JSON.parse((await dcm(['config', 'get', '--json'], env)).out)).toMatchObject({ version: 2, url: 'https://up.example/new' })
    expect(JSON.parse((await dcm(['rollout', 'list', '--limit', '1', '--json'], env)).out).rollouts).toMatchObject([{ id, state: 'completed' }])

    const ended = await dcm(['rollout', 'abort', id], env)
    expect([ended.code, ended.err]).toEqual([1, expect.stringContaining('(rollout_not_active, HTTP 409, ')])
    for (const args of [['rollout', 'show', 'r-no-such'], ['rollout', 'pause', 'r-no-such']]) {
      const unknown = await dcm(args, env)
      expect([unknown.code, unknown.err]).toEqual([1, expect.stringMatching(/\(rollout_not_found, HTTP 404, request_id [0-9a-f-]{36}\)$/)])
    }
  })

  test('abort rolls back to a new version with the stable content; status --watch ends with 1 and the reason; one that is promoted ends with 0', async () => {
    const env = await atVersion1()
    const first = await startRollout(env, '10:3600,100:0')
    const id = first.out.match(/^started rollout (\S+)$/m)![1]!
    const w = start(['rollout', 'status', '--watch'], env)
    await waitFor('watch showing the rollout', () => w.out().includes(`id          ${id}`))
    const aborted = await dcm(['rollout', 'abort'], env)
    expect(aborted.code).toBe(0)
    expect(aborted.out).toMatch(new RegExp(`^rollout ${id} aborted at step 1/2 .*\\(rollback version 3\\)$`))
    expect(await w.proc.exited).toBe(1)
    expect(w.out().trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^rollout ${id} aborted.*\\(rollback version 3\\)$`))
    expect(JSON.parse((await dcm(['config', 'get', '--json'], env)).out)).toMatchObject({ version: 3, url: 'https://up.example/stable' })

    const second = await startRollout(env, '10:3600,100:0')
    expect(second.code).toBe(0)
    const w2 = start(['rollout', 'status', '--watch', '--json'], env)
    await waitFor('watch --json showing the rollout', () => w2.out().includes('"event":"rollout"'))
    expect((await dcm(['rollout', 'promote'], env)).code).toBe(0)
    expect(await w2.proc.exited).toBe(0)
    expect(JSON.parse(w2.out().trimEnd().split('\n').at(-1)!)).toMatchObject({ event: 'end', state: 'completed' })
  })
})
