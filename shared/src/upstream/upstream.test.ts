import { describe, expect, test } from 'bun:test'
import { forbiddenResolution, isForbiddenAddress, NOTHING_ALLOWED, parseUpstreamAllow, upstreamHost, upstreamRefusal } from '.'
import { SettingsError } from '../settings'

const none = NOTHING_ALLOWED

describe('a metadata address is refused in every spelling a URL can take', () => {
  test.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://2852039166/',
    'http://0xA9FEA9FE/',
    'http://0xa9.0xfe.0xa9.0xfe/',
    'http://0251.0376.0251.0376/',
    'http://169.254.43518/',
    'http://169.254.169.254./',
    'http://%31%36%39.254.169.254/',
    'http://①⑥⑨.254.169.254/',
    'http://169。254。169。254/',
    'http://user:pw@169.254.169.254:8080/x',
    'http://169.254.170.2/v2/credentials',
    'http://[::ffff:169.254.169.254]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://[0:0:0:0:0:ffff:169.254.169.254]/',
    'http://[::169.254.169.254]/',
    'http://[64:ff9b::169.254.169.254]/',
    'http://[fd00:ec2::254]/',
    'http://[FD00:0EC2:0000::0254]/',
    'http://[fe80::1]/',
    'https://[febf:ffff::1]:8443/',
    'http://100.100.100.200/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://METADATA.Google.Internal./',
    'http://metadata/',
    'http://metadata.goog/',
    'http://instance-data/latest/',
    'http://instance-data.ec2.internal/',
  ])('%s', (url) => {
    expect(upstreamRefusal(url, none)).toContain('UPSTREAM_ALLOW')
  })
})

describe('ordinary upstreams are not refused', () => {
  test.each([
    'http://127.0.0.1:8090/demo',
    'http://localhost:8090/',
    'http://[::1]:8090/',
    'http://0.0.0.0:8090/',
    'http://10.0.0.5/',
    'http://192.168.1.10/',
    'https://example.com/',
    'http://169.253.255.255/',
    'http://169.255.0.1/',
    'http://[fec0::1]/',
    'http://[fd00:ec2::253]/',
    'http://100.100.100.201/',
    'http://metadata.example.com/',
    'http://my-metadata/',
  ])('%s', (url) => {
    expect(upstreamRefusal(url, none)).toBeNull()
  })
})

test('UPSTREAM_ALLOW permits ranges, single addresses and names, in any IPv6 spelling of a permitted IPv4', () => {
  const allow = parseUpstreamAllow(' 169.254.169.254/32 , fd00:ec2::254, Metadata.Google.Internal. ,,')
  expect(upstreamRefusal('http://169.254.169.254/', allow)).toBeNull()
  expect(upstreamRefusal('http://[::ffff:169.254.169.254]/', allow)).toBeNull()
  expect(upstreamRefusal('http://[fd00:ec2::254]/', allow)).toBeNull()
  expect(upstreamRefusal('http://metadata.google.internal/', allow)).toBeNull()
  expect(upstreamRefusal('http://169.254.169.253/', allow)).not.toBeNull()
  expect(upstreamRefusal('http://metadata/', allow)).not.toBeNull()
  expect(upstreamRefusal('http://[fe80::1]/', parseUpstreamAllow('fe80::/10'))).toBeNull()
})

test('an UPSTREAM_ALLOW entry that means nothing stops the service with the entry named', () => {
  for (const bad of ['169.254.0.0/33', 'not a name', '1.2.3', 'http://x/', '300.1.1.1'])
    expect(() => parseUpstreamAllow(bad)).toThrow(SettingsError)
  expect(() => parseUpstreamAllow('a.example, -bad-')).toThrow('"-bad-"')
})

test('resolved addresses: every spelling a resolver may give, zone ids included', () => {
  for (const ip of ['169.254.169.254', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', 'fe80::1%eth0', 'fd00:ec2::254', '100.100.100.200'])
    expect({ ip, forbidden: isForbiddenAddress(ip, none) }).toEqual({ ip, forbidden: true })
  for (const ip of ['127.0.0.1', '::1', '10.1.2.3', '2001:db8::1', '::', 'not-an-ip'])
    expect({ ip, forbidden: isForbiddenAddress(ip, none) }).toEqual({ ip, forbidden: false })
})

test('the worker resolves names and nothing else: IP literals are judged once, allowed names never', () => {
  expect(upstreamHost('http://169.254.169.254/', none)).toEqual({ ip: '169.254.169.254' })
  expect(upstreamHost('http://[::1]:80/', none)).toEqual({ ip: '::1' })
  expect(upstreamHost('http://2130706433/', none)).toEqual({ ip: '127.0.0.1' })
  expect(upstreamHost('http://Up.Example:81/', none)).toEqual({ name: 'up.example' })
  expect(upstreamHost('http://up.example./', parseUpstreamAllow('up.example'))).toBeNull()
})

test('a name is forbidden when any address it resolves to is', async () => {
  const lookup = async (host: string) => (host === 'evil.example' ? [{ address: '10.0.0.1' }, { address: '169.254.169.254' }] : [{ address: '10.0.0.2' }])
  expect(await forbiddenResolution('evil.example', none, lookup)).toBe('169.254.169.254')
  expect(await forbiddenResolution('good.example', none, lookup)).toBeNull()
  expect(await forbiddenResolution('evil.example', parseUpstreamAllow('169.254.0.0/16'), lookup)).toBeNull()
  expect(await forbiddenResolution('localhost', none)).toBeNull()
})
