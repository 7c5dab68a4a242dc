// safetensors (https://github.com/huggingface/safetensors), little-endian throughout:
//   8 bytes  N, a u64: the header's length (at most 100 MB, as in the reference implementation)
//   N bytes  a UTF-8 JSON object, possibly padded with spaces:
//            { "__metadata__"?: { string: string },
//              NAME: { "dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end] }, ... }
//   rest     the data buffer; offsets are relative to its start. Sorted by offset, the tensors
//            must cover it exactly: no gaps, no overlaps, no bytes left over.
// Reading converts every dtype below to float32 (I64/U64 through Number, so beyond 2^53 inexact);
// others (F8_*, F4, ...) are rejected. Writing writes F32 with the header padded to 8 bytes.
// Typed arrays use the host's byte order: like the reference implementation on every platform
// Node supports, this assumes a little-endian host.
import { CheckpointError } from './errors.js';
import { isObject, readBytes, writeAtomic } from './io.js';
import { elementCount } from './weights.js';

export interface SafetensorsTensor {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

export interface TensorToWrite {
  shape: number[];
  data: Float32Array;
}

export const MAX_HEADER_BYTES = 100_000_000;

/** Decoders take a fresh, 8-byte-aligned buffer holding exactly the tensor's bytes. */
const DTYPES: Record<string, { size: number; decode: (buf: ArrayBuffer) => Float32Array }> = {
  F64: { size: 8, decode: (b) => Float32Array.from(new Float64Array(b)) },
  F32: { size: 4, decode: (b) => new Float32Array(b) },
  F16: { size: 2, decode: (b) => decodeF16(new Uint16Array(b)) },
  BF16: { size: 2, decode: (b) => decodeBF16(new Uint16Array(b)) },
  I64: { size: 8, decode: (b) => Float32Array.from(new BigInt64Array(b), Number) },
  U64: { size: 8, decode: (b) => Float32Array.from(new BigUint64Array(b), Number) },
  I32: { size: 4, decode: (b) => Float32Array.from(new Int32Array(b)) },
  U32: { size: 4, decode: (b) => Float32Array.from(new Uint32Array(b)) },
  I16: { size: 2, decode: (b) => Float32Array.from(new Int16Array(b)) },
  U16: { size: 2, decode: (b) => Float32Array.from(new Uint16Array(b)) },
  I8: { size: 1, decode: (b) => Float32Array.from(new Int8Array(b)) },
  U8: { size: 1, decode: (b) => Float32Array.from(new Uint8Array(b)) },
  BOOL: { size: 1, decode: (b) => Float32Array.from(new Uint8Array(b), (v) => (v ? 1 : 0)) },
};

let f16Table: Float32Array | undefined;

function decodeF16(bits: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exponent = (h >> 10) & 0x1f;
      const mantissa = h & 0x3ff;
      if (exponent === 0) f16Table[h] = sign * mantissa * 2 ** -24;
      else if (exponent === 31) f16Table[h] = mantissa ? NaN : sign * Infinity;
      else f16Table[h] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
    }
  }
  const table = f16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

/** bfloat16 is the top half of a float32. */
function decodeBF16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i] << 16;
  return out;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function parseEntry(name: string, value: unknown, dataLength: number, fail: (problem: string) => CheckpointError): Entry {
  const where = `tensor "${name}"`;
  if (!isObject(value)) throw fail(`${where}: header entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype))
    throw fail(`${where}: unknown or unsupported dtype ${JSON.stringify(dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw fail(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
    throw fail(`${where}: data_offsets must be two non-negative integers, got ${JSON.stringify(offsets)}`);
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw fail(`${where}: data_offsets [${begin}, ${end}] are out of order (begin > end)`);
  if (end > dataLength)
    throw fail(`${where}: data_offsets [${begin}, ${end}] are out of range: the data buffer has ${dataLength} bytes (file truncated?)`);
  const bytes = elementCount(shape) * DTYPES[dtype].size;
  if (bytes !== end - begin)
    throw fail(`${where}: shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Parses and fully validates a safetensors file held in memory; `file` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsFile {
  const fail = (problem: string) => new CheckpointError(file, problem);
  if (bytes.length < 8) throw fail(`file is ${bytes.length} bytes: too short for the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) throw fail(`header length ${headerLength} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  const dataStart = 8 + Number(headerLength);
  if (dataStart > bytes.length) throw fail(`header length ${headerLength} runs past the end of the file (${bytes.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (err) {
    throw fail(`header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (!isObject(header)) throw fail('header is not a JSON object');
  const dataLength = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name !== '__metadata__') {
      entries.push(parseEntry(name, value, dataLength, fail));
      continue;
    }
    if (!isObject(value)) throw fail('__metadata__ is not an object');
    for (const [key, text] of Object.entries(value))
      if (typeof text !== 'string') throw fail(`__metadata__["${key}"] is not a string`);
    metadata = Object.fromEntries(Object.entries(value)) as Record<string, string>;
  }

  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous = '';
  for (const entry of byOffset) {
    if (entry.begin > covered)
      throw fail(`gap in the data buffer: bytes [${covered}, ${entry.begin}) before tensor "${entry.name}" belong to no tensor`);
    if (entry.begin < covered)
      throw fail(`tensor "${entry.name}" data_offsets [${entry.begin}, ${entry.end}] overlap tensor "${previous}", which ends at ${covered}`);
    covered = entry.end;
    previous = entry.name;
  }
  if (covered !== dataLength)
    throw fail(`data buffer not fully covered: its last ${dataLength - covered} of ${dataLength} bytes belong to no tensor`);

  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    const copy = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { dtype, shape, data: DTYPES[dtype].decode(copy.buffer) });
  }
  return { tensors, metadata };
}

export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  return parseSafetensors(await readBytes(file), file);
}

/** Serialises tensors as F32 in the map's order; `file` names the destination in errors. */
export function encodeSafetensors(tensors: Map<string, TensorToWrite>, metadata: Record<string, string> = {}, file = '<safetensors>'): Buffer {
  const entries: [string, unknown][] = [];
  if (Object.keys(metadata).length > 0) entries.push(['__metadata__', metadata]);
  let offset = 0;
  for (const [name, { shape, data }] of tensors) {
    if (name === '__metadata__') throw new CheckpointError(file, 'a tensor cannot be named "__metadata__"');
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new CheckpointError(file, `tensor "${name}": shape must be non-negative integers, got ${JSON.stringify(shape)}`);
    if (elementCount(shape) !== data.length)
      throw new CheckpointError(file, `tensor "${name}": shape [${shape.join(', ')}] needs ${elementCount(shape)} elements, data has ${data.length}`);
    entries.push([name, { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] }]);
    offset += data.byteLength;
  }
  const json = JSON.stringify(Object.fromEntries(entries));
  const header = Buffer.from(json + ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8), 'utf8');
  const out = Buffer.alloc(8 + header.length + offset);
  out.writeBigUInt64LE(BigInt(header.length), 0);
  header.copy(out, 8);
  let position = 8 + header.length;
  for (const { data } of tensors.values()) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    position += data.byteLength;
  }
  return out;
}

/** Writes an F32 safetensors file atomically. */
export async function writeSafetensors(file: string, tensors: Map<string, TensorToWrite>, metadata: Record<string, string> = {}): Promise<void> {
  await writeAtomic(file, encodeSafetensors(tensors, metadata, file));
}
