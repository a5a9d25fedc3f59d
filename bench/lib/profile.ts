/** A CPU profile of a service under wrk load, summarised from Bun's markdown profile. */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, waitFor, workdir, type Proc } from './procs'
import { wrk } from './wrk'

/** Start the process with `bunArgs` (from profileArgs), load `url` for `seconds`, stop it (SIGTERM: the
 *  services exit through process.exit, which writes the profile) and return the summary in markdown. */
export async function profileUnderLoad(
  label: string,
  startProfiled: (bunArgs: string[]) => Promise<Proc & { url: string }>,
  prepare: (p: Proc & { url: string }) => Promise<{ url: string; headers?: Record<string, string> }>,
  o: { seconds: number; connections: number },
): Promise<string[]> {
  const dir = join(workdir(), `cpu-prof-${label}`)
  const p = await startProfiled(['--cpu-prof-md', `--cpu-prof-dir=${dir}`])
  const { url, headers } = await prepare(p)
  await wrk(url, { threads: 1, connections: o.connections, seconds: o.seconds, headers }, p.pid)
  await p.stop()
  const file = await waitFor('CPU profile', () => readdirSync(dir).find((f) => f.endsWith('.md')), { timeoutMs: 10_000 }).catch(() => null)
  if (!file) return ['The CPU profile (`bun --cpu-prof-md`) was not written.']
  const md = readFileSync(join(dir, file), 'utf8')
  return [...section(md, '## Hot Functions (Self Time)', 16), '', ...section(md, '## Files', 10)]
}

/** The first `rows` rows of the markdown table under `heading`, paths made relative to the repository. */
function section(md: string, heading: string, rows: number): string[] {
  const at = md.indexOf(heading)
  if (at === -1) return []
  const lines = md.slice(at).split('\n').slice(1)
  const first = lines.findIndex((l) => l.startsWith('|'))
  const end = lines.findIndex((l, i) => i > first && !l.startsWith('|'))
  const body = first === -1 ? [] : lines.slice(first, end === -1 ? undefined : end)
  const tidy = (l: string) => l.replaceAll(`${ROOT}/`, '').replace(/node_modules\/\.bun\/[^/]+\/node_modules\//g, '')
  return [`**${heading.replace(/^#+ /, '')}** (top ${rows}):`, '', ...body.slice(0, rows + 2).map(tidy)]
}
