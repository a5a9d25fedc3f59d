/** Promise 6 of issue #10: no key appears in any response, log line, state file or error other than
 *  where it is configured. A full scenario with all three services — register, poll, change, push, hit,
 *  errors (wrong keys, bad bodies, an unreachable and a slow upstream, the database cut off, settings
 *  refused), a controller restart and an agent restart — with a distinctive value for every secret;
 *  then every response (status line, headers, body), every log line of every process, the agent's state
 *  files and what the upstream received are searched for each of them. Each secret names the places it
 *  may appear in (SECRETS below); anywhere else is a leak. */
import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import postgres from 'postgres'
import { freePort, onCleanup, spawnService, startupRefusal, testDatabase, upstreamStub, waitFor, type Service } from '../harness'
import { behindProxy } from '../stack'

const pgBase = await testDatabase()
const rnd = () => crypto.randomUUID().slice(0, 8)

/** Where a secret may show up. */
type Place =
  | 'response' // any answer of any service, headers and body
  | 'config document' // the controller's GET/POST /config body: the document, stored and served exactly as sent
  | 'register reply' // the body of POST /register
  | 'log' // anything a process wrote to stdout or stderr, refused start-ups included
  | 'agent state file' // the state file, its .bak and anything else in its folder
  | 'upstream request' // what the worker sent to the configured URL

type Secret = { name: string; value: string; allowedIn: Place[] }
type Artefact = { place: Place; what: string; text: string }

/** The scenario's values, every one distinctive so that a find names it. */
function values() {
  return {
    agentKey1: `sec-ctl-agent-key-1-${rnd()}`,
    agentKey2: `sec-ctl-agent-key-2-${rnd()}`,
    adminKey: `sec-ctl-admin-key-${rnd()}`,
    workerKey: `sec-worker-key-${rnd()}`,
    strayKey: `sec-stray-agent-key-${rnd()}`,
    metricsKey: `sec-metrics-key-${rnd()}`,
    strayUrlPassword: `strayurlpass${rnd()}`,
    upstreamUser: `upuser${rnd()}`,
    upstreamPassword: `uppass${rnd()}`,
    upstreamToken: `uptoken${rnd()}`,
    upstreamFragment: `upfrag${rnd()}`,
  }
}

/** Each secret and the only places it may be found in; `agentState` is the agent's state file as it
 *  was left (for secrets the services make themselves). */
function secretsOf(v: ReturnType<typeof values>, db: { password: string } | null, agentState: any): Secret[] {
  const document: Place[] = ['config document', 'agent state file']
  return [
    { name: 'controller AGENT_API_KEY (first) = agent CONTROLLER_API_KEY', value: v.agentKey1, allowedIn: [] },
    { name: 'controller AGENT_API_KEY (second, rotation)', value: v.agentKey2, allowedIn: [] },
    { name: 'controller ADMIN_API_KEY', value: v.adminKey, allowedIn: [] },
    { name: 'worker AGENT_API_KEY = agent WORKER_API_KEY', value: v.workerKey, allowedIn: [] },
    { name: 'CONTROLLER_API_KEY and WORKER_API_KEY of an agent with wrong keys', value: v.strayKey, allowedIn: [] },
    { name: 'METRICS_API_KEY of all three services', value: v.metricsKey, allowedIn: [] },
    { name: 'password in that agent’s CONTROLLER_URL', value: v.strayUrlPassword, allowedIn: [] },
    // The config document holds the upstream URL whole (the worker must call it, the agent must be able
    // to push it from its cache); everywhere it is shown, userinfo, query values and fragment are masked.
    { name: 'upstream user', value: v.upstreamUser, allowedIn: [...document] },
    { name: 'upstream password', value: v.upstreamPassword, allowedIn: [...document] },
    { name: 'upstream token (query)', value: v.upstreamToken, allowedIn: [...document, 'upstream request'] },
    { name: 'upstream fragment', value: v.upstreamFragment, allowedIn: [...document] },
    ...(db ? [{ name: 'database password', value: db.password, allowedIn: [] }] : []),
    { name: 'agent token', value: agentState.state.agent_token, allowedIn: ['agent state file', 'register reply'] },
  ]
}

