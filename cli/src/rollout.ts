/** The `dcm rollout` commands (issue 12): start, status [--watch], list, show, pause, resume, abort, promote. */
import { httpUrl, int, list, MIN_HITS_DEFAULT, rate, selector, steps, str, UsageError } from './args'
import { fail, print, type Command, type Ctx } from './command'
import type { RolloutAction, RolloutInput } from './contract'
import { LAST_DECISIONS, rolloutFields, rolloutLine, rolloutsTable } from './render'
import { watchRollout } from './rollout-watch'

/** The id given, or else the current rollout's (one GET /rollouts/current). */
async function target(ctx: Ctx, id: string | undefined) {
  if (id !== undefined) return { ok: true as const, id }
  const c = await ctx.api.currentRollout()
  return c.ok ? { ok: true as const, id: c.data.id } : c
}

const action =
  (a: RolloutAction): Command =>
  ({ positionals }, ctx) =>
  async () => {
    const t = await target(ctx, positionals[0])
    if (!t.ok) return fail(ctx, t)
    const r = await ctx.api.rolloutAction(t.id, a)
    if (!r.ok) return fail(ctx, r)
    return print(ctx, r.data, () => rolloutLine(r.data))
  }

export const ROLLOUT_COMMANDS: Record<string, Command> = {
  'rollout start': ({ values: v, command: { help } }, ctx) => {
    const url = str(v, 'url')
    if (url === undefined) throw new UsageError('rollout start needs --url', help)
    httpUrl(url, '--url', help)
    const rawSteps = str(v, 'steps')
    if (rawSteps === undefined) throw new UsageError('rollout start needs --steps (e.g. 10:30,50:60,100:0)', help)
    const rawRate = str(v, 'max-error-rate')
    if (rawRate === undefined) throw new UsageError('rollout start needs --max-error-rate (e.g. 0.05)', help)
    const t = str(v, 'timeout-ms')
    const comment = str(v, 'comment')
    if (comment !== undefined && comment.length > 500) throw new UsageError('--comment is at most 500 characters', help)
    const hits = str(v, 'min-hits')
    const p99 = str(v, 'max-p99-ms')
    const sel = list(v, 'selector')
    const body: RolloutInput = {
      config: { url, ...(t === undefined ? {} : { timeout_ms: int(t, '--timeout-ms', 1, 60_000, help) }) },
      ...(comment === undefined ? {} : { comment }),
      steps: steps(rawSteps, help),
      ...(sel.length ? { selector: selector(sel, help) } : {}),
      gate: {
        max_error_rate: rate(rawRate, '--max-error-rate', help),
        min_hits: hits === undefined ? MIN_HITS_DEFAULT : int(hits, '--min-hits', 0, 999_999_999, help),
        ...(p99 === undefined ? {} : { max_p99_ms: int(p99, '--max-p99-ms', 1, 999_999_999, help) }),
      },
    }
    return async () => {
      const r = await ctx.api.startRollout(body)
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () => `started rollout ${r.data.id}\n${rolloutFields(r.data)}`)
    }
  },

  'rollout status': ({ values: v }, ctx) => async () => {
    const r = await ctx.api.currentRollout()
    if (!r.ok) return fail(ctx, r)
    if (v.watch) return watchRollout(ctx.api, r.data, { json: ctx.json, signal: ctx.io.signal, line: (s) => ctx.io.out(s), warn: (s) => ctx.io.err(s), fail: (f) => fail(ctx, f) })
    return print(ctx, r.data, () => rolloutFields(r.data, LAST_DECISIONS))
  },

  'rollout list': ({ values: v, command: { help } }, ctx) => {
    const l = str(v, 'limit')
    const limit = l === undefined ? undefined : int(l, '--limit', 1, 100, help)
    return async () => {
      const r = await ctx.api.rollouts(limit)
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () => rolloutsTable(r.data.rollouts))
    }
  },

  'rollout show': ({ positionals }, ctx) => async () => {
    const r = await ctx.api.rollout(positionals[0]!)
    if (!r.ok) return fail(ctx, r)
    return print(ctx, r.data, () => rolloutFields(r.data))
  },

  'rollout pause': action('pause'),
  'rollout resume': action('resume'),
  'rollout abort': action('abort'),
  'rollout promote': action('promote'),
}
