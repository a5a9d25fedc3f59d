/** Test harness: spawns the real services as child processes on free ports, waits for conditions with
 *  deadlines, and kills everything it started, also when a test fails (test/setup.ts, preloaded by
 *  bunfig.toml, calls stopAll after every test and runCleanups at the end of the run).
 *
 *  Bun 1.4.5 caveat: `expect(x).toMatchObject({ a: { b: expect.any(String) } })` overwrites x.a.b with
 *  the matcher; read values out of x before asserting on it with asymmetric matchers. */
import { join } from 'node:path'
import postgres from 'postgres'
import { call, freePort, waitFor } from './kit'

export { call, freePort, waitFor } from './kit'

export const ROOT = join(import.meta.dir, '..')
export type ServiceName = 'controller' | 'agent' | 'worker'

const live = new Set<Bun.Subprocess>()
const cleanups: (() => Promise<void> | void)[] = []
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

/** Kill every service process started so far and wait until they are gone. */
export async function stopAll(): Promise<void> {
  const procs = [...live]
  for (const p of procs) p.kill('SIGKILL')
  await Promise.all(procs.map((p) => p.exited))
}

/** Run the registered cleanups (stubs, proxies, databases), newest first. */
export async function runCleanups(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c()
}

/** Run `fn` at the end of the test run, after every process is killed. */
export const onCleanup = (fn: () => Promise<void> | void) => void cleanups.push(fn)

export interface Service {
  name: string
  url: string
  port: number
  env: Record<string, string>
  proc: Bun.Subprocess
  /** Everything the process wrote so far, stdout and stderr. */
  output(): string
  /** Parsed JSON log lines. */
  logs(): Record<string, any>[]
  stop(signal?: NodeJS.Signals): Promise<number>
  /** Stop (SIGKILL by default) and start again on the same port with the same settings plus `env`. */
  restart(env?: Record<string, string>, signal?: NodeJS.Signals): Promise<Service>
}

export interface SpawnOptions {
  env?: Record<string, string>
  port?: number
  /** Command to run instead of `bun --no-env-file src/index.ts` in the service folder (e.g. a compiled
   *  executable). No .env is read: a developer's own .env must not leak into tests. */
  cmd?: string[]
  /** Wait for /healthz before returning (default true). */
  waitHealthy?: boolean
}

