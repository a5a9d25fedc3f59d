import { Elysia } from 'elysia'
import { swagger } from '@elysiajs/swagger'
import { STATUS_CODES } from 'node:http'

type Operation = { security?: unknown[]; responses?: Record<string, { description?: string; content?: unknown }>; requestBody?: { content?: Record<string, unknown> } }
type Spec = { paths?: Record<string, Record<string, Operation>> }

/** OpenAPI 3.1 at /swagger (UI) and /swagger/json, with both ways to present an API key. The generator
 *  leaves out what a valid document needs; `complete` adds it, so `redocly lint` finds no error: a
 *  description on every response, `security: []` on the public operations, JSON as the only request body
 *  type (the body gate refuses the others), and a server (the one the document was served from). */
export function apiDocs(info: { title: string; version: string; description: string }) {
  return new Elysia({ name: `docs:${info.title}` })
    .onAfterHandle(({ path, response }) => (path === '/swagger/json' ? complete(response as Spec) : undefined))
    .use(
      swagger({
        path: '/swagger',
        exclude: ['/swagger', '/swagger/json'],
        documentation: {
          openapi: '3.1.0',
          info: { ...info, license: { name: 'Proprietary', identifier: 'LicenseRef-dcm' } },
          servers: [{ url: '/', description: 'the service that served this document' }],
          components: {
            securitySchemes: {
              bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
              apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
            },
          },
        } as Parameters<typeof swagger>[0] extends infer O ? (O extends { documentation?: infer D } ? D : never) : never,
      }),
    )
}

export function complete<S extends Spec>(spec: S): S {
  for (const ops of Object.values(spec.paths ?? {}))
    for (const op of Object.values(ops)) {
      op.security ??= []
      for (const [code, res] of Object.entries(op.responses ?? {})) res.description ??= STATUS_CODES[Number(code)] ?? 'answer'
      const content = op.requestBody?.content
      if (content) for (const type of Object.keys(content)) if (type !== 'application/json') delete content[type]
    }
  return spec
}
