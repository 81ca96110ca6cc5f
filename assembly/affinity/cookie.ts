// The affinity cookie: an id the filter chose, the time it was issued and an HMAC-SHA-256 over
// both (truncated to 64 bits), as 32 hex digits: iiiiiiii tttttttt mmmmmmmmmmmmmmmm. A client
// can keep, drop or replay its cookie until it expires, but not choose or alter the id, so it
// cannot search for an id that lands on the cluster it wants.

import { hmac } from "./hmac";

const scratch = new StaticArray<u8>(40);

/** The cookie value for `id` issued at `issuedS` (seconds), signed with `key`. */
export function signCookie(key: StaticArray<u8>, id: u32, issuedS: u32): string {
  const body = (<u64>id << 32) | <u64>issuedS;
  return hex16(body) + hex16(mac(key, body));
}

/** The id this cookie was issued with, when it checks out; set by `checkCookie`. */
export let cookieId: u32 = 0;

/**
 * Which of `keys` signed `value` (0 the current key, more an older one kept for rotation), or -1:
 * malformed, signed by no key, issued in the future, or older than `ttlS`. Constant-time compare.
 */
export function checkCookie(keys: Array<StaticArray<u8>>, value: string, nowS: u32, ttlS: i64): i32 {
  if (value.length != 32) return -1;
  const body = parseHex16(value, 0);
  const tag = parseHex16(value, 16);
  if (hexBad) return -1;
  const issued = <u32>body;
  if (issued > nowS + 60 || <i64>(nowS - min(issued, nowS)) > ttlS) return -1;
  for (let k = 0; k < keys.length; k++) {
    if ((mac(keys[k], body) ^ tag) == 0) {
      cookieId = <u32>(body >> 32);
      return k;
    }
  }
  return -1;
}

function mac(key: StaticArray<u8>, body: u64): u64 {
  const p = changetype<usize>(scratch);
  store<u64>(p, bswap<u64>(body));
  hmac(key, p, 8, p + 8);
  return bswap<u64>(load<u64>(p + 8));
}

let hexBad = false;

function parseHex16(s: string, at: i32): u64 {
  let v: u64 = 0;
  for (let i = at; i < at + 16; i++) {
    const c = s.charCodeAt(i);
    let d = c - 48;
    if (d > 9) d = c - 87; // a-f only: the filter writes lower case
    if (d < 0 || d > 15 || (c > 57 && c < 97)) { hexBad = true; return 0; }
    v = (v << 4) | <u64>d;
  }
  if (at == 0) hexBad = false;
  return v;
}

export function hex16(v: u64): string {
  let s = "";
  for (let i = 15; i >= 0; i--) {
    const d = <i32>((v >> (<u64>i * 4)) & 0xf);
    s += String.fromCharCode(d < 10 ? 48 + d : 87 + d);
  }
  return s;
}
