// kafkajs ships no types for its protocol internals; kafkajs is pinned to exactly 2.2.4
// in package.json, which is what makes importing them acceptable.
declare module 'kafkajs/src/protocol/decoder.js' {
  export default class Decoder {
    constructor(buffer: Buffer)
  }
}

declare module 'kafkajs/src/protocol/recordBatch/v0/decoder.js' {
  import type Decoder from 'kafkajs/src/protocol/decoder.js'
  interface DecodedRecord {
    offset: string
    timestamp: string
    key: Buffer | null
    value: Buffer | null
    headers: Record<string, Buffer | Buffer[] | undefined>
  }
  const decodeRecordBatch: (decoder: Decoder) => Promise<{ firstOffset: string; records: DecodedRecord[] }>
  export default decodeRecordBatch
}
