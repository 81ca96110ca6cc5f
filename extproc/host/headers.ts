// A header map as Envoy keeps it: ordered entries, names lower-cased, repeated names allowed,
// pseudo-headers (":authority", ":path", ...) stored like any other entry. Values are bytes:
// Envoy does not require UTF-8, and ext_proc carries them as raw bytes. The map keeps each value
// as it was given (a string, or bytes such as ext_proc's raw_value) and encodes a string to
// UTF-8 only when someone asks for its bytes: most headers of a request are never read by the
// module, so most are never converted (the host writes a string straight into the module's
// memory when it is read: memory.ts).

import { utf8Length } from "./text.js";

const fromUtf8 = new TextDecoder();

export type HeaderValue = string | Uint8Array;
/**
 * What callers hand in: [name, value] pairs, a plain object (arrays for repeated names), or a
 * HeaderMap (its entries are taken as they are, without converting a value).
 */
export type HeaderInput = Iterable<readonly [string, HeaderValue]> | Record<string, HeaderValue | HeaderValue[]> | HeaderMap;

export interface HeaderEntry {
  /** Lower case. */
  readonly name: string;
  /** The value's bytes (a string value is encoded as UTF-8 on first read). */
  readonly value: Uint8Array;
  /** The value as given: a string, or bytes. */
  readonly given: HeaderValue;
  /** Length of the value in bytes, without encoding it. */
  readonly byteLength: number;
}

/** One entry; immutable but for its cached bytes, so maps can share entries. */
class Entry implements HeaderEntry {
  private bytes: Uint8Array | undefined;

  constructor(readonly name: string, readonly given: HeaderValue) {
    this.bytes = typeof given === "string" ? undefined : given;
  }

  get value(): Uint8Array {
    return (this.bytes ??= encoded(this.given as string));
  }

  get byteLength(): number {
    return this.bytes !== undefined ? this.bytes.length : utf8Length(this.given as string);
  }
}

/** UTF-8 encodings of the short texts encoded lately (the values a module writes repeat: cluster and route names). */
const encodings = new Map<string, Uint8Array>();
const ENCODINGS_MAX = 1024;
const ENCODED_TEXT_MAX = 128;

/**
 * A string's UTF-8 bytes. Entries are immutable, so one encoding serves every entry of the same
 * short text; Buffer.from allocates the rest from a shared pool (cheaper than TextEncoder).
 */
function encoded(s: string): Uint8Array {
  if (s.length > ENCODED_TEXT_MAX) return Buffer.from(s, "utf8");
  let bytes = encodings.get(s);
  if (bytes === undefined) {
    if (encodings.size >= ENCODINGS_MAX) encodings.clear();
    encodings.set(s, (bytes = Buffer.from(s, "utf8")));
  }
  return bytes;
}

/** Two values as bytes are equal (a string compared as its UTF-8 encoding). */
export function sameValue(a: HeaderEntry, b: HeaderEntry): boolean {
  if (a === b || a.given === b.given) return true;
  const x = a.value;
  const y = b.value;
  return x.length === y.length && Buffer.compare(x, y) === 0;
}

// V8's toLowerCase is quicker than any check for upper case first (and copies nothing then).
export const lower = (name: string): string => name.toLowerCase();

const NONE: readonly HeaderEntry[] = Object.freeze([]);

export class HeaderMap {
  readonly entries: HeaderEntry[] = [];
  /** Counts the changes made through the map's methods (a HeaderEditor knows then whether only it wrote). */
  private changeCount = 0;
  /**
   * The entries the last set() or remove() took out, in order: a HeaderEditor learns from it what
   * a name held before its first write without a second pass (it writes through set/add/remove,
   * which callers may watch).
   */
  lastRemoved: readonly HeaderEntry[] = NONE;

  constructor(input?: HeaderInput) {
    if (input) this.addAll(input);
  }

