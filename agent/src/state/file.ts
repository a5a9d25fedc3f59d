import { closeSync, constants, fsyncSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
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

/** `durable` (the default): on disk when save() resolves, fsynced. `false`: written the same atomic way,
 *  without waiting for the disk; only for a change nothing was promised on (fileStateStore says why one
 *  fsynced copy per change is enough). */
export type SaveOptions = { durable?: boolean }

export interface StateStore {
  load(): Loaded
  /** Never runs twice at once (the caller waits for one save before it starts the next). */
  save(state: AgentState, opts?: SaveOptions): Promise<Saved>
}

const EXCL = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** The state file: written atomically (an exclusive temporary file in the same folder, every byte
 *  written, rename), mode 0600. A durable save fsyncs the temporary file before the rename and the folder
 *  after it: two fsyncs, the fewest that put both the bytes and the new name on disk. Before a new file is
 *  installed, the previous one becomes `<file>.bak` (a hard link: no copy), but only if it was itself
 *  saved durably: so `.bak` always holds a generation that is on disk, whole.
 *
 *  That backup is why one fsynced copy per change is enough. A save that is not durable (the agent uses
 *  it for a new `worker_version` alone, which it reports to no one but its own /state, and which its
 *  first probe of the worker after a start sets again) is written and renamed the same way without an
 *  fsync: a killed process loses nothing (the kernel has the bytes), and after a power cut the file is
 *  either the one before, whole, or this one, whole or torn; torn, the loader takes `.bak`, the last
 *  durable generation, which holds the same config, id and token (file systems that journal their
 *  metadata, as ext4, XFS and btrfs do, keep the two renames of a save in order). Only a durable save
 *  changes config, id or token, and the agent reports nothing to the controller that a durable save has
 *  not put on disk. The file found at load is fsynced once, so it too may become the backup. */
export function fileStateStore(path: string, opts: { failPoint?: (at: FailPoint) => void } = {}): StateStore {
  const fail = opts.failPoint ?? (() => {})
  const dir = dirname(path)
  const name = basename(path)
  const backup = `${path}.bak`
  /** The primary is on disk (a durable save wrote it, or load() fsynced it). */
  let primaryDurable = false
  /** The folder was made (or found) by a save. */
  let made = false
  const read = (p: string): Read => {
    try {
      return decode(readFileSync(p, 'utf8'))
    } catch (e) {
      return unreadable(e)
    }
  }
  return {
    load() {
      removeStaleTemps(dir, name)
      const problems: string[] = []
      for (const [p, from] of [[path, 'primary'], [backup, 'backup']] as const) {
        const r = read(p)
        if (r === null) continue
        if ('state' in r) {
          // The last save of the process before may not have been durable.
          primaryDurable = from === 'primary' && fsyncPath(path)
          return { state: r.state, from, problems }
        }
        problems.push(`${basename(p)}: ${r.problem}`)
      }
      return { state: null, from: 'none', problems }
    },
    // The same steps as one synchronous save, each on the runtime's thread pool: the fsyncs never hold up
    // the event loop (the agent re-arms its long-poll and pushes while a save is under way).
    async save(state, opts) {
      try {
        return await save(state, opts?.durable ?? true)
      } catch (e) {
        made = false // the folder may be gone (removed, replaced): made again on the next save
        throw e
      }
    },
  }

  async function save(state: AgentState, durable: boolean): Promise<Saved> {
    if (!made) {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      made = true
    }
    const tmp = await writeTemp(dir, name, encode(state), fail, durable)
    let warning: string | undefined
    // Only a primary on disk that still decodes becomes the backup: a damaged one must not replace a
    // good copy, nor one that may be only in memory yet a durable one.
    const prev = primaryDurable ? await readFile(path, 'utf8').then(decode, unreadable) : null
    if (prev !== null && 'state' in prev) {
      const linkTmp = join(dir, `.${name}.${crypto.randomUUID()}.tmp`)
      try {
        await link(path, linkTmp)
        await rename(linkTmp, backup)
        fail('after-backup')
      } catch (e) {
        warning = `could not keep the previous state as ${basename(backup)}: ${(e as Error).message}`
        await rm(linkTmp, { force: true })
      }
    }
    try {
      await rename(tmp, path)
    } catch (e) {
      await rm(tmp, { force: true })
      throw e
    }
    primaryDurable = false
    fail('after-rename')
    if (durable) {
      const fd = await open(dir, 'r')
      try {
        await fd.sync()
      } finally {
        await fd.close()
      }
      primaryDurable = true
    }
    return { warning }
  }
}

type Read = { state: AgentState } | { problem: string } | null
const unreadable = (e: unknown): Read => ((e as NodeJS.ErrnoException).code === 'ENOENT' ? null : { problem: `unreadable: ${(e as Error).message}` })

/** fsync a file that exists; false when it cannot be done. */
function fsyncPath(p: string): boolean {
  let fd: number
  try {
    fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch {
    return false
  }
  try {
    fsyncSync(fd)
    return true
  } catch {
    return false
  } finally {
    closeSync(fd)
  }
}

/** Write `text` whole to a new temporary file (exclusive, never through a symlink), and fsync it if `durable`. */
async function writeTemp(dir: string, name: string, text: string, fail: (at: FailPoint) => void, durable: boolean): Promise<string> {
  const tmp = join(dir, `.${name}.${crypto.randomUUID()}.tmp`)
  const fd = await open(tmp, EXCL, 0o600)
  try {
    // writeFile writes every byte (it loops over short writes).
    await fd.writeFile(text)
    fail('after-temp-write')
    if (durable) {
      await fd.sync()
      fail('after-temp-fsync')
    }
  } catch (e) {
    await fd.close()
    await rm(tmp, { force: true })
    throw e
  }
  await fd.close()
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
export function memoryStateStore(initial: AgentState | null = null): StateStore & { saved: AgentState[]; durable: AgentState[] } {
  const saved: AgentState[] = []
  const durable: AgentState[] = []
  return {
    saved,
    durable,
    load: () => ({ state: initial, from: initial ? 'primary' : 'none', problems: [] }),
    async save(state, { durable: d = true } = {}) {
      saved.push(structuredClone(state))
      if (d) durable.push(structuredClone(state))
      return {}
    },
  }
}
