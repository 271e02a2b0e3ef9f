export { TestOpenSearch, applyFilterPath, type RecordedRequest, type TestOpenSearchOptions } from './server.js'
export { Faults, failByRate, failIds, type ItemFaultContext, type ItemFaultFn } from './faults.js'
export type { StoredDoc } from './state.js'
