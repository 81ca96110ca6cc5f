// The proxy-wasm pairs format (header maps, local-reply headers, map properties), as
// proxy-wasm-cpp-host's src/pairs_util.cc reads and writes it: u32 count, count × (u32 name
// length, u32 value length), then each name and value NUL-terminated. Little endian.

const latin1 = new TextDecoder("latin1");

/** PROXY_WASM_HOST_PAIRS_MAX_BYTES / _MAX_COUNT (include/proxy-wasm/limits.h). */
export const PAIRS_MAX_BYTES = 1024 * 1024;
export const PAIRS_MAX_COUNT = 1024;

/** Serializes entries (names as latin1 bytes, values as given). */
export function encodePairs(entries: readonly { name: string | Uint8Array; value: Uint8Array }[]): Uint8Array {
  let size = 4 + entries.length * 8;
  const names = entries.map((e) => (typeof e.name === "string" ? Buffer.from(e.name, "latin1") : e.name));
  for (let i = 0; i < entries.length; i++) size += names[i].length + entries[i].value.length + 2;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, entries.length, true);
  let at = 4 + entries.length * 8;
  for (let i = 0; i < entries.length; i++) {
    view.setUint32(4 + i * 8, names[i].length, true);
    view.setUint32(8 + i * 8, entries[i].value.length, true);
    out.set(names[i], at);
    at += names[i].length + 1;
    out.set(entries[i].value, at);
    at += entries[i].value.length + 1;
  }
  return out;
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
    out.push([latin1.decode(data.subarray(at, at + k)), data.slice(at + k + 1, at + k + 1 + v)]);
    at += k + v + 2;
  }
  return at === data.length ? out : undefined;
}
