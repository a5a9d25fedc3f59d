/** The command line: which commands exist, their options, their help, and parsing with node:util's
 *  parseArgs. Every check here runs before any request: a bad command line is exit 2 and no traffic. */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { STATUSES, type AgentStatus } from './contract'

export class UsageError extends Error {
  constructor(message: string, readonly help: string) {
    super(message)
  }
}

/** min_hits sent when --min-hits is not given: an error rate over fewer hits says little. */
export const MIN_HITS_DEFAULT = 100
export const MAX_STEPS = 10

type Options = NonNullable<ParseArgsConfig['options']>

/** Options every command takes. `--url` is the controller's URL except after `config set` and `rollout start`,
 *  where it is the config's: there the controller's URL goes before the command (`dcm --url C config set --url U`)
 *  or in DCM_URL. */
const GLOBAL = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options

const GLOBAL_HELP = `Global options (before or after the command):
  --url URL     the controller (default: $DCM_URL, else http://localhost:8080)
  --key KEY     the admin key (default: $DCM_ADMIN_KEY)
  --json        print the server's JSON instead of tables
  -h, --help    this help`

export type Spec = {
  name: string
  args: string[]
  options: Options
  summary: string
  help: string
}

const spec = (name: string, summary: string, args: string[], options: Options, lines: string[] = []): Spec => ({
  name,
  args,
  options,
  summary,
  help: [`Usage: dcm ${name}${args.map((a) => ` ${a}`).join('')}${Object.keys(options).length ? ' [options]' : ''}`, '', summary, ...(lines.length ? ['', ...lines] : []), '', GLOBAL_HELP].join('\n'),
})

export const COMMANDS: Spec[] = [
  spec('status', 'The current config version and the fleet summary (agents in_sync, behind, rejected, stale).', [], {}),
  spec('config get', 'The current config document and its ETag.', [], {}),
  spec('config set', 'Store a new config version (an identical config stores nothing and says so).', [], {
    url: { type: 'string' },
    'timeout-ms': { type: 'string' },
    comment: { type: 'string' },
    'if-match': { type: 'string' },
  }, [
    'Options:',
    '  --url U            the URL GET /hit calls (required; http or https)',
    '  --timeout-ms N     upstream timeout, 1..60000',
    '  --comment C        why (kept in the history, at most 500 characters)',
    '  --if-match ETAG    store only if the current config still has this ETag (else exit 1, precondition_failed)',
    '',
    "Here --url is the config's URL: give the controller's before the command (dcm --url C config set --url U) or in DCM_URL.",
  ]),
  spec('config history', 'Config versions, newest first, with who wrote each and why.', [], { limit: { type: 'string' } }, ['Options:', '  --limit N    how many, 1..500 (server default 50)']),
  spec('config rollback', "Store a new version with version N's content.", ['N'], { comment: { type: 'string' }, 'if-match': { type: 'string' } }, [
    'Options:',
    '  --comment C        why (default on the server: "rollback to N")',
    '  --if-match ETAG    roll back only if the current config still has this ETag',
  ]),
  spec('agents', 'Every agent with its applied version and status, and the fleet summary.', [], { status: { type: 'string' }, label: { type: 'string', multiple: true } }, [
    'Options:',
    `  --status S       only agents in this status: ${STATUSES.join(', ')}`,
    '  --label k=v      only agents with this label (repeatable: all must hold)',
  ]),
  spec('agent', 'One agent in detail.', ['ID'], {}),
  spec('audit', 'The audit log (every write, registration and revocation), newest first.', [], { limit: { type: 'string' } }, ['Options:', '  --limit N    how many, 1..500 (server default 50)']),
  spec('watch', 'Follow the config: print each new version, then the fleet summary until every agent that is not stale is in sync. Ctrl-C ends it.', [], {}),
  spec('check', "Run the endpoint checks against a deployment and print a pass/fail table.", ['CONTROLLER_URL', 'AGENT_URL', 'WORKER_URL'], { 'agent-key': { type: 'string' } }, [
    "Checks: each service's /healthz and /readyz; the controller's config, its history (proves the admin key)",
    "and a registration (agent key); the agent's /state (the controller's version and store, confirmed by its worker, the",
    "controller reachable) and the worker's /state (the same version); the worker's /hit (an answer from the",
    'upstream, not a 5xx). During a rollout, the candidate version passes too.',
    '',
    'Options:',
    '  --agent-key KEY    the agents\' shared key (default: $DCM_AGENT_KEY), for the register check; without it',
    '                     that check is skipped. It registers the agent_id "dcm-check" (the same record each run).',
    '',
    'The controller is the first argument (not --url or DCM_URL); the admin key is --key or $DCM_ADMIN_KEY.',
    'Exit codes: 0 every check passed (skips allowed), 1 a check failed, 2 usage error, 3 the controller did not answer.',
  ]),
  spec('rollout start', 'Start a staged rollout of a new config: a cohort of agents that grows step by step while it stays healthy, else a rollback.', [], {
    url: { type: 'string' },
    'timeout-ms': { type: 'string' },
    comment: { type: 'string' },
    steps: { type: 'string' },
    'max-error-rate': { type: 'string' },
    'min-hits': { type: 'string' },
    'max-p99-ms': { type: 'string' },
    selector: { type: 'string', multiple: true },
  }, [
    'Options:',
    '  --url U                the new config\'s URL (required; http or https)',
    '  --timeout-ms N         its upstream timeout, 1..60000',
    '  --comment C            why (kept in the history, at most 500 characters)',
    '  --steps P:S,P:S,...    required: percent of the agents (1..100, increasing) and bake seconds of each step,',
    '                         1 to 10 steps, e.g. 10:30,50:60,100:0 (everyone gets the version at completion)',
    '  --max-error-rate R     required: the cohort error rate (0..1, e.g. 0.05) above which it rolls back',
    `  --min-hits N           hits the cohort needs before its error rate counts (default ${MIN_HITS_DEFAULT})`,
    '  --max-p99-ms N         the cohort upstream p99 above which it rolls back (default: no limit)',
    '  --selector k=v         only agents with this label take part (repeatable: all must hold)',
    '',
    "Here --url is the config's URL: give the controller's before the command (dcm --url C rollout start --url U) or in DCM_URL.",
  ]),
  spec('rollout status', 'The current rollout: state, step, each step\'s cohort, cohort vs stable health, the last decisions.', [], { watch: { type: 'boolean' } }, [
    'Options:',
    '  --watch    re-read it every 2 s, printing what changes, until it ends:',
    '             exit 0 when it completed, 1 when it was rolled back or aborted (130 on Ctrl-C)',
  ]),
  spec('rollout list', 'Rollouts, newest first.', [], { limit: { type: 'string' } }, ['Options:', '  --limit N    how many, 1..100 (server default 20)']),
  spec('rollout show', 'One rollout in detail, with every decision.', ['ID'], {}),
  spec('rollout pause', 'Hold the rollout at its step: no widening until resumed.', ['[ID]'], {}, ['ID defaults to the current rollout.']),
  spec('rollout resume', 'Let a paused rollout go on.', ['[ID]'], {}, ['ID defaults to the current rollout.']),
  spec('rollout abort', 'Roll back now: a new version with the stable content, for everyone.', ['[ID]'], {}, ['ID defaults to the current rollout.']),
  spec('rollout promote', 'Skip the remaining steps: the new version for everyone now.', ['[ID]'], {}, ['ID defaults to the current rollout.']),
]

