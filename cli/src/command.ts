/** What every command shares: its context, printing, and turning a failed call into an exit code. */
import type { Parsed } from './args'
import type { Api, Failure } from './client'

export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const

export type Io = {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
  /** The transport (fetch in the executable). */
  fetcher?: typeof fetch
  /** Aborted on SIGINT/SIGTERM: `watch` ends cleanly. */
  signal?: AbortSignal
}

export type Ctx = { api: Api; io: Io; url: string; key: string; json: boolean }
/** Checks its values (throwing UsageError) when called, then returns the work: no request before every check passed. */
export type Command = (p: Extract<Parsed, { kind: 'run' }>, ctx: Ctx) => () => Promise<number>

/** A second line for refusals an operator can act on. */
const HINTS: Record<string, string> = {
  rollout_in_progress: 'a rollout is in progress: `dcm rollout status` shows it, `dcm rollout abort` ends it',
  no_rollout: 'no rollout is running: `dcm rollout list` shows the past ones',
}

/** Print a failed call to stderr (the server's message and request id) and return its exit code. */
export function fail(ctx: Pick<Ctx, 'io' | 'url'>, f: Failure): number {
  // Interrupted (Ctrl-C) while a request was in flight: the shell's convention, no message.
  if (ctx.io.signal?.aborted) return 130
  if (f.kind === 'unreachable') {
    ctx.io.err(`dcm: cannot reach the controller at ${ctx.url}: ${f.message}`)
    return EXIT.unreachable
  }
  const etag = f.status === 412 ? f.headers?.get('etag') : null
  const hint = f.kind === 'refused' ? HINTS[f.error] : undefined
  ctx.io.err(`dcm: ${f.message} (${f.error}, HTTP ${f.status}, request_id ${f.request_id ?? '-'})${etag ? `\ndcm: the current config's ETag is ${etag}` : ''}${hint ? `\ndcm: ${hint}` : ''}`)
  return f.kind === 'server' ? EXIT.unreachable : EXIT.refused
}

export const print = (ctx: Ctx, json: unknown, human: () => string) => {
  ctx.io.out(ctx.json ? JSON.stringify(json, null, 2) : human())
  return EXIT.ok
}
