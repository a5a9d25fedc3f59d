/** Compiles each service, and the admin CLI, into one self-contained executable:
 *  `bun scripts/build.ts [name…]` writes dist/<name> (all four when none is named: controller, agent,
 *  worker, dcm). Nothing is read from the source tree at run time. */
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

export const SERVICES = ['controller', 'agent', 'worker'] as const
export type Service = (typeof SERVICES)[number]
/** What `bun run build` writes into dist/: the three services and `dcm` (built from cli/). */
export const TARGETS = [...SERVICES, 'dcm'] as const
export type Target = (typeof TARGETS)[number]
const SOURCE: Record<Target, string> = { controller: 'controller', agent: 'agent', worker: 'worker', dcm: 'cli' }

const ROOT = join(import.meta.dir, '..')
export const DIST = join(ROOT, 'dist')

const isTarget = (s: string): s is Target => (TARGETS as readonly string[]).includes(s)

/** Build one service (or dcm) into dist/<name> (or `dir`/<name>); returns the executable's absolute path. */
export async function buildService(name: Target, dir = DIST): Promise<string> {
  const outfile = join(dir, name)
  const result = await Bun.build({
    entrypoints: [join(ROOT, SOURCE[name], 'src', 'index.ts')],
    target: 'bun',
    minify: true,
    // Stack traces point into src/: the map is embedded in the executable, the copy beside it is removed.
    sourcemap: 'linked',
    // An executable takes its settings from the environment only: neither a bunfig.toml nor a .env in
    // whatever folder it starts from changes how it runs.
    compile: { outfile, autoloadBunfig: false, autoloadDotenv: false },
    throw: false,
  })
  if (!result.success) throw new AggregateError(result.logs, `build of ${name} failed:\n${result.logs.join('\n')}`)
  rmSync(`${outfile}.map`, { force: true })
  return outfile
}

if (import.meta.main) {
  const asked = process.argv.slice(2)
  const unknown = asked.filter((s) => !isTarget(s))
  if (unknown.length) {
    console.error(`build: unknown target ${unknown.join(', ')}; choose from ${TARGETS.join(', ')}`)
    process.exit(2)
  }
  mkdirSync(DIST, { recursive: true })
  for (const name of asked.length ? (asked as Target[]) : TARGETS) {
    const start = performance.now()
    try {
      const out = await buildService(name)
      console.log(`build: ${name} → ${out.slice(ROOT.length + 1)} (${((performance.now() - start) / 1000).toFixed(1)} s)`)
    } catch (e) {
      console.error(e instanceof Error ? e.message : e)
      process.exit(1)
    }
  }
}
