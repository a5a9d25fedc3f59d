#!/usr/bin/env bun
/** dcm, the admin CLI: `dcm --help`. Reads DCM_URL and DCM_ADMIN_KEY; see cli/README.md. */
import { run } from './main'

const stop = new AbortController()
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => stop.abort())

process.exitCode = await run(process.argv.slice(2), {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  env: process.env,
  fetcher: fetch,
  signal: stop.signal,
})
// No process.exit: it would cut off output still queued for a pipe (a long table read by `head` or a script).
