// The proxy-wasm pairs format (header maps, local-reply headers, map properties), as
// proxy-wasm-cpp-host's src/pairs_util.cc reads and writes it: u32 count, count × (u32 name
// length, u32 value length), then each name and value NUL-terminated. Little endian.

import { utf8Length, writeLatin1, writeUtf8 } from "./text.js";

const latin1 = new TextDecoder("latin1");

/** PROXY_WASM_HOST_PAIRS_MAX_BYTES / _MAX_COUNT (include/proxy-wasm/limits.h). */
export const PAIRS_MAX_BYTES = 1024 * 1024;
export const PAIRS_MAX_COUNT = 1024;

/** A pair to serialize: a name (a string is written as latin1), a value as bytes or UTF-8 text. */
export interface PairSource {
  readonly name: string | Uint8Array;
  readonly value: Uint8Array;
  /** The value as given, when it may be a string (a header entry): written without encoding it first. */
  readonly given?: string | Uint8Array;
}

const valueOf = (e: PairSource) => e.given ?? e.value;
const lengthOf = (v: string | Uint8Array) => (typeof v === "string" ? utf8Length(v) : v.length);

/** Bytes the pairs format takes for `entries`. */
export function pairsSize(entries: readonly PairSource[]): number {
  let size = 4 + entries.length * 8;
  for (const e of entries) size += e.name.length + lengthOf(valueOf(e)) + 2;
  return size;
}

/** Writes `entries` in the pairs format at `at` (pairsSize(entries) bytes, zeroed or not). */
export function writePairs(entries: readonly PairSource[], out: Buffer, at: number): void {
  out.writeUInt32LE(entries.length, at);
  let data = at + 4 + entries.length * 8;
  for (let i = 0; i < entries.length; i++) {
    const { name } = entries[i];
    const value = valueOf(entries[i]);
    const valueLength = lengthOf(value);
    out.writeUInt32LE(name.length, at + 4 + i * 8);
    out.writeUInt32LE(valueLength, at + 8 + i * 8);
    if (typeof name === "string") writeLatin1(out, data, name);
    else out.set(name, data);
    data += name.length;
    out[data++] = 0;
    if (typeof value === "string") writeUtf8(out, data, value, valueLength);
    else out.set(value, data);
    data += valueLength;
    out[data++] = 0;
  }
}

/** Serializes entries (names as latin1 bytes, values as given). */
export function encodePairs(entries: readonly PairSource[]): Uint8Array {
  const out = Buffer.alloc(pairsSize(entries));
  writePairs(entries, out, 0);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Parses the pairs format; undefined when cpp-host's toPairs would return an empty list for
 * it (malformed, more than 1 MiB, more than 1024 pairs), so callers treat it as empty.
 */
export function decodePairs(data: Uint8Array): [string, Uint8Array][] | undefined {
  if (data.length > PAIRS_MAX_BYTES) return undefined;
  if (data.length < 4) return data.length === 0 ? [] : undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = view.getUint32(0, true);
  if (n > PAIRS_MAX_COUNT || 4 + n * 8 > data.length) return undefined;
  const out: [string, Uint8Array][] = [];
  let at = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const k = view.getUint32(4 + i * 8, true);
    const v = view.getUint32(8 + i * 8, true);
    if (at + k + v + 2 > data.length || data[at + k] !== 0 || data[at + k + 1 + v] !== 0) return undefined;
    // A copy: on a Buffer (the module's memory) slice() would be a view the module can overwrite.
    out.push([latin1.decode(data.subarray(at, at + k)), new Uint8Array(data.subarray(at + k + 1, at + k + 1 + v))]);
    at += k + v + 2;
  }
  return at === data.length ? out : undefined;
}
