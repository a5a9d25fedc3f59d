import { BadRequest, PayloadTooLarge, UnsupportedMediaType } from '../errors'

/** Read a JSON body, refusing more than `limit` bytes even when no Content-Length was sent. */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  const type = request.headers.get('content-type')
  if (type !== null && !/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type)) throw new UnsupportedMediaType()
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > limit) throw new PayloadTooLarge(limit)
  let text: string
  if (Number.isFinite(declared)) {
    text = await request.text()
    if (text.length > limit) throw new PayloadTooLarge(limit)
  } else {
    text = await readCapped(request, limit)
  }
  // No body at all is left to the route's schema: optional for some routes, a 422 for others.
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new BadRequest(`the request body is not valid JSON: ${(e as Error).message}`, 'malformed_json')
  }
}

async function readCapped(request: Request, limit: number): Promise<string> {
  if (!request.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of request.body) {
    size += chunk.byteLength
    if (size > limit) throw new PayloadTooLarge(limit)
    chunks.push(chunk)
  }
  return new TextDecoder().decode(Buffer.concat(chunks))
}
