export { createKafkaSource, type KafkaSource, type KafkaSourceDeps, type KafkaSourceStats } from './kafka-source.js'
export { kafkaSourceConfigSchema, loadKafkaSourceConfig, type KafkaSourceConfig, type KafkaSourceConfigInput } from './config.js'
export { PartitionTracker, InFlightBudget, jitteredBackoff } from './ack-tracker.js'
export { registerKafkaCodecs, compressionType, KAFKA_CODECS, type KafkaCodecName } from './codecs.js'
