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

  /**
   * Appends an entry as Envoy's HeaderMapImpl does: a pseudo-header (":name") goes after the
   * last pseudo-header, before every regular header; any other name goes at the end.
   */
  add(name: string, value: HeaderValue): void {
    const entry = { name: name.toLowerCase(), value: asBytes(value) };
    if (entry.name.charCodeAt(0) !== 58 /* ":" */) {
      this.entries.push(entry);
      return;
    }
    let i = 0;
    while (i < this.entries.length && this.entries[i].name.charCodeAt(0) === 58) i++;
    this.entries.splice(i, 0, entry);
  }

  /** Envoy's setCopy (current Envoy): removes every entry of `name`, then appends one. */
  set(name: string, value: HeaderValue): void {
    this.remove(name);
    this.add(name, value);
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