export async function spawnService(name: ServiceName, opts: SpawnOptions = {}): Promise<Service> {
  const port = opts.port ?? (await freePort())
  const env: Record<string, string> = { LOG_LEVEL: 'debug', ...opts.env, PORT: String(port) }
  const cmd = opts.cmd ?? ['bun', '--no-env-file', 'src/index.ts']
  const proc = Bun.spawn(cmd, {
    cwd: join(ROOT, name),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  live.add(proc)
  void proc.exited.then(() => live.delete(proc))
  let out = ''
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder()
    for await (const chunk of s) out += dec.decode(chunk, { stream: true })
  }
  void drain(proc.stdout)
  void drain(proc.stderr)
  const url = `http://127.0.0.1:${port}`
  const svc: Service = {
    name,
    url,
    port,
    env,
    proc,
    output: () => out,
    logs: () =>
      out.split('\n').flatMap((l) => {
        if (!l.startsWith('{')) return []
        try {
          return [JSON.parse(l)]
        } catch {
          return []
        }
      }),
    async stop(signal = 'SIGKILL') {
      proc.kill(signal)
      return proc.exited
    },
    async restart(extra = {}, signal = 'SIGKILL') {
      await svc.stop(signal)
      return spawnService(name, { ...opts, port, env: { ...opts.env, ...extra } })
    },
  }
  if (opts.waitHealthy !== false) {
    await waitFor(`${name} /healthz on ${url}`, async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${out}`)
      return (await fetch(`${url}/healthz`)).ok
    })
  }
  return svc
}

/** A fresh PostgreSQL database for this test file, dropped at the end; null (with a visible message)
 *  when TEST_DATABASE_URL is unset outside CI. In CI a missing TEST_DATABASE_URL fails the run. */
export async function testDatabase(): Promise<string | null> {
  const base = process.env.TEST_DATABASE_URL
  if (!base) {
    if (process.env.CI) throw new Error('TEST_DATABASE_URL must be set in CI: the PostgreSQL tests must run there')
    console.warn('SKIPPING PostgreSQL tests: TEST_DATABASE_URL is not set')
    return null
  }
  const name = `dcm_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  onCleanup(async () => {
    const a = postgres(base, { max: 1, onnotice: () => {} })
    await a.unsafe(`drop database if exists ${name} with (force)`)
    await a.end()
  })
  const u = new URL(base)
  u.pathname = `/${name}`
  return u.toString()
}

/** A TCP proxy a test can cut (close every connection, refuse new ones) and restore, or stall (accept,
 *  but hold every byte in both directions) and resume (deliver what was held, late, as a healed network
 *  would: also what a client sent before it gave up), or freeze the connections open now (half-open). */
export async function tcpProxy(target: { host: string; port: number }) {
  const port = await freePort()
  type Pair = { client: Bun.Socket<Pair>; upstream?: Bun.Socket<any>; toServer: Uint8Array[]; toClient: Uint8Array[]; clientGone: boolean }
  const pairs = new Set<Pair>()
  let server: Bun.TCPSocketListener<Pair> | null = null
  let stalled = false
  const frozen = new WeakSet<Pair>()
  const flush = (p: Pair) => {
    if (frozen.has(p)) return
    if (p.upstream) for (const c of p.toServer.splice(0)) p.upstream.write(c)
    if (!p.clientGone) for (const c of p.toClient.splice(0)) p.client.write(c)
    if (p.clientGone && p.upstream && !p.toServer.length) {
      p.upstream.end()
      pairs.delete(p)
    }
  }
  const start = () => {
    server = Bun.listen<Pair>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          const pair: Pair = { client, toServer: [], toClient: [], clientGone: false }
          client.data = pair
          pairs.add(pair)
          Bun.connect({
            hostname: target.host,
            port: target.port,
            socket: {
              open(up) {
                pair.upstream = up
                if (!stalled) flush(pair)
              },
              data(_up, chunk) {
                pair.toClient.push(new Uint8Array(chunk))
                if (!stalled) flush(pair)
              },
              close() {
                pair.client.end()
              },
              error() {
                pair.client.end()
              },
            },
          }).catch(() => client.end())
        },
        data(client, chunk) {
          client.data.toServer.push(new Uint8Array(chunk))
          if (!stalled) flush(client.data)
        },
        close(client) {
          client.data.clientGone = true
          if (!stalled) flush(client.data)
        },
      },
    })
  }
  start()
  const proxy = {
    port,
    cut() {
      server?.stop(true)
      server = null
      for (const p of pairs) {
        p.client.terminate()
        p.upstream?.terminate()
      }
      pairs.clear()
    },
    restore() {
      if (!server) start()
    },
    stall() {
      stalled = true
    },
    /** Stop the connections open now for good, without closing them (half-open, as a lost peer
     *  leaves them); new connections pass. */
    freezeOpen() {
      for (const p of pairs) frozen.add(p)
    },
    resume() {
      stalled = false
      for (const p of [...pairs]) flush(p)
    },
  }
  onCleanup(() => proxy.cut())
  return proxy
}

/** A tiny upstream for /hit: answers with a body that names it, so a test can tell upstreams apart. */
export function upstreamStub(name: string, handler?: (req: Request) => Response | Promise<Response>) {
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: handler ?? (() => new Response(`hello from ${name}`, { headers: { 'content-type': 'text/plain' } })),
  })
  onCleanup(() => server.stop(true))
  return { url: `http://127.0.0.1:${server.port}`, server }
}

/** Start `name` with exactly `env` (and PORT 0) and return how it ended: a service that must refuse its
 *  settings exits by itself; one that wrongly starts is killed after 10 s, so the test fails, not hangs. */
export async function startupRefusal(name: ServiceName, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const p = Bun.spawn(['bun', '--no-env-file', 'src/index.ts'], {
    cwd: join(ROOT, name),
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env },
    stdout: 'ignore',
    stderr: 'pipe',
    timeout: 10_000,
    killSignal: 'SIGKILL',
  })
  const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()])
  return { code, stderr }
}
