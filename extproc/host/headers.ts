// A header map as Envoy keeps it: ordered entries, names lower-cased, repeated names allowed,
// pseudo-headers (":authority", ":path", ...) stored like any other entry. Values are bytes:
// Envoy does not require UTF-8, and ext_proc carries them as raw bytes.

const fromUtf8 = new TextDecoder();

export type HeaderValue = string | Uint8Array;
/** What callers hand in: [name, value] pairs or a plain object (arrays for repeated names). */
export type HeaderInput = Iterable<readonly [string, HeaderValue]> | Record<string, HeaderValue | HeaderValue[]>;

export interface HeaderEntry {
  name: string; // lower case
  value: Uint8Array;
}

// Buffer.from allocates small strings from a shared pool: much cheaper than TextEncoder per header.
const asBytes = (v: HeaderValue): Uint8Array => (typeof v === "string" ? Buffer.from(v, "utf8") : v);

export class HeaderMap {
  readonly entries: HeaderEntry[] = [];

  constructor(input?: HeaderInput) {
    if (input) this.addAll(input);
  }

  addAll(input: HeaderInput): void {
    if (Symbol.iterator in (input as object)) {
      for (const [n, v] of input as Iterable<readonly [string, HeaderValue]>) this.add(n, v);
    } else {
      for (const [n, v] of Object.entries(input as Record<string, HeaderValue | HeaderValue[]>)) {
        for (const one of Array.isArray(v) ? v : [v]) this.add(n, one);
      }
    }
  }

  get size(): number { return this.entries.length; }

  /** The first value of `name` as bytes, or undefined. */
  getBytes(name: string): Uint8Array | undefined {
    const key = name.toLowerCase();
    for (const e of this.entries) if (e.name === key) return e.value;
    return undefined;
  }

  /** The first value of `name` decoded as UTF-8, or undefined. */
  get(name: string): string | undefined {
    const b = this.getBytes(name);
    return b === undefined ? undefined : fromUtf8.decode(b);
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    return this.entries.filter((e) => e.name === key).map((e) => fromUtf8.decode(e.value));
  }

  has(name: string): boolean { return this.getBytes(name) !== undefined; }

  add(name: string, value: HeaderValue): void {
    this.entries.push({ name: name.toLowerCase(), value: asBytes(value) });
  }

  /** Replaces the first entry of `name` in place and drops the others; appends when absent. */
  set(name: string, value: HeaderValue): void {
    const key = name.toLowerCase();
    const i = this.entries.findIndex((e) => e.name === key);
    if (i < 0) {
      this.entries.push({ name: key, value: asBytes(value) });
      return;
    }
    this.entries[i] = { name: key, value: asBytes(value) };
    for (let j = this.entries.length - 1; j > i; j--) if (this.entries[j].name === key) this.entries.splice(j, 1);
  }

  /** Removes every entry of `name`; returns how many were removed. */
  remove(name: string): number {
    const key = name.toLowerCase();
    const before = this.entries.length;
    for (let j = this.entries.length - 1; j >= 0; j--) if (this.entries[j].name === key) this.entries.splice(j, 1);
    return before - this.entries.length;
  }

  clear(): void { this.entries.length = 0; }

  /** Entries as [name, UTF-8 value] pairs. */
  toPairs(): [string, string][] {
    return this.entries.map((e) => [e.name, fromUtf8.decode(e.value)]);
  }

  clone(): HeaderMap {
    const m = new HeaderMap();
    for (const e of this.entries) m.entries.push({ name: e.name, value: e.value });
    return m;
  }
}
