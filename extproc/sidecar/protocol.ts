// Envoy's external processing protocol (envoy.service.ext_proc.v3), loaded from the protos that
// ship in @grpc/grpc-js-xds, and the conversions between its messages and the host's types.

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { type HeaderChange, HeaderMap, type PropertyTree } from "../host/index.js";
import { EXT_PROC_PROTO, PROTO_DIRS, decodeRequest, encodeResponse } from "./codec.js";

let generic: grpc.ServiceDefinition | undefined;

/**
 * The ExternalProcessor service definition as proto-loader makes it (loaded once): plain objects
 * in and out, converted on every message. Clients use it (tests, the load generator), and the
 * benchmark's do-nothing server is built on it.
 */
export function genericExtProcService(): grpc.ServiceDefinition {
  if (generic) return generic;
  const def = protoLoader.loadSync(EXT_PROC_PROTO, {
    includeDirs: PROTO_DIRS,
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  generic = pkg.envoy.service.ext_proc.v3.ExternalProcessor.service;
  return generic;
}

/**
 * The service definition the sidecar serves: the client's halves as proto-loader makes them, the
 * server's halves on codec.ts (requests decoded without a generic conversion, answers encoded
 * from the processor's objects or passed through when prepared).
 */
export function extProcService(): grpc.ServiceDefinition {
  const service = genericExtProcService();
  const process = service.Process;
  return {
    ...service,
    Process: {
      ...process,
      // grpc-js answers a message it cannot decode with INTERNAL and never shows it to the handler;
      // decoded here instead, the handler sees it and refuses it with INVALID_ARGUMENT, naming it.
      requestDeserialize: (bytes: Buffer): ProcessingRequest => {
        try {
          return decodeRequest(bytes) as ProcessingRequest;
        } catch (e) {
          return { malformed: `not a ProcessingRequest (${bytes.length} bytes): ${(e as Error).message}` };
        }
      },
      responseSerialize: encodeResponse,
    },
  };
}

// ---- message shapes (field names as in the protos) ---------------------------------------------
// A decoded request (codec.ts) reads a message field that is absent as null, a scalar as its
// proto3 default; `request` and a Value's `kind` name the oneof member that is set.

export interface ProtoHeaderValue { key: string; value?: string; raw_value?: Uint8Array }
export interface ProtoHeaderMap { headers?: ProtoHeaderValue[] }
export interface ProtoValue {
  kind?: "nullValue" | "numberValue" | "stringValue" | "boolValue" | "structValue" | "listValue";
  numberValue?: number; stringValue?: string; boolValue?: boolean;
  structValue?: ProtoStruct; listValue?: { values?: ProtoValue[] };
}
export interface ProtoStruct { fields?: Record<string, ProtoValue> }
export interface ProcessingRequest {
  request?: "request_headers" | "response_headers" | "request_body" | "response_body" | "request_trailers" | "response_trailers";
  request_headers?: { headers?: ProtoHeaderMap | null; end_of_stream?: boolean } | null;
  response_headers?: { headers?: ProtoHeaderMap | null; end_of_stream?: boolean } | null;
  request_body?: { body?: Uint8Array; end_of_stream?: boolean } | null;
  response_body?: { body?: Uint8Array; end_of_stream?: boolean } | null;
  request_trailers?: { trailers?: ProtoHeaderMap | null } | null;
  response_trailers?: { trailers?: ProtoHeaderMap | null } | null;
  metadata_context?: { filter_metadata?: Record<string, ProtoStruct> } | null;
  attributes?: Record<string, ProtoStruct> | null;
  observability_mode?: boolean;
  /** Set by our decoder (not a proto field) when the message bytes were not a ProcessingRequest. */
  malformed?: string;
}
export interface HeaderValueOption { header: { key: string; raw_value: Uint8Array }; append?: { readonly value: boolean } }
export interface HeaderMutation { set_headers: HeaderValueOption[]; remove_headers: string[] }
export type ProcessingResponse = Record<string, unknown>;

// ---- conversions -------------------------------------------------------------------------------

/**
 * An ext_proc header set as the host's header map, each value as Envoy sent it: raw_value
 * (bytes), or `value` from old Envoys. The host takes the map as it is (its entries, not a copy),
 * and keeps the bytes without copying them.
 */
export function toHeaderMap(proto: ProtoHeaderMap | null | undefined): HeaderMap {
  const map = new HeaderMap();
  const headers = proto?.headers;
  if (!headers) return map;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    map.add(h.key, h.raw_value && h.raw_value.length ? h.raw_value : (h.value ?? ""));
  }
  return map;
}

/** Byte size of a header map as Envoy counts it (names plus values). */
export function headerBytes(proto: ProtoHeaderMap | null | undefined): number {
  const headers = proto?.headers;
  if (!headers) return 0;
  let n = 0;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    n += Buffer.byteLength(h.key) + (h.raw_value?.length ?? 0) + (h.value ? Buffer.byteLength(h.value) : 0);
  }
  return n;
}

