// Properties (attributes) as Envoy serves them to proxy_get_property: a path of segments, and a
// value serialized by type. Callers supply what Envoy would know (node locality and metadata,
// source.address, xds.cluster_name, response.code, response.flags, ...) as a nested object.

import { WasmResult } from "./abi.js";
import { type Typed, messageTypeAt, serializeTyped, step } from "./property-types.js";

/** A leaf value and its Envoy serialization: */
export type PropertyLeaf =
  | string // bytes of the string
  | number // integer: int64 little endian (8 bytes); otherwise a double (8 bytes)
  | bigint // int64 / uint64 little endian (8 bytes)
  | boolean // one byte
  | Uint8Array; // the bytes as given (e.g. an already-serialized protobuf)
export interface PropertyTree { [segment: string]: PropertyLeaf | PropertyTree | undefined }

function isTree(v: unknown): v is PropertyTree {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array);
}

/** A leaf's Envoy serialization; a string stays text (the caller writes it as UTF-8 where it goes). */
export function serializeLeaf(v: PropertyLeaf): Uint8Array | string {
  if (typeof v === "string" || v instanceof Uint8Array) return v;
  if (typeof v === "boolean") return Uint8Array.of(v ? 1 : 0);
  const out = new Uint8Array(8); // plain: a Buffer (a subclass) is slower to make
  if (typeof v === "number" && Number.isSafeInteger(v)) {
    const high = Math.floor(v / 0x1_0000_0000);
    putU32(out, 0, v - high * 0x1_0000_0000);
    putU32(out, 4, high >>> 0);
    return out;
  }
  const view = new DataView(out.buffer);
  if (typeof v === "bigint") view.setBigInt64(0, BigInt.asIntN(64, v), true);
  else if (Number.isInteger(v)) view.setBigInt64(0, BigInt.asIntN(64, BigInt(v)), true);
  else view.setFloat64(0, v, true);
  return out;
}

function putU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = v >>> 24;
}

export interface PropertyLookup {
  result: WasmResult;
  /** The serialized value (a string: its UTF-8 bytes). */
  value?: Uint8Array | string;
  /** Why a lookup failed, for the host's log. */
  reason?: string;
}

const NOT_FOUND: PropertyLookup = Object.freeze({ result: WasmResult.NotFound });

/** Layers of properties: the stream's own first, then the VM's (node, plugin_*, ...). */
export function lookupProperty(path: readonly string[], first: PropertyTree | undefined, second?: PropertyTree): PropertyLookup {
  const found = lookupIn(path, first);
  return found === NOT_FOUND && second !== undefined ? lookupIn(path, second) : found;
}

function lookupIn(path: readonly string[], layer: PropertyTree | undefined): PropertyLookup {
  let cur: PropertyLeaf | PropertyTree | undefined = layer;
  let typed: Typed | undefined; // inside one of Envoy's messages (property-types.ts)
  for (let i = 0; i < path.length && cur !== undefined; i++) {
    if (typed) {
      typed = step(typed, path[i]);
      if (!typed) cur = undefined;
      continue;
    }
    cur = isTree(cur) ? cur[path[i]] : undefined;
    const type = isTree(cur) ? messageTypeAt(path, i + 1) : undefined;
    if (type) typed = { kind: "message", type, value: cur as Record<string, unknown> };
  }
  if (cur === undefined) return NOT_FOUND;
  if (typed) {
    const value = serializeTyped(typed);
    return value ? { result: WasmResult.Ok, value } : { result: WasmResult.SerializationFailure, reason: `property ${path.join(".")} has no serialization` };
  }
  if (isTree(cur)) {
    // Envoy's own attribute maps (request, response, xds, ...) cannot list their keys, so
    // Envoy answers SerializationFailure for them as a whole.
    return { result: WasmResult.SerializationFailure, reason: `property ${path.join(".")} is a map Envoy does not serialize; read one of its fields` };
  }
  return { result: WasmResult.Ok, value: serializeLeaf(cur) };
}

/** Top-level names Envoy resolves itself (CEL activation, plugin_*): never read from filter state. */
const ENVOY_NAMES = new Set([
  "request", "response", "connection", "upstream", "source", "destination", "metadata", "filter_state",
  "upstream_filter_state", "xds", "plugin_name", "plugin_root_id", "plugin_vm_id", "connection_id",
]);

/**
 * A value set with proxy_set_property: Envoy looks up filter state "wasm.<first segment>" and
 * navigates into it; a value set this way is plain bytes, so a longer path finds nothing.
 */
export function lookupFilterState(path: readonly string[], state: ReadonlyMap<string, Uint8Array>): PropertyLookup {
  const v = ENVOY_NAMES.has(path[0]) ? undefined : state.get(path[0]);
  return v !== undefined && path.length === 1 ? { result: WasmResult.Ok, value: v } : { result: WasmResult.NotFound };
}

/** Sets a leaf in a tree, creating the intermediate levels. */
export function setProperty(tree: PropertyTree, path: string[], value: PropertyLeaf): void {
  let cur = tree;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (!isTree(next)) cur[seg] = {};
    cur = cur[seg] as PropertyTree;
  }
  cur[path[path.length - 1]] = value;
}

/**
 * Sets every leaf of `from` in `into` (setProperty for each leaf, without building its path):
 * a level is created only on the way to a leaf, so an empty subtree changes nothing. Returns
 * whether it set a leaf.
 */
export function mergeProperties(into: PropertyTree, from: PropertyTree): boolean {
  let set = false;
  for (const k of Object.keys(from)) {
    const v = from[k];
    if (v === undefined) continue;
    if (!isTree(v)) {
      into[k] = v;
      set = true;
      continue;
    }
    const next = into[k];
    if (isTree(next)) {
      set = mergeProperties(next, v) || set;
    } else if (onlyLeaves(v)) {
      into[k] = { ...v }; // a copy in one step (V8 clones the object's shape)
      set = true;
    } else {
      const level: PropertyTree = {};
      if (mergeProperties(level, v)) (into[k] = level), (set = true);
    }
  }
  return set;
}

/** A non-empty tree of defined leaves only (what end() and the response carry: response.code, ...). */
function onlyLeaves(tree: PropertyTree): boolean {
  let any = false;
  for (const k in tree) {
    const v = tree[k];
    if (v === undefined || isTree(v) || !Object.hasOwn(tree, k)) return false;
    any = true;
  }
  return any;
}
