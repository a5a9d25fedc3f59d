/** `bun run chaos -- [--suite crash] [--seed S] [--minutes M] [--store sqlite|postgres|both] [--database-url URL]`
 *
 *  Runs a chaos suite (every registered one when none is named) for M minutes (default 1) on each store
 *  (PostgreSQL: a fresh database beside --database-url or TEST_DATABASE_URL, dropped at the end; both
 *  stores when one is given), prints what it did and every violation, and exits 1 with the seed that
 *  replays it. Every process it started is killed at the end, also on Ctrl-C. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatViolation } from '../test/chaos/check'
import { randomSeed } from '../test/chaos/rng'
import { freshDatabase } from '../test/chaos/stores'
import { OWN_STORE, SUITES } from '../test/chaos/suites'
import { runCleanups, stopAll } from '../test/harness'
import { killAll } from '../test/kit'

const USAGE = `usage: bun run chaos -- [--suite ${Object.keys(SUITES).join('|')}] [--seed S] [--minutes M] [--store sqlite|postgres|both] [--database-url postgres://…]`
const fail = (why: string): never => {
  console.error(`chaos: ${why}\n${USAGE}`)
  process.exit(2)
}

const args = new Map<string, string>()
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i += 2) {
  const [k, v] = [argv[i]!, argv[i + 1]]
  if (!['--suite', '--seed', '--minutes', '--store', '--database-url'].includes(k) || v === undefined) fail(`bad argument ${k}`)
  args.set(k, v!)
}
const names = args.has('--suite') ? [args.get('--suite')!] : Object.keys(SUITES)
for (const n of names) if (!SUITES[n]) fail(`unknown suite ${n}`)
const seed = args.has('--seed') ? Number(args.get('--seed')) : randomSeed()
if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) fail('--seed must be an integer in 0..4294967295')
const minutes = Number(args.get('--minutes') ?? 1)
if (!(minutes > 0 && minutes <= 24 * 60)) fail('--minutes must be a number in (0, 1440]')
const base = args.get('--database-url') ?? process.env.TEST_DATABASE_URL
const storeArg = args.get('--store') ?? (base ? 'both' : 'sqlite')
if (!['sqlite', 'postgres', 'both'].includes(storeArg)) fail(`unknown store ${storeArg}`)
const stores = storeArg === 'both' ? ['sqlite', 'postgres'] : [storeArg]
if (stores.includes('postgres') && !base) fail('PostgreSQL needs --database-url or TEST_DATABASE_URL')
if (!base && !args.has('--store')) console.log('chaos: PostgreSQL not run (no --database-url or TEST_DATABASE_URL)')

// The database URL stays out of what is printed: it may hold a password.
const replay = `bun run chaos --${args.has('--suite') ? ` --suite ${names[0]}` : ''} --seed ${seed} --minutes ${minutes} --store ${storeArg}${stores.includes('postgres') ? ' (with the same --database-url or TEST_DATABASE_URL)' : ''}`
console.log(`chaos: ${names.join(', ')}, seed ${seed}, ${minutes} min on ${stores.join(' and ')} (replay: ${replay})`)

let leftDatabase: string | null = null
let logs: string | null = null
process.on('exit', () => {
  killAll()
  if (logs) console.error(`chaos: logs in ${logs}`)
  if (!leftDatabase) return
  // Interrupted (Ctrl-C) with a database in use: nothing asynchronous runs any more, so a child drops it.
  const drop = `import postgres from 'postgres'; const sql = postgres(process.env.BASE, { max: 1, onnotice() {} }); await sql.unsafe('drop database if exists ${leftDatabase} with (force)'); await sql.end()`
  const r = Bun.spawnSync(['bun', '-e', drop], { cwd: join(import.meta.dir, '..'), env: { ...process.env, BASE: base }, stdout: 'ignore', stderr: 'ignore', timeout: 10_000 })
  console.error(r.success ? `chaos: interrupted; the database ${leftDatabase} was dropped` : `chaos: interrupted; the database ${leftDatabase} was left behind (drop it by hand)`)
})

let failed = false
for (const name of names)
  for (const store of OWN_STORE.has(name) ? ['its own'] : stores) {
    const what = `${name} on ${store}`
    const dir = mkdtempSync(join(tmpdir(), `dcm-chaos-${name}-${store}-`))
    const db = store === 'postgres' ? await freshDatabase(base!) : null // the fault suites start their own
    leftDatabase = db?.name ?? null
    logs = dir
    const started = performance.now()
    try {
      const r = await SUITES[name]!({ seed, dir, databaseUrl: db?.url, ms: minutes * 60_000, log: (l) => console.log(`chaos: ${name}: ${l}`) })
      const secs = ((performance.now() - started) / 1000).toFixed(0)
      console.log(`chaos: ${what}: ${Object.entries(r.stats).map(([k, v]) => `${k} ${v}`).join(', ')}; violations: ${r.violations.length} (${secs} s)`)
      for (const v of r.violations) console.log(`  ${formatViolation(v)}`)
      if (r.violations.length) {
        failed = true
        r.history.save(join(dir, 'history.jsonl'))
        console.log(`chaos: ${what}: history and logs kept in ${dir}`)
      } else rmSync(dir, { recursive: true, force: true })
    } catch (e) {
      failed = true
      console.error(`chaos: ${what}: the run broke off: ${(e as Error).stack ?? e}\nchaos: logs kept in ${dir}`)
    } finally {
      killAll()
      await stopAll() // services the fault suites spawned, then their clusters and proxies
      await runCleanups()
      await db?.drop()
      leftDatabase = null
      logs = null
    }
  }
console.log(failed ? `chaos: FAILED with seed ${seed}; replay with: ${replay}` : `chaos: seed ${seed}: violations: 0`)
process.exit(failed ? 1 : 0)
