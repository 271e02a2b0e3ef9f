import Decoder from 'kafkajs/src/protocol/decoder.js'
import decodeRecordBatch from 'kafkajs/src/protocol/recordBatch/v0/decoder.js'

// Reusing kafkajs' own batch decoder keeps test assertions (broker.messages()) honest about
// what a kafkajs consumer would see, gzip included.
export const decodeBatch = (batch: Buffer) => decodeRecordBatch(new Decoder(batch))
