export { AgentState, emptyState } from './model'
export { decode, encode } from './codec'
export { FAIL_POINTS, fileStateStore, memoryStateStore, type FailPoint, type Loaded, type Saved, type StateStore } from './file'
