/** The compiled executables (what `bun run build` ships) behave like the services run from source. */
import { beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { agentEnv, controllerEnv, hitBody, KEYS, setConfig, waitWorkerVersion, workerState } from './stack'
import { loadSettings as agentSettings } from '../agent/src/settings'
import { loadSettings as controllerSettings } from '../controller/src/settings'
import { loadSettings as workerSettings } from '../worker/src/settings'
import { call, freePort, onCleanup, ROOT, spawnService, upstreamStub, waitFor, type ServiceName } from './harness'

const exe = (name: ServiceName) => join(ROOT, 'dist', name)
const spawnCompiled = (name: ServiceName, opts: Parameters<typeof spawnService>[1] = {}) => spawnService(name, { ...opts, cmd: [exe(name)] })

beforeAll(async () => {
  const build = Bun.spawn([process.execPath, 'scripts/build.ts'], { cwd: ROOT, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const [code, out, err] = await Promise.all([build.exited, new Response(build.stdout).text(), new Response(build.stderr).text()])
  if (code !== 0) throw new Error(`bun scripts/build.ts exited with ${code}:\n${out}${err}`)
})

describe('compiled executables', () => {
  test.each([
    ['controller', () => controllerEnv(0)],
    ['agent', () => agentEnv('http://127.0.0.1:9', 'http://127.0.0.1:9')],
    ['worker', () => ({ AGENT_API_KEY: KEYS.worker })],
  ] as const)('%s starts and answers /healthz', async (name, env) => {
    const svc = await spawnCompiled(name, { env: env() })
    expect(await call(`${svc.url}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok', service: name } })
  })

  test('a config set on the compiled controller reaches /hit through the compiled agent and worker', async () => {
    const upstream = upstreamStub('compiled-upstream')
    const cport = await freePort()
    const controller = await spawnCompiled('controller', { port: cport, env: controllerEnv(cport) })
    const worker = await spawnCompiled('worker', { env: { AGENT_API_KEY: KEYS.worker } })
    await spawnCompiled('agent', { env: agentEnv(controller.url, worker.url) })

    expect((await setConfig({ controller }, { url: upstream.url })).status).toBe(201)
    await waitWorkerVersion(worker, 1)
    const state = await workerState(worker)
    expect({ version: state.version, url: state.url }).toEqual({ version: 1, url: upstream.url })
    expect(await hitBody(worker)).toEqual({ status: 200, body: 'hello from compiled-upstream' })
  })

  test('the controller executable needs nothing from the source tree: run from an empty folder it creates its SQLite file there', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'dcm-compiled-'))
    const port = await freePort()
    const proc = Bun.spawn([exe('controller')], {
      cwd,
      env: { PATH: process.env.PATH ?? '', PORT: String(port), AGENT_API_KEY: KEYS.agent, ADMIN_API_KEY: KEYS.admin },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    })
    onCleanup(async () => {
      proc.kill('SIGKILL')
      await proc.exited
      rmSync(cwd, { recursive: true, force: true })
    })
    await waitFor('controller /readyz from an empty folder', async () => {
      if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`)
      return (await fetch(`http://127.0.0.1:${port}/readyz`)).ok
    })
    expect(existsSync(join(cwd, 'data', 'controller.sqlite'))).toBe(true)
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
  })

  test('the compiled controller serves the console: the page at /ui and every script and stylesheet it names', async () => {
    const port = await freePort()
    const controller = await spawnCompiled('controller', { port, env: controllerEnv(port) })
    const page = await fetch(`${controller.url}/ui`)
    const html = await page.text()
    expect({ status: page.status, type: page.headers.get('content-type') }).toEqual({ status: 200, type: 'text/html;charset=utf-8' })
    expect(html).toContain('<title>dcm console</title>')
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!)
    expect(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css'))).toBe(true)
    for (const a of assets) {
      const res = await fetch(`${controller.url}${a}`)
      expect({ asset: a, status: res.status, bytes: (await res.arrayBuffer()).byteLength > 0 }).toEqual({ asset: a, status: 200, bytes: true })
    }
  })

  test('a compiled executable still refuses development keys under NODE_ENV=production', async () => {
    const worker = await spawnCompiled('worker', { env: { NODE_ENV: 'production', AGENT_API_KEY: 'dev-worker-key' }, waitHealthy: false })
    expect(await worker.proc.exited).toBe(2)
    expect(worker.output()).toContain('AGENT_API_KEY holds a development key')
  })
})

/** NAME=value lines of a service's .env.example (comments and blank lines skipped). */
const example = (name: ServiceName): Record<string, string> =>
  Object.fromEntries(
    readFileSync(join(ROOT, name, '.env.example'), 'utf8')
      .split('\n')
      .flatMap((l) => {
        const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(l)
        return m ? [[m[1]!, m[2]!]] : []
      }),
  )

describe('.env.example files', () => {
  test.each([
    ['controller', controllerSettings],
    ['agent', agentSettings],
    ['worker', workerSettings],
  ] as const)('%s/.env.example lists exactly the settings the service reads, and its values are accepted', (name, load) => {
    const values = example(name)
    const read = new Set<string>()
    const env = new Proxy(values, { get: (t, k: string) => (read.add(k), t[k]) })
    expect(() => load(env)).not.toThrow()
    read.delete('NODE_ENV') // documented as a commented line: setting it to production refuses the dev keys
    read.delete('TEST_FAIL_POINTS') // tests only, documented as a commented line
    expect(Object.keys(values).sort()).toEqual([...read].sort())
  })

  test('development keys match across services and are dev- keys', () => {
    const [c, a, w] = [example('controller'), example('agent'), example('worker')]
    const keys = { agentToController: [c.AGENT_API_KEY, a.CONTROLLER_API_KEY], agentToWorker: [w.AGENT_API_KEY, a.WORKER_API_KEY], admin: c.ADMIN_API_KEY }
    expect(keys).toEqual({ agentToController: ['dev-agent-key', 'dev-agent-key'], agentToWorker: ['dev-worker-key', 'dev-worker-key'], admin: 'dev-admin-key' })
  })
})
