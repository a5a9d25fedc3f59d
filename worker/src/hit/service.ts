import { BadGateway, forbiddenResolution, GatewayTimeout, HttpError, NOTHING_ALLOWED, systemLookup, Unavailable, type Logger, type Lookup, type UpstreamAllow } from '@dcm/shared'
import type { ActiveConfig } from '../config/service'
import { passedHeaders } from './headers'

const TICK_MS = 50
const MAX_VIA = 2000
/** Bodies up to this size with a Content-Length are read whole before they are sent. */
export const BUFFER_MAX = 256 * 1024

/** One timeout signal shared by every request that starts within the same 50 ms tick (per timeout):
 *  it fires `timeoutMs` after the tick ends, so each request gets between timeoutMs and timeoutMs + 50.
 *  A timer per request (AbortSignal.timeout) cost /hit measurable throughput. */
const ticks = new Map<number, { tick: number; signal: AbortSignal }>()
function timeoutSignal(timeoutMs: number): AbortSignal {
  const tick = Math.floor(performance.now() / TICK_MS)
  const cur = ticks.get(timeoutMs)
  if (cur?.tick === tick) return cur.signal
  const signal = AbortSignal.timeout(timeoutMs + TICK_MS)
  ticks.set(timeoutMs, { tick, signal })
  return signal
}

export interface ForwarderOptions {
  logger: Logger
  /** Upstream calls at once (body streaming included); one more gets 503 upstream_busy. */
  maxCalls: number
  /** This worker's token in the Via header: seen on an incoming /hit, the URL leads back here. */
  via: string
  /** What UPSTREAM_ALLOW permits of the addresses a configured name resolves to. */
  upstreamAllow?: UpstreamAllow
  /** The resolver names are checked with (Bun's, unless a test stands in for it). */
  lookup?: Lookup
  /** How long one resolution's verdict serves the calls that follow (default 1000 ms). */
  resolveCacheMs?: number
}

/** GET /hit's work: call the configured URL and hand back its answer with the body still streaming.
 *  The timeout covers the whole exchange, body included; a caller that goes away cancels the upstream
 *  call; a body that breaks off is logged and counted as an upstream failure. A configured host name is
 *  resolved and checked before every call (502 upstream_forbidden when any of its addresses is
 *  link-local or cloud metadata); an IP literal was checked on apply and costs nothing here. */
