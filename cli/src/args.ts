/** The command line: which commands exist, their options, their help, and parsing with node:util's
 *  parseArgs. Every check here runs before any request: a bad command line is exit 2 and no traffic. */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { STATUSES, type AgentStatus } from './contract'

export class UsageError extends Error {
  constructor(message: string, readonly help: string) {
    super(message)
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

/** Options every command takes. `--url` is the controller's URL except after `config set`, where it is the
 *  config's: there the controller's URL goes before the command (`dcm --url C config set --url U`) or in DCM_URL. */
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
]

export const TOP_HELP = `dcm — operate a dcm controller

Usage: dcm <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(18)}${c.summary.split('. ')[0]!.replace(/\.$/, '')}`).join('\n')}

Run \`dcm <command> --help\` for a command's options.
Exit codes: 0 ok, 1 the server refused (4xx), 2 usage error, 3 controller unreachable or 5xx.

${GLOBAL_HELP}`

const CONFIG_HELP = `Usage: dcm config <get|set|history|rollback> [options]

${COMMANDS.filter((c) => c.name.startsWith('config ')).map((c) => `  ${c.name.padEnd(18)}${c.summary}`).join('\n')}

${GLOBAL_HELP}`

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
  if (word === 'config') {
    const sub = tail[0]
    if (sub === undefined || sub.startsWith('-')) {
      if (sub === '--help' || sub === '-h' || lead.help) return { kind: 'help', text: CONFIG_HELP }
      throw new UsageError('config needs a subcommand: get, set, history or rollback', CONFIG_HELP)
    }
    name = `config ${sub}`
    tail = tail.slice(1)
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) throw new UsageError(`unknown command "${name}"`, name.startsWith('config ') ? CONFIG_HELP : TOP_HELP)
  // After `config set`, --url is the config's URL (its own option wins over the global one).
  const own = { ...GLOBAL, ...command.options }
  const { values: v, positionals } = parseOrUsage(tail, own, command.help)
  if (lead.help || v.help) return { kind: 'help', text: command.help }
  if (positionals.length !== command.args.length)
    throw new UsageError(
      command.args.length ? `${name} takes ${command.args.join(' ')}${positionals.length > command.args.length ? `; unexpected "${positionals[command.args.length]}"` : ''}` : `unexpected argument "${positionals[0]}"`,
      command.help,
    )
  const global: Global = {
    url: (command.name === 'config set' ? undefined : str(v, 'url')) ?? str(lead, 'url'),
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
    // parseArgs explains: "Unknown option '--x'", "Option '--limit <value>' argument missing", …
    throw new UsageError((e as Error).message.split('. To specify')[0]!, help)
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
