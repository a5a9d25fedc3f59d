export { AgentState, emptyState } from './model'
export { fileStateStore, encode, decode, type StateStore, type Loaded } from './file'
