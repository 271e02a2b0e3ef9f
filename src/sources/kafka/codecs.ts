/**
 * The Kafka compression codecs real shippers use (Fluent Bit, Vector, the OpenTelemetry Collector's
 * Kafka exporter, Java clients), registered with kafkajs in one place. kafkajs has gzip built in and
 * throws KafkaJSNotImplemented for the others, which stopped the consumer for good at the first such
 * batch. A topic with `compression.type` set makes the broker store that codec whatever producers send.
 *
 * Frame formats are the ones the Java client writes (and librdkafka reads and writes):
 * - snappy: xerial's SnappyOutputStream framing (a 16-byte header, then blocks of int32 length + raw
 *   snappy). librdkafka may send a bare raw snappy block instead; both decode.
 * - lz4: the LZ4 frame format (magic 0x184D2204), independent 64 KB blocks.
 * - zstd: a standard zstd frame (the content size may be absent: the Java client streams it).
 *
 * The codec libraries are napi-rs builds shipped as prebuilt binaries inside npm packages (no compiler
 * or download at install time).
 */
import { promisify } from 'node:util'
import { gzip as gzipCb, unzip as unzipCb } from 'node:zlib'
import kafkajs from 'kafkajs'
import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd'
import { compressFrame as lz4CompressFrame, decompressFrame as lz4DecompressFrame } from 'lz4-napi'
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from 'snappy'
import { z } from 'zod'

// kafkajs is CommonJS and its CompressionCodecs export is not visible to ESM named imports.
const { CompressionCodecs, CompressionTypes } = kafkajs

export const KAFKA_CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const
export type KafkaCodecName = (typeof KAFKA_CODECS)[number]
export const kafkaCodecName = z.enum(KAFKA_CODECS)

const TYPES: Record<KafkaCodecName, number> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

/** The kafkajs CompressionTypes value for a codec name (registering the codecs first). */
export function compressionType(name: KafkaCodecName): number {
  registerKafkaCodecs()
  return TYPES[name]
}

// ---- snappy in xerial framing --------------------------------------------------------------------

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00])
const XERIAL_HEADER_SIZE = 16
/** SnappyOutputStream's default block size: each block is compressed on its own. */
const XERIAL_BLOCK = 32 * 1024

const hasXerialMagic = (buf: Buffer, at: number): boolean =>
  buf.length - at >= XERIAL_HEADER_SIZE && buf.subarray(at, at + XERIAL_MAGIC.length).equals(XERIAL_MAGIC)

export function snappyDecode(buf: Buffer): Buffer {
  if (!hasXerialMagic(buf, 0)) return snappyUncompress(buf) as Buffer
  const parts: Buffer[] = []
  let pos = 0
  while (pos < buf.length) {
    // Concatenated streams repeat the header; SnappyInputStream accepts that, so do we.
    if (hasXerialMagic(buf, pos)) {
      pos += XERIAL_HEADER_SIZE
      continue
    }
    if (buf.length - pos < 4) throw new Error(`snappy: truncated xerial block header at byte ${pos}`)
    const size = buf.readInt32BE(pos)
    if (size < 0 || pos + 4 + size > buf.length)
      throw new Error(`snappy: xerial block of ${size} bytes at byte ${pos} overruns the ${buf.length}-byte batch`)
    parts.push(snappyUncompress(buf.subarray(pos + 4, pos + 4 + size)) as Buffer)
    pos += 4 + size
  }
  return Buffer.concat(parts)
}

export function snappyEncode(buf: Buffer): Buffer {
  const header = Buffer.alloc(XERIAL_HEADER_SIZE)
  XERIAL_MAGIC.copy(header, 0)
  header.writeInt32BE(1, 8) // version
  header.writeInt32BE(1, 12) // minimum compatible version
  const parts: Buffer[] = [header]
  for (let pos = 0; pos < buf.length; pos += XERIAL_BLOCK) {
    const block = snappyCompress(buf.subarray(pos, pos + XERIAL_BLOCK))
    const size = Buffer.alloc(4)
    size.writeInt32BE(block.length, 0)
    parts.push(size, block)
  }
  return Buffer.concat(parts)
}

// ---- registration --------------------------------------------------------------------------------

/**
 * A batch that does not decompress. `retriable: false` is what kafkajs reads: without it, it would
 * re-fetch the same corrupt batch and restart the consumer in an endless loop.
 */
export class KafkaCodecError extends Error {
  readonly retriable = false
  override readonly name = 'KafkaCodecError'
}

/** What kafkajs calls: compress(encoder) with the records in encoder.buffer, decompress(buffer). */
interface KafkajsCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>
  decompress(buffer: Buffer): Promise<Buffer>
}

type CompressedCodec = Exclude<KafkaCodecName, 'none'>
const decompressed: Record<CompressedCodec, number> = { gzip: 0, snappy: 0, lz4: 0, zstd: 0 }

/** Batches decompressed so far in this process, per codec (a metric, and proof of which codec a topic holds). */
export function decompressedBatches(): Record<CompressedCodec, number> {
  return { ...decompressed }
}

const codec = (
  name: CompressedCodec,
  compress: (b: Buffer) => Buffer | Promise<Buffer>,
  decompress: (b: Buffer) => Buffer | Promise<Buffer>,
): KafkajsCodec => ({
  async compress(encoder) {
    return await compress(encoder.buffer)
  },
  async decompress(buffer) {
    try {
      const out = await decompress(buffer)
      decompressed[name]++
      return out
    } catch (err) {
      // No `cause`: kafkajs keeps `err.cause || err` when it wraps, which would drop this error's type.
      throw new KafkaCodecError(`${name}: cannot decompress a ${buffer.length}-byte batch: ${(err as Error).message}`)
    }
  },
})

const gzip = promisify(gzipCb)
const unzip = promisify(unzipCb)
// Same calls as kafkajs' built-in gzip codec; wrapped only so gzip batches are counted like the others.
const GZIP = codec(
  'gzip',
  (b) => gzip(b),
  (b) => unzip(b),
)
const SNAPPY = codec('snappy', snappyEncode, snappyDecode)
const LZ4 = codec(
  'lz4',
  (b) => lz4CompressFrame(b),
  (b) => lz4DecompressFrame(b),
)
/** Level 3 is zstd's (and the Java client's) default. */
const ZSTD = codec(
  'zstd',
  (b) => zstdCompress(b, 3),
  (b) => zstdDecompress(b),
)

let registered = false

/** Registers gzip (counted), snappy, lz4 and zstd with kafkajs. Idempotent; process-wide. */
export function registerKafkaCodecs(): void {
  if (registered) return
  const codecs = CompressionCodecs as unknown as Record<number, () => KafkajsCodec>
  codecs[CompressionTypes.GZIP] = () => GZIP
  codecs[CompressionTypes.Snappy] = () => SNAPPY
  codecs[CompressionTypes.LZ4] = () => LZ4
  codecs[CompressionTypes.ZSTD] = () => ZSTD
  registered = true
}