export function forwarder({ logger, maxCalls, via, upstreamAllow = NOTHING_ALLOWED, lookup = systemLookup, resolveCacheMs = 1000 }: ForwarderOptions) {
  let calls = 0
  const done = () => void calls--

  // The verdict on the configured name, shared by the calls of one second: a lookup per call cost /hit
  // about a fifth of its throughput (bench hit), and fetch's own DNS cache keeps an answer for up to
  // 30 s anyway. Once settled it is read without a promise; a failed lookup is not kept.
  type Verdict = { host: string; until: number; pending: Promise<string | null>; address?: string | null }
  let last: Verdict | null = null
  const verdictOn = (host: string): Verdict => {
    const now = performance.now()
    if (last !== null && last.host === host && last.until > now) return last
    const entry: Verdict = { host, until: now + resolveCacheMs, pending: forbiddenResolution(host, upstreamAllow, lookup) }
    last = entry
    entry.pending.then(
      (address) => void (entry.address = address),
      () => {
        if (last === entry) last = null
      },
    )
    return entry
  }

  /** Throws 502 upstream_forbidden when `host` resolves to a forbidden address (as of at most
   *  resolveCacheMs ago). fetch resolves the name again, through Bun's own cache (answers up to 30 s
   *  old): a name that changes its answer between the two lookups (DNS rebinding) is not caught here. */
  const refuseForbidden = (cfg: ActiveConfig, address: string | null, requestId: string) => {
    if (address === null) return
    logger.warn('upstream refused: its name resolves to a forbidden address', { request_id: requestId, url: cfg.maskedUrl, address })
    throw new BadGateway(`the upstream ${cfg.maskedUrl} resolves to a link-local or cloud metadata address; UPSTREAM_ALLOW can permit it`, 'upstream_forbidden')
  }

  return async function forward(cfg: ActiveConfig, request: Request, requestId: string): Promise<Response> {
    const incoming = request.headers.get('via')
    if (incoming !== null) {
      // A Via this long is a client's doing (or a chain of proxies we will not extend), not our loop.
      if (incoming.length > MAX_VIA) throw new HttpError(431, 'via_too_long', `the Via header is over ${MAX_VIA} characters`)
      if (incoming.includes(via)) {
        cfg.hits.failed()
        throw new HttpError(508, 'loop_detected', 'the configured URL leads back to this worker')
      }
    }
    if (calls >= maxCalls) {
      cfg.hits.failed()
      throw new Unavailable(`${maxCalls} upstream calls are under way; retry shortly`, 'upstream_busy', 1)
    }
    calls++
    const accept = request.headers.get('accept-encoding')
    const signal = AbortSignal.any([timeoutSignal(cfg.timeoutMs), request.signal])
    let res: Response
    const started = performance.now()
    try {
      if (cfg.lookupHost !== null) {
        const v = verdictOn(cfg.lookupHost)
        refuseForbidden(cfg, v.address !== undefined ? v.address : await untilAborted(v.pending, signal), requestId)
      }
      res = await fetch(cfg.url, {
        signal,
        // Pass the body through as the upstream encoded it, in an encoding the client accepts.
        headers: { 'accept-encoding': accept ?? 'identity', 'x-request-id': requestId, via: incoming ? `${incoming}, 1.1 ${via}` : `1.1 ${via}` },
        decompress: false,
        // A proxy passes redirects on rather than following them to wherever they point.
        redirect: 'manual',
      })
    } catch (e) {
      done()
      cfg.hits.failed()
      cfg.hits.timed(performance.now() - started)
      if (e instanceof HttpError) throw e
      const err = e as Error & { code?: string }
      if (err.name === 'TimeoutError' && !request.signal.aborted)
        throw new GatewayTimeout(`the upstream ${cfg.maskedUrl} did not answer within ${cfg.timeoutMs} ms`, 'upstream_timeout')
      throw new BadGateway(`the upstream ${cfg.maskedUrl} could not be reached (${err.code ?? err.name})`, 'upstream_unreachable')
    }
    cfg.hits.timed(performance.now() - started)
    const headers = passedHeaders(res.headers, requestId)
    const status = res.status
    if (res.body === null) {
      done()
      cfg.hits.answered(status)
      return new Response(null, { status, headers })
    }
    // A small body of known length is read whole, then sent: a failure on the way is a clean 502/504,
    // and it is cheaper than streaming it through our code. Anything else streams.
    if (Number(res.headers.get('content-length') ?? Infinity) <= BUFFER_MAX) {
      let bytes: ArrayBuffer
      try {
        bytes = await res.arrayBuffer()
      } catch (e) {
        cfg.hits.failed()
        // A caller who left is not the upstream's failure: nothing to log (the answer goes nowhere).
        if (request.signal.aborted) throw new BadGateway('the caller went away', 'client_gone')
        logger.warn('upstream body broke off', { request_id: requestId, url: cfg.maskedUrl, status, error: e as Error })
        if ((e as Error).name === 'TimeoutError' && !request.signal.aborted)
          throw new GatewayTimeout(`the upstream ${cfg.maskedUrl} did not send its body within ${cfg.timeoutMs} ms`, 'upstream_timeout')
        throw new BadGateway(`the upstream ${cfg.maskedUrl} broke off its body`, 'upstream_broke_off')
      } finally {
        done()
      }
      cfg.hits.answered(status)
      return new Response(bytes, { status, headers })
    }
    cfg.hits.answered(status)
    const onBreak = (e: unknown) => {
      cfg.hits.brokeOff(status)
      logger.warn('upstream body broke off', { request_id: requestId, url: cfg.maskedUrl, status, error: e as Error })
    }
    return new Response(streamed(res.body, done, onBreak, request.signal), { status, headers })
  }
}

/** `work`, or the signal's reason once it aborts first (a lookup has no signal of its own). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** `body` passed on as it arrives; `settle` runs once when it ends in any way. A read that fails calls
 *  `onBreak` (unless the client left first) and cuts the response without a complete ending, and
 *  without the runtime's own stack dump on stderr. */
function streamed(body: ReadableStream<Uint8Array>, settle: () => void, onBreak: (e: unknown) => void, client: AbortSignal): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let open = true
  const end = () => {
    if (open) {
      open = false
      settle()
    }
  }
  client.addEventListener('abort', end, { once: true })
  // Bun's "direct" stream: chunks go straight to the socket, far cheaper than a pull stream (bench/results.md).
  return new ReadableStream({
    type: 'direct',
    async pull(out: { write(chunk: Uint8Array): unknown; flush(): unknown; close(): void }) {
      try {
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          out.write(value)
          await out.flush()
        }
      } catch (e) {
        if (!client.aborted) onBreak(e)
        void reader.cancel().catch(() => {})
        // Throwing nothing: the runtime cuts the connection and prints nothing.
        throw undefined
      } finally {
        end()
        client.removeEventListener('abort', end)
      }
      out.close()
    },
  } as unknown as ConstructorParameters<typeof ReadableStream<Uint8Array>>[0])
}