/** Every exchange of the scenario, kept for the search. */
function recorder() {
  const artefacts: Artefact[] = []
  const ask = async (svc: Service, path: string, init: { method?: string; key?: string; body?: string; headers?: Record<string, string> } = {}) => {
    const method = init.method ?? 'GET'
    const headers: Record<string, string> = { ...init.headers }
    if (init.key) headers.authorization = `Bearer ${init.key}`
    if (init.body !== undefined) headers['content-type'] ??= 'application/json'
    const res = await fetch(`${svc.url}${path}`, { method, headers, body: init.body })
    const text = await res.text()
    const what = `${svc.name} ${method} ${path} → ${res.status}`
    const head = [...res.headers].map(([k, val]) => `${k}: ${val}`).join('\n')
    const bodyPlace: Place =
      svc.name === 'controller' && path.startsWith('/config') && res.status < 300 && res.status !== 204 && text ? 'config document' : svc.name === 'controller' && path === '/register' && res.status < 300 ? 'register reply' : 'response'
    artefacts.push({ place: 'response', what: `${what} (status and headers)`, text: `${res.status} ${res.statusText}\n${head}` }, { place: bodyPlace, what: `${what} (body)`, text })
    let json: any = null
    try {
      json = JSON.parse(text)
    } catch {}
    return { status: res.status, body: json, etag: res.headers.get('etag') }
  }
  return { artefacts, ask }
}

function leaks(secrets: Secret[], artefacts: Artefact[]): string[] {
  const found: string[] = []
  for (const s of secrets)
    for (const a of artefacts) {
      if (s.allowedIn.includes(a.place)) continue
      const at = a.text.indexOf(s.value)
      if (at !== -1) found.push(`${s.name} in ${a.place} (${a.what}): …${a.text.slice(Math.max(0, at - 80), at).replaceAll(s.value, '<secret>')}<secret>…`)
    }
  return found
}

