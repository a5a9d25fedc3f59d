/** Each service's /swagger/json is a valid OpenAPI document: `redocly lint` (recommended rules) finds
 *  no error in any of the three. */
import { expect, test } from 'bun:test'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../shared/src'
import { createApp as agentApp } from '../agent/src/app'
import { loadSettings as agentSettings } from '../agent/src/settings'
import { memoryStateStore } from '../agent/src/state'
import { Agent } from '../agent/src/sync/agent'
import { realDeps } from '../agent/src/sync/deps'
import { createApp as controllerApp, services as controllerServices } from '../controller/src/app'
import { loadSettings as controllerSettings } from '../controller/src/settings'
import { sqliteStore } from '../controller/src/store'
import { createApp as workerApp, makeForwarder } from '../worker/src/app'
import { ConfigService as WorkerConfig } from '../worker/src/config'
import { loadSettings as workerSettings } from '../worker/src/settings'
import { ROOT } from './harness'

const logger = createLogger({ service: 'docs', level: 'error', sink: { write: () => {}, flush: () => {} } })

async function documents() {
  const store = sqliteStore(':memory:')
  await store.migrate()
  const cs = controllerSettings({ AGENT_API_KEY: 'a', ADMIN_API_KEY: 'b', SQLITE_PATH: ':memory:', METRICS_API_KEY: 'm' })
  const ws = workerSettings({ AGENT_API_KEY: 'k' })
  const as = agentSettings({ CONTROLLER_API_KEY: 'a', WORKER_API_KEY: 'k' })
  const apps = {
    controller: controllerApp({ settings: cs, store, logger, ...controllerServices(cs, store, logger) }),
    worker: workerApp({ settings: ws, logger, config: new WorkerConfig(logger, () => 1), forward: makeForwarder(ws, logger) }),
    agent: agentApp({ agent: new Agent(realDeps(as, memoryStateStore(), logger, 'h')), logger }),
  }
  const out: Record<string, unknown> = {}
  for (const [name, app] of Object.entries(apps)) out[name] = await (await app.handle(new Request('http://localhost/swagger/json'))).json()
  return out
}

test('the three API documents are OpenAPI 3.1 and lint clean (redocly, recommended rules)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dcm-openapi-'))
  const docs = await documents()
  const errors: string[] = []
  for (const [name, doc] of Object.entries(docs)) {
    const file = join(dir, `${name}.json`)
    writeFileSync(file, JSON.stringify(doc))
    const lint = Bun.spawn([join(ROOT, 'node_modules/.bin/redocly'), 'lint', file, '--format=json'], {
      cwd: dir,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [code, out] = await Promise.all([lint.exited, new Response(lint.stdout).text()])
    const report = JSON.parse(out) as { problems: { ruleId: string; message: string; severity: string; location: { pointer: string }[] }[] }
    for (const p of report.problems) if (p.severity === 'error') errors.push(`${name}: ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)
    if (code !== 0 && !errors.length) errors.push(`${name}: redocly exited ${code}`)
  }
  expect(errors).toEqual([])
  for (const doc of Object.values(docs)) expect((doc as { openapi: string }).openapi).toBe('3.1.0')
}, 60_000)
