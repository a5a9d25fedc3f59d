export { AgentState, emptyState } from './model'
export { fileStateStore, memoryStateStore, encode, decode, type StateStore, type Loaded } from './file'
