export { FORBIDDEN_RANGES, isForbiddenAddress } from './address'
export { bareName, NOTHING_ALLOWED, parseUpstreamAllow, type UpstreamAllow } from './allow'
export { forbiddenResolution, systemLookup, type Lookup } from './resolve'
export { METADATA_NAMES, upstreamHost, upstreamRefusal } from './url'
