import { SettingsError, splitList } from '@dcm/shared'

/** `name:key` in ADMIN_API_KEY gives a key a name for history and the audit trail. */
const NAMED = /^([A-Za-z0-9._-]{1,64}):(.+)$/

/** Split ADMIN_API_KEY's entries into the keys (checked like any key list) and their names. A key
 *  without a name is shown as `key:` and the first 8 hex characters of its SHA-256, never itself. */
export function namedKeys(value: string | undefined): { keys: string; names: Map<string, string> } {
  const names = new Map<string, string>()
  const keys: string[] = []
  for (const entry of splitList(value)) {
    const m = NAMED.exec(entry)
    const key = m ? m[2]! : entry
    if (m) {
      if ([...names.values()].includes(m[1]!)) throw new SettingsError([`ADMIN_API_KEY names two keys "${m[1]}"; each name must be unique`])
      names.set(key, m[1]!)
    }
    keys.push(key)
  }
  return { keys: keys.join(','), names }
}

/** Who a presented admin key is, as history and the audit show it. */
export const actorOf = (names: ReadonlyMap<string, string>) => (key: string | null): string =>
  key === null ? 'unknown' : (names.get(key) ?? `key:${new Bun.CryptoHasher('sha256').update(key).digest('hex').slice(0, 8)}`)
