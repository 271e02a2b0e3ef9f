import Decoder from 'kafkajs/src/protocol/decoder.js'
import decodeRecordBatch from 'kafkajs/src/protocol/recordBatch/v0/decoder.js'
import { registerKafkaCodecs } from '../../../src/sources/kafka/codecs.js'

registerKafkaCodecs()

// Reusing kafkajs' own batch decoder keeps test assertions (broker.messages()) honest about
// what a kafkajs consumer would see, with every codec the product registers.
export const decodeBatch = (batch: Buffer) => decodeRecordBatch(new Decoder(batch))