async function scenario(pg: { url: string; password: string; cut(): void; restore(): void } | null) {
  const v = values()
  const { artefacts, ask } = recorder()
  const processes: Service[] = []
  const keep = (s: Service) => (processes.push(s), s)

  // The upstream: records what it is sent; /slow answers only when its caller gives up.
  const received: string[] = []
  const upstream = upstreamStub('secret-upstream', async (req) => {
    received.push(`${req.method} ${req.url}\n${[...req.headers].map(([k, val]) => `${k}: ${val}`).join('\n')}`)
    if (new URL(req.url).pathname === '/slow') await new Promise((r) => req.signal.addEventListener('abort', r))
    return new Response('upstream says hi')
  })
  const withSecrets = (path: string) => {
    const u = new URL(upstream.url)
    return `http://${v.upstreamUser}:${v.upstreamPassword}@${u.host}${path}?token=${v.upstreamToken}#${v.upstreamFragment}`
  }

  const cport = await freePort()
  const controllerEnv = {
    LOG_LEVEL: 'debug',
    AGENT_API_KEY: `${v.agentKey1},${v.agentKey2}`,
    ADMIN_API_KEY: v.adminKey,
    METRICS_API_KEY: v.metricsKey,
    POLL_INTERVAL_SECONDS: '0.2',
    PUBLIC_URL: `http://127.0.0.1:${cport}`,
    ...(pg ? { DATABASE_URL: pg.url } : { SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'dcm-secrets-')), 'c.sqlite') }),
  }
  // Settings refused at start-up must not echo what they were given either.
  for (const [name, env] of [
    ['controller', { ...controllerEnv, PORT: 'not-a-port' }],
    ['controller', { ...controllerEnv, ADMIN_API_KEY: v.agentKey1 }],
    ['worker', { AGENT_API_KEY: v.workerKey, BODY_LIMIT_BYTES: '1' }],
    ['agent', { CONTROLLER_API_KEY: v.agentKey1, WORKER_API_KEY: v.workerKey, CONTROLLER_URL: `http://x:${v.upstreamPassword}@` }],
  ] as const) {
    const refused = await startupRefusal(name, env)
    artefacts.push({ place: 'log', what: `${name} refusing its settings (exit ${refused.code})`, text: refused.stderr })
  }

  let controller = keep(await spawnService('controller', { port: cport, env: controllerEnv }))
  const worker = keep(await spawnService('worker', { env: { LOG_LEVEL: 'debug', AGENT_API_KEY: v.workerKey, METRICS_API_KEY: v.metricsKey } }))
  const stateFile = join(mkdtempSync(join(tmpdir(), 'dcm-secrets-agent-')), 'state.json')
  const agentEnv = { LOG_LEVEL: 'debug', CONTROLLER_URL: controller.url, CONTROLLER_API_KEY: v.agentKey1, WORKER_URL: worker.url, WORKER_API_KEY: v.workerKey, STATE_FILE: stateFile, BACKOFF_BASE_MS: '50', BACKOFF_MAX_MS: '400', METRICS_API_KEY: v.metricsKey }
  let agent = keep(await spawnService('agent', { env: agentEnv }))
  // An agent whose key the controller refuses, beside a worker whose key it does not know either.
  const strayController = new URL(controller.url)
  strayController.username = 'stray'
  strayController.password = v.strayUrlPassword
  const stray = keep(
    await spawnService('agent', {
      env: { ...agentEnv, CONTROLLER_URL: strayController.toString(), CONTROLLER_API_KEY: v.strayKey, WORKER_API_KEY: v.strayKey, STATE_FILE: join(mkdtempSync(join(tmpdir(), 'dcm-secrets-stray-')), 'state.json') },
    }),
  )

  const workerAt = (version: number) => waitFor(`worker at version ${version}`, async () => (await ask(worker, '/state')).body.version === version)

  // Register and poll, by hand as well as by the agent.
  expect((await ask(controller, '/register', { method: 'POST', key: v.agentKey2, body: JSON.stringify({ hostname: 'secrets-test', worker_url: withSecrets('/w') }) })).status).toBe(201)
  expect((await ask(controller, '/config', { key: v.agentKey1 })).status).toBe(404)
  await waitFor('the agent to register', async () => (await ask(agent, '/state')).body.agent_id)

  // Change, push, hit.
  const first = await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: JSON.stringify({ url: withSecrets('/hello'), timeout_ms: 2000 }) })
  expect(first.status).toBe(201)
  await workerAt(1)
  expect((await ask(worker, '/hit')).status).toBe(200)
  // A /hit caller's own keys are not passed on to the upstream.
  expect((await ask(worker, '/hit', { key: v.workerKey, headers: { 'x-api-key': v.adminKey, cookie: `k=${v.agentKey2}` } })).status).toBe(200)
  expect((await ask(controller, '/config', { key: v.agentKey1, headers: { 'if-none-match': first.etag! } })).status).toBe(304)
  await ask(controller, '/config?wait=0.2', { key: v.agentKey2, headers: { 'if-none-match': first.etag!, 'x-agent-id': 'by-hand' } })

  // Errors: wrong keys everywhere, keys of the wrong role, bad bodies, a stale push, an unreachable and a slow upstream.
  for (const key of [undefined, 'nope', v.workerKey, v.agentKey1]) {
    await ask(controller, '/config', { method: 'POST', key, body: JSON.stringify({ url: withSecrets('/x') }) })
    await ask(controller, '/register', { method: 'POST', key: key === v.agentKey1 ? v.adminKey : key, body: '{}' })
    await ask(worker, '/config', { method: 'POST', key: key === v.workerKey ? v.agentKey1 : key, body: '{}' })
  }
  await ask(controller, '/config', { headers: { 'x-api-key': `${v.adminKey}x` } })
  await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: `{"url":"${withSecrets('/bad')}", "extra": "${v.adminKey}"}` })
  await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: `{"url":"${withSecrets('/bad')}"` })
  await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: JSON.stringify({ url: `${withSecrets('/bad')} space`, timeout_ms: 0 }) })
  await ask(controller, '/config?wait=61', { key: v.agentKey1 })
  await ask(controller, '/register', { method: 'POST', key: v.agentKey1, body: JSON.stringify({ agent_id: 'has space', hostname: v.upstreamPassword }) })
  const doc = (await ask(controller, '/config', { key: v.adminKey })).body
  expect((await ask(worker, '/config', { method: 'POST', key: v.workerKey, body: JSON.stringify({ ...doc, url: withSecrets('/other') }) })).status).toBe(409)
  await ask(worker, '/config', { method: 'POST', key: v.workerKey, body: JSON.stringify({ ...doc, version: 'x', url: withSecrets('/bad') }) })
  const down = new URL(withSecrets('/down'))
  down.port = String(await freePort())
  expect((await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: JSON.stringify({ url: down.toString() }) })).status).toBe(201)
  await workerAt(2)
  expect((await ask(worker, '/hit')).status).toBe(502)
  expect((await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: JSON.stringify({ url: withSecrets('/slow'), timeout_ms: 100 }) })).status).toBe(201)
  await workerAt(3)
  expect((await ask(worker, '/hit')).status).toBe(504)
  // Metrics: refused without the key or with another one, answered with it (and the text holds route
  // templates, never a path or a query someone sent).
  for (const svc of [controller, worker, agent]) {
    expect((await ask(svc, '/metrics')).status).toBe(401)
    expect((await ask(svc, '/metrics', { key: v.adminKey })).status).toBe(401)
    expect((await ask(svc, '/metrics', { key: v.metricsKey })).status).toBe(200)
  }
  if (pg) {
    // The database cut off: writes and /readyz answer 503, and the driver's errors are logged.
    pg.cut()
    expect((await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: JSON.stringify({ url: withSecrets('/never') }) })).status).toBe(503)
    expect((await ask(controller, '/readyz')).status).toBe(503)
    expect((await ask(controller, '/register', { method: 'POST', key: v.agentKey1, body: '{}' })).status).toBe(503)
    pg.restore()
    await waitFor('the database back', async () => (await ask(controller, '/readyz')).status === 200)
  }
  await waitFor('the stray agent to be refused', async () => (await ask(stray, '/state')).body.controller.consecutive_failures > 0)

  // Restarts: the controller (SIGTERM, answering the agent's held poll) and the agent (SIGKILL).
  controller = keep(await controller.restart({}, 'SIGTERM'))
  expect((await ask(controller, '/config', { method: 'POST', key: v.adminKey, body: JSON.stringify({ url: withSecrets('/after-restart') }) })).status).toBe(201)
  await workerAt(4)
  agent = keep(await agent.restart())
  await waitFor('the restarted agent to confirm version 4', async () => (await ask(agent, '/state')).body.worker_version === 4)
  expect((await ask(worker, '/hit')).status).toBe(200)
  for (const svc of [controller, worker, agent, stray]) for (const path of ['/state', '/readyz', '/healthz', '/swagger/json', '/nope']) await ask(svc, path)

  // Graceful stops flush every log line; then everything is collected.
  for (const p of processes) if (p.proc.exitCode === null) await p.stop('SIGTERM')
  for (const p of processes) artefacts.push({ place: 'log', what: `${p.name} (pid ${p.proc.pid}) output`, text: p.output() })
  for (const dir of [dirname(stateFile)]) for (const f of readdirSync(dir)) artefacts.push({ place: 'agent state file', what: f, text: readFileSync(join(dir, f), 'utf8') })
  for (const r of received) artefacts.push({ place: 'upstream request', what: 'a call of the worker', text: r })

  // The search must be able to find something: the document does hold the upstream's secrets.
  expect(artefacts.some((a) => a.place === 'config document' && a.text.includes(v.upstreamToken))).toBe(true)
  expect(artefacts.some((a) => a.place === 'agent state file' && a.text.includes(v.upstreamPassword))).toBe(true)
  const secrets = secretsOf(v, pg, JSON.parse(readFileSync(stateFile, 'utf8')))
  // Every secret is a real value (an agent without a token would make that search vacuous).
  expect(secrets.filter((x) => typeof x.value !== 'string' || x.value.length < 8).map((x) => x.name)).toEqual([])
  expect(leaks(secrets, artefacts)).toEqual([])
  return artefacts.length
}

