import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { Value } from '@sinclair/typebox/value'
import { AgentState } from './model'

/** Where a load came from; `problems` says what was wrong with the copies that were skipped. */
export type Loaded = { state: AgentState | null; from: 'primary' | 'backup' | 'none'; problems: string[] }

export interface StateStore {
  load(): Loaded
  save(state: AgentState): void
}

const FORMAT = 1
const sha256 = (s: string) => new Bun.CryptoHasher('sha256').update(s).digest('hex')

/** Serialise with a checksum over the exact bytes of the state, so a torn or edited file is detected. */
export function encode(state: AgentState): string {
  const data = JSON.stringify(state)
  return `{"format":${FORMAT},"checksum":"${sha256(data)}","state":${data}}\n`
}

/** The state in `text`, or a reason it cannot be trusted. */
export function decode(text: string): { state: AgentState } | { problem: string } {
  let parsed: { format?: unknown; checksum?: unknown; state?: unknown }
  try {
    parsed = JSON.parse(text)
  } catch {
    return { problem: 'not valid JSON (torn or corrupt)' }
  }
  if (parsed?.format !== FORMAT) return { problem: `unknown format ${JSON.stringify(parsed?.format)}` }
  if (typeof parsed.checksum !== 'string' || sha256(JSON.stringify(parsed.state)) !== parsed.checksum) return { problem: 'checksum mismatch' }
  const state = parsed.state
  if (!Value.Check(AgentState, state)) return { problem: 'content does not match the state schema' }
  return { state }
}

/** A state file written atomically and durably: temp file in the same folder, fsync, rename, fsync the
 *  folder; mode 0600. A second copy (`<file>.bak`) is written the same way after the first succeeds, so a
 *  primary damaged outside our control still leaves a good copy to fall back to. */
export function fileStateStore(path: string): StateStore {
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
      const text = encode(state)
      atomicWrite(path, text)
      atomicWrite(backup, text)
    },
  }
}

export function atomicWrite(path: string, text: string): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`)
  let fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw e
  }
  closeSync(fd)
  try {
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
  fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