/**
 * The HeaderMutation for the changes the host recorded: a removed name goes to remove_headers, a
 * changed name's values in order to set_headers (the first overwrites, the rest append). Envoy
 * reads raw_value only, so that is the field we fill, with the host's bytes as they are (the
 * encoder copies them into the answer).
 */
const APPEND = Object.freeze({ value: true });

export function headerMutation(changes: readonly HeaderChange[]): HeaderMutation {
  const mutation: HeaderMutation = { set_headers: [], remove_headers: [] };
  for (const { name, values } of changes) {
    if (values.length === 0) {
      mutation.remove_headers.push(name);
      continue;
    }
    mutation.set_headers.push({ header: { key: name, raw_value: values[0] } });
    for (let i = 1; i < values.length; i++) mutation.set_headers.push({ header: { key: name, raw_value: values[i] }, append: APPEND });
  }
  return mutation;
}

/** Every header of `map` but `skip`, as set_headers (an immediate response's headers). */
export function headerSets(map: HeaderMap, skip: string): HeaderMutation {
  // Values grouped by name in one pass: filtering the entries once per name was quadratic, and a
  // request with tens of thousands of distinct header names held the event loop for seconds.
  const byName = new Map<string, Uint8Array[]>();
  for (const e of map.entries) {
    if (e.name === skip) continue;
    const list = byName.get(e.name);
    if (list) list.push(e.value);
    else byName.set(e.name, [e.value]);
  }
  return headerMutation([...byName].map(([name, values]) => ({ name, values })));
}

export function fromValue(v: ProtoValue | undefined): unknown {
  switch (v?.kind) {
    case "numberValue": return v.numberValue;
    case "stringValue": return v.stringValue;
    case "boolValue": return v.boolValue;
    case "structValue": return fromStruct(v.structValue);
    case "listValue": return (v.listValue?.values ?? []).map(fromValue);
    default: return undefined;
  }
}

export function fromStruct(s: ProtoStruct | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = fromValue(v);
  return out;
}

/**
 * Envoy's ext_proc attributes, keyed by filter name, each a Struct of attribute name -> value
 * ("source.address", "response.code", "xds.node", ...), into the property tree the host serves.
 * Each value is converted once, straight to what the host serves: strings, numbers, booleans and
 * Structs of them (lists and nulls are not properties the filter reads).
 */
export function attributesToProperties(attributes: Record<string, ProtoStruct> | null | undefined, into: PropertyTree = {}): PropertyTree {
  if (!attributes) return into;
  for (const filter of Object.keys(attributes)) {
    const fields = attributes[filter]?.fields;
    if (!fields) continue;
    for (const name of Object.keys(fields)) {
      const leaf = toLeaf(fields[name]);
      if (leaf === undefined) continue;
      let node = into;
      const path = name.split(".");
      for (let i = 0; i < path.length - 1; i++) {
        const seg = path[i];
        if (typeof node[seg] !== "object" || node[seg] === null || node[seg] instanceof Uint8Array) node[seg] = {};
        node = node[seg] as PropertyTree;
      }
      node[path[path.length - 1]] = leaf;
    }
  }
  return into;
}

function toLeaf(v: ProtoValue | undefined): PropertyTree[string] {
  switch (v?.kind) {
    case "stringValue": return v.stringValue;
    case "numberValue": return v.numberValue;
    case "boolValue": return v.boolValue;
    case "structValue": {
      const tree: PropertyTree = {};
      const fields = v.structValue?.fields;
      if (fields) {
        for (const k of Object.keys(fields)) {
          const leaf = toLeaf(fields[k]);
          if (leaf !== undefined) tree[k] = leaf;
        }
      }
      return tree;
    }
    default: return undefined;
  }
}

/** The proxy's locality from an `xds.node` attribute (Struct of envoy.config.core.v3.Node), if sent. */
export function nodeLocality(props: PropertyTree): Locality | undefined {
  const node = (props.xds as PropertyTree | undefined)?.node as PropertyTree | undefined;
  if (!node || typeof node !== "object") return undefined;
  const loc = (node.locality ?? {}) as Record<string, unknown>;
  const meta = (node.metadata ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : "");
  return {
    region: str(loc.region),
    zone: str(loc.zone),
    subzone: str(loc.sub_zone ?? loc.subZone),
    cluster: str(meta.CLUSTER_ID),
  };
}

export interface Locality { region: string; zone: string; subzone: string; cluster: string }

export const localityKey = (l: Locality) => `${l.region}/${l.zone}/${l.subzone}/${l.cluster}`;