  addAll(input: HeaderInput): void {
    if (input instanceof HeaderMap) {
      // Into an empty map (a stream's), the entries go as they are: already in Envoy's order.
      if (this.entries.length === 0) for (const e of input.entries) this.entries.push(e), this.changeCount++;
      else for (const e of input.entries) this.insert(e);
    } else if (Array.isArray(input)) {
      for (let i = 0; i < input.length; i++) this.add(input[i][0], input[i][1]);
    } else if (Symbol.iterator in (input as object)) {
      for (const [n, v] of input as Iterable<readonly [string, HeaderValue]>) this.add(n, v);
    } else {
      for (const [n, v] of Object.entries(input as Record<string, HeaderValue | HeaderValue[]>)) {
        for (const one of Array.isArray(v) ? v : [v]) this.add(n, one);
      }
    }
  }

  get size(): number { return this.entries.length; }

  /** How many changes the map's methods made so far. */
  get revision(): number { return this.changeCount; }

  /** The first entry of `name`, or undefined. */
  entry(name: string): HeaderEntry | undefined {
    const key = lower(name);
    for (const e of this.entries) if (e.name === key) return e;
    return undefined;
  }

  /** The first value of `name` as bytes, or undefined. */
  getBytes(name: string): Uint8Array | undefined {
    return this.entry(name)?.value;
  }

  /** The first value of `name` decoded as UTF-8, or undefined. */
  get(name: string): string | undefined {
    const e = this.entry(name);
    return e === undefined ? undefined : decode(e);
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const key = lower(name);
    return this.entries.filter((e) => e.name === key).map(decode);
  }

  has(name: string): boolean { return this.entry(name) !== undefined; }

  /**
   * Appends an entry as Envoy's HeaderMapImpl does: a pseudo-header (":name") goes after the
   * last pseudo-header, before every regular header; any other name goes at the end.
   */
  add(name: string, value: HeaderValue): HeaderEntry {
    const entry = new Entry(lower(name), value);
    this.insert(entry);
    return entry;
  }

  private insert(entry: HeaderEntry): void {
    const entries = this.entries;
    this.changeCount++;
    if (entry.name.charCodeAt(0) !== 58 /* ":" */) {
      entries.push(entry);
      return;
    }
    let i = entries.length;
    // Pseudo-headers come first: find the end of that run (usually: the whole map so far).
    if (i > 0 && entries[i - 1].name.charCodeAt(0) !== 58) {
      i = 0;
      while (entries[i].name.charCodeAt(0) === 58) i++;
    }
    if (i === entries.length) entries.push(entry);
    else entries.splice(i, 0, entry);
  }

  /** Envoy's setCopy (current Envoy): removes every entry of `name`, then appends one (returned). */
  set(name: string, value: HeaderValue): HeaderEntry {
    this.remove(name);
    return this.add(name, value);
  }

  /** Removes every entry of `name`; returns how many were removed (the entries: lastRemoved). */
  remove(name: string): number {
    const taken = this.take(lower(name));
    this.lastRemoved = taken;
    return taken.length;
  }

  /** Removes the entries of `key` (lower case) in one pass and returns them, in order. */
  take(key: string): readonly HeaderEntry[] {
    const entries = this.entries;
    let taken: HeaderEntry[] | undefined;
    let kept = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.name === key) (taken ??= []).push(e);
      else if (taken) entries[kept++] = e;
      else kept++;
    }
    if (!taken) return NONE;
    entries.length = kept;
    this.changeCount++;
    return taken;
  }

  /** The entries of `key` (lower case), in order. */
  entriesOf(key: string): readonly HeaderEntry[] {
    let found: HeaderEntry[] | undefined;
    for (const e of this.entries) if (e.name === key) (found ??= []).push(e);
    return found ?? NONE;
  }

  clear(): void {
    this.entries.length = 0;
    this.changeCount++;
  }

  /** Entries as [name, UTF-8 value] pairs. */
  toPairs(): [string, string][] {
    return this.entries.map((e) => [e.name, decode(e)]);
  }

  clone(): HeaderMap {
    const m = new HeaderMap();
    for (const e of this.entries) m.entries.push(e);
    return m;
  }
}

/** A value as text: a string as given (unless it has lone surrogates, which UTF-8 replaces), bytes decoded as UTF-8. */
function decode(e: HeaderEntry): string {
  const g = e.given;
  return typeof g === "string" && (g as unknown as { isWellFormed(): boolean }).isWellFormed() ? g : fromUtf8.decode(e.value);
}
