/** `bun run dev` / `make dev`: controller, agent and worker together on the embedded SQLite store with
 *  development keys, a demo upstream, and a seeded config so `curl localhost:8082/hit` works at once. */
import { join } from 'node:path'

const ROOT = join(import.meta.dir, '..')
const KEYS = { agent: 'dev-agent-key', admin: 'dev-admin-key', worker: 'dev-worker-key' }
// DEV_BASE_PORT and DEV_DATA_DIR exist so the test of this script can run it beside other things.
const BASE = Number(process.env.DEV_BASE_PORT ?? 8080)
const DATA = process.env.DEV_DATA_DIR ?? './data'
const PORTS = { controller: BASE, agent: BASE + 1, worker: BASE + 2, demo: BASE + 10 }
const COLORS = { controller: '\x1b[36m', agent: '\x1b[35m', worker: '\x1b[33m', demo: '\x1b[32m', dev: '\x1b[1m' }
const tty = process.stdout.isTTY
type Name = keyof typeof COLORS

const say = (name: Name, line: string) => console.log(`${tty ? COLORS[name] : ''}${name.padEnd(10)}|${tty ? '\x1b[0m' : ''} ${line}`)

// The demo upstream that the seeded config points at.
let hits = 0
const demo = Bun.serve({
  port: PORTS.demo,
  hostname: '127.0.0.1',
  fetch: () => Response.json({ message: 'hello from the dcm demo upstream', hits: ++hits, at: new Date().toISOString() }),
})
say('demo', `demo upstream on http://127.0.0.1:${demo.port}/demo`)

const env = {
  controller: { PORT: String(PORTS.controller), AGENT_API_KEY: KEYS.agent, ADMIN_API_KEY: KEYS.admin, SQLITE_PATH: `${DATA}/controller.sqlite`, POLL_INTERVAL_SECONDS: '5' },
  worker: { PORT: String(PORTS.worker), AGENT_API_KEY: KEYS.worker },
  agent: {
    PORT: String(PORTS.agent),
    CONTROLLER_URL: `http://127.0.0.1:${PORTS.controller}`,
    CONTROLLER_API_KEY: KEYS.agent,
    WORKER_URL: `http://127.0.0.1:${PORTS.worker}`,
    WORKER_API_KEY: KEYS.worker,
    STATE_FILE: `${DATA}/agent-state.json`,
  },
}

const children: Bun.Subprocess[] = []
function start(name: 'controller' | 'agent' | 'worker') {
  const proc = Bun.spawn(['bun', 'src/index.ts'], {
    cwd: join(ROOT, name),
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', ...env[name] },
    stdout: 'pipe',
    stderr: 'pipe',
    stdin: 'ignore',
  })
  children.push(proc)
  for (const stream of [proc.stdout, proc.stderr]) void pipeLines(name, stream)
  void proc.exited.then((code) => {
    if (!stopping) {
      say('dev', `${name} exited with code ${code}; stopping the others`)
      void stop(1)
    }
  })
}

async function pipeLines(name: Name, stream: ReadableStream<Uint8Array>) {
  let buf = ''
  const dec = new TextDecoder()
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true })
    let i: number
    while ((i = buf.indexOf('\n')) >= 0) {
      say(name, buf.slice(0, i))
      buf = buf.slice(i + 1)
    }
  }
}

let stopping = false
async function stop(code = 0) {
  if (stopping) return
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  await Promise.all(children.map((c) => c.exited))
  demo.stop(true)
  process.exit(code)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())

async function until(what: string, fn: () => Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return
    await Bun.sleep(100)
  }
  say('dev', `gave up waiting for ${what}`)
  await stop(1)
}

start('controller')
start('worker')
await until('the controller', async () => (await fetch(`http://127.0.0.1:${PORTS.controller}/readyz`)).ok)
// Seed the demo config once; a config set earlier (kept in ./data) is left alone.
const current = await fetch(`http://127.0.0.1:${PORTS.controller}/config`, { headers: { authorization: `Bearer ${KEYS.admin}` } })
if (current.status === 404) {
  await fetch(`http://127.0.0.1:${PORTS.controller}/config`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ url: `http://127.0.0.1:${PORTS.demo}/demo` }),
  })
  say('dev', 'seeded the demo config')
}
start('agent')
await until('the worker to get its config', async () => (await fetch(`http://127.0.0.1:${PORTS.worker}/readyz`)).ok)

const tries: [string, string][] = [
  [`curl localhost:${PORTS.worker}/hit`, 'the worker calls the configured URL'],
  [`curl localhost:${PORTS.agent}/state`, 'what the agent holds'],
  [`curl localhost:${PORTS.worker}/state`, 'what the worker applied'],
  [`curl localhost:${PORTS.controller}/config -H 'Authorization: Bearer ${KEYS.agent}'`, 'the config, as agents read it'],
  [`open http://localhost:${PORTS.controller}/swagger`, `API docs (also :${PORTS.agent} and :${PORTS.worker})`],
]
const width = Math.max(...tries.map(([cmd]) => cmd.length)) + 2
say(
  'dev',
  `all three are up.

  Console: http://localhost:${PORTS.controller}/ui   (sign in with the dev admin key: ${KEYS.admin})

Try:

${tries.map(([cmd, what]) => `  ${cmd.padEnd(width)}# ${what}`).join('\n')}

  # change the config; the worker has it within milliseconds:
  curl -X POST localhost:${PORTS.controller}/config -H 'Authorization: Bearer ${KEYS.admin}' \\
       -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:${PORTS.demo}/demo?v=2","timeout_ms":2000}'

Ctrl-C stops everything.`,
)
