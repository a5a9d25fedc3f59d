export { refill, TokenBucket, type BucketState } from './bucket'
export { addressKey, FailureLimiter, MAX_ADDRESSES } from './failures'
