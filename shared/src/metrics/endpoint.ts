import { Elysia } from 'elysia'
import { gatekeeper } from '../auth/gate'
import { keyChecker } from '../auth/keys'
import type { FailureLimiter } from '../rate-limit'
import { ErrorShape } from '../errors'
import type { Metrics } from './registry'

/** The registry in the text format. prom-client 15 writes NaN as `Nan` (an event-loop mean before its
 *  first sample): Prometheus reads either, stricter parsers only the spelling of the format, `NaN`. */
export async function metricsText({ registry }: Metrics): Promise<string> {
  return (await registry.metrics()).replace(/ Nan$/gm, ' NaN')
}

/** GET /metrics: the registry in the Prometheus text format, with the registry's content type. Open to
 *  anyone unless `keys` holds METRICS_API_KEY's keys; then it needs one of them (Bearer or X-API-Key, as
 *  every key of ours), else 401 (429 for an address that failed too often, when `failures` is given). */
export function metricsRoute(metrics: Metrics, opts: { keys: readonly string[]; failures?: FailureLimiter | null }) {
  const authenticate = opts.keys.length ? gatekeeper(keyChecker({ metrics: opts.keys }), opts.failures ?? null) : null
  const { registry } = metrics
  return new Elysia({ name: 'dcm.metrics' }).get(
    '/metrics',
    async ({ request }) => {
      if (authenticate !== null) await authenticate(request)
      return new Response(await metricsText(metrics), { headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' } })
    },
    {
      detail: {
        summary: 'Metrics in the Prometheus text format (open unless METRICS_API_KEY is set; then 401 without one of its keys)',
        tags: ['health'],
        ...(authenticate !== null ? { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }] } : {}),
        responses: {
          200: { description: 'the Prometheus text exposition format, version 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
          401: { description: 'METRICS_API_KEY is set and the request presented none of its keys', content: { 'application/json': { schema: ErrorShape } } },
          429: { description: 'too many failed authentications from this address', content: { 'application/json': { schema: ErrorShape } } },
        },
      },
    },
  )
}
