import { msUntilToken, refill, type BucketState } from './bucket'

/** The addresses whose failures are remembered at most; past it the one that failed least recently is
 *  forgotten (a bounded map: a flood from many addresses costs memory up to here and no further). */
export const MAX_ADDRESSES = 50_000

/** Failed authentications per client address: each address may fail `perMinute` times a minute (as a
 *  token bucket: a burst of that many, then one every 60/perMinute s). Beyond, it is blocked until its
 *  bucket holds a token again; requests refused while blocked do not count (the limit is a rate, not a
 *  penalty that grows). IPv6 clients are counted per /64, the block one host usually holds. */
export class FailureLimiter {
  readonly #byAddress = new Map<string, BucketState>()

  constructor(
    private readonly perMinute: number,
    private readonly opts: { maxAddresses?: number; now?: () => number } = {},
  ) {}

  /** Milliseconds until `address` may fail again; 0 when it is not blocked. One map lookup. */
  blockedFor(address: string): number {
    const s = this.#byAddress.get(addressKey(address))
    if (s === undefined || s.tokens >= 1) return 0
    return msUntilToken(refill(s, this.#now(), this.perMinute, this.perMinute), this.perMinute)
  }

  /** Count one refused request from `address`. */
  fail(address: string): void {
    const key = addressKey(address)
    const s = this.#byAddress.get(key)
    const now = this.#now()
    if (s === undefined) {
      if (this.#byAddress.size >= (this.opts.maxAddresses ?? MAX_ADDRESSES)) this.#byAddress.delete(this.#byAddress.keys().next().value!)
      this.#byAddress.set(key, { tokens: this.perMinute - 1, at: now })
      return
    }
    refill(s, now, this.perMinute, this.perMinute)
    s.tokens = Math.max(0, s.tokens - 1)
    // Most recently failed last, so the map forgets the quietest address first.
    this.#byAddress.delete(key)
    this.#byAddress.set(key, s)
  }

  /** Addresses remembered right now. */
  get size(): number {
    return this.#byAddress.size
  }

  #now(): number {
    return (this.opts.now ?? Date.now)()
  }
}

/** The key an address is counted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7)
  const zone = address.indexOf('%')
  const bare = (zone === -1 ? address : address.slice(0, zone)).toLowerCase()
  const gap = bare.indexOf('::')
  let groups: string[]
  if (gap === -1) groups = bare.split(':')
  else {
    const head = bare.slice(0, gap).split(':').filter(Boolean)
    const tail = bare.slice(gap + 2).split(':').filter(Boolean)
    groups = [...head, ...Array(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail]
  }
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}
