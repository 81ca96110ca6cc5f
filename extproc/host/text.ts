// Strings into bytes without an intermediate Buffer: header names and values are nearly always
// short ASCII, which a plain loop writes faster than a call into Node's encoder; anything else
// goes through Buffer's UTF-8 encoder, so the bytes are the same as Buffer.from(s, "utf8").

/** UTF-8 length of a string: its length when it is ASCII. */
export function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, "utf8");
  return s.length;
}

/** Writes `s` as UTF-8 at `at`; `length` is utf8Length(s). */
export function writeUtf8(out: Buffer, at: number, s: string, length: number): void {
  if (length !== s.length) {
    out.write(s, at, length, "utf8");
    return;
  }
  for (let i = 0; i < length; i++) out[at + i] = s.charCodeAt(i);
}

/** Writes `s` as latin1 (one byte per character, its low byte, as Buffer's latin1 does). */
export function writeLatin1(out: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i) & 0xff;
}
