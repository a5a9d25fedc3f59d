import { swagger } from '@elysiajs/swagger'

/** OpenAPI docs at /swagger (UI) and /swagger/json, with both ways to present an API key. */
export function apiDocs(info: { title: string; version: string; description: string }) {
  return swagger({
    path: '/swagger',
    exclude: ['/swagger', '/swagger/json'],
    documentation: {
      info,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <key>' },
          apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
  })
}
