/** The load generator and the baselines come from Debian. A missing one is installed with apt-get when
 *  running as root; when that is impossible the caller skips the figure that needs it, and says so. */
import { existsSync, rmSync, writeFileSync } from 'node:fs'

export type Tool = 'wrk' | 'nginx' | 'etcd' | 'etcdctl'

const PACKAGES: Record<Tool, string[][]> = {
  wrk: [['wrk']],
  nginx: [['nginx-light'], ['nginx']],
  etcd: [['etcd-server', 'etcd-client']],
  etcdctl: [['etcd-client']],
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin']

/** The tool's path, or null. nginx lives in /usr/sbin, which a non-login PATH may lack. */
export function which(tool: Tool): string | null {
  return Bun.which(tool) ?? SBIN.map((d) => `${d}/${tool}`).find((p) => existsSync(p)) ?? null
}

async function sh(cmd: string[]): Promise<{ ok: boolean; out: string }> {
  let p: Bun.Subprocess<'ignore', 'pipe', 'pipe'>
  try {
    p = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe', stdin: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  } catch (e) {
    return { ok: false, out: `${cmd[0]}: ${(e as Error).message}` } // no apt-get on this system
  }
  const timer = setTimeout(() => p.kill('SIGKILL'), 300_000)
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()])
  await p.exited
  clearTimeout(timer)
  return { ok: p.exitCode === 0, out: (out + err).trim() }
}

let updated = false
const notes: string[] = []
/** What the install step did or could not do, for the report. */
export const toolNotes = () => notes

/** Make sure every tool is present, installing what is missing; returns what is available. */
export async function ensureTools(tools: Tool[]): Promise<Record<Tool, string | null>> {
  const missing = [...new Set(tools)].filter((t) => !which(t))
  if (missing.length) {
    if (process.getuid?.() !== 0) {
      notes.push(`not root: cannot install ${missing.join(', ')} (apt-get install wrk nginx-light etcd-server etcd-client)`)
    } else {
      // Debian starts a package's service on install; a policy-rc.d that says no keeps nginx and etcd
      // from starting on their default ports. Put one only for the install, and only if none exists.
      const policy = '/usr/sbin/policy-rc.d'
      const ownPolicy = !existsSync(policy)
      if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 })
      try {
        for (const tool of missing) {
          if (which(tool)) continue
          let done = false
          for (const pkgs of PACKAGES[tool]) {
            console.error(`bench: installing ${pkgs.join(' ')} with apt-get (for ${tool})`)
            let r = await sh(['apt-get', 'install', '-y', '--no-install-recommends', ...pkgs])
            if (!r.ok && !updated) {
              updated = true
              await sh(['apt-get', 'update'])
              r = await sh(['apt-get', 'install', '-y', '--no-install-recommends', ...pkgs])
            }
            if (r.ok && which(tool)) {
              done = true
              notes.push(`installed ${pkgs.join(' ')} with apt-get`)
              break
            }
            if (!r.ok) notes.push(`apt-get install ${pkgs.join(' ')} failed: ${r.out.split('\n').slice(-1)[0]}`)
          }
          if (!done) notes.push(`${tool} is not available`)
        }
      } finally {
        if (ownPolicy) rmSync(policy, { force: true })
      }
    }
  }
  return Object.fromEntries(tools.map((t) => [t, which(t)])) as Record<Tool, string | null>
}
