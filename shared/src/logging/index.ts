export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]
export type LogFields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  /** The access log line, built without JSON.stringify: it is written for every request. */
  request(method: string, path: string, status: number, durationMs: number, requestId: string, level?: LogLevel): void
  enabled(level: LogLevel): boolean
  flush(): void
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }
// Field names that may carry a secret are blanked whatever their value.
const SECRET_FIELD = /key|secret|token|password|authorization|cookie/i

const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/

type Sink = { write(s: string): unknown; flush(): unknown }

/** A JSON-lines logger. Writes are buffered and flushed every 50 ms (and on flush()), so a log line
 *  on a hot path costs a string build and a memcpy, not a syscall. */
export function createLogger(opts: { service: string; level?: LogLevel; sink?: Sink }): Logger {
  const min = RANK[opts.level ?? 'info']
  const sink: Sink = opts.sink ?? Bun.stdout.writer()
  const timer = setInterval(() => sink.flush(), 50)
  timer.unref()
  const head = `,"service":${JSON.stringify(opts.service)}`

  // Under load many lines share a millisecond: format the time once per millisecond.
  let lastMs = 0
  let lastIso = ''
  const now = () => {
    const ms = Date.now()
    if (ms !== lastMs) {
      lastMs = ms
      lastIso = new Date(ms).toISOString()
    }
    return lastIso
  }

  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return
    let line = `{"time":"${now()}","level":"${level}"${head},"msg":${JSON.stringify(msg)}`
    if (fields) {
      for (const k in fields) {
        const v = fields[k]
        if (v === undefined) continue
        line += `,${JSON.stringify(k)}:${SECRET_FIELD.test(k) ? '"[redacted]"' : stringify(v)}`
      }
    }
    sink.write(line + '}\n')
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    request(method, path, status, durationMs, requestId, level = 'info') {
      if (RANK[level] < min) return
      // method is an HTTP token and requestId is sanitised or a UUID; a path is percent-encoded, but
      // one with a character JSON must escape still goes through JSON.stringify.
      const p = NEEDS_ESCAPE.test(path) ? JSON.stringify(path) : `"${path}"`
      sink.write(
        `{"time":"${now()}","level":"${level}"${head},"msg":"request","method":"${method}","path":${p},"status":${status},"duration_ms":${Math.round(durationMs * 1000) / 1000},"request_id":"${requestId}"}\n`,
      )
    },
    enabled: (level) => RANK[level] >= min,
    flush: () => void sink.flush(),
  }
}

function stringify(v: unknown): string {
  if (v instanceof Error) return JSON.stringify({ name: v.name, message: v.message })
  try {
    return JSON.stringify(v) ?? 'null'
  } catch {
    return '"[unserializable]"'
  }
}
