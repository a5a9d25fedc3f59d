import { closeSync, constants, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { decode, encode } from './codec'
import type { AgentState } from './model'

/** Where a load came from; `problems` says what was wrong with the copies that were skipped. */
export type Loaded = { state: AgentState | null; from: 'primary' | 'backup' | 'none'; problems: string[] }

/** What a save could not do without failing: a backup that could not be rotated. */
export type Saved = { warning?: string }

/** The moments inside a save where a test can make the process die (a crash at the worst time). */
export const FAIL_POINTS = ['after-temp-write', 'after-temp-fsync', 'after-backup', 'after-rename'] as const
export type FailPoint = (typeof FAIL_POINTS)[number]

export interface StateStore {
  load(): Loaded
  save(state: AgentState): Saved
}

const EXCL = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** The state file: written atomically and durably (an exclusive temporary file in the same folder,
 *  every byte written, fsync, rename, fsync the folder), mode 0600. Before each new file is installed the
 *  previous good one becomes `<file>.bak` (a hard link: no copy), so the backup is the generation before,
 *  not a mirror of the same bytes. Two fsyncs per save. */
export function fileStateStore(path: string, opts: { failPoint?: (at: FailPoint) => void } = {}): StateStore {
  const fail = opts.failPoint ?? (() => {})
  const dir = dirname(path)
  const name = basename(path)
  const backup = `${path}.bak`
  const read = (p: string): { state: AgentState } | { problem: string } | null => {
    let text: string
    try {
      text = readFileSync(p, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
      return { problem: `unreadable: ${(e as Error).message}` }
    }
    return decode(text)
  }
  return {
    load() {
      removeStaleTemps(dir, name)
      const problems: string[] = []
      for (const [p, from] of [[path, 'primary'], [backup, 'backup']] as const) {
        const r = read(p)
        if (r === null) continue
        if ('state' in r) return { state: r.state, from, problems }
        problems.push(`${basename(p)}: ${r.problem}`)
      }
      return { state: null, from: 'none', problems }
    },
    save(state) {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      const tmp = writeTemp(dir, name, encode(state), fail)
      let warning: string | undefined
      // Only a primary that still decodes becomes the backup: a damaged one must not replace a good copy.
      const prev = read(path)
      if (prev !== null && 'state' in prev) {
        const linkTmp = join(dir, `.${name}.${crypto.randomUUID()}.tmp`)
        try {
          linkSync(path, linkTmp)
          renameSync(linkTmp, backup)
          fail('after-backup')
        } catch (e) {
          warning = `could not keep the previous state as ${basename(backup)}: ${(e as Error).message}`
        } finally {
          rmSync(linkTmp, { force: true })
        }
      }
      try {
        renameSync(tmp, path)
      } catch (e) {
        rmSync(tmp, { force: true })
        throw e
      }
      fail('after-rename')
      const fd = openSync(dir, 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      return { warning }
    },
  }
}

/** Write `text` whole to a new temporary file (exclusive, never through a symlink) and fsync it. */
function writeTemp(dir: string, name: string, text: string, fail: (at: FailPoint) => void): string {
  const tmp = join(dir, `.${name}.${crypto.randomUUID()}.tmp`)
  const bytes = Buffer.from(text)
  const fd = openSync(tmp, EXCL, 0o600)
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off)
    fail('after-temp-write')
    fsyncSync(fd)
    fail('after-temp-fsync')
  } catch (e) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw e
  }
  closeSync(fd)
  return tmp
}

/** Temporary files left behind by a crash are removed at start. */
function removeStaleTemps(dir: string, name: string) {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return
  }
  for (const e of entries) if (e.startsWith(`.${name}.`) && e.endsWith('.tmp')) rmSync(join(dir, e), { force: true })
}

/** A state store in memory, for tests of the agent's rules. */
export function memoryStateStore(initial: AgentState | null = null): StateStore & { saved: AgentState[] } {
  const saved: AgentState[] = []
  return {
    saved,
    load: () => ({ state: initial, from: initial ? 'primary' : 'none', problems: [] }),
    save(state) {
      saved.push(structuredClone(state))
      return {}
    },
  }
}
