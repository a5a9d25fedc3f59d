/** `dcm`: each command is one or two calls through the Api, printed as tables or as the server's JSON,
 *  and one exit code: 0 ok, 1 the server refused (4xx), 2 usage error, 3 unreachable or 5xx. */
import { httpUrl, int, label, list, parse, status as statusArg, str, UsageError, type Parsed } from './args'
import { createApi } from './client'
import { EXIT, fail, print, type Command, type Ctx, type Io } from './command'
import type { ConfigDoc } from './contract'
import { agentFields, agentsTable, auditTable, configFields, historyTable, summaryLine } from './render'
import { checkExit, checkTable, runChecks } from './check'
import { ROLLOUT_COMMANDS } from './rollout'
import { watch } from './watch'

export { EXIT, type Io } from './command'

export const DEFAULT_URL = 'http://localhost:8080'

/** Run one command line; returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  let parsed: Parsed
  let ctx: Ctx
  try {
    parsed = parse(argv)
    if (parsed.kind === 'help') {
      io.out(parsed.text)
      return EXIT.ok
    }
    const help = parsed.command.help
    // `check` names the controller as its first argument; every other command reads --url or DCM_URL.
    if (parsed.command.name === 'check' && parsed.global.url !== undefined) throw new UsageError("check takes the controller's URL as its first argument, not --url", help)
    const url = (
      parsed.command.name === 'check'
        ? httpUrl(parsed.positionals[0]!, 'CONTROLLER_URL', help)
        : httpUrl(parsed.global.url ?? io.env.DCM_URL ?? DEFAULT_URL, parsed.global.url ? '--url' : 'DCM_URL', help)
    ).replace(/\/+$/, '')
    const key = parsed.global.key ?? io.env.DCM_ADMIN_KEY
    if (!key) throw new UsageError('no admin key: set DCM_ADMIN_KEY or pass --key', help)
    ctx = { api: createApi({ url, key, fetcher: io.fetcher, signal: io.signal }), io, url, key, json: parsed.global.json }
    const command = COMMANDS[parsed.command.name]!
    // Every value is checked before the first request.
    const go = command(parsed, ctx)
    return await go()
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    io.err(`dcm: ${e.message}\n\n${e.help}`)
    return EXIT.usage
  }
}

const configLine = (d: ConfigDoc) => `version ${d.version}  ${d.url}${d.timeout_ms === undefined ? '' : `  timeout_ms ${d.timeout_ms}`}  (${d.updated_at})`

const COMMANDS: Record<string, Command> = {
  status: (_, ctx) => async () => {
    const c = await ctx.api.config()
    if (!c.ok && c.error !== 'no_config') return fail(ctx, c)
    const f = await ctx.api.agents()
    // A controller from before the fleet routes has no GET /agents: the version is still worth showing.
    if (!f.ok && !(f.kind === 'refused' && f.error === 'not_found')) return fail(ctx, f)
    const doc = c.ok ? c.data : null
    const fleet = f.ok ? f.data.summary : null
    return print(ctx, { config: doc, fleet }, () =>
      [
        `controller  ${ctx.url}`,
        `config      ${doc ? configLine(doc) : 'none set yet'}`,
        `fleet       ${fleet ? summaryLine(fleet) : 'not reported by this controller (it has no GET /agents)'}`,
      ].join('\n'),
    )
  },

  'config get': (_, ctx) => async () => {
    const r = await ctx.api.config()
    if (!r.ok) return fail(ctx, r)
    return print(ctx, r.data, () => configFields(r.data!, r.headers.get('etag')))
  },

  'config set': ({ values: v, command: { help } }, ctx) => {
    const url = str(v, 'url')
    if (url === undefined) throw new UsageError('config set needs --url', help)
    httpUrl(url, '--url', help)
    const t = str(v, 'timeout-ms')
    const comment = str(v, 'comment')
    if (comment !== undefined && comment.length > 500) throw new UsageError('--comment is at most 500 characters', help)
    const body = { url, ...(t === undefined ? {} : { timeout_ms: int(t, '--timeout-ms', 1, 60_000, help) }), ...(comment === undefined ? {} : { comment }) }
    return async () => {
      const r = await ctx.api.setConfig(body, str(v, 'if-match'))
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () =>
        r.status === 201
          ? `stored version ${r.data.version}\n${configFields(r.data, r.headers.get('etag'))}`
          : `unchanged: the current config (version ${r.data.version}) is identical; no new version`,
      )
    }
  },

  'config history': ({ values: v, command: { help } }, ctx) => {
    const l = str(v, 'limit')
    const limit = l === undefined ? undefined : int(l, '--limit', 1, 500, help)
    return async () => {
      const r = await ctx.api.versions(limit)
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () => historyTable(r.data.versions))
    }
  },

  'config rollback': ({ values: v, positionals, command: { help } }, ctx) => {
    const n = int(positionals[0]!, 'N (the version to roll back to)', 1, 999_999_999, help)
    const comment = str(v, 'comment')
    if (comment !== undefined && comment.length > 500) throw new UsageError('--comment is at most 500 characters', help)
    return async () => {
      const r = await ctx.api.rollback(n, comment, str(v, 'if-match'))
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () =>
        r.status === 201
          ? `rolled back to the content of version ${n}: stored version ${r.data.version}\n${configFields(r.data, r.headers.get('etag'))}`
          : `unchanged: version ${n}'s content is the current config (version ${r.data.version}); no new version`,
      )
    }
  },

  agents: ({ values: v, command: { help } }, ctx) => {
    const s = str(v, 'status')
    const q = { ...(s === undefined ? {} : { status: statusArg(s, help) }), ...(list(v, 'label').length ? { label: list(v, 'label').map((l) => label(l, help)) } : {}) }
    return async () => {
      const r = await ctx.api.agents(q)
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () => `${summaryLine(r.data.summary)}\n\n${agentsTable(r.data.agents)}`)
    }
  },

  agent: ({ positionals }, ctx) => async () => {
    const r = await ctx.api.agent(positionals[0]!)
    if (!r.ok) return fail(ctx, r)
    return print(ctx, r.data, () => agentFields(r.data))
  },

  audit: ({ values: v, command: { help } }, ctx) => {
    const l = str(v, 'limit')
    const limit = l === undefined ? undefined : int(l, '--limit', 1, 500, help)
    return async () => {
      const r = await ctx.api.audit(limit)
      if (!r.ok) return fail(ctx, r)
      return print(ctx, r.data, () => auditTable(r.data.records))
    }
  },

  check: ({ values: v, positionals, command: { help } }, ctx) => {
    const [, agent, worker] = positionals.map((u, i) => httpUrl(u, ['CONTROLLER_URL', 'AGENT_URL', 'WORKER_URL'][i]!, help).replace(/\/+$/, ''))
    const agentKey = str(v, 'agent-key') ?? (ctx.io.env.DCM_AGENT_KEY || undefined)
    const targets = { controller: ctx.url, agent: agent!, worker: worker! }
    return async () => {
      const r = await runChecks(ctx, targets, { admin: ctx.key, agent: agentKey })
      if (ctx.io.signal?.aborted) return 130
      print(ctx, { ok: r.checks.every((c) => c.result !== 'fail'), ...targets, checks: r.checks }, () => checkTable(targets, r.checks))
      return checkExit(r)
    }
  },

  watch: (_, ctx) => () => watch(ctx.api, { ...ctx, signal: ctx.io.signal, line: (s) => ctx.io.out(s), fail: (f) => fail(ctx, f) }),

  ...ROLLOUT_COMMANDS,
}
