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

/** A name the editor wrote: what it held before the first write, and (when known) what it holds now. */
interface Touched {
  readonly name: string;
  readonly before: readonly HeaderEntry[];
  /**
   * Its entries now, all made by this editor, when the editor knows them: after a replace or a
   * remove, or an add to a name that held nothing. Undefined while entries from before remain.
   */
  now: HeaderEntry[] | undefined;
  /** When its first entry now was written (the order of the editor's writes). */
  first: number;
}

/** Writes to one header map that remember what each touched name held before. */
export class HeaderEditor {
  /** The touched names in the order of first writes (entries are immutable: no copy of a value). */
  private readonly names: Touched[] = [];
  /** The touched names by name, once there are more than a few (a few are found by a look along the list). */
  private index: Map<string, Touched> | undefined;
  private writes = 0;
  /** The map's revision after this editor's last write; another revision means someone else changed the map. */
  private seen: number;
  /** Someone else changed the map between this editor's writes: only a scan knows what it holds. */
  private foreign = false;

  constructor(readonly map: HeaderMap) {
    this.seen = map.revision;
  }

  // Every write goes through the map's own set/add/remove (callers may watch those). A first
  // replace or remove of a name learns what it held from the entries that write took out
  // (map.lastRemoved): one pass over the map per write.
  set(name: string, value: HeaderValue): void {
    this.check();
    const key = lower(name);
    const entry = this.map.set(key, value);
    const t = this.touch(key, this.map.lastRemoved);
    t.now = [entry];
    t.first = ++this.writes;
    this.seen = this.map.revision;
  }

  add(name: string, value: HeaderValue): void {
    this.check();
    const key = lower(name);
    let t = this.find(key);
    if (t === undefined) {
      const before = this.map.entriesOf(key);
      // Entries from before stay where they are: only a scan of the map knows the order then.
      t = this.record({ name: key, before, now: before.length === 0 ? [] : undefined, first: 0 });
    }
    const entry = this.map.add(key, value);
    this.seen = this.map.revision;
    if (t.now === undefined) return;
    if (t.now.length === 0) t.first = ++this.writes;
    t.now.push(entry);
  }

  remove(name: string): void {
    this.check();
    const key = lower(name);
    this.map.remove(key);
    this.touch(key, this.map.lastRemoved).now = [];
    this.seen = this.map.revision;
  }

  private check(): void {
    if (this.map.revision !== this.seen) this.foreign = true;
  }

  /** The record of `key`, made with `before` at its first write. */
  private touch(key: string, before: readonly HeaderEntry[]): Touched {
    return this.find(key) ?? this.record({ name: key, before, now: undefined, first: 0 });
  }

  private find(key: string): Touched | undefined {
    if (this.index !== undefined) return this.index.get(key);
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i].name === key) return names[i];
    return undefined;
  }

  private record(t: Touched): Touched {
    this.names.push(t);
    if (this.index !== undefined) this.index.set(t.name, t);
    else if (this.names.length > FEW) this.index = new Map(this.names.map((x) => [x.name, x]));
    return t;
  }

  /** proxy_set_header_map_pairs: every name before and after is touched. */
  replaceAll(pairs: Iterable<readonly [string, HeaderValue]>): void {
    this.check();
    for (const [name, entries] of entriesByName(this.map, undefined)) this.touch(name, entries);
    for (const t of this.names) t.now = [];
    this.map.clear();
    this.seen = this.map.revision;
    for (const [name, value] of pairs) this.add(name, value);
  }

  get touched(): boolean { return this.names.length > 0; }

  /** The names whose values differ from before, those present now in the map's order, then the removed ones. */
  changes(): HeaderChange[] {
    const out = this.knownChanges();
    if (out !== undefined) return out;
    if (this.index === undefined) return this.fewChanges();
    const now = entriesByName(this.map, this.index);
    const scanned: HeaderChange[] = [];
    for (const [name, entries] of now) {
      if (!sameValues(this.index.get(name)!.before, entries)) scanned.push({ name, values: entries.map(valueOf) });
    }
    for (const t of this.names) if (!now.has(t.name) && t.before.length > 0) scanned.push({ name: t.name, values: [] });
    return scanned;
  }

  /**
   * changes() without a pass over the map, when every touched name holds only entries this
   * editor made (what a filter does: it replaces and removes), none of them a pseudo-header, and
   * nothing else changed the map since the first write (a local reply replaces the response
   * headers). Regular entries are appended, so a name's place in the map is its first entry's
   * write. Undefined otherwise: the scan answers then.
   */
  private knownChanges(): HeaderChange[] | undefined {
    if (this.foreign || this.map.revision !== this.seen) return undefined;
    const names = this.names;
    let sorted = true;
    let last = 0;
    for (let i = 0; i < names.length; i++) {
      const t = names[i];
      if (t.now === undefined) return undefined;
      if (t.now.length === 0) continue;
      // A pseudo-header goes before the regular ones: leave its place to the scan.
      if (t.name.charCodeAt(0) === 58) return undefined;
      if (t.first < last) sorted = false;
      last = t.first;
    }
    const present = sorted ? names : names.filter((t) => t.now!.length > 0).sort(writeOrder);
    const out: HeaderChange[] = [];
    for (let i = 0; i < present.length; i++) {
      const t = present[i];
      if (t.now!.length > 0 && !sameValues(t.before, t.now!)) out.push({ name: t.name, values: t.now!.map(valueOf) });
    }
    for (let i = 0; i < names.length; i++) {
      const t = names[i];
      if (t.now!.length === 0 && t.before.length > 0) out.push({ name: t.name, values: [] });
    }
    return out;
  }

  /**
   * changes() for a few touched names: one pass over the map, where a bit mask of the touched
   * names' hashes passes over most untouched entries without comparing their names.
   */
  private fewChanges(): HeaderChange[] {
    const names = this.names.map((t) => t.name);
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
    for (const j of order) if (!sameValues(this.names[j].before, now[j]!)) out.push({ name: names[j], values: now[j]!.map(valueOf) });
    for (let j = 0; j < names.length; j++) if (!now[j] && this.names[j].before.length > 0) out.push({ name: names[j], values: [] });
    return out;
  }
}

const valueOf = (e: HeaderEntry): Uint8Array => e.value;

/** Map order of regular names holding only new entries (each appended at the end): by first write. */
const writeOrder = (a: Touched, b: Touched): number => a.first - b.first;

/** A 5-bit hash of a header name (its length and last character) for fewChanges' mask. */
const nameHash = (n: string): number => (n.length + n.charCodeAt(n.length - 1)) & 31;

/** Up to this many touched names, the editor looks along its list for a name, and changes() uses fewChanges. */
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
