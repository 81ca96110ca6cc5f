// Envoy's external processing protocol (envoy.service.ext_proc.v3), loaded from the protos that
// ship in @grpc/grpc-js-xds, and the conversions between its messages and the host's types.

import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { type HeaderChange, HeaderMap, type PropertyTree } from "../host/index.js";

const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");

/** The ExternalProcessor service definition (loaded once). */
export function extProcService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync("envoy/service/ext_proc/v3/external_processor.proto", {
    includeDirs: ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => join(deps, d)),
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  const service = pkg.envoy.service.ext_proc.v3.ExternalProcessor.service;
  // grpc-js answers a message it cannot decode with INTERNAL and never shows it to the handler;
  // decoded here instead, the handler sees it and refuses it with INVALID_ARGUMENT, naming it.
  const process = service.Process;
  const decode = process.requestDeserialize;
  return {
    ...service,
    Process: {
      ...process,
      requestDeserialize: (bytes: Buffer): ProcessingRequest => {
        try {
          return decode(bytes) as ProcessingRequest;
        } catch (e) {
          return { malformed: `not a ProcessingRequest (${bytes.length} bytes): ${(e as Error).message}` };
        }
      },
    },
  };
}

// ---- message shapes (keepCase, oneofs) ---------------------------------------------------------

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
  request_headers?: { headers?: ProtoHeaderMap; end_of_stream?: boolean };
  response_headers?: { headers?: ProtoHeaderMap; end_of_stream?: boolean };
  request_body?: { body?: Uint8Array; end_of_stream?: boolean };
  response_body?: { body?: Uint8Array; end_of_stream?: boolean };
  request_trailers?: { trailers?: ProtoHeaderMap };
  response_trailers?: { trailers?: ProtoHeaderMap };
  metadata_context?: { filter_metadata?: Record<string, ProtoStruct> };
  attributes?: Record<string, ProtoStruct>;
  observability_mode?: boolean;
  /** Set by our decoder (not a proto field) when the message bytes were not a ProcessingRequest. */
  malformed?: string;
}
export interface HeaderValueOption { header: { key: string; raw_value: Buffer }; append?: { value: boolean } }
export interface HeaderMutation { set_headers: HeaderValueOption[]; remove_headers: string[] }
export type ProcessingResponse = Record<string, unknown>;

// ---- conversions -------------------------------------------------------------------------------

/** Envoy sends header values in raw_value (bytes); `value` only from old Envoys. */
export function toHeaderMap(proto: ProtoHeaderMap | undefined): HeaderMap {
  const map = new HeaderMap();
  for (const h of proto?.headers ?? []) {
    map.add(h.key, h.raw_value && h.raw_value.length ? h.raw_value : (h.value ?? ""));
  }
  return map;
}

/** Byte size of a header map as Envoy counts it (names plus values). */
export function headerBytes(proto: ProtoHeaderMap | undefined): number {
  let n = 0;
  for (const h of proto?.headers ?? []) n += Buffer.byteLength(h.key) + (h.raw_value?.length ?? 0) + Buffer.byteLength(h.value ?? "");
  return n;
}

/**
 * The HeaderMutation for the changes the host recorded: a removed name goes to remove_headers, a
 * changed name's values in order to set_headers (the first overwrites, the rest append). Envoy
 * reads raw_value only, so that is the field we fill.
 */
export function headerMutation(changes: readonly HeaderChange[]): HeaderMutation {
  const mutation: HeaderMutation = { set_headers: [], remove_headers: [] };
  for (const { name, values } of changes) {
    if (values.length === 0) {
      mutation.remove_headers.push(name);
      continue;
    }
    values.forEach((v, i) => {
      const option: HeaderValueOption = { header: { key: name, raw_value: Buffer.from(v) } };
      if (i > 0) option.append = { value: true };
      mutation.set_headers.push(option);
    });
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

export const isEmptyMutation = (m: HeaderMutation) => m.set_headers.length === 0 && m.remove_headers.length === 0;

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
 * ("source.address", "response.code", "xds.node", ...), as a property tree the host serves.
 */
export function attributesToProperties(attributes: Record<string, ProtoStruct> | undefined, into: PropertyTree = {}): PropertyTree {
  for (const struct of Object.values(attributes ?? {})) {
    for (const [name, value] of Object.entries(fromStruct(struct))) {
      const leaf = toLeaf(value);
      if (leaf === undefined) continue;
      let node = into;
      const path = name.split(".");
      for (const seg of path.slice(0, -1)) {
        if (typeof node[seg] !== "object" || node[seg] === null || node[seg] instanceof Uint8Array) node[seg] = {};
        node = node[seg] as PropertyTree;
      }
      node[path[path.length - 1]] = leaf;
    }
  }
  return into;
}

function toLeaf(v: unknown): PropertyTree[string] {
  if (typeof v === "string" || typeof v === "boolean" || typeof v === "number") return v;
  if (typeof v === "object" && v !== null && !Array.isArray(v)) {
    const tree: PropertyTree = {};
    for (const [k, x] of Object.entries(v)) {
      const leaf = toLeaf(x);
      if (leaf !== undefined) tree[k] = leaf;
    }
    return tree;
  }
  return undefined;
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
