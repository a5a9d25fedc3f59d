import { expect, test } from 'bun:test'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, ROOT, waitFor } from '../test/harness'

function canBind(port: number): boolean {
  try {
    Bun.listen({ hostname: '0.0.0.0', port, socket: { data() {} } }).stop(true)
    return true
  } catch {
    return false
  }
}

test('bun run dev starts all three with a seeded demo config; /hit answers; Ctrl-C stops everything', async () => {
  // A free block of ports: base..base+2 for the services, base+10 for the demo upstream.
  let base = 0
  do base = await freePort()
  while (base > 60000 || ![1, 2, 10].every((d) => canBind(base + d)))
  // setsid: its own process group, so a failed test can kill the services it started too.
  const proc = Bun.spawn(['setsid', 'bun', 'run', 'dev'], {
    cwd: ROOT,
    env: { ...process.env, DEV_BASE_PORT: String(base), DEV_DATA_DIR: mkdtempSync(join(tmpdir(), 'dcm-dev-')) },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let out = ''
  void (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c)
  })()
  try {
    const body = await waitFor('the demo config to reach /hit', async () => {
      const res = await fetch(`http://127.0.0.1:${base + 2}/hit`)
      return res.ok ? ((await res.json()) as { message: string }) : null
    })
    expect(body.message).toBe('hello from the dcm demo upstream')
    await waitFor('the curl lines', () => out.includes('Try:'))
    // The console's URL and the key to sign in with are printed (nothing is opened).
    expect(out).toContain(`Console: http://localhost:${base}/ui   (sign in with the dev admin key: dev-admin-key)`)
    expect((await fetch(`http://127.0.0.1:${base}/ui`)).status).toBe(200)
    for (const svc of ['controller', 'agent     ', 'worker    ']) expect(out).toContain(`${svc}|`)
    proc.kill('SIGINT')
    expect(await proc.exited).toBe(0)
    for (const port of [base, base + 1, base + 2]) expect(await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'up', () => 'down')).toBe('down')
  } catch (e) {
    console.error(`bun run dev printed:\n${out}`)
    throw e
  } finally {
    try {
      process.kill(-proc.pid, 'SIGKILL')
    } catch {} // already gone
  }
})
