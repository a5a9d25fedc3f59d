export { gatekeeper, NO_CREDENTIALS, type Authenticate } from './gate'
export { keyChecker, presentedKey, type Credentials, type KeyCheck } from './keys'
export { apiKeyAuth, type AuthPlugin } from './plugin'
