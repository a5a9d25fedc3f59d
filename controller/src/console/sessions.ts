import { Forbidden, Unauthorized, type Logger } from '@dcm/shared'
import { hashToken, newToken } from '../agents/tokens'
import { guard, type ConfigStore, type SessionRow } from '../store'

export const COOKIE = 'dcm_session'
/** How long a console session lasts. */
export const SESSION_SECONDS = 8 * 3600
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The session cookie a request carries, or null. */
export function sessionCookie(request: Request): string | null {
  const header = request.headers.get('cookie')
  if (header === null) return null
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === COOKIE) return value.join('=') || null
  }
  return null
}

/** Console sessions: a random cookie (only its hash is stored), the operator it stands for, and a CSRF
 *  token that every changing request must echo in X-CSRF-Token. Every cookie request reads its row, so
 *  a sign-out ends the session on every replica at once (admin traffic is light). */
export class Sessions {
  /** Who each request authenticated by a session is (for history and the audit). */
  readonly #actors = new WeakMap<Request, SessionRow>()

  constructor(
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    /** The operators the configured admin keys stand for: a session of a key no longer configured ends. */
    private readonly operators: ReadonlySet<string>,
    private readonly now: () => number = Date.now,
  ) {}

  async create(actor: string, requestId: string): Promise<{ cookie: string; row: SessionRow }> {
    const cookie = newToken()
    const row: SessionRow = { id_hash: hashToken(cookie), actor, csrf: newToken(), expires_at: new Date(this.now() + SESSION_SECONDS * 1000).toISOString(), ended_at: null }
    await guard((signal) => this.store.createSession({ id_hash: row.id_hash, actor: row.actor, csrf: row.csrf, expires_at: row.expires_at }, signal), 'write', this.logger, requestId)
    return { cookie, row }
  }

  /** The live session of a cookie, or null (unknown, ended, expired). */
  async find(cookie: string): Promise<SessionRow | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(cookie)) return null
    const row = await guard((signal) => this.store.session(hashToken(cookie), signal), 'read', this.logger)
    if (row === null || row.ended_at !== null || Date.parse(row.expires_at) <= this.now() || !this.operators.has(row.actor)) return null
    return row
  }

  /** Authenticate a request by its session cookie: the admin role, once its CSRF token is checked on a
   *  changing request. Throws 401 for a cookie that names no live session, 403 for a missing or wrong
   *  CSRF token. */
  async authenticate(request: Request, cookie: string): Promise<'admin'> {
    const row = await this.find(cookie)
    if (row === null) throw new Unauthorized('the console session has ended or expired; sign in again')
    if (!SAFE.has(request.method)) {
      const token = request.headers.get('x-csrf-token')
      if (token === null) throw new Forbidden('a changing request of a console session needs its X-CSRF-Token', 'csrf_token_required')
      if (token !== row.csrf) throw new Forbidden('X-CSRF-Token does not match this session', 'csrf_token_mismatch')
    }
    this.#actors.set(request, row)
    return 'admin'
  }

  /** The session a request was authenticated by, if any. */
  of(request: Request): SessionRow | undefined {
    return this.#actors.get(request)
  }

  async end(cookie: string, requestId: string): Promise<void> {
    await guard((signal) => this.store.endSession(hashToken(cookie), signal), 'write', this.logger, requestId)
  }
}

/** Set-Cookie for a session (Secure when the console is reached over https, directly or per the
 *  proxy's X-Forwarded-Proto), or to clear it. */
export function setCookie(request: Request, cookie: string | null): string {
  const secure = new URL(request.url).protocol === 'https:' || request.headers.get('x-forwarded-proto') === 'https'
  const attrs = ['HttpOnly', 'SameSite=Strict', 'Path=/', cookie === null ? 'Max-Age=0' : `Max-Age=${SESSION_SECONDS}`, ...(secure ? ['Secure'] : [])]
  return `${COOKIE}=${cookie ?? ''}; ${attrs.join('; ')}`
}