export const TOP_HELP = `dcm — operate a dcm controller

Usage: dcm <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(18)}${c.summary.split('. ')[0]!.replace(/\.$/, '')}`).join('\n')}

Run \`dcm <command> --help\` for a command's options.
Exit codes: 0 ok, 1 the server refused (4xx), 2 usage error, 3 controller unreachable or 5xx.

${GLOBAL_HELP}`

/** Commands with subcommands, and the help of the group. */
const groupHelp = (group: string) => {
  const members = COMMANDS.filter((c) => c.name.startsWith(`${group} `))
  return `Usage: dcm ${group} <${members.map((c) => c.name.split(' ')[1]).join('|')}> [options]

${members.map((c) => `  ${c.name.padEnd(18)}${c.summary}`).join('\n')}

${GLOBAL_HELP}`
}
const GROUPS: Record<string, string> = { config: groupHelp('config'), rollout: groupHelp('rollout') }

export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>
/** A string option's value (undefined when absent). */
export const str = (v: Values, name: string) => (typeof v[name] === 'string' ? (v[name] as string) : undefined)
/** A repeatable string option's values. */
export const list = (v: Values, name: string) => (Array.isArray(v[name]) ? (v[name] as unknown[]).filter((x): x is string => typeof x === 'string') : [])

export type Global = { url?: string; key?: string; json: boolean }
export type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'run'; command: Spec; global: Global; values: Values; positionals: string[] }

/** Options with a value among the global ones: the leading global options end at the first word that is
 *  neither one of them nor its value. */
const TAKES_VALUE = new Set(['--url', '--key'])

