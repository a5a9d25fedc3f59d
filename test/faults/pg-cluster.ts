/** A private PostgreSQL cluster for the fault suites: `initdb` in a temporary folder, a free port, a unix
 *  socket in that folder, trust authentication, run as the `postgres` OS user (tests run as root, which
 *  PostgreSQL refuses). The suite may stop, restart, pause (SIGSTOP) and resume it without touching the
 *  machine's shared server. Stopped and removed at the end of the run, also when a test fails; on a
 *  hard exit of the test process it is told to shut down at once (SIGQUIT). */
import { chownSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, onCleanup, waitFor } from '../harness'

const BIN = process.env.DCM_PG_BIN ?? '/usr/lib/postgresql/15/bin'
const OS_USER = 'postgres'

export type PgCluster = Awaited<ReturnType<typeof pgCluster>>

const idOf = (flag: '-u' | '-g') => {
  const r = Bun.spawnSync(['id', flag, OS_USER])
  if (r.exitCode !== 0) throw new Error(`no ${OS_USER} OS user to run PostgreSQL as: ${r.stderr.toString()}`)
  return Number(r.stdout.toString().trim())
}

/** Whether this machine can run a private cluster (the binaries and the OS user are there, we are root). */
export function canRunCluster(): string | null {
  if (!Bun.file(join(BIN, 'initdb')).size) return `no PostgreSQL binaries in ${BIN}`
  if (process.getuid?.() !== 0) return 'the private PostgreSQL cluster needs root (to run it as the postgres user)'
  try {
    idOf('-u')
  } catch (e) {
    return (e as Error).message
  }
  return null
}

export async function pgCluster(opts: { name?: string } = {}) {
  const uid = idOf('-u')
  const gid = idOf('-g')
  const dir = mkdtempSync(join(tmpdir(), `dcm-pg-${opts.name ?? 'cluster'}-`))
  const data = join(dir, 'data')
  mkdirSync(data, { mode: 0o700 })
  chownSync(dir, uid, gid)
  chownSync(data, uid, gid)
  const logFile = join(dir, 'postgres.log')
  // The server gets SIGQUIT (immediate shutdown) if the test process dies, even by SIGKILL.
  const asPostgres = (cmd: string[]) => ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--pdeathsig', 'SIGQUIT', ...cmd]
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8' }

  const init = Bun.spawnSync(asPostgres([join(BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']), { cwd: dir, env })
  if (init.exitCode !== 0) throw new Error(`initdb failed (${init.exitCode}): ${init.stderr.toString()}`)

  const port = await freePort()
  if (port === 5432) throw new Error('refusing port 5432: that is the machine’s shared server')
  let proc: Bun.Subprocess | null = null
  let paused = false

  const postmaster = () => {
    const fd = openSync(logFile, 'a')
    const p = Bun.spawn(
      asPostgres([
        join(BIN, 'postgres'),
        '-D', data,
        '-p', String(port),
        '-k', dir,
        '-c', 'listen_addresses=127.0.0.1',
        '-c', 'max_connections=100',
        '-c', 'shared_buffers=16MB',
        '-c', 'fsync=on',
        // Each row's commit time (pg_xact_commit_timestamp): a suite can tell a commit before an answer from one after it.
        '-c', 'track_commit_timestamp=on',
        '-c', 'log_min_messages=warning',
      ]),
      { cwd: dir, env, stdin: 'ignore', stdout: fd, stderr: fd },
    )
    closeSync(fd)
    return p
  }
  const ready = () => Bun.spawnSync([join(BIN, 'pg_isready'), '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-t', '1']).exitCode === 0
  /** The postmaster's children (backends, checkpointer, ...), read from /proc. */
  const children = (pid: number): number[] => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
    } catch {
      return []
    }
  }
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig)
    } catch {}
  }
  const onExit = () => {
    if (!proc) return
    signal(proc.pid, 'SIGCONT')
    for (const c of children(proc.pid)) signal(c, 'SIGCONT')
    signal(proc.pid, 'SIGQUIT')
  }
  process.on('exit', onExit)

  const cluster = {
    dir,
    port,
    /** Superuser URL of the cluster's default database. */
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    get running() {
      return proc !== null
    },
    get paused() {
      return paused
    },
    get pid() {
      return proc?.pid ?? null
    },
    async start() {
      if (proc) return
      proc = postmaster()
      const p = proc
      await waitFor(`PostgreSQL on port ${port}`, () => {
        if (p.exitCode !== null) throw new Error(`postgres exited with ${p.exitCode}: ${cluster.log(20)}`)
        return ready()
      }, 30_000, 50)
    },
    /** `fast` disconnects clients and shuts down cleanly; `immediate` is a crash (recovery at the next start). */
    async stop(mode: 'fast' | 'immediate' = 'fast') {
      const p = proc
      if (!p) return
      if (paused) await cluster.resume()
      signal(p.pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT')
      const done = await Promise.race([p.exited.then(() => true), Bun.sleep(15_000).then(() => false)])
      if (!done) {
        for (const c of children(p.pid)) signal(c, 'SIGKILL')
        signal(p.pid, 'SIGKILL')
        await p.exited
      }
      proc = null
    },
    async restart(mode: 'fast' | 'immediate' = 'fast', downMs = 0) {
      await cluster.stop(mode)
      if (downMs > 0) await Bun.sleep(downMs)
      await cluster.start()
    },
    /** Freeze the postmaster and every process it started (SIGSTOP): connections hang, nothing answers. */
    async pause() {
      if (!proc || paused) return
      // The postmaster first, so it cannot start a child we would miss.
      signal(proc.pid, 'SIGSTOP')
      for (const c of children(proc.pid)) signal(c, 'SIGSTOP')
      paused = true
    },
    async resume() {
      if (!proc || !paused) return
      for (const c of children(proc.pid)) signal(c, 'SIGCONT')
      signal(proc.pid, 'SIGCONT')
      paused = false
    },
    /** The last `lines` of the server's log. */
    log(lines = 40) {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
      } catch {
        return ''
      }
    },
    /** Stop at once and remove the folder. */
    async destroy() {
      await cluster.stop('immediate')
      process.off('exit', onExit)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  onCleanup(() => cluster.destroy())
  await cluster.start()
  return cluster
}
