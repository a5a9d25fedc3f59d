export { AgentState, emptyState } from './model'
export { decode, encode } from './codec'
export { fileStateStore, memoryStateStore, type Loaded, type Saved, type StateStore } from './file'