describe('secrets stay where they are configured', () => {
  test('SQLite: no key in any response, log line, state file or error', async () => {
    const n = await scenario(null)
    console.log(`SQLite scenario: ${n} responses, outputs and files searched`)
  }, 30_000)

  test.skipIf(!pgBase)('PostgreSQL with a password: no key or password in any response, log line, state file or error', async () => {
    // The test server trusts local connections; a role with a password puts one in DATABASE_URL.
    const role = `dcm_secret_${rnd()}`
    const password = `dbpass${rnd()}${rnd()}`
    const admin = postgres(pgBase!, { max: 1, onnotice: () => {} })
    const dbName = new URL(pgBase!).pathname.slice(1)
    await admin.unsafe(`create role ${role} login password '${password}'`)
    await admin.unsafe(`alter database ${dbName} owner to ${role}`)
    await admin.end()
    onCleanup(async () => {
      const a = postgres(process.env.TEST_DATABASE_URL!, { max: 1, onnotice: () => {} })
      // The database (and the tables the role owns in it) goes first, then the role.
      await a.unsafe(`drop database if exists ${dbName} with (force)`)
      await a.unsafe(`drop role if exists ${role}`)
      await a.end()
    })
    const url = new URL(pgBase!)
    url.username = role
    url.password = password
    const { proxy, url: proxied } = await behindProxy(url.toString())
    const n = await scenario({ url: proxied, password, cut: proxy.cut, restore: proxy.restore })
    console.log(`PostgreSQL scenario: ${n} responses, outputs and files searched`)
  }, 40_000)
})
