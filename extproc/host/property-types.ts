// Properties that are protobuf messages in Envoy (xds.node is an envoy.config.core.v3.Node,
// metadata an envoy.config.core.v3.Metadata, ...), read the way Envoy's Context::getProperty
// reads them: a field of the message by name (unknown name: NotFound; a field the message
// leaves unset: its proto3 default, not NotFound), a google.protobuf.Struct as a map (a missing
// key: NotFound), and a whole message serialized as protobuf bytes, a whole map as pairs.
// The types come from Envoy's own protos (@grpc/grpc-js-xds), loaded on first use.

import protobuf from "protobufjs";
import { loadProtoFiles } from "../envoy-config/protos.js";
import { encodePairs } from "./pairs.js";

/** Where a message-typed property starts, and its type. */
const MESSAGES: [string[], string][] = [
  [["xds", "node"], "envoy.config.core.v3.Node"],
  [["metadata"], "envoy.config.core.v3.Metadata"],
  ...["cluster_metadata", "route_metadata", "upstream_host_metadata", "listener_metadata", "virtual_host_metadata"]
    .map((f): [string[], string] => [["xds", f], "envoy.config.core.v3.Metadata"]),
];
const STRUCT = "google.protobuf.Struct";

let root: protobuf.Root | undefined;
function typeNamed(name: string): protobuf.Type {
  root ??= loadProtoFiles(["envoy/config/core/v3/base.proto"]);
  return root.lookupType(name);
}

/** The message type of the property at the first `depth` segments of `path`, if it is one of Envoy's messages. */
export function messageTypeAt(path: readonly string[], depth: number): protobuf.Type | undefined {
  if (depth > 2 || (path[0] !== "xds" && path[0] !== "metadata")) return undefined; // where every MESSAGES entry starts
  for (const [at, name] of MESSAGES) {
    if (at.length === depth && at.every((s, i) => s === path[i])) return typeNamed(name);
  }
  return undefined;
}

/** A value inside a typed property: a message, a Struct/map (JSON-like object), or a scalar. */
export type Typed =
  | { kind: "message"; type: protobuf.Type; value: Record<string, unknown> }
  | { kind: "map"; value: Record<string, unknown> }
  | { kind: "scalar"; field: protobuf.Field; value: unknown };

/** One step into a typed value; undefined when Envoy would answer NotFound. */
export function step(t: Typed, segment: string): Typed | undefined {
  if (t.kind === "scalar") return undefined;
  if (t.kind === "map") return dynamic(t.value[segment]);
  const field = t.type.fields[segment];
  if (!field) return undefined;
  const v = t.value[segment];
  const isStruct = field.resolvedType?.fullName === `.${STRUCT}`;
  if (field.map) {
    // A map of scalars or of Structs; maps of other messages are not modelled.
    return field.resolvedType && !isStruct ? undefined : { kind: "map", value: isObject(v) ? v : {} };
  }
  if (isStruct) return { kind: "map", value: isObject(v) ? v : {} };
  if (field.repeated) return undefined; // no repeated field is modelled
  if (field.resolvedType instanceof protobuf.Type) return { kind: "message", type: field.resolvedType, value: isObject(v) ? v : {} };
  return { kind: "scalar", field, value: v };
}

/** A Struct value (or a map entry): what is there, typed by its JSON kind. */
function dynamic(v: unknown): Typed | undefined {
  if (v === undefined) return undefined;
  if (isObject(v)) return { kind: "map", value: v };
  return { kind: "scalar", field: undefined as never, value: v };
}

/** Envoy's serializeValue for a typed value; undefined when it answers SerializationFailure. */
export function serializeTyped(t: Typed): Uint8Array | undefined {
  if (t.kind === "message") return t.type.encode(t.type.fromObject(toProto(t.type, t.value))).finish();
  if (t.kind === "map") {
    const entries: { name: Uint8Array; value: Uint8Array }[] = [];
    for (const [k, v] of Object.entries(t.value)) {
      const value = serializeTyped(dynamic(v)!);
      if (!value) return undefined;
      entries.push({ name: Buffer.from(k, "utf8"), value });
    }
    return encodePairs(entries);
  }
  return scalar(t.field, t.value);
}

function scalar(field: protobuf.Field | undefined, v: unknown): Uint8Array | undefined {
  const type = field?.type ?? (typeof v === "number" ? "double" : typeof v === "boolean" ? "bool" : typeof v === "string" ? "string" : "");
  if (v instanceof Uint8Array) return v;
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  switch (type) {
    case "string": return Buffer.from(typeof v === "string" ? v : "", "utf8");
    case "bytes": return new Uint8Array(0);
    case "bool": return Uint8Array.of(v === true ? 1 : 0);
    case "double": case "float": view.setFloat64(0, typeof v === "number" ? v : 0, true); return out;
    default: // int32, int64, uint32, uint64, sint*, fixed*, enums: CEL int64 / uint64
      if (field?.resolvedType instanceof protobuf.Enum || /int|fixed/.test(type)) {
        view.setBigInt64(0, BigInt.asIntN(64, BigInt(typeof v === "number" || typeof v === "bigint" ? v : 0)), true);
        return out;
      }
      return undefined; // null and anything else CEL cannot serialize
  }
}

/** A property tree as the protobufjs object of `type` (Struct fields as Struct messages). */
function toProto(type: protobuf.Type, tree: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(tree)) {
    const field = type.fields[k];
    if (!field || v === undefined) continue;
    const sub = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
    const convert = (x: unknown) => (sub?.fullName === `.${STRUCT}` ? toStruct(x) : sub && isObject(x) ? toProto(sub, x) : x);
    if (field.map) out[k] = Object.fromEntries(Object.entries(isObject(v) ? v : {}).map(([mk, mv]) => [mk, convert(mv)]));
    else if (sub) out[k] = convert(v);
    else out[k] = v;
  }
  return out;
}

function toStruct(v: unknown): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(isObject(v) ? v : {}).map(([k, x]) => [k, toValue(x)])) };
}

function toValue(v: unknown): Record<string, unknown> {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  if (isObject(v)) return { structValue: toStruct(v) };
  return { nullValue: 0 };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}
