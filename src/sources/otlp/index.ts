export { createOtlpSource, otlpSourceConfigSchema, type OtlpSource, type OtlpSourceConfig, type OtlpSourceStats } from './receiver.js'
export { expandOtlpRecords, type OtlpEncoding } from './kafka-envelope.js'
