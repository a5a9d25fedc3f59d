import { expect, test } from 'bun:test'
import { addressKey, FailureLimiter, TokenBucket } from '.'

const clock = (start = 1_000_000) => {
  let t = start
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}

test('an address may fail perMinute times at once, then once every 60/perMinute s; refusals while blocked do not count', () => {
  const c = clock()
  const f = new FailureLimiter(30, { now: c.now })
  for (let i = 0; i < 30; i++) {
    expect(f.blockedFor('10.0.0.1')).toBe(0)
    f.fail('10.0.0.1')
  }
  expect(f.blockedFor('10.0.0.1')).toBe(2000)
  expect(f.blockedFor('10.0.0.2')).toBe(0) // another address is not affected
  c.advance(1500)
  expect(f.blockedFor('10.0.0.1')).toBe(500)
  c.advance(500)
  expect(f.blockedFor('10.0.0.1')).toBe(0)
  f.fail('10.0.0.1')
  expect(f.blockedFor('10.0.0.1')).toBe(2000)
  c.advance(60_000) // a quiet minute refills the whole burst
  for (let i = 0; i < 30; i++) f.fail('10.0.0.1')
  expect(f.blockedFor('10.0.0.1')).toBeGreaterThan(0)
})

test('the map of addresses is bounded: the address that failed least recently is forgotten first', () => {
  const c = clock()
  const f = new FailureLimiter(1, { now: c.now, maxAddresses: 3 })
  for (const a of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) f.fail(a)
  f.fail('1.1.1.1') // 1.1.1.1 is now the most recent
  f.fail('4.4.4.4')
  expect(f.size).toBe(3)
  expect(['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'].map((a) => f.blockedFor(a) > 0)).toEqual([true, false, true, true])
})

test('IPv4-mapped addresses count as IPv4, IPv6 ones per /64', () => {
  expect(addressKey('10.0.0.1')).toBe('10.0.0.1')
  expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1')
  expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64')
  expect(addressKey('2001:0DB8:0001:0002:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64')
  expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64')
  expect(addressKey('::1')).toBe('0:0:0:0::/64')
  expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
  const f = new FailureLimiter(1)
  f.fail('2001:db8:1:2::1')
  expect(f.blockedFor('2001:db8:1:2::99')).toBeGreaterThan(0)
})

test('a token bucket: a burst, then perMinute a minute; a token given back can be taken again', () => {
  const c = clock()
  const b = new TokenBucket(60, 2, c.now)
  expect([b.take(), b.take(), b.take()]).toEqual([true, true, false])
  expect(b.retryAfterMs).toBe(1000)
  b.give()
  expect(b.take()).toBe(true)
  c.advance(1000)
  expect([b.take(), b.take()]).toEqual([true, false])
  c.advance(10_000)
  expect([b.take(), b.take(), b.take()]).toEqual([true, true, false])
})