export function parse(argv: string[]): Parsed {
  let i = 0
  while (i < argv.length && argv[i]!.startsWith('-')) i += TAKES_VALUE.has(argv[i]!) ? 2 : 1
  const lead = values(argv.slice(0, i), GLOBAL, TOP_HELP)
  const rest = argv.slice(i)
  const word = rest[0]
  if (word === undefined || word === 'help') {
    if (lead.help || word === 'help') return { kind: 'help', text: TOP_HELP }
    throw new UsageError('no command given', TOP_HELP)
  }
  let name = word
  let tail = rest.slice(1)
  const group = GROUPS[word]
  if (group !== undefined) {
    const sub = tail[0]
    if (sub === undefined || sub.startsWith('-')) {
      if (sub === '--help' || sub === '-h' || lead.help) return { kind: 'help', text: group }
      const subs = COMMANDS.filter((c) => c.name.startsWith(`${word} `)).map((c) => c.name.split(' ')[1]!)
      throw new UsageError(`${word} needs a subcommand: ${subs.slice(0, -1).join(', ')} or ${subs.at(-1)}`, group)
    }
    name = `${word} ${sub}`
    tail = tail.slice(1)
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) throw new UsageError(`unknown command "${name}"`, GROUPS[name.split(' ')[0]!] ?? TOP_HELP)
  // After `config set` and `rollout start`, --url is the config's URL (its own option wins over the global one).
  const own = { ...GLOBAL, ...command.options }
  const { values: v, positionals } = parseOrUsage(tail, own, command.help)
  if (lead.help || v.help) return { kind: 'help', text: command.help }
  // An argument written [ID] may be left out.
  const required = command.args.filter((a) => !a.startsWith('[')).length
  if (positionals.length < required || positionals.length > command.args.length)
    throw new UsageError(
      command.args.length ? `${name} takes ${command.args.join(' ')}${positionals.length > command.args.length ? `; unexpected "${positionals[command.args.length]}"` : ''}` : `unexpected argument "${positionals[0]}"`,
      command.help,
    )
  const global: Global = {
    url: ('url' in command.options ? undefined : str(v, 'url')) ?? str(lead, 'url'),
    key: str(v, 'key') ?? str(lead, 'key'),
    json: Boolean(v.json || lead.json),
  }
  return { kind: 'run', command, global, values: v, positionals }
}

function values(args: string[], options: Options, help: string) {
  return parseOrUsage(args, options, help).values
}

function parseOrUsage(args: string[], options: Options, help: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true })
  } catch (e) {
    // parseArgs explains: "Unknown option '--x'", "Option '--limit <value>' argument missing", …; its first
    // sentence is enough (the rest suggests `--` or `--x=-1`).
    throw new UsageError((e as Error).message.split(/\.(?:\s|$)/)[0]!, help)
  }
}

/** A whole number in [min, max] written as digits, else a usage error naming the option. */
export function int(raw: string, what: string, min: number, max: number, help: string): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`${what} must be a whole number from ${min} to ${max}, not "${raw}"`, help)
  return Number(raw)
}

export function status(raw: string, help: string): AgentStatus {
  if (!(STATUSES as readonly string[]).includes(raw)) throw new UsageError(`--status must be one of ${STATUSES.join(', ')}, not "${raw}"`, help)
  return raw as AgentStatus
}

/** `--steps 10:30,50:60,100:0`: percent (1..100, strictly increasing) and bake seconds of each step. */
export function steps(raw: string, help: string): { percent: number; bake_seconds: number }[] {
  const parts = raw.split(',')
  if (parts.length > MAX_STEPS) throw new UsageError(`--steps takes 1 to ${MAX_STEPS} steps, not ${parts.length}`, help)
  let previous = 0
  return parts.map((part) => {
    const m = /^\s*(\d{1,3}):(\d{1,7}(?:\.\d{1,3})?)\s*$/.exec(part)
    if (!m) throw new UsageError(`--steps must be PERCENT:SECONDS,... (e.g. 10:30,50:60,100:0), not "${part}" in "${raw}"`, help)
    const percent = Number(m[1])
    if (percent < 1 || percent > 100) throw new UsageError(`--steps: a percent is from 1 to 100, not ${percent}`, help)
    if (percent <= previous) throw new UsageError(`--steps: percents must increase (${percent} after ${previous})`, help)
    previous = percent
    return { percent, bake_seconds: Number(m[2]) }
  })
}

/** A fraction from 0 to 1 (`0.05`, `.5`, `1`). */
export function rate(raw: string, what: string, help: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw) || Number(raw) > 1) throw new UsageError(`${what} must be a number from 0 to 1 (e.g. 0.05), not "${raw}"`, help)
  return Number(raw)
}

/** Repeated `--selector k=v` as one object; the same label twice is a usage error. */
export function selector(raws: string[], help: string): Record<string, string> {
  const out = new Map<string, string>()
  for (const raw of raws) {
    const eq = raw.indexOf('=')
    if (eq < 1) throw new UsageError(`--selector must be label=value, not "${raw}"`, help)
    const k = raw.slice(0, eq)
    if (out.has(k)) throw new UsageError(`--selector names the label "${k}" twice`, help)
    out.set(k, raw.slice(eq + 1))
  }
  // fromEntries defines each key as an own property (a label named __proto__ included).
  return Object.fromEntries(out)
}

export function label(raw: string, help: string): string {
  const eq = raw.indexOf('=')
  if (eq < 1) throw new UsageError(`--label must be name=value, not "${raw}"`, help)
  return raw
}

export function httpUrl(raw: string, what: string, help: string): string {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new UsageError(`${what} must be an absolute http(s) URL, not "${raw}"`, help)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${what} must be an absolute http(s) URL, not "${raw}"`, help)
  return raw
}
