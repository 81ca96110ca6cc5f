// What the module changed, as a value a caller can act on: the sidecar turns it into the ext_proc
// answer, a test asserts on it. Writes go through a HeaderEditor, which keeps, for each name the
// module touches, that name's values before the first write (only those names: no copy of the
// map); at the end of a callback the names whose values differ are the changes. Nothing is
// allocated for a callback that writes nothing.

import { BufferType, MapType } from "./abi.js";
import { type HeaderEntry, type HeaderMap, type HeaderValue, lower, sameValue } from "./headers.js";

/** A reply the module (or a VM failure) sent instead of letting the request go upstream. */
export interface LocalReply {
  status: number;
  details: string;
  body: Uint8Array;
  /** The reply's headers as they left the filter chain (the module sees them in on_response_headers). */
  headers: HeaderMap;
  /** gRPC status, when the module gave one (0..16). */
  grpcStatus?: number;
}

/** One header name the module changed: its values now, in order (none: the name was removed). */
export interface HeaderChange {
  readonly name: string;
  readonly values: readonly Uint8Array[];
}

/** The changes of one callback (or of one stream since its previous callback result). */
export interface Mutations {
  /** Changed names per header map; maps without changes are absent. */
  readonly headers: ReadonlyMap<MapType, readonly HeaderChange[]>;
  /**
   * The module wrote request headers (even without a net change): Envoy clears the route cache
   * then for ABI 0.2.x modules (see test/data/ENVOY-HOST-NOTES.md).
   */
  readonly routeCacheCleared: boolean;
  /** Body buffers the module rewrote (proxy_set_buffer_bytes), with their content now. */
  readonly bodies: ReadonlyMap<BufferType, Uint8Array>;
  /** The module (or a VM failure) answered the request itself. */
  readonly localReply?: LocalReply;
}

const EMPTY_HEADERS: ReadonlyMap<MapType, readonly HeaderChange[]> = new Map();
const EMPTY_BODIES: ReadonlyMap<BufferType, Uint8Array> = new Map();
export const NO_MUTATIONS: Mutations = Object.freeze({ headers: EMPTY_HEADERS, routeCacheCleared: false, bodies: EMPTY_BODIES });

/** Writes to one header map that remember what each touched name held before. */
export class HeaderEditor {
  /** Per touched name, its entries before the first write (entries are immutable: no copy of a value). */
  private readonly before = new Map<string, readonly HeaderEntry[]>();

  constructor(readonly map: HeaderMap) {}

  // A first write of a name takes its entries out of the map in the same pass that finds them
  // (they are what the name held before); a later write of it scans once.
  set(name: string, value: HeaderValue): void {
    const key = lower(name);
    const taken = this.map.take(key);
    if (!this.before.has(key)) this.before.set(key, taken);
    this.map.addKey(key, value);
  }

  add(name: string, value: HeaderValue): void {
    const key = lower(name);
    if (!this.before.has(key)) this.before.set(key, this.map.entriesOf(key));
    this.map.addKey(key, value);
  }

  remove(name: string): void {
    const key = lower(name);
    const taken = this.map.take(key);
    if (!this.before.has(key)) this.before.set(key, taken);
  }

  /** proxy_set_header_map_pairs: every name before and after is touched. */
  replaceAll(pairs: Iterable<readonly [string, HeaderValue]>): void {
    for (const [name, entries] of entriesByName(this.map, undefined)) if (!this.before.has(name)) this.before.set(name, entries);
    this.map.clear();
    for (const [name, value] of pairs) this.add(name, value);
  }

  get touched(): boolean { return this.before.size > 0; }

  /**
   * The names whose values differ from before, those present now in the map's order, then the
   * removed ones. One pass over the map.
   */
  changes(): HeaderChange[] {
    if (this.before.size <= FEW) return this.fewChanges();
    const now = entriesByName(this.map, this.before);
    const out: HeaderChange[] = [];
    for (const [name, entries] of now) {
      if (!sameValues(this.before.get(name)!, entries)) out.push({ name, values: entries.map((e) => e.value) });
    }
    for (const [name, was] of this.before) if (!now.has(name) && was.length > 0) out.push({ name, values: [] });
    return out;
  }

  /**
   * changes() for a few touched names: one pass over the map, where a bit mask of the touched
   * names' hashes passes over most untouched entries without comparing their names.
   */
  private fewChanges(): HeaderChange[] {
    const names = [...this.before.keys()];
    let mask = 0;
    for (const n of names) mask |= 1 << nameHash(n);
    const now: (HeaderEntry[] | undefined)[] = new Array(names.length);
    const order: number[] = []; // touched names in the order they first appear in the map
    for (const e of this.map.entries) {
      if ((mask & (1 << nameHash(e.name))) === 0) continue;
      const j = names.indexOf(e.name);
      if (j < 0) continue;
      const list = now[j];
      if (list) list.push(e);
      else (now[j] = [e]), order.push(j);
    }
    const out: HeaderChange[] = [];
    for (const j of order) if (!sameValues(this.before.get(names[j])!, now[j]!)) out.push({ name: names[j], values: now[j]!.map((e) => e.value) });
    for (let j = 0; j < names.length; j++) if (!now[j] && this.before.get(names[j])!.length > 0) out.push({ name: names[j], values: [] });
    return out;
  }
}

/** A 5-bit hash of a header name (its length and last character) for fewChanges' mask. */
const nameHash = (n: string): number => (n.length + n.charCodeAt(n.length - 1)) & 31;

/** Up to this many touched names, changes() scans the map once per name. */
const FEW = 16;

/** Entries grouped by name in map order, for every name or only those in `only`. */
function entriesByName(map: HeaderMap, only: ReadonlyMap<string, unknown> | undefined): Map<string, HeaderEntry[]> {
  const out = new Map<string, HeaderEntry[]>();
  for (const e of map.entries) {
    if (only && !only.has(e.name)) continue;
    const list = out.get(e.name);
    if (list) list.push(e);
    else out.set(e.name, [e]);
  }
  return out;
}

function sameValues(a: readonly HeaderEntry[], b: readonly HeaderEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => sameValue(e, b[i]));
}

/** Collects a stream's changes until the next callback result takes them. */
export class MutationRecorder {
  /** The editors of this callback, in the order the maps were first written (at most one per map). */
  private editors: { type: MapType; editor: HeaderEditor }[] | undefined;
  private bodies: Map<BufferType, Uint8Array> | undefined;
  private routeCache = false;

  editor(type: MapType, map: HeaderMap): HeaderEditor {
    if (type === MapType.HttpRequestHeaders) this.routeCache = true;
    const editors = (this.editors ??= []);
    for (const e of editors) if (e.type === type) return e.editor;
    const editor = new HeaderEditor(map);
    editors.push({ type, editor });
    return editor;
  }

  body(type: BufferType, content: Uint8Array): void {
    (this.bodies ??= new Map()).set(type, content);
  }

  /** The changes so far, as a value; the recorder starts over. */
  take(localReply?: LocalReply): Mutations {
    if (!this.editors && !this.bodies && !this.routeCache && !localReply) return NO_MUTATIONS;
    const headers = new Map<MapType, readonly HeaderChange[]>();
    for (const { type, editor } of this.editors ?? []) {
      const changes = editor.changes();
      if (changes.length) headers.set(type, changes);
    }
    const out: Mutations = { headers, routeCacheCleared: this.routeCache, bodies: this.bodies ?? EMPTY_BODIES, localReply };
    this.editors = undefined;
    this.bodies = undefined;
    this.routeCache = false;
    return out;
  }
}
