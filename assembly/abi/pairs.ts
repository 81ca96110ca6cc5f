// The proxy-wasm pairs format (header maps, local-reply and call headers), as proxy-wasm-cpp-host's
// src/pairs_util.cc reads and writes it.

import { HeaderPair } from "./types";

/**
 * The pairs wire format: u32 count, then (u32 name size, u32 value size) per entry, then each
 * name and value followed by a NUL byte. All integers little endian.
 */
export function encodePairs(pairs: Array<HeaderPair>): ArrayBuffer {
  const n = pairs.length;
  let size: usize = 4 + <usize>n * 8;
  for (let i = 0; i < n; i++) {
    size += <usize>String.UTF8.byteLength(pairs[i].name) + <usize>String.UTF8.byteLength(pairs[i].value) + 2;
  }
  const buf = new ArrayBuffer(<i32>size);
  const base = changetype<usize>(buf);
  store<u32>(base, n);
  let sizes = base + 4;
  let data = base + 4 + <usize>n * 8;
  for (let i = 0; i < n; i++) {
    const k = put(pairs[i].name, data);
    store<u8>(data + k, 0);
    data += k + 1;
    const v = put(pairs[i].value, data);
    store<u8>(data + v, 0);
    data += v + 1;
    store<u32>(sizes, <u32>k);
    store<u32>(sizes + 4, <u32>v);
    sizes += 8;
  }
  return buf;
}

export function decodePairs(ptr: usize, out: Array<HeaderPair>): void {
  const n = load<u32>(ptr);
  let sizes = ptr + 4;
  let data = ptr + 4 + <usize>n * 8;
  for (let i: u32 = 0; i < n; i++) {
    const k = <usize>load<u32>(sizes);
    const v = <usize>load<u32>(sizes + 4);
    sizes += 8;
    const name = String.UTF8.decodeUnsafe(data, k);
    data += k + 1;
    const value = String.UTF8.decodeUnsafe(data, v);
    data += v + 1;
    out.push(new HeaderPair(name, value));
  }
}

// @ts-ignore: decorator
@inline function put(s: string, at: usize): usize {
  return String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, at);
}
